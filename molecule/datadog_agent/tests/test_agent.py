"""State of a host the role converged (agent scenario): checked, not just present."""

import json

import pytest
import yaml

from ddhelpers import API_KEY, CHECK_SECRET, hostname, journal

REPO = "/srv/datadog-standin-repo"
KEYRING = "/etc/apt/keyrings/datadog"


def test_packages_at_the_newest_version_from_the_configured_source(host):
    agent = host.package("datadog-agent")
    assert agent.is_installed
    assert agent.version == "1:7.61.0-1", agent.version
    assert host.package("datadog-signing-keys").is_installed
    policy = host.check_output("apt-cache policy datadog-agent")
    assert f"file:{REPO} stable/7" in policy, policy


@pytest.mark.parametrize("unit", ["datadog-agent", "datadog-agent-trace"])
def test_units_enabled_and_active(host, unit):
    svc = host.service(unit)
    assert svc.is_enabled, journal(host)
    assert svc.is_running, journal(host)


def _expected_datadog_yaml(host):
    return {
        "api_key": API_KEY,
        "site": "datadoghq.com",
        "hostname": hostname(host).replace("_", "-"),  # the converge hyphenates the platform name
        "env": "molecule",
        "tags": ["role:web", "role:worker", "team:apm"],
        "apm_config": {"enabled": True, "receiver_port": 8126, "apm_non_local_traffic": False,
                       "max_traces_per_second": 20,
                       # Datadog's documented obfuscation, on by default (the role's switches).
                       "obfuscation": {"http": {"remove_query_string": True},
                                       "redis": {"enabled": True, "remove_all_args": True},
                                       "valkey": {"enabled": True, "remove_all_args": True},
                                       "memcached": {"enabled": True, "keep_command": False},
                                       "credit_cards": {"enabled": True, "luhn": True}}},
        "logs_enabled": True,
        "process_config": {"process_collection": {"enabled": True}},
        "log_level": "warn",
        "remote_configuration": {"enabled": False},
    }


def test_datadog_yaml_key_by_key(host):
    f = host.file("/etc/datadog-agent/datadog.yaml")
    assert (f.user, f.group, f.mode) == ("root", "dd-agent", 0o640)
    text = f.content_string
    assert text.startswith("#\n# Ansible managed\n#\n"), text[:80]
    data = yaml.safe_load(text)
    expected = _expected_datadog_yaml(host)
    for key, value in expected.items():
        assert data.get(key) == value, f"datadog.yaml {key}: {data.get(key)!r} != {value!r}"
    assert set(data) == set(expected), f"unexpected keys {set(data) - set(expected)}"


def test_check_conf_yaml(host):
    d = host.file("/etc/datadog-agent/conf.d/redisdb.d")
    assert d.is_directory and (d.user, d.group) == ("dd-agent", "dd-agent")
    f = host.file("/etc/datadog-agent/conf.d/redisdb.d/conf.yaml")
    assert (f.user, f.group, f.mode) == ("root", "dd-agent", 0o640)
    data = yaml.safe_load(f.content_string)
    assert data == {"init_config": {}, "instances": [{"host": "127.0.0.1", "port": 6379, "password": CHECK_SECRET}]}
    out = host.check_output("datadog-agent configcheck")
    assert "=== redisdb check ===" in out and "Instances: 1" in out, out


def test_no_configuration_backup_left_behind(host):
    leftovers = host.run("find /etc/datadog-agent -name '*.yaml.*~'").stdout.strip()
    assert leftovers == "", leftovers


def test_keyring_holds_exactly_the_configured_key(host):
    d = host.file(KEYRING)
    assert d.is_directory and (d.user, d.group, d.mode) == ("root", "root", 0o755)
    assert host.run(f"ls -A {KEYRING}").stdout.split() == ["standin-archive-key.asc"]
    key = host.file(f"{KEYRING}/standin-archive-key.asc")
    assert (key.user, key.group, key.mode) == ("root", "root", 0o644)
    assert key.content_string == host.file(f"{REPO}/keys/standin-archive-key.asc").content_string


def test_deb822_source(host):
    f = host.file("/etc/apt/sources.list.d/datadog.sources")
    assert (f.user, f.group, f.mode) == ("root", "root", 0o644)
    fields = dict(line.split(": ", 1) for line in f.content_string.splitlines() if ": " in line)
    assert fields == {
        "Types": "deb", "URIs": f"file:{REPO}", "Suites": "stable", "Components": "7",
        # The fetched key, then datadog-signing-keys' keyring (written in the run that installed it).
        "Signed-By": f"{KEYRING}/standin-archive-key.asc,/usr/share/keyrings/datadog-archive-keyring.gpg",
        "Enabled": "yes", "X-Repolib-Name": "datadog",
    }, fields


def test_old_list_of_the_same_repository_removed_other_kept(host):
    assert not host.file("/etc/apt/sources.list.d/datadog.list").exists
    assert host.file("/etc/apt/sources.list.d/datadog-observability-pipelines.list").exists


def test_trace_intake_answers_info_on_loopback_only(host):
    out = host.check_output(
        "python3 -c \"import urllib.request;"
        "print(urllib.request.urlopen('http://127.0.0.1:8126/info', timeout=5).read().decode())\"")
    info = json.loads(out)
    assert any(e.startswith("/v0.4/traces") for e in info["endpoints"]), info
    assert host.socket("tcp://127.0.0.1:8126").is_listening, journal(host)
    assert not host.socket("tcp://0.0.0.0:8126").is_listening


def test_status_and_health(host):
    status = host.run("datadog-agent status")
    assert status.rc == 0, status.stdout + status.stderr + journal(host)
    assert f"API Key ending with: {API_KEY[-5:]}" in status.stdout
    assert API_KEY not in status.stdout
    assert f"Hostname: {hostname(host).replace('_', '-')}" in status.stdout
    assert "env: molecule" in status.stdout
    assert "Receiver answers GET /info: yes" in status.stdout, status.stdout
    health = host.run("datadog-agent health")
    assert health.rc == 0 and "Agent health: PASS" in health.stdout, health.stdout + journal(host)
