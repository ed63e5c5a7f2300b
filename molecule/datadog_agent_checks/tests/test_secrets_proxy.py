"""The API key from a secrets backend, the agent's proxy, APT through a proxy (issue 12), all set
in group_vars/all.yml next to the checks the web, worker and db groups compose.

The stand-in agent (not the Datadog Agent) resolves ENC[...] handles the way the agent documents;
the proxy and the http:// view of the repository are test doubles on the host's loopback
(prepare.yml). Every log is grepped for the API key, both check passwords and the proxy password.
The rollback of an unresolvable handle and the repair of the command's rights prove the role's own
logic: each runs on one host (@pytest.mark.one_host); APT through the proxy runs on both.
"""

import pytest
import yaml

from checkshelpers import SECRETS, no_secret
from ddhelpers import agent_state, journal, run_role, tail

API_KEY, PROXY_PASSWORD = SECRETS["api key"], SECRETS["proxy password"]
COMMAND = "/usr/local/bin/dd-secret-backend"


def _datadog_yaml(host):
    return yaml.safe_load(host.file("/etc/datadog-agent/datadog.yaml").content_string)


def test_command_owned_by_the_agent_user_without_group_or_other_rights(host):
    f = host.file(COMMAND)
    assert (f.user, f.group, f.mode) == ("dd-agent", "dd-agent", 0o500)


def test_datadog_yaml_holds_the_handle_backend_and_proxy(host):
    text = host.file("/etc/datadog-agent/datadog.yaml").content_string
    assert API_KEY not in text
    data = yaml.safe_load(text)
    assert data["api_key"] == "ENC[datadog_api_key]"
    assert data["secret_backend_command"] == COMMAND
    assert data["secret_backend_arguments"] == ["/etc/dd-secrets/store.json"]
    assert data["secret_backend_timeout"] == 10
    proxy = f"http://tester:{PROXY_PASSWORD}@127.0.0.1:3128"
    assert data["proxy"] == {"http": proxy, "https": proxy, "no_proxy": ["localhost", "127.0.0.1"]}


def test_the_agent_runs_on_the_resolved_key(host):
    status = host.run("datadog-agent status -j")
    assert status.rc == 0, status.stderr + journal(host)
    assert yaml.safe_load(status.stdout)["api_key_ending"] == API_KEY[-5:]
    assert host.run("datadog-agent health").rc == 0, journal(host)
    secret = host.run("datadog-agent secret")
    assert secret.rc == 0, secret.stdout + secret.stderr
    assert "Executable permissions: OK" in secret.stdout
    assert "- 'datadog_api_key':" in secret.stdout and "in entry 'api_key'" in secret.stdout
    logs = host.run("journalctl -u datadog-agent -u datadog-agent-trace --no-pager -o cat").stdout
    assert "Resolved 1 secret handle(s) with secret_backend_command: 'datadog_api_key' (in api_key)" in logs
    no_secret(secret.stdout + logs + host.run("cat /var/log/datadog/*.log").stdout, "the agent's output and logs")


def test_apt_reached_the_repository_through_the_proxy(host):
    conf = host.file("/etc/apt/apt.conf.d/80datadog-proxy")
    assert (conf.user, conf.mode) == ("root", 0o600)
    assert f'Acquire::http::Proxy::127.0.0.1 "http://tester:{PROXY_PASSWORD}@127.0.0.1:3128";' in conf.content_string
    log = host.file("/var/log/test-proxy-access.log").content_string
    assert "tester GET http://127.0.0.1:8080/dists/stable/InRelease 200" in log, log
    assert "tester GET http://127.0.0.1:8080/pool/d/da/datadog-agent_7.61.0-1_amd64.deb 200" in log, log
    assert " - GET " not in log, "a request reached the proxy without its credentials:\n" + log
    # Without the proxy, APT cannot reach the repository through it: the file is what routes APT.
    host.run("systemctl stop test-forward-proxy")
    try:
        update = host.run("apt-get update -o Dir::Etc::SourceList=/etc/apt/sources.list.d/datadog.sources "
                          "-o Dir::Etc::SourceParts=/nonexistent")
        assert update.rc != 0 or "Err:" in update.stdout + update.stderr, update.stdout + update.stderr
        assert "127.0.0.1:3128" in update.stdout + update.stderr
        no_secret(update.stdout + update.stderr, "apt-get update's output")
    finally:
        host.run("systemctl start test-forward-proxy")
    host.run("for i in $(seq 30); do python3 -c 'import socket; socket.create_connection((\"127.0.0.1\", 3128))' && break; sleep 0.2; done")


def test_missing_command_refused_before_any_change(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "missing-command", "-e", '{"datadog_agent_secret_backend_command": "/nonexistent/backend"}')
    assert rc != 0 and recap.get("changed") == 0, tail(log)
    assert "datadog_agent_secret_backend_command: /nonexistent/backend is not a file on the host" in log, tail(log)
    assert agent_state(host) == before
    no_secret(log, "a run refused for a missing command")


@pytest.mark.one_host("debian12")  # the role's logic: one host (onehost.py)
def test_unresolvable_handle_is_rolled_back(host):
    rc, log, recap = run_role(host, "bad-handle", "-vvv",
                              "-e", '{"datadog_agent_api_key": "ENC[no_such_secret]", "datadog_agent_verify_timeout": 10}')
    assert rc != 0 and recap.get("failed") == 1, tail(log)
    assert "so the change was rolled back" in log and "it is healthy again" in log, tail(log)
    assert "no secret named 'no_such_secret' in the store" in log, "the journal tail should name the cause\n" + tail(log)
    no_secret(log, "a failed run with -vvv")
    assert _datadog_yaml(host)["api_key"] == "ENC[datadog_api_key]"
    assert host.run("datadog-agent health").rc == 0, journal(host)


@pytest.mark.one_host("debian13")  # the role's logic: one host (onehost.py)
def test_rights_on_the_command_repaired_and_the_agent_restarted_once(host):
    host.run(f"chmod 0755 {COMMAND}")
    secret = host.run("datadog-agent secret")
    assert secret.rc == 1 and "'group' or 'others' have rights on it" in secret.stdout, secret.stdout
    before = agent_state(host)
    rc, log, recap = run_role(host, "repair-rights", "--diff")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    no_secret(log, "a run with --diff")
    assert host.file(COMMAND).mode == 0o500
    assert agent_state(host)["started"] == before["started"] + 1, journal(host)
    assert host.run("datadog-agent secret").rc == 0
