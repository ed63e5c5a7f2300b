"""Helpers of the datadog_agent scenarios' testinfra tests (shared by datadog_agent, datadog_agent_upgrade, _absent, _bad_input and _checks; on pytest.ini's pythonpath).

Nested runs: `run_role()` runs the scenario's converge.yml (or another of its playbooks) again
against one live Molecule host, `run_role_until()` kills such a run at a marker; both through
scenariorun (command line, environment, log under the ephemeral runs/ directory, recap). The
tasks that reported a change go to runs/<host>-<name>.changes.jsonl (changes.py). `run_checked()`
runs the same inputs with --check first and fails unless --check reported exactly the tasks and
handlers the real run then changed.
"""

import scenariorun
from scenariorun import ephemeral_dir, hostname, tail  # noqa: F401  (the tests import them from here)

from changes import assert_check_tells_the_truth, changed, changes_env

# Made-up test secrets (the clear values of the scenarios' secrets.yml): no log may contain them.
API_KEY = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"
CHECK_SECRET = "molecule-redis-S3cret"
SECRETS = (API_KEY, CHECK_SECRET)

JOURNAL = "journalctl -u datadog-agent -u datadog-agent-trace --no-pager -n 50"


def journal(host):
    """The agent's journal tail, for assertion messages."""
    return "\n--- journal ---\n" + host.run(JOURNAL).stdout


def agent_state(host):
    """What tells whether systemd (re)started the agent: MainPID, NRestarts, "Started" count."""
    show = host.check_output(
        "systemctl show datadog-agent -p MainPID -p NRestarts -p ActiveEnterTimestampMonotonic")
    props = dict(line.split("=", 1) for line in show.splitlines() if "=" in line)
    started = host.run(
        "journalctl -u datadog-agent --no-pager -o cat | grep -c '^Started datadog-agent.service'").stdout
    props["started"] = int(started.strip() or 0)
    return props


def assert_no_secret(log, what):
    scenariorun.assert_no_secret(log, what, SECRETS)


def run_role(host, name, *args, playbook="converge.yml"):
    """Run `playbook` of this scenario against `host` only; returns (rc, log, recap dict)."""
    target = hostname(host)
    env = changes_env(scenariorun.runs_dir() / f"{target}-{name}.changes.jsonl", scenariorun.run_env())
    return scenariorun.run(host, name, playbook, *args, timeout=900, env=env)


def run_role_until(host, name, marker, *args, playbook="converge.yml"):
    """The same run, killed (SIGKILL) at the first output line matching `marker`; its output so far."""
    return scenariorun.run_until(host, name, marker, playbook, *args)


def changed_in(host, name):
    """The tasks and handlers that reported a change in the run_role() run called `name`."""
    return changed(scenariorun.runs_dir() / f"{hostname(host)}-{name}.changes.jsonl", host=hostname(host))


def run_checked(host, name, *args, playbook="converge.yml", known=None):
    """run_role() with --check, then for real; asserts both report the same changed tasks and
    handlers, but for the `known` differences named with their reason (changes.py)."""
    rc, log, recap = run_role(host, f"{name}-check", "--check", *args, playbook=playbook)
    assert rc == 0, tail(log)
    check = changed_in(host, f"{name}-check")
    rc, log, recap = run_role(host, name, *args, playbook=playbook)
    if rc == 0:
        assert_check_tells_the_truth(check, changed_in(host, name), f"{name} on {hostname(host)}", known)
    return rc, log, recap

