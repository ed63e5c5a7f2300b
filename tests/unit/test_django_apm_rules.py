"""django_apm's rules for hosts and binds, and the URLs built from them (filter plugin, no Ansible run)."""

import importlib.util
from pathlib import Path

import pytest

ROLE = Path(__file__).resolve().parents[2] / "roles" / "django_apm"
_spec = importlib.util.spec_from_file_location("django_apm_filters", ROLE / "filter_plugins" / "django_apm.py")
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost", "agent.example.invalid", "dd-agent", "::1", "[::1]",
                                  "fe80::1", "2001:db8::8126", "a." * 100 + "b"])
def test_agent_hosts_accepted(host):
    assert F.host_problem(host) == ""


@pytest.mark.parametrize("host,why", [
    ("127.0.0.1:8126", "has a port"), ("localhost:8126", "has a port"), ("[::1]:8126", "has a port"),
    ("999.1.1.1", "IPv4"), ("1.2.3", "IPv4"), ("-bad.example", "not a host name"), ("a b", "not a host name"),
    ("", "not a host name"), ("[127.0.0.1]", "IPv6 address in brackets"), ("x" * 64 + ".com", "not a host name"),
    ("http://h", "not a host name"), ("agent\n", "not a host name"), ("127.0.0.1\n", "not a host name"),
])
def test_agent_hosts_refused_with_the_reason(host, why):
    assert why in F.host_problem(host)


@pytest.mark.parametrize("host,port,url", [
    ("127.0.0.1", 8126, "http://127.0.0.1:8126"), ("::1", "18126", "http://[::1]:18126"),
    ("[::1]", 8126, "http://[::1]:8126"), ("agent", 1, "http://agent:1"),
])
def test_agent_url_brackets_ipv6_once(host, port, url):
    assert F.agent_url(host, port) == url


@pytest.mark.parametrize("bind", ["127.0.0.1:8000", "0.0.0.0:1", "localhost:65535", "[::1]:8000", "[::]:80",
                                  "unix:/run/upstream/gunicorn.sock"])
def test_binds_accepted(bind):
    assert F.bind_problem(bind) == ""


@pytest.mark.parametrize("bind,why", [
    ("127.0.0.1:99999", "outside 1-65535"), ("127.0.0.1:0", "outside 1-65535"), ("127.0.0.1:", "outside 1-65535"),
    ("8000", "not HOST:PORT"), (":8000", "not HOST:PORT"), ("::1:8000", "IPv6 address without brackets"),
    ("300.1.1.1:80", "IPv4"), ("bad host:80", "not a host name"), ("unix:relative.sock", "unix:/absolute/path"),
    ("[127.0.0.1]:80", "IPv6 address in brackets"),
])
def test_binds_refused_with_the_reason(bind, why):
    assert why in F.bind_problem(bind)


@pytest.mark.parametrize("bind,url", [
    ("127.0.0.1:8000", "http://127.0.0.1:8000/"), ("0.0.0.0:8080", "http://127.0.0.1:8080/"),
    ("[::]:8000", "http://[::1]:8000/"), ("[::1]:81", "http://[::1]:81/"), ("web.local:80", "http://web.local:80/"),
    ("unix:/run/x.sock", ""), ("127.0.0.1:99999", ""),
])
def test_the_health_url_a_bind_is_reached_at(bind, url):
    assert F.bind_url(bind) == url


@pytest.mark.parametrize("bind,socket,url", [
    ("unix:/run/upstream/gunicorn.sock", "/run/upstream/gunicorn.sock", "http://localhost/"),
    ("127.0.0.1:8000", "", "http://127.0.0.1:8000/"), ("[::]:8000", "", "http://[::1]:8000/"),
    ("unix:relative.sock", "", ""), ("unix:/run/x.sock\n", "", ""),
])
def test_a_unix_socket_bind_is_asked_through_its_socket(bind, socket, url):
    assert F.bind_socket(bind) == socket
    assert F.bind_health_url(bind) == url


DEFAULTS = {"django_apm_env": "", "django_apm_site": "datadoghq.com", "django_apm_agent_host": "127.0.0.1", "django_apm_agent_port": 8126,
            "django_apm_agent_url": "", "datadog_agent_state": "present", "datadog_agent_env": None, "datadog_agent_site": "datadoghq.com",
            "datadog_agent_apm_receiver_port": 8126}


@pytest.mark.parametrize("given,needles", [
    ({"django_apm_env": "prod", "datadog_agent_env": "prod"}, []),
    ({"django_apm_env": "prod"}, []),  # the agent without an env tag
    ({"django_apm_env": "prod", "datadog_agent_env": "staging"}, ["django_apm_env (prod) differs from datadog_agent_env (staging)"]),
    ({"datadog_agent_site": "datadoghq.eu"}, ["django_apm_site (datadoghq.com) differs from datadog_agent_site (datadoghq.eu)"]),
    ({"datadog_agent_apm_receiver_port": 9126}, ["django_apm_agent_port (8126) is not the local agent's trace port"]),
    ({"datadog_agent_apm_receiver_port": "9126", "django_apm_agent_port": 9126}, []),
    ({"datadog_agent_apm_receiver_port": 9126, "django_apm_agent_host": "::1"}, ["django_apm_agent_port (8126)"]),
    ({"datadog_agent_apm_receiver_port": 9126, "django_apm_agent_host": "agent.internal"}, []),  # another host's agent
    ({"datadog_agent_apm_receiver_port": 9126, "django_apm_agent_url": "unix:///var/run/datadog/apm.socket"}, []),
    ({"datadog_agent_state": "absent", "datadog_agent_site": "datadoghq.eu"}, []),
    ({"django_apm_agent_port": None}, []),  # unset: the default
])
def test_the_agent_and_the_app_must_agree(given, needles):
    problems = F.agent_disagreements(given, DEFAULTS)
    assert len(problems) == len(needles) and all(n in p for n, p in zip(needles, problems)), problems
