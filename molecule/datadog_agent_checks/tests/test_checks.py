"""Checks composed from the web, worker and db groups: the files on disk, what the stand-in agent
loaded (`status`), purge with a keep-list, a conflict refused before any change, a custom check
change restarting once, idempotence and check mode, every log grepped for the vaulted secrets.

The purge and the custom check change prove the role's own logic: each runs on one host
(@pytest.mark.one_host, molecule/resources/tests/onehost.py); the rest runs on both."""

import json
import re

import pytest
import yaml

from checkshelpers import SECRETS, no_secret
from ddhelpers import agent_state, ephemeral_dir, journal, run_role, tail

CONF = "/etc/datadog-agent/conf.d"
# What the three groups compose: conf.d path -> number of instances.
EXPECTED = {
    "http_check.d/conf.yaml": 1,
    "redisdb.d/cache.yaml": 1,
    "redisdb.d/queue.yaml": 1,
    "queue_depth.d/conf.yaml": 1,
    "postgres.d/conf.yaml": 1,
}


def status(host):
    out = host.run("datadog-agent status -j")
    assert out.rc == 0, out.stderr + journal(host)
    return json.loads(out.stdout)


def loaded(host):
    """conf.d path -> number of instances the running stand-in loaded from it."""
    counts = {}
    for check in status(host)["runnerStats"]["Checks"].values():
        for stats in check.values():
            path = stats["CheckConfigSource"].removeprefix(f"file:{CONF}/")
            counts[path] = counts.get(path, 0) + 1
    return counts


def test_check_mode_on_the_fresh_host_logged_no_secret():
    no_secret((ephemeral_dir() / "check-fresh.log").read_text(), "--check --diff -vvv on the fresh hosts")


def test_merged_checks_on_disk(host):
    found = host.run(f"find {CONF} -name '*.yaml' -printf '%P %m %u %g\\n'").stdout.split("\n")
    assert sorted(line for line in found if line) == sorted(f"{p} 640 root dd-agent" for p in EXPECTED)
    postgres = yaml.safe_load(host.file(f"{CONF}/postgres.d/conf.yaml").content_string)
    assert postgres["instances"] == [{"host": "127.0.0.1", "port": 5432, "username": "datadog",
                                      "password": SECRETS["postgres password"], "dbname": "app", "tags": ["db:app"]}]
    queue = yaml.safe_load(host.file(f"{CONF}/redisdb.d/queue.yaml").content_string)
    assert queue["instances"][0]["db"] == 1 and queue["instances"][0]["password"] == SECRETS["redis password"]
    assert host.file(f"{CONF}/redisdb.d/cache.yaml").content_string.startswith("#\n# Ansible managed")
    custom = host.file("/etc/datadog-agent/checks.d/queue_depth.py")
    assert custom.mode == 0o640 and custom.user == "root" and custom.group == "dd-agent"
    assert "class QueueDepthCheck(AgentCheck)" in custom.content_string


def test_status_lists_every_check_with_its_instances(host):
    st = status(host)
    assert st["standin"] is True
    assert loaded(host) == EXPECTED
    checks = st["runnerStats"]["Checks"]
    assert sorted(checks) == ["http_check", "postgres", "queue_depth", "redisdb"]
    assert any(cid.startswith("http_check:app-health:") for cid in checks["http_check"])
    assert [s["Loader"] for s in checks["queue_depth"].values()] == ["python (custom check, checks.d)"]
    assert st["checkSchedulerStats"]["LoaderErrors"] == {} and st["autoConfigStats"]["ConfigErrors"] == []
    text = host.run("datadog-agent status").stdout
    assert "Running Checks" in text and "    postgres\n    --------" in text
    assert text.count("Instance ID: redisdb:") == 2
    for value in SECRETS.values():
        assert value not in json.dumps(st) + text


def test_check_mode_on_the_converged_host_changes_and_restarts_nothing(host):
    # The no-op real run is Molecule's idempotence step (0 changed; the CI driver checks that it
    # restarted neither agent unit): no second one here.
    before = agent_state(host)
    rc, log, recap = run_role(host, "check-converged", "--check", "--diff", "-vvv")
    assert rc == 0 and recap["changed"] == 0, tail(log)
    no_secret(log, "--check --diff -vvv on the converged host")
    assert agent_state(host) == before, journal(host)


def test_conflicting_groups_are_refused_before_any_change(host):
    before = agent_state(host)
    clash = json.dumps({"datadog_agent_checks__zz_replica": {"postgres": {"instances": [{"host": "replica"}]}}})
    rc, log, recap = run_role(host, "conflict", "-e", clash)
    assert rc != 0 and recap.get("changed") == 0, tail(log)
    assert ("conf.d/postgres.d/conf.yaml is set twice: by datadog_agent_checks__db ('postgres') "
            "and by datadog_agent_checks__zz_replica ('postgres')") in log, tail(log)
    assert "nothing was changed on the host" in log
    no_secret(log, "a refused conflict")
    assert agent_state(host) == before
    assert loaded(host) == EXPECTED


@pytest.mark.one_host("debian12")  # the role's logic: one host (onehost.py)
def test_purge_removes_unmanaged_checks_but_the_keep_list(host):
    for path in ("legacy.d/conf.yaml", "kept.d/conf.yaml", "redisdb.d/auto_conf.yaml"):
        host.run(f"install -D -m 0644 /dev/null {CONF}/{path} && printf 'instances:\\n- {{}}\\n' > {CONF}/{path}")
    before = agent_state(host)
    check = run_role(host, "purge-check", "--check")
    assert check[0] == 0 and check[2]["changed"] >= 1, tail(check[1])
    assert host.file(f"{CONF}/legacy.d/conf.yaml").exists, "check mode must not remove anything"
    rc, log, recap = run_role(host, "purge")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert not host.file(f"{CONF}/legacy.d/conf.yaml").exists
    assert host.file(f"{CONF}/kept.d/conf.yaml").exists, "datadog_agent_checks_keep: [kept] keeps it"
    assert host.file(f"{CONF}/redisdb.d/auto_conf.yaml").exists, "the package's auto_conf.yaml is never purged"
    assert agent_state(host)["started"] == before["started"] + 1, journal(host)
    assert loaded(host) == {**EXPECTED, "kept.d/conf.yaml": 1}
    # Back to the converged files (the next restart, in the next test, unloads `kept`).
    assert host.run(f"rm {CONF}/kept.d/conf.yaml {CONF}/redisdb.d/auto_conf.yaml && rmdir {CONF}/kept.d").rc == 0


@pytest.mark.one_host("debian13")  # the role's logic: one host (onehost.py)
def test_custom_check_change_restarts_once_and_a_broken_one_never_lands(host):
    path = "/etc/datadog-agent/checks.d/queue_depth.py"
    original = host.file(path).content_string
    before = agent_state(host)
    broken = json.dumps({"datadog_agent_custom_checks__worker": {"queue_depth": "def check(:\n"}})
    rc, log, recap = run_role(host, "custom-broken", "-e", broken)
    assert rc != 0 and recap.get("changed") == 0, tail(log)
    assert "the custom check 'queue_depth' is not valid Python (line 1" in log, tail(log)
    assert host.file(path).content_string == original and agent_state(host) == before

    changed = json.dumps({"datadog_agent_custom_checks__worker": {"queue_depth": original + "\nVERSION = 2\n"}})
    check = run_role(host, "custom-change-check", "--check", "-e", changed)
    assert check[0] == 0 and check[2]["changed"] >= 1, tail(check[1])
    assert host.file(path).content_string == original
    rc, log, recap = run_role(host, "custom-change", "--diff", "-vvv", "-e", changed)
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    no_secret(log, "a custom check change with --diff -vvv")
    assert re.search(r"^VERSION = 2$", host.file(path).content_string, re.M)
    assert agent_state(host)["started"] == before["started"] + 1, journal(host)
    rc, log, recap = run_role(host, "custom-change-again", "-e", changed)
    assert rc == 0 and recap["changed"] == 0, tail(log)

    rc, log, recap = run_role(host, "custom-restore")
    assert rc == 0 and host.file(path).content_string == original, tail(log)
    assert agent_state(host)["started"] == before["started"] + 2, journal(host)
    assert loaded(host) == EXPECTED
