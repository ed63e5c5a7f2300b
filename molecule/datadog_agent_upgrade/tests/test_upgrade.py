"""Version pin, upgrade, downgrade and faults (one host, tests run in this order)."""

import re

import yaml

from ddhelpers import agent_state, assert_no_secret, journal, run_checked, run_role, run_role_until, tail

V60, V61 = "1:7.60.0-1", "1:7.61.0-1"

# Where the role's --check and the real run that follows disagree on a package change (changes.py
# fails if any other difference appears, or if one of these goes away). Seen 2026-12-01; open for
# the role (issue 15): check mode names the package change in a task of its own, cannot foresee the
# package scripts' chown, does not run verify's clean-up, and announces the restart handler where
# the real run leaves the restart to the package's own scripts.
PACKAGE_CHANGE = {
    "real only: datadog_agent : Install | datadog.yaml and check files back to root:dd-agent (the package scripts chown them)":
        "check mode does not foresee the package scripts' chown",
}
PACKAGE_AND_CONFIG_CHANGE = {
    **PACKAGE_CHANGE,
    "real only: datadog_agent : Install | datadog-agent and datadog-signing-keys":
        "check mode reports the package change in its own task (next entry)",
    "check only: datadog_agent : Install | check mode - the package change the real run makes": "(the same package change)",
    "check only: datadog_agent : Install | refresh the APT lists (repository changed, or a package change is due)":
        "the real refresh finds the lists current and reports no change",
    "real only: datadog_agent : Verify | drop the backups of the previous configuration and the restart marker (the agent is healthy)":
        "verify's clean-up does not run in check mode",
    "check only: handler: datadog_agent : Restart datadog-agent":
        "the real run leaves the restart to the package scripts (one restart: test below)",
}
REPO = "/srv/datadog-standin-repo"
PKG_KEYRING = "/usr/share/keyrings/datadog-archive-keyring.gpg"


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
    # A pin change: --check first must report exactly what the real run then changes (run_checked).
    rc, log, recap = run_checked(host, "upgrade", "--diff", "-vvv", "-e", "datadog_agent_version=7.61.0",
                                 "-e", '{"datadog_agent_tags": ["team:apm", "upgraded:yes"]}', known=PACKAGE_AND_CONFIG_CHANGE)
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


FAIL_DROPIN = "/etc/systemd/system/datadog-agent.service.d/zz-molecule-fail.conf"


def test_an_upgrade_whose_own_restart_failed_fails_the_run_and_the_next_run_starts_the_agent(host):
    """The package's scripts restart the agent on an upgrade and ignore a failure (|| true, as
    Datadog's do): the run must not end green with the agent down, and once the cause is gone the
    next run with the same inputs starts the upgraded agent and verifies it."""
    assert version(host) == V60
    host.run_expect([0], f"mkdir -p {FAIL_DROPIN.rsplit('/', 1)[0]} && "
                         f"printf '[Service]\\nExecStartPre=/bin/false\\n' > {FAIL_DROPIN} && systemctl daemon-reload")
    try:
        rc, log, recap = run_role(host, "upgrade-restart-fails", "-e", "datadog_agent_version=7.61.0")
    finally:
        host.run_expect([0], f"rm -f {FAIL_DROPIN} && systemctl daemon-reload")
    assert rc != 0 and recap.get("failed") == 1, tail(log)
    assert version(host) == V61, "the package was upgraded before the restart failed"
    assert "datadog-agent" in log and "failed" in log.lower(), tail(log)
    assert not host.service("datadog-agent").is_running, journal(host)

    before = agent_state(host)
    rc, log, recap = run_role(host, "upgrade-restart-fixed", "-e", "datadog_agent_version=7.61.0")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert re.search(r"TASK \[datadog_agent : Verify \| `datadog-agent status` succeeds\][^\n]*\nok:", log), tail(log)
    assert host.service("datadog-agent").is_running and host.service("datadog-agent").is_enabled, journal(host)
    assert agent_state(host)["started"] == before["started"] + 1, journal(host)
    assert f"Package: datadog-agent {V61}" in host.check_output("datadog-agent status")
    rc, log, recap = run_role(host, "upgrade-restart-fixed-again", "-e", "datadog_agent_version=7.61.0")
    assert rc == 0 and recap["changed"] == 0, tail(log)

    # Back to 7.60.0 for the next test.
    rc, log, recap = run_role(host, "back-to-760", "-e", "datadog_agent_version=7.60.0", "-e", "datadog_agent_allow_downgrade=true")
    assert rc == 0 and version(host) == V60, tail(log)


def test_latest_upgrades_once_then_stays(host):
    before = agent_state(host)
    rc, log, recap = run_checked(host, "latest", "-e", "datadog_agent_version=latest", known=PACKAGE_CHANGE)
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
    # The source also trusts datadog-signing-keys' keyring, which holds the repository's key: with
    # that file gone (the role then leaves it out of Signed-By) only the wrong key is trusted.
    host.run_expect([0], f"mv {PKG_KEYRING} /root/datadog-archive-keyring.gpg.aside")
    try:
        rc, log, recap = run_role(host, "wrong-key-signature", "-e", "datadog_agent_version=7.60.0",
                                  "-e", "datadog_agent_allow_downgrade=true",
                                  "-e", f'{{"datadog_agent_key_urls": ["file://{REPO}/keys/wrong-key.asc"], '
                                        '"datadog_agent_key_fingerprints": []}')
    finally:
        host.run_expect([0], f"mv /root/datadog-archive-keyring.gpg.aside {PKG_KEYRING}")
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


def test_run_killed_halfway_is_finished_by_the_next_run(host):
    # A fresh install killed right after the package landed: no datadog.yaml yet, agent stopped.
    host.run("systemctl stop datadog-agent; apt-get purge -y datadog-agent; rm -rf /etc/datadog-agent")
    assert not host.package("datadog-agent").is_installed
    log = run_role_until(host, "killed", r"^TASK \[datadog_agent : Configure \| datadog.yaml and checks after a fresh install", "-e", "datadog_agent_version=7.61.0")
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
