"""Run every Molecule scenario CI should run, one pytest test per scenario run.

Each run's full output goes to .cache/logs/molecule-<id>.log; a failure shows its tail (secrets
masked). A run passes when Molecule exits 0 AND (scenario_checks.py):
- the verifier's junit report (.cache/logs/junit-<id>.xml) shows every test function of the
  scenario's tests/ folder run and passed on every platform of the run, none skipped;
- no secret of the scenarios' vaulted files (or inventory/local's demo secrets) is in any log the
  run wrote: this log, the junit report, the scenario's ephemeral directory
  (.cache/molecule/<scenario>: the runs/*.log of -vvv, --diff and --check runs), other new files in
  .cache/logs. The directory must still hold the run's changes.jsonl when they are searched: until
  2026-12-02 the driver's closing `molecule destroy` pruned it first, and runs/ went unsearched.
- the units the scenario runs (UNITS_KEPT below: the app units and BOTH agent units, each on its
  own) are active with a real main PID before Molecule's idempotence step and are still active
  with the same MainPID, NRestarts and ActiveEnterTimestampMonotonic after it (systemd's account
  of a restart, not Ansible's changed count; scenario_checks.unit_problems()).
The driver reads Molecule's output as it comes: when Molecule announces the idempotence step
("[<scenario> > idempotence] Executing", then "Executed") it stops Molecule's process group
(SIGSTOP), reads the units' state on each host (docker exec ... systemctl show), and lets it go on
(SIGCONT). (Only `molecule test` takes -p, so the sequence cannot be run one command at a time.)
Molecule prunes the ephemeral directory when its sequence ends with destroy, so the driver runs the
sequence with --destroy never, between two removals of its own of the scenario's containers
(scenario_checks.remove_hosts: what Molecule's docker destroy does, without its playbook).
Scenario folders that CI must not run (they need the internet) are listed in NOT_IN_CI, and
a test makes sure every scenario folder is in one list or the other.
"""

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import scenario_checks as checks

ROOT = Path(__file__).resolve().parents[2]
LOGS = ROOT / ".cache" / "logs"

# (scenario, platform or None for all platforms of the base config, lane). `make test` runs three
# pytest-xdist workers, one per lane (tests/conftest.py), so three scenarios run at a time: alone,
# a scenario keeps about one core busy (it waits on restarts, health checks and settle times), so
# two lanes left the 2 cores idle part of the time (CI 2026-12-01: 23.5 min of tests with two
# lanes, 21.5 with three, both cores then 95% busy). The lanes are balanced by the minutes each run
# took in that three-lane CI run (in the comments); the fast tests (about 5) run first, in lane "b".
# The scenarios that run on both platforms run their verifier's tests on the two hosts side by
# side (host lanes, molecule/conftest.py), the long tests of a role's own logic on one host each
# (@pytest.mark.one_host, molecule/resources/tests/onehost.py).
CI_RUNS = [
    ("app_deploy", "app_deploy-debian12", "a"),  # 14.8
    ("datadog_agent_upgrade", "datadog_agent_upgrade-debian12", "c"),  # 7.8
    # Checks composed from the web, worker and db groups, the API key from a secrets backend, the
    # agent's proxy and APT through a proxy, on both platforms (APT 2.6 and APT 3).
    ("datadog_agent_checks", None, "b"),  # 5.6
    ("datadog_agent_bad_input", "datadog_agent_bad_input-debian12", "c"),  # 2.2
    # The app end to end on Debian 13 here, on Debian 12 through the deploy playbooks above
    # (both scenarios run in full on both: `molecule test -s django_apm`).
    ("django_apm", "django_apm-debian13", "c"),  # 9.7
    ("datadog_agent", None, "b"),  # 7.4
    # Datadog's next APT key through datadog-signing-keys, then a repository signed by it only (both
    # platforms: APT 2.6 with gpgv, APT 3 with sqv), and datadog_agent_key_refresh.
    ("datadog_agent_key_rotation", None, "a"),  # 4.7
    ("datadog_agent_absent", "datadog_agent_absent-debian12", "c"),  # 1.7
    ("harness_smoke", None, "b"),  # 1.6
    # The collection built, installed offline from its tarball and converged by FQCN role names.
    ("collection", "collection-debian12", "a"),  # 1.6
]
LANES = {f"{s}-{p}" if p else s: lane for s, p, lane in CI_RUNS}
AGENT_UNITS = ("datadog-agent.service", "datadog-agent-trace.service")
# scenario -> the units its converge leaves running, which Molecule's idempotence step must not
# restart (every CI scenario whose sequence has an idempotence step is listed).
UNITS_KEPT = {
    "app_deploy": (*AGENT_UNITS, "patient-portal-gunicorn.service", "patient-portal-celery.service"),
    "collection": AGENT_UNITS,
    "datadog_agent": AGENT_UNITS,
    "datadog_agent_absent": (),  # the agent is removed: nothing runs
    "datadog_agent_checks": AGENT_UNITS,
    "datadog_agent_key_rotation": AGENT_UNITS,
    "datadog_agent_upgrade": AGENT_UNITS,
    "django_apm": (*AGENT_UNITS, "upstream-gunicorn.service", "upstream-celery.service", "upstream-clock.service"),
    "harness_smoke": AGENT_UNITS,
}
NOT_IN_CI = {
    "datadog_agent_repo": "uses Datadog's real repository and keys: needs the internet",
}


def _scenario_dirs():
    return sorted(p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml"))


def test_every_scenario_is_accounted_for():
    listed = {s for s, _, _ in CI_RUNS} | set(NOT_IN_CI)
    assert set(_scenario_dirs()) <= listed, "scenario folders missing from CI_RUNS/NOT_IN_CI"
    assert {s for s, _, _ in CI_RUNS} <= set(_scenario_dirs()), "CI_RUNS names a missing scenario"


def test_every_scenario_with_an_idempotence_step_names_its_units():
    for scenario, _, _ in CI_RUNS:
        if "idempotence" in checks.test_sequence(ROOT, scenario):
            assert scenario in UNITS_KEPT, f"{scenario}: which units must idempotence leave alone?"


@pytest.mark.molecule  # needs the Docker engine and a host image: `make molecule` / `make test` set them up
def test_remove_hosts_removes_the_scenario_containers_and_only_those():
    """The driver's removal of a scenario's hosts (instead of `molecule destroy`): the named
    containers go, running or not, a name with no container is no error, and a container whose name
    only starts like a platform's stays."""
    names = ["ddapm-rmtest-debian12", "ddapm-rmtest-debian13"]
    keep = "ddapm-rmtest-debian12-other"
    try:
        for name in (names[0], keep):
            subprocess.run(["docker", "create", "--name", name, "--network", "none", "ddapm-host:bookworm",
                            "/bin/true"], check=True, capture_output=True)
        assert checks.remove_hosts(names) == f"removed: {names[0]}"
        listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], check=True,
                                capture_output=True, text=True).stdout.split()
        assert names[0] not in listed and keep in listed
        assert checks.remove_hosts(names) == "removed: none was there"
    finally:
        subprocess.run(["docker", "rm", "-f", *names, keep], capture_output=True, check=False)


_STEP = re.compile(r"\[[^\]>]+ > (?P<step>[a-z_]+)\] (?P<phase>Executing|Executed)\b")


def _molecule(args, env, log, on_step=None):
    """Run molecule, its output appended to `log`. on_step: {step: fn(phase)} called when Molecule
    announces that step "Executing" and "Executed", with Molecule and its children stopped
    (SIGSTOP to its process group) so that no later step touches the hosts meanwhile."""
    on_step = on_step or {}
    started = time.monotonic()
    with log.open("a") as out:
        out.write(f"\n$ molecule {' '.join(args)}\n")
        out.flush()
        proc = subprocess.Popen(["molecule", *args], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True,
                                errors="replace", start_new_session=True)
        for line in proc.stdout:
            out.write(line)
            out.flush()
            match = _STEP.search(line)
            if match:  # where a scenario's time goes: each step's start and end, in seconds
                out.write(f"# {match['step']} {match['phase'].lower()} at +{time.monotonic() - started:.1f}s\n")
            if match and match["step"] in on_step:
                os.killpg(proc.pid, signal.SIGSTOP)
                try:
                    on_step[match["step"]](match["phase"])
                finally:
                    os.killpg(proc.pid, signal.SIGCONT)
        return proc.wait()


def _remove_hosts(platforms, log):
    with log.open("a") as out:
        out.write(f"\n$ docker rm -f -v {' '.join(platforms)}\n{checks.remove_hosts(platforms)}\n")


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
    # PYTHONUNBUFFERED: Molecule's step lines reach the driver as they are written (on a pipe Python
    # would buffer them and the driver would read the idempotence step's start after it ran).
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", PY_COLORS="0", NO_COLOR="1", PYTHONUNBUFFERED="1",
               MOLECULE_EPHEMERAL_DIRECTORY=str(ephemeral),
               PYTEST_ADDOPTS=f"{os.environ.get('PYTEST_ADDOPTS', '')} --junitxml={junit}".strip())
    started = time.time()
    log.write_text("")
    junit.unlink(missing_ok=True)
    platforms = checks.scenario_platforms(ROOT, scenario, platform)
    _remove_hosts(checks.scenario_platforms(ROOT, scenario, None), log)  # what an aborted run may have left
    shutil.rmtree(ephemeral, ignore_errors=True)
    units = UNITS_KEPT.get(scenario, ())
    states = {}

    def idempotence(phase):
        states[phase] = checks.unit_states(platforms, units)

    cmd = ["test", "-s", scenario, *(["-p", platform] if platform else []), "--destroy", "never"]
    try:
        rc = _molecule(cmd, env, log, on_step={"idempotence": idempotence})
    finally:
        _remove_hosts(platforms, log)
    problems = [] if rc == 0 else [f"`molecule {' '.join(cmd)}` exited {rc}"]
    with log.open("a") as out:
        out.write(f"\nunits around Molecule's idempotence step: {states}\n")
    if set(states) == {"Executing", "Executed"}:  # also when a later step failed
        problems += checks.unit_problems(states["Executing"], states["Executed"], units,
                                         "Molecule's idempotence step")
    elif rc == 0 and "idempotence" in checks.test_sequence(ROOT, scenario):
        problems.append(f"the driver did not see Molecule's idempotence step start and end (saw {sorted(states)})")
    if rc == 0:
        problems += checks.verifier_problems(junit, ROOT / "molecule" / scenario / "tests", platforms)
        problems += checks.ephemeral_problems(ephemeral)
    others = {f"{kind}-{r}.{ext}" for r in LANES for kind, ext in (("molecule", "log"), ("junit", "xml"))}
    problems += checks.secret_findings(
        [log, junit, ephemeral, *checks.logs_written_since(LOGS, started, others)], secrets)
    if problems:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-120:])
        pytest.fail(checks.mask("\n".join(problems) + f"\nlog {log}; tail:\n{tail}", secrets),
                    pytrace=False)
