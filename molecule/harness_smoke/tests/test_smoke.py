"""Smoke checks of the harness: the stand-in agent (not Datadog's agent) from the signed repo."""

import importlib.util
import json
import os
from pathlib import Path

import ansible.module_utils.basic
import pytest
import scenariorun

REPO = "/srv/datadog-standin-repo"


def journal(host):
    return host.run(
        "journalctl -u datadog-agent -u datadog-agent-trace --no-pager -n 40"
    ).stdout


def apt_update_with(host, key):
    """apt-get update against the stand-in repo only, trusting just `key`, in scratch dirs."""
    script = f"""
set -e
d=$(mktemp -d)
mkdir -p "$d/lists/partial"
cat >"$d/probe.sources" <<SRC
Types: deb
URIs: file:{REPO}
Suites: stable
Components: 7
Signed-By: {REPO}/keys/{key}
SRC
apt-get update -o Dir::Etc::SourceList="$d/probe.sources" -o Dir::Etc::SourceParts=/nonexistent \
  -o Dir::State::Lists="$d/lists" -o APT::Update::Error-Mode=any 2>&1
"""
    return host.run("bash -c %s", script)


def test_apt_accepts_the_repo_signed_by_its_key(host):
    res = apt_update_with(host, "standin-archive-key.asc")
    assert res.rc == 0, res.stdout + res.stderr


def test_apt_refuses_the_repo_with_a_wrong_key(host):
    res = apt_update_with(host, "wrong-key.asc")
    assert res.rc != 0, res.stdout
    assert "NO_PUBKEY" in res.stdout or "not signed" in res.stdout, res.stdout


def test_package_installed_from_the_repo(host):
    pkg = host.package("datadog-agent")
    assert pkg.is_installed
    assert pkg.version.startswith("1:7."), pkg.version
    policy = host.check_output("apt-cache policy datadog-agent")
    assert f"file:{REPO} stable/7" in policy, policy


@pytest.mark.parametrize("unit", ["datadog-agent", "datadog-agent-trace"])
def test_units_enabled_and_active(host, unit):
    svc = host.service(unit)
    assert svc.is_running, journal(host)
    if unit == "datadog-agent":
        assert svc.is_enabled


def test_trace_intake_answers_info_on_loopback(host):
    out = host.check_output(
        "python3 -c \"import urllib.request;"
        "print(urllib.request.urlopen('http://127.0.0.1:8126/info', timeout=5).read().decode())\""
    )
    info = json.loads(out)
    assert any(e.startswith("/v0.4/traces") for e in info["endpoints"]), info
    assert host.socket("tcp://127.0.0.1:8126").is_listening
    assert not host.socket("tcp://0.0.0.0:8126").is_listening


def test_status_exits_zero_and_hides_the_key(host):
    res = host.run("datadog-agent status")
    assert res.rc == 0, res.stdout + res.stderr + journal(host)
    assert "stand-in" in res.stdout
    assert "0123456789abcdef0123456789abcdef" not in res.stdout
    assert "bcdef" in res.stdout


# The stand-in is at least as strict as the agent where the roles rely on it
# (molecule/harness/standin/README.md cites the Datadog sources each behaviour follows).

INTAKE = "/var/lib/datadog-standin/intake.yaml"


def test_health_fails_when_the_intake_rejects_the_api_key(host):
    try:
        host.check_output(f"mkdir -p /var/lib/datadog-standin && echo 'reject_api_keys: all' > {INTAKE}")
        res = host.run("datadog-agent health")
        assert res.rc == 1, res.stdout
        assert "Agent health: FAIL" in res.stdout and "forwarder (API Key ending with bcdef is invalid" in res.stdout
        assert "0123456789abcdef0123456789abcdef" not in res.stdout + res.stderr
    finally:
        host.run(f"rm -f {INTAKE}")
    res = host.run("datadog-agent health")
    assert res.rc == 0 and "forwarder" in res.stdout, res.stdout


def test_the_ipc_api_needs_the_auth_token(host):
    token = host.file("/etc/datadog-agent/auth_token")
    assert token.exists and token.mode == 0o600 and token.user == "dd-agent", (token.mode, token.user)
    code = ("import urllib.request as u, urllib.error as e\n"
            "try:\n    u.urlopen('http://127.0.0.1:5001/agent/status', timeout=5); print(200)\n"
            "except e.HTTPError as x:\n    print(x.code)")
    assert host.check_output(f"python3 -c \"{code}\"") == "401"
    # Another user, with a config it can read that points at the agent's token: refused like the real CLI.
    other = host.run("d=$(mktemp -d) && printf 'api_key: x\\nauth_token_file_path: /etc/datadog-agent/auth_token\\n' "
                     "> $d/datadog.yaml && chmod -R a+rX $d && "
                     "setpriv --reuid=nobody --regid=nogroup --clear-groups datadog-agent -c $d status; rc=$?; rm -rf $d; exit $rc")
    assert other.rc == 1 and "unable to read authentication token file" in other.stderr, other.stdout + other.stderr


@pytest.mark.parametrize("bad,why", [
    ("tags: 5", "tags must be a list of tags or a string"),
    ("apm_config: yes", "apm_config must be a mapping"),
    ("apm_config: {receiver_port: eight}", "apm_config.receiver_port must be a port number"),
    ("api_key: [a, b]", "api_key must be a string, not (hidden)"),
    ("env: [unclosed", "invalid YAML"),
])
def test_the_config_loader_refuses_what_the_agent_would(host, bad, why):
    res = host.run(f"d=$(mktemp -d) && printf '%s\\n' 'api_key: 0123456789abcdef0123456789abcdef' {_q(bad)} "
                   f"> $d/datadog.yaml && datadog-agent -c $d hostname; rc=$?; rm -rf $d; exit $rc")
    assert res.rc == 1 and why in res.stderr, res.stdout + res.stderr


def test_the_agent_refuses_to_start_without_an_api_key(host):
    res = host.run("d=$(mktemp -d) && echo 'env: x' > $d/datadog.yaml && chmod -R a+rX $d && "
                   "timeout 20 setpriv --reuid=dd-agent --regid=dd-agent --clear-groups "
                   "datadog-agent -c $d run; rc=$?; rm -rf $d; exit $rc")
    assert res.rc == 1 and "API key is missing" in res.stderr, res.stdout + res.stderr


def test_upgrade_and_remove_scripts_stop_and_disable_the_units(host):
    """prerm upgrade stops and disables both units (like the current Datadog package); the new
    version's postinst enables them again and starts the agent once."""
    prerm, postinst = "/var/lib/dpkg/info/datadog-agent.prerm", "/var/lib/dpkg/info/datadog-agent.postinst"
    version = host.package("datadog-agent").version
    host.check_output(f"{prerm} upgrade {version}")
    for unit in ("datadog-agent", "datadog-agent-trace"):
        assert not host.service(unit).is_running and not host.service(unit).is_enabled, unit
    host.check_output(f"{postinst} configure {version}")
    assert host.service("datadog-agent").is_enabled and host.service("datadog-agent-trace").is_enabled
    wait = "for i in $(seq 30); do datadog-agent health >/dev/null 2>&1 && exit 0; sleep 1; done; exit 1"
    assert host.run(wait).rc == 0, journal(host)


def _q(text):
    return "'" + text.replace("'", "'\"'\"'") + "'"


PING = """- name: Ping
  hosts: all
  gather_facts: false
  tasks:
    - name: Ping
      ansible.builtin.ping:
"""


def test_modules_are_piped_into_python_not_copied(host, tmp_path):
    """A nested run with Molecule's ansible.cfg (the base config's [connection] pipelining): the
    module goes into python on the host through one `docker exec`, and is never copied there
    (no PUT); with pipelining off the same run copies it (the check sees what it claims to)."""
    playbook = tmp_path / "ping.yml"
    playbook.write_text(PING)
    res = scenariorun.run(host, "pipelining", str(playbook), "-vvv")
    assert res.rc == 0, scenariorun.tail(res.log)
    assert "ESTABLISH DOCKER CONNECTION" in res.log, "not a -vvv run through the docker connection"
    assert "PUT " not in res.log, scenariorun.tail(res.log)
    off = scenariorun.run(host, "no-pipelining", str(playbook), "-vvv",
                          env=dict(scenariorun.run_env(), ANSIBLE_PIPELINING="0"))
    assert off.rc == 0 and "PUT " in off.log, scenariorun.tail(off.log)


def _zipimport_cache():
    root = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
    spec = importlib.util.spec_from_file_location("zipimport_cache", root / "molecule/harness/zipimport_cache.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_host_keeps_the_bytecode_of_the_module_utils_the_controller_sent(host):
    """The host image's zip-import bytecode cache (molecule/harness/zipimport_cache.py) is on for
    the host's python3, and after the converge it holds the code of this controller's
    ansible.module_utils.basic, keyed by that file's exact source for the host's interpreter, and
    nothing for other users (root only: an entry is code root runs)."""
    cache = _zipimport_cache()
    wrapped = host.run("python3 -c 'import zipimport; print(zipimport._compile_source.compile_source)'")
    assert wrapped.rc == 0 and "_compile_source" in wrapped.stdout, wrapped.stderr
    tag = host.check_output("python3 -c 'import ddapm_zipimport_cache as c; print(c.interpreter_tag())'")
    source = Path(ansible.module_utils.basic.__file__).read_bytes()
    entry = f"{cache.CACHE_DIR}/{cache.cache_key(source, tag)}"
    assert host.file(entry).is_file, f"no cache entry for the controller's basic.py ({tag})"
    assert host.file(cache.CACHE_DIR).mode == 0o700 and host.file(cache.CACHE_DIR).user == "root"
    filename = host.check_output(
        f"python3 -c 'import marshal; print(marshal.loads(open(\"{entry}\", \"rb\").read()).co_filename)'")
    assert filename.endswith("/ansible/module_utils/basic.py"), filename
