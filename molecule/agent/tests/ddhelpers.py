"""Helpers of the datadog_agent scenarios' testinfra tests (shared by agent, upgrade, absent).

Nested runs: `run_role()` runs the scenario's converge.yml again with ansible-playbook against one
live Molecule host (molecule's environment: ANSIBLE_CONFIG, MOLECULE_INVENTORY_FILE...), keeps
the full log under the scenario's ephemeral directory and returns (rc, log, recap).
"""

import os
import re
import subprocess
import sys
from pathlib import Path

# Made-up test secrets (the clear values of the scenarios' secrets.yml): no log may contain them.
API_KEY = "3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e"
CHECK_SECRET = "molecule-redis-S3cret"
SECRETS = (API_KEY, CHECK_SECRET)

JOURNAL = "journalctl -u datadog-agent -u datadog-agent-trace --no-pager -n 50"


def journal(host):
    """The agent's journal tail, for assertion messages."""
    return "\n--- journal ---\n" + host.run(JOURNAL).stdout


def hostname(host):
    return host.ansible.get_variables()["inventory_hostname"]


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
    for secret in SECRETS:
        assert secret not in log, f"a secret ({secret[:4]}...) appears in the log of {what}"


def _ephemeral():
    path = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")) / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def run_role(host, name, *args, playbook="converge.yml"):
    """Run `playbook` of this scenario against `host` only; returns (rc, log, recap dict)."""
    target = hostname(host)
    scenario_dir = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"),
           "-i", os.environ["MOLECULE_INVENTORY_FILE"],
           str(scenario_dir / playbook), "--limit", target, *args]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=900, check=False,
                          stdin=subprocess.DEVNULL)
    log = proc.stdout + "\n" + proc.stderr
    (_ephemeral() / f"{target}-{name}.log").write_text(f"$ {' '.join(cmd)}\n{log}")
    match = re.search(
        rf"^{re.escape(target)}\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
        r"\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", log, re.M)
    recap = dict(zip(("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored"),
                     map(int, match.groups()))) if match else {}
    return proc.returncode, log, recap


def tail(log, lines=80):
    return "\n".join(log.splitlines()[-lines:])


def ephemeral_dir():
    return Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))
