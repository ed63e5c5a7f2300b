"""The one way a scenario's tests re-run a playbook against a live Molecule host.

Every verifier that runs ansible-playbook again (the datadog_agent scenarios through
ddhelpers.run_role, app_deploy through deployhelpers.run_playbook, the kill test of
datadog_agent_upgrade) goes through here; the scenario helpers only say which playbook and which
extra vars. A run:
- uses Molecule's environment (ANSIBLE_CONFIG, MOLECULE_INVENTORY_FILE, ...) with colours off,
  the ansible-playbook next to this Python, and `--limit` to the one host under test;
- keeps its full log, command line first, in <ephemeral dir>/runs/<host>-<name>.log, where the
  scenario driver (tests/molecule/test_scenarios.py) greps it for the scenarios' secrets;
- returns Result(rc, log, recap): recap is the host's PLAY RECAP line as a dict of ints ({} if
  the run printed none).
run_until() starts the same run and SIGKILLs ansible-playbook and its children once a line of
its output matches a marker: a run that died at a known point.
On pytest.ini's pythonpath: verifiers and fast tests import it by module name.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import NamedTuple

RECAP_KEYS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
ANSIBLE_PLAYBOOK = Path(sys.executable).parent / "ansible-playbook"
QUIET_ENV = {"ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_NOCOLOR": "1", "PY_COLORS": "0", "PYTHONUNBUFFERED": "1"}


class Result(NamedTuple):
    rc: int
    log: str
    recap: dict


def hostname(host) -> str:
    """The inventory name of a testinfra host."""
    return host.ansible.get_variables()["inventory_hostname"]


def ephemeral_dir() -> Path:
    return Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp"))


def runs_dir() -> Path:
    path = ephemeral_dir() / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def tail(log: str, lines: int = 80) -> str:
    return "\n".join(log.splitlines()[-lines:])


def assert_no_secret(log: str, what: str, secrets) -> None:
    """Fail (naming the first characters only) if any of `secrets` is in `log`."""
    for secret in secrets:
        assert secret not in log, f"a secret ({secret[:4]}...) appears in the log of {what}"


def parse_recap(log: str, target: str) -> dict:
    """The PLAY RECAP counts of `target` in an ansible-playbook log ({} if there is none)."""
    match = re.search(rf"^{re.escape(target)}\s+:((?:\s+\w+=\d+)+)\s*$", log, re.M)
    if not match:
        return {}
    counts = dict((key, int(value)) for key, value in re.findall(r"(\w+)=(\d+)", match.group(1)))
    return {key: counts[key] for key in RECAP_KEYS if key in counts}


def command(playbook, *args, target=None, inventory=None, extra_vars_files=()) -> list[str]:
    """The ansible-playbook command line: a relative `playbook` is one of the scenario's files."""
    path = Path(playbook)
    if not path.is_absolute():
        path = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"]) / path
    cmd = [str(ANSIBLE_PLAYBOOK), "-i", str(inventory or os.environ["MOLECULE_INVENTORY_FILE"])]
    for vars_file in extra_vars_files:
        cmd += ["-e", f"@{vars_file}"]
    cmd += [str(path), *args]
    if target:
        cmd += ["--limit", target]
    return cmd


def run_env() -> dict:
    return dict(os.environ, **QUIET_ENV)


def _log_path(target, name) -> Path:
    return runs_dir() / f"{target}-{name}.log" if target else runs_dir() / f"{name}.log"


def run(host, name, playbook, *args, inventory=None, extra_vars_files=(), limit=True, timeout=1200,
        env=None) -> Result:
    """ansible-playbook `playbook` against `host` (all hosts if not `limit`); logged as runs/<host>-<name>.log.
    `env`: the run's environment when the caller adds to run_env() (e.g. changes.changes_env)."""
    target = hostname(host)
    cmd = command(playbook, *args, target=target if limit else None, inventory=inventory,
                  extra_vars_files=extra_vars_files)
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env or run_env(), timeout=timeout, check=False,
                          stdin=subprocess.DEVNULL)
    log = proc.stdout + "\n" + proc.stderr
    _log_path(target, name).write_text(f"$ {' '.join(cmd)}\n{log}")
    return Result(proc.returncode, log, parse_recap(log, target))


def run_until(host, name, marker, playbook, *args, extra_vars_files=(), timeout=1200) -> str:
    """Start the run of `playbook` against `host`, SIGKILL it (process group) at the first line
    matching the regex `marker`; the output up to there, also logged as runs/<host>-<name>.log.
    Fails if the run ended without ever printing the marker."""
    target = hostname(host)
    cmd = command(playbook, *args, target=target, extra_vars_files=extra_vars_files)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=run_env(),
                            stdin=subprocess.DEVNULL, start_new_session=True)
    seen, killed = [], False
    try:
        for line in proc.stdout:
            seen.append(line)
            if re.search(marker, line):
                os.killpg(proc.pid, signal.SIGKILL)
                killed = True
                break
    finally:
        proc.stdout.close()
        proc.wait(timeout=timeout)
    log = "".join(seen)
    _log_path(target, name).write_text(f"$ {' '.join(cmd)}\n{log}")
    assert killed, f"the run ended (rc {proc.returncode}) before {marker!r} showed:\n{tail(log)}"
    return log
