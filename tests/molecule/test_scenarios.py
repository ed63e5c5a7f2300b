"""Run every Molecule scenario CI should run, one pytest test per scenario run.

Each run's full output goes to .cache/logs/molecule-<id>.log; a failure shows its tail.
Scenario folders that CI must not run (they need the internet) are listed in NOT_IN_CI, and
a test makes sure every scenario folder is in one list or the other.
"""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / ".cache" / "logs"

# (scenario, platform or None for all platforms of the base config)
CI_RUNS = [
    ("smoke", None),
    ("agent", None),
    ("upgrade", "upgrade-debian12"),
    ("absent", "absent-debian12"),
    ("bad_input", "bad_input-debian12"),
    # The app end to end on Debian 13 here, on Debian 12 through the deploy playbooks below
    # (both scenarios run in full on both: `molecule test -s django`).
    ("django", "django-debian13"),
    ("deploy", "deploy-debian12"),
]
NOT_IN_CI = {
    "datadog_repo": "uses Datadog's real repository and keys: needs the internet",
}


def _scenario_dirs():
    return sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def test_every_scenario_is_accounted_for():
    listed = {s for s, _ in CI_RUNS} | set(NOT_IN_CI)
    assert set(_scenario_dirs()) <= listed, "scenario folders missing from CI_RUNS/NOT_IN_CI"
    assert {s for s, _ in CI_RUNS} <= set(_scenario_dirs()), "CI_RUNS names a missing scenario"


@pytest.mark.molecule
@pytest.mark.parametrize(
    "scenario,platform", CI_RUNS, ids=[f"{s}-{p}" if p else s for s, p in CI_RUNS]
)
def test_molecule_scenario(scenario, platform):
    LOGS.mkdir(parents=True, exist_ok=True)
    run_id = f"{scenario}-{platform}" if platform else scenario
    log = LOGS / f"molecule-{run_id}.log"
    cmd = ["molecule", "test", "-s", scenario]
    if platform:
        cmd += ["-p", platform]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", NO_COLOR="1")
    with log.open("w") as out:
        proc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                              stdin=subprocess.DEVNULL, check=False)
    if proc.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-120:])
        pytest.fail(f"`{' '.join(cmd)}` exited {proc.returncode}; log {log}; tail:\n{tail}",
                    pytrace=False)
