"""Runs of the role against the converged hosts, with their logs grepped for the secrets.

check mode (fresh host, in prepare.yml; converged host here), a no-op run, a configuration change
(exactly one restart) and a bad configuration change (rolled back, the agent healthy again).
Check mode is compared with the real run that follows (changes.py: the same tasks and handlers
report a change): on the fresh host (prepare.yml's --check, then converge) and for a configuration
change with a check added; datadog_agent_checks_purge then removes that check.

Four tests prove the role's own logic (a change restarted once, a bad change rolled back, a restart
left due by a run stopped before verify, check mode against the real run): each runs on one host,
two on either platform (@pytest.mark.one_host, molecule/resources/tests/onehost.py). What APT
prints (the failed refresh) and the no-op and check-mode runs on the converged hosts run on both.
"""

import re

import pytest
import yaml

from changes import assert_check_tells_the_truth, changed
from ddhelpers import CHECK_SECRET, agent_state, assert_no_secret, ephemeral_dir, hostname, journal, run_checked, run_role, tail


def test_check_mode_on_the_fresh_host_logged_no_secret():
    log = (ephemeral_dir() / "check-fresh.log").read_text()
    assert_no_secret(log, "--check --diff -vvv on the fresh hosts")
    assert re.search(r"changed=\d+\s+unreachable=0\s+failed=0", log), tail(log)


# On a fresh host the role's --check cannot run the tasks that need the package (and the keys) in
# place: it reports each such stage in a "check mode - ..." task of its own (roles/datadog_agent
# README, "Check mode"). The pairs, seen 2026-12-01; any other difference fails the test, and so
# does one of these that goes away.
FRESH_HOST = {
    "check only: datadog_agent : Install | check mode - the keys the real run fetches into the new keyring directory":
        "stands for the next entry",
    "real only: datadog_agent : Install | fetch the signing keys": "reported by the check-mode task above",
    "check only: datadog_agent : Install | check mode - the package change the real run makes": "stands for the next entry",
    "real only: datadog_agent : Install | datadog-agent and datadog-signing-keys": "reported by the check-mode task above",
    "check only: datadog_agent : Configure | check mode - the files the real run writes once the package is there":
        "stands for the next three entries",
    "real only: datadog_agent : Configure | datadog.yaml (validated before it lands)": "reported by the check-mode task above",
    "real only: datadog_agent : Configure | the checks' conf.d files (validated before they land)": "reported by the check-mode task above",
    "real only: datadog_agent : Configure | mark a restart and a verification as due (removed by verify once the agent is healthy)":
        "the marker goes with the files the check-mode task above reports",
    "check only: datadog_agent : Service | check mode - the agent the real run enables and starts": "stands for the next entry",
    "real only: datadog_agent : Service | datadog-agent enabled and running": "reported by the check-mode task above",
    "real only: datadog_agent : Verify | drop the backups of the previous configuration and the restart marker (the agent is healthy)":
        "verify does not run in check mode (the role's README)",
}


def test_check_mode_on_the_fresh_host_reported_what_converge_changed(host):
    # prepare.yml's --check run and Molecule's converge (and idempotence: no change) of converge.yml,
    # recorded by the ddapm_changes callback the base config enables.
    records, name = ephemeral_dir() / "changes.jsonl", hostname(host)
    check = changed(records, host=name, check=True, playbook="converge.yml")
    real = changed(records, host=name, check=False, playbook="converge.yml")
    assert_check_tells_the_truth(check, real, f"the fresh host {name}", FRESH_HOST)


def test_check_mode_on_the_converged_host_reports_no_change(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "check-converged", "--check", "--diff", "-vvv")
    assert rc == 0, tail(log)
    assert recap["changed"] == 0 and recap["failed"] == 0, tail(log)
    assert_no_secret(log, "--check --diff -vvv")
    assert agent_state(host) == before


def test_noop_run_changes_and_restarts_nothing(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "noop", "-v")
    assert rc == 0, tail(log)
    assert recap["changed"] == 0, tail(log)
    after = agent_state(host)
    assert after == before, f"{before} -> {after}" + journal(host)
    assert_no_secret(log, "a no-op run")


@pytest.mark.one_host("debian13")  # the role's logic: one host (onehost.py)
def test_config_change_restarts_exactly_once_and_hides_the_key(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "config-change", "--diff", "-vvv",
                              "-e", '{"datadog_agent_tags": ["team:apm", "changed:yes"]}')
    assert rc == 0, tail(log)
    assert recap["changed"] >= 1, tail(log)
    assert_no_secret(log, "a configuration change with --diff -vvv")
    after = agent_state(host)
    assert after["started"] == before["started"] + 1, f"{before} -> {after}" + journal(host)
    assert after["MainPID"] != before["MainPID"]
    data = yaml.safe_load(host.file("/etc/datadog-agent/datadog.yaml").content_string)
    assert data["tags"] == ["team:apm", "changed:yes"]

    # Back to the scenario's configuration: one more restart, and the hosts as converge left them.
    rc, log, recap = run_role(host, "config-restore", "--diff")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert_no_secret(log, "a configuration change with --diff")
    assert agent_state(host)["started"] == before["started"] + 2, journal(host)


@pytest.mark.one_host("debian12")  # the role's logic: one host (onehost.py)
def test_bad_config_change_is_rolled_back(host):
    # The image's redis-server holds 127.0.0.1:6379: a trace intake told to use it cannot start.
    before = agent_state(host)
    rc, log, recap = run_role(host, "bad-config-change", "-vvv",
                              "-e", '{"datadog_agent_apm_receiver_port": 6379, "datadog_agent_verify_timeout": 10}')
    assert rc != 0 and recap.get("failed") == 1, tail(log)
    assert_no_secret(log, "a failed configuration change with -vvv")
    assert "so the change was rolled back" in log, tail(log)
    assert "it is healthy again" in log, tail(log)
    assert "address already in use" in log, "the journal tail should name the cause\n" + tail(log)
    data = yaml.safe_load(host.file("/etc/datadog-agent/datadog.yaml").content_string)
    assert data["apm_config"]["receiver_port"] == 8126
    health = host.run("datadog-agent health")
    assert health.rc == 0, health.stdout + journal(host)
    assert host.run("find /etc/datadog-agent -name '*.yaml.*~'").stdout.strip() == ""
    assert agent_state(host)["started"] > before["started"]

    # And the next regular run has nothing left to do.
    rc, log, recap = run_role(host, "after-rollback")
    assert rc == 0 and recap["changed"] == 0, tail(log)


MARKER = "/etc/datadog-agent/.restart-pending"
RESTART_PENDING = (r"TASK \[datadog_agent : Service \| restart the agent for a configuration an earlier run left unverified\]"
                   r"[^\n]*\nchanged:")


def _running_env(host):
    """The env the running (stand-in) agent reports: what it read when it last started."""
    status = host.run("datadog-agent status")
    match = re.search(r"^\s*env: (\S+)$", status.stdout, re.M)
    return match.group(1) if match else None


def _file_env(host):
    return yaml.safe_load(host.file("/etc/datadog-agent/datadog.yaml").content_string).get("env")


def test_restart_not_lost_after_a_run_that_failed_at_the_apt_refresh(host):
    # Run 1 rewrites datadog.yaml (env: pending, before the package stage, the agent being
    # installed), then fails at the APT refresh (a repository that does not exist): no restart.
    before = agent_state(host)
    bad = '{"datadog_agent_env": "pending", "datadog_agent_repo_url": "file:/nonexistent/datadog-repo"}'
    rc, log, recap = run_role(host, "pending-fails-at-refresh", "-e", bad)
    assert rc != 0 and recap.get("failed") == 1, tail(log)
    assert "APT could not refresh the lists of file:/nonexistent/datadog-repo" in log, tail(log)
    assert _file_env(host) == "pending"
    assert _running_env(host) == "molecule", "the failed run should not have restarted the agent"
    assert agent_state(host)["MainPID"] == before["MainPID"]
    assert host.file(MARKER).exists, "the marker written before datadog.yaml changed must survive the failure"

    # Run 2, with the same configuration and the good repository: every file is current, yet the
    # agent is restarted once and fully verified, and reports the new env.
    rc, log, recap = run_role(host, "pending-finished", "-v", "-e", '{"datadog_agent_env": "pending"}')
    assert rc == 0, tail(log)
    assert re.search(RESTART_PENDING, log), tail(log)
    assert re.search(r"TASK \[datadog_agent : Verify \| `datadog-agent status` succeeds\][^\n]*\nok:", log), tail(log)
    after = agent_state(host)
    assert after["started"] == before["started"] + 1, f"{before} -> {after}" + journal(host)
    assert _running_env(host) == "pending", journal(host)
    assert not host.file(MARKER).exists
    assert host.run("find /etc/datadog-agent -name '*.yaml.*~'").stdout.strip() == ""

    # Run 3: nothing left to do.
    rc, log, recap = run_role(host, "pending-noop", "-e", '{"datadog_agent_env": "pending"}')
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert agent_state(host)["started"] == before["started"] + 1

    # Back to the scenario's configuration.
    rc, log, recap = run_role(host, "pending-restore")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert _running_env(host) == "molecule" and not host.file(MARKER).exists


@pytest.mark.one_host("debian12")  # the role's logic: one host (onehost.py)
def test_restart_and_verify_again_after_a_run_that_stopped_before_verify(host):
    # A run that restarted the agent on a new configuration but never verified it (verify skipped,
    # as when a run is killed after the service stage) leaves the marker; the next run restarts
    # and verifies.
    before = agent_state(host)
    change = '{"datadog_agent_tags": ["team:apm", "stage:unverified"]}'
    rc, log, recap = run_role(host, "pending-skip-verify", "--skip-tags", "datadog_agent_verify", "-e", change)
    assert rc == 0, tail(log)
    assert host.file(MARKER).exists
    assert agent_state(host)["started"] == before["started"] + 1

    rc, log, recap = run_role(host, "pending-verified", "-e", change)
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert re.search(RESTART_PENDING, log), tail(log)
    assert agent_state(host)["started"] == before["started"] + 2, journal(host)
    assert not host.file(MARKER).exists

    rc, log, recap = run_role(host, "pending-restore-tags")
    assert rc == 0, tail(log)
    assert not host.file(MARKER).exists


DISK_CHECK = "/etc/datadog-agent/conf.d/disk.d/conf.yaml"
# verify does not run in check mode (the role's README, "Check mode"): its clean-up is real only.
VERIFY_CLEANUP = {
    "real only: datadog_agent : Verify | drop the backups of the previous configuration and the restart marker (the agent is healthy)":
        "verify does not run in check mode",
}


@pytest.mark.one_host("debian13")  # the role's logic: one host (onehost.py)
def test_check_mode_tells_the_truth_about_a_config_change_and_a_check_added_then_purge_removes_it(host, tmp_path):
    # The scenario's checks plus a disk check, given in a file (the redis password stays out of
    # the command line and the logs).
    checks = {"redisdb": {"init_config": {}, "instances": [{"host": "127.0.0.1", "port": 6379, "password": CHECK_SECRET}]}}
    added = tmp_path / "added.yml"
    added.write_text(yaml.safe_dump({"datadog_agent_tags": ["team:apm", "checked:yes"],
                                     "datadog_agent_checks": {**checks, "disk": {"init_config": {}, "instances": [{"use_mount": False}]}}}))
    rc, log, recap = run_checked(host, "check-added", "-e", f"@{added}", known=VERIFY_CLEANUP)
    assert rc == 0, tail(log)
    assert_no_secret(log, "a check added")
    assert host.file(DISK_CHECK).exists
    assert yaml.safe_load(host.file("/etc/datadog-agent/datadog.yaml").content_string)["tags"] == ["team:apm", "checked:yes"]

    # Back to the scenario's configuration with datadog_agent_checks_purge: the disk check's file
    # goes (a check removed: --check compared with the real run too).
    rc, log, recap = run_checked(host, "check-purged", "-e", "datadog_agent_checks_purge=true", known=VERIFY_CLEANUP)
    assert rc == 0, tail(log)
    assert not host.file(DISK_CHECK).exists, "datadog_agent_checks_purge left a check that is not listed"
    assert host.file("/etc/datadog-agent/conf.d/redisdb.d/conf.yaml").exists
    assert host.run("datadog-agent health").rc == 0, journal(host)
    rc, log, recap = run_role(host, "check-purged-noop")
    assert rc == 0 and recap["changed"] == 0, tail(log)
