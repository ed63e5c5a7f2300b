"""Run every Molecule scenario CI should run, one pytest test per scenario run.

Each run's full output goes to .cache/logs/molecule-<id>.log; a failure shows its tail (secrets
masked). A run passes when Molecule exits 0 AND (scenario_checks.py):
- the verifier's junit report (.cache/logs/junit-<id>.xml) shows every test function of the
  scenario's tests/ folder run and passed on every platform of the run, none skipped;
- no secret of the scenarios' vaulted files (or inventory/local's demo secrets) is in any log the
  run wrote: this log, the junit report, the scenario's ephemeral directory
  (.cache/molecule/<scenario>: the runs/*.log of -vvv, --diff and --check runs), other new files in
  .cache/logs.
Molecule prunes the ephemeral directory when its sequence ends with destroy, so the driver runs the
sequence with --destroy never, between two `molecule destroy` of its own.
Scenario folders that CI must not run (they need the internet) are listed in NOT_IN_CI, and
a test makes sure every scenario folder is in one list or the other.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import scenario_checks as checks

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / ".cache" / "logs"

# (scenario, platform or None for all platforms of the base config, lane). `make test` runs two
# pytest-xdist workers, one per lane (tests/conftest.py), so two scenarios run at a time; the lanes
# are balanced by the minutes each scenario took in a serial run (in the comments). The fast tests
# run first, in lane "b".
CI_RUNS = [
    ("deploy", "deploy-debian12", "a"),  # 13 min
    ("absent", "absent-debian12", "a"),  # 2
    ("bad_input", "bad_input-debian12", "a"),  # 1.5
    ("smoke", None, "a"),  # 2.5
    # The collection built, installed offline from its tarball and converged by FQCN role names.
    ("collection", "collection-debian12", "a"),  # 2 (4 on a loaded machine)
    # The app end to end on Debian 13 here, on Debian 12 through the deploy playbooks above
    # (both scenarios run in full on both: `molecule test -s django`).
    ("django", "django-debian13", "b"),  # 7
    ("agent", None, "b"),  # 5.5
    ("upgrade", "upgrade-debian12", "b"),  # 5.5
]
LANES = {f"{s}-{p}" if p else s: lane for s, p, lane in CI_RUNS}
NOT_IN_CI = {
    "datadog_repo": "uses Datadog's real repository and keys: needs the internet",
}


def _scenario_dirs():
    return sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def test_every_scenario_is_accounted_for():
    listed = {s for s, _, _ in CI_RUNS} | set(NOT_IN_CI)
    assert set(_scenario_dirs()) <= listed, "scenario folders missing from CI_RUNS/NOT_IN_CI"
    assert {s for s, _, _ in CI_RUNS} <= set(_scenario_dirs()), "CI_RUNS names a missing scenario"


def _molecule(args, env, log):
    with log.open("a") as out:
        out.write(f"\n$ molecule {' '.join(args)}\n")
        out.flush()
        return subprocess.run(["molecule", *args], cwd=ROOT, env=env, stdout=out,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, check=False).returncode


@pytest.mark.molecule
@pytest.mark.parametrize(
    "scenario,platform", [(s, p) for s, p, _ in CI_RUNS], ids=list(LANES)
)
def test_molecule_scenario(scenario, platform):
    LOGS.mkdir(parents=True, exist_ok=True)
    run_id = f"{scenario}-{platform}" if platform else scenario
    log, junit = LOGS / f"molecule-{run_id}.log", LOGS / f"junit-{run_id}.xml"
    ephemeral = ROOT / ".cache" / "molecule" / scenario
    secrets = checks.secret_values(ROOT)
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", NO_COLOR="1",
               MOLECULE_EPHEMERAL_DIRECTORY=str(ephemeral),
               PYTEST_ADDOPTS=f"{os.environ.get('PYTEST_ADDOPTS', '')} --junitxml={junit}".strip())
    started = time.time()
    log.write_text("")
    junit.unlink(missing_ok=True)
    _molecule(["destroy", "-s", scenario], env, log)  # what an aborted run may have left
    shutil.rmtree(ephemeral, ignore_errors=True)
    cmd = ["test", "-s", scenario, *(["-p", platform] if platform else []), "--destroy", "never"]
    try:
        rc = _molecule(cmd, env, log)
    finally:
        _molecule(["destroy", "-s", scenario], env, log)
    problems = [] if rc == 0 else [f"`molecule {' '.join(cmd)}` exited {rc}"]
    if rc == 0:
        problems += checks.verifier_problems(junit, ROOT / "molecule" / scenario / "tests",
                                             checks.scenario_platforms(ROOT, scenario, platform))
    others = {f"{kind}-{r}.{ext}" for r in LANES for kind, ext in (("molecule", "log"), ("junit", "xml"))}
    problems += checks.secret_findings(
        [log, junit, ephemeral, *checks.logs_written_since(LOGS, started, others)], secrets)
    if problems:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-120:])
        pytest.fail(checks.mask("\n".join(problems) + f"\nlog {log}; tail:\n{tail}", secrets),
                    pytrace=False)
