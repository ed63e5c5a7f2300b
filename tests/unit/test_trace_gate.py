"""playbooks/files/trace_gate.py on a host that serves no web requests (no --url): only the app
units' running processes are checked (DD_VERSION and DD_ENV in /proc/<MainPID>/environ). Real
processes stand in for the units; a fake `systemctl` on PATH answers `show -p MainPID` for them.
The agent is never asked (no --url), so nothing listens anywhere. No containers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "playbooks" / "files" / "trace_gate.py"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def units(tmp_path):
    """Two 'units': processes started with the environment systemd would give them."""
    procs = {
        "upstream-celery.service": subprocess.Popen(["sleep", "120"], env={"DD_VERSION": SHA, "DD_ENV": "staging"}),
        "old-celery.service": subprocess.Popen(["sleep", "120"], env={"DD_VERSION": "0" * 40, "DD_ENV": "staging"}),
    }
    fake = tmp_path / "bin" / "systemctl"
    fake.parent.mkdir()
    pids = {unit: proc.pid for unit, proc in procs.items()}
    # systemctl show -p MainPID --value UNIT  ->  the PID, or 0 for an unknown unit
    fake.write_text(f"#!{sys.executable}\nimport sys\nprint({pids!r}.get(sys.argv[-1], 0))\n")
    fake.chmod(0o755)
    yield dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    for proc in procs.values():
        proc.kill()
        proc.wait()


def gate(env, *units, version=SHA, url=None):
    argv = [sys.executable, str(GATE), "--agent", "standin", "--service", "upstream", "--env", "staging",
            "--version", version, "--timeout", "1"]
    argv += ["--url", url] if url else []
    for unit in units:
        argv += ["--unit", unit]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else None), proc.stderr


def test_units_running_the_deployed_version_pass(units):
    rc, result, err = gate(units, "upstream-celery.service")
    assert rc == 0, (result, err)
    assert result["ok"] and result["units_only"]
    assert "serves no web requests" in result["summary"] and f"DD_VERSION={SHA}" in result["summary"]
    assert result["units"][0]["DD_VERSION"] == SHA


def test_a_unit_on_another_version_or_not_running_fails(units):
    rc, result, _ = gate(units, "upstream-celery.service", "old-celery.service", "gone.service")
    assert rc == 1 and not result["ok"]
    assert result["summary"] == "the app's units do not run the deployed version"
    assert sorted(e.split(":")[0] for e in result["units_error"]) == ["gone.service", "old-celery.service"]


def test_without_url_a_unit_is_required(units):
    rc, result, err = gate(units)
    assert rc == 2 and result is None
    assert "at least one --unit" in err
