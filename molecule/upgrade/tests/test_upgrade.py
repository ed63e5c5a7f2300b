"""Version pin, upgrade, downgrade and faults (one host, tests run in this order)."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import yaml

from ddhelpers import agent_state, assert_no_secret, hostname, journal, run_role, tail

V60, V61 = "1:7.60.0-1", "1:7.61.0-1"
REPO = "/srv/datadog-standin-repo"


def version(host):
    return host.package("datadog-agent").version


def healthy(host):
    res = host.run("datadog-agent health")
    return res.rc == 0


def test_pinned_version_installed(host):
    assert version(host) == V60
    assert healthy(host), journal(host)


def test_every_spelling_of_the_pin_is_the_same_pin(host):
    before = agent_state(host)
    for pin in ("7.60.0-1", "1:7.60.0-1"):
        rc, log, recap = run_role(host, f"pin-{pin}", "-e", f"datadog_agent_version={pin}")
        assert rc == 0 and recap["changed"] == 0, tail(log)
    assert agent_state(host) == before


def test_upgrade_with_config_change_restarts_exactly_once(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "upgrade", "--diff", "-vvv", "-e", "datadog_agent_version=7.61.0",
                              "-e", '{"datadog_agent_tags": ["team:apm", "upgraded:yes"]}')
    assert rc == 0, tail(log)
    assert_no_secret(log, "an upgrade with a config change, --diff -vvv")
    assert version(host) == V61
    after = agent_state(host)
    assert after["started"] == before["started"] + 1, f"{before} -> {after}" + journal(host)
    conf = host.file("/etc/datadog-agent/datadog.yaml")
    assert (conf.user, conf.group, conf.mode) == ("root", "dd-agent", 0o640)
    assert yaml.safe_load(conf.content_string)["tags"] == ["team:apm", "upgraded:yes"]
    check = host.file("/etc/datadog-agent/conf.d/redisdb.d/conf.yaml")
    assert (check.user, check.group, check.mode) == ("root", "dd-agent", 0o640)
    assert f"Package: datadog-agent {V61}" in host.check_output("datadog-agent status")
    # The same inputs again: nothing to do, no restart.
    rc, log, recap = run_role(host, "upgrade-again", "-e", "datadog_agent_version=7.61.0",
                              "-e", '{"datadog_agent_tags": ["team:apm", "upgraded:yes"]}')
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert agent_state(host) == after


def test_downgrade_refused_before_any_change(host):
    before = agent_state(host)
    conf_before = host.file("/etc/datadog-agent/datadog.yaml").content_string
    rc, log, recap = run_role(host, "downgrade-refused", "-e", "datadog_agent_version=7.60.0")
    assert rc != 0, tail(log)
    assert recap["changed"] == 0, tail(log)
    assert "datadog_agent_allow_downgrade" in log and "older than the installed 1:7.61.0-1" in log, tail(log)
    assert version(host) == V61
    assert agent_state(host) == before
    assert host.file("/etc/datadog-agent/datadog.yaml").content_string == conf_before


def test_downgrade_allowed(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "downgrade", "-e", "datadog_agent_version=7.60.0",
                              "-e", "datadog_agent_allow_downgrade=true")
    assert rc == 0, tail(log)
    assert version(host) == V60
    assert agent_state(host)["started"] == before["started"] + 1, journal(host)
    assert healthy(host), journal(host)


def test_unpinned_never_upgrades(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "unpinned", "-e", "datadog_agent_version=")
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert version(host) == V60 and agent_state(host) == before


def test_latest_upgrades_once_then_stays(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "latest", "-e", "datadog_agent_version=latest")
    assert rc == 0, tail(log)
    assert version(host) == V61
    assert agent_state(host)["started"] == before["started"] + 1, journal(host)
    rc, log, recap = run_role(host, "latest-again", "-e", "datadog_agent_version=latest")
    assert rc == 0 and recap["changed"] == 0, tail(log)


def test_key_with_the_wrong_fingerprint_is_refused(host):
    before = agent_state(host)
    source = host.file("/etc/apt/sources.list.d/datadog.sources").content_string
    rc, log, recap = run_role(host, "wrong-key-fingerprint", "-e", "datadog_agent_version=7.61.0",
                              "-e", f'{{"datadog_agent_key_urls": ["file://{REPO}/keys/wrong-key.asc"]}}')
    assert rc != 0, tail(log)
    # Keys are made when the harness builds the repository: read the wrong key's fingerprint there.
    wrong = host.file(f"{REPO}/keys/wrong-key.fingerprint").content_string.strip()
    assert re.fullmatch(r"[0-9A-F]{40}", wrong), wrong
    assert "datadog_agent_key_fingerprints" in log and wrong in log, tail(log)
    assert host.file("/etc/apt/sources.list.d/datadog.sources").content_string == source
    assert not host.file("/etc/apt/keyrings/datadog/wrong-key.asc").exists
    assert agent_state(host) == before and healthy(host)


def test_key_fetch_failure_names_the_cause(host):
    before = agent_state(host)
    source = host.file("/etc/apt/sources.list.d/datadog.sources").content_string
    url = f"file://{REPO}/keys/no-such-key.asc"
    rc, log, recap = run_role(host, "key-fetch-missing", "-e", "datadog_agent_version=7.61.0",
                              "-e", f'{{"datadog_agent_key_urls": ["{url}"]}}')
    assert rc != 0, tail(log)
    assert f"Signing keys: {url}: the file does not exist" in log, tail(log)
    assert host.file("/etc/apt/sources.list.d/datadog.sources").content_string == source
    assert agent_state(host) == before and healthy(host)


def test_repository_signed_by_another_key_fails_clearly(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "wrong-key-signature", "-e", "datadog_agent_version=7.60.0",
                              "-e", "datadog_agent_allow_downgrade=true",
                              "-e", f'{{"datadog_agent_key_urls": ["file://{REPO}/keys/wrong-key.asc"], '
                                    '"datadog_agent_key_fingerprints": []}')
    assert rc != 0, tail(log)
    assert "APT could not refresh the lists" in log, tail(log)
    assert "NO_PUBKEY" in log or "not signed" in log, tail(log)
    assert version(host) == V61, "the package must not have changed"
    assert agent_state(host) == before and healthy(host), journal(host)
    # The next good run puts the source and the key back and has nothing else to do.
    rc, log, recap = run_role(host, "after-wrong-key", "-e", "datadog_agent_version=7.61.0")
    assert rc == 0, tail(log)
    assert agent_state(host) == before
    assert host.run("ls /etc/apt/keyrings/datadog").stdout.split() == ["standin-archive-key.asc"]


def test_unreachable_repository_fails_clearly(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "repo-unreachable", "-e", "datadog_agent_version=7.60.0",
                              "-e", "datadog_agent_allow_downgrade=true",
                              "-e", "datadog_agent_repo_url=file:/srv/no-such-repository")
    assert rc != 0, tail(log)
    assert "APT could not refresh the lists of file:/srv/no-such-repository" in log, tail(log)
    assert version(host) == V61 and agent_state(host) == before and healthy(host), journal(host)
    rc, log, recap = run_role(host, "after-unreachable", "-e", "datadog_agent_version=7.61.0")
    assert rc == 0 and agent_state(host) == before, tail(log)


def _run_and_kill_after(host, marker, *args):
    """Start the converge run and SIGKILL ansible-playbook (and its children) once `marker` shows."""
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", os.environ["MOLECULE_INVENTORY_FILE"],
           str(Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / "converge.yml"),
           "--limit", hostname(host), *args]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env,
                            stdin=subprocess.DEVNULL, start_new_session=True)
    seen = []
    try:
        for line in proc.stdout:
            seen.append(line)
            if re.search(marker, line):
                os.killpg(proc.pid, signal.SIGKILL)
                break
    finally:
        proc.wait(timeout=120)
    return "".join(seen)


def test_run_killed_halfway_is_finished_by_the_next_run(host):
    # A fresh install killed right after the package landed: no datadog.yaml yet, agent stopped.
    host.run("systemctl stop datadog-agent; apt-get purge -y datadog-agent; rm -rf /etc/datadog-agent")
    assert not host.package("datadog-agent").is_installed
    log = _run_and_kill_after(host, r"^TASK \[datadog_agent : Configure \| datadog.yaml and checks after a fresh install", "-e", "datadog_agent_version=7.61.0")
    assert "datadog-agent and datadog-signing-keys" in log, log[-3000:]
    assert host.package("datadog-agent").is_installed
    assert not host.file("/etc/datadog-agent/datadog.yaml").exists
    before = agent_state(host)
    rc, log, recap = run_role(host, "after-kill", "-e", "datadog_agent_version=7.61.0")
    assert rc == 0 and recap["changed"] >= 2, tail(log)
    after = agent_state(host)
    assert after["started"] == before["started"] + 1, f"{before} -> {after}" + journal(host)
    assert healthy(host), journal(host)
    rc, log, recap = run_role(host, "after-kill-again", "-e", "datadog_agent_version=7.61.0")
    assert rc == 0 and recap["changed"] == 0, tail(log)
