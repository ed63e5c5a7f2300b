"""Shared test set-up.

- The tools of the interpreter running pytest (the venv) come first on PATH.
- The fast tests run first (a broken role fails within minutes), then the Molecule scenarios.
- `--lanes` (used by `make test` with `-n 3`): pytest-xdist runs the lanes side by side, one per
  worker, each from start to end, so three Molecule scenarios run at a time. The scenarios' lanes
  are in tests/molecule/test_scenarios.py (LANES); every other test is in lane "b". (xdist's own
  `--dist loadgroup` cannot do this with pytest 9.2: it renames node ids through an attribute
  pytest no longer reads.)
- Under `CI=true` a skipped test FAILS (a test that did not run proves nothing): `make setup`
  installs everything the tests need, so a skip means the machine is not what CI expects. The
  only exceptions are in ALLOWED_SKIPS (node id -> why the skip is legitimate); it is empty.
  xfail is not a skip and is unaffected.
"""

import os
import re
import sys
from pathlib import Path

import pytest

os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("ANSIBLE_CONFIG", str(Path(__file__).resolve().parents[1] / "ansible.cfg"))

from test_scenarios import LANES  # the list of scenario runs and their lanes

FAST_LANE = "b"

# Skips CI accepts: {"tests/unit/test_x.py::test_y": "why this skip is legitimate"}. Keep it empty
# unless a test truly cannot run on CI's machine (and say why here and in the README).
ALLOWED_SKIPS: dict[str, str] = {}
_SCENARIO_ID = re.compile(r"::test_molecule_scenario\[(?P<id>[^\]]+)\]$")


def pytest_addoption(parser):
    parser.addoption("--lanes", action="store_true",
                     help="with -n <lanes>: one worker per lane of tests/molecule/test_scenarios.py (LANES)")


def lane_of(nodeid):
    match = _SCENARIO_ID.search(nodeid)
    return LANES[match["id"]] if match else FAST_LANE


def pytest_collection_modifyitems(items):
    # Fast tests first, then the scenarios in CI_RUNS order (the sort is stable).
    items.sort(key=lambda item: _SCENARIO_ID.search(item.nodeid) is not None)


def pytest_xdist_make_scheduler(config, log):
    if not config.getoption("lanes"):
        return None
    from xdist.scheduler import LoadScopeScheduling

    class LaneScheduling(LoadScopeScheduling):
        """xdist's load-by-scope scheduler with the lane as the scope: a lane stays on one worker."""

        def _split_scope(self, nodeid):
            return f"lane-{lane_of(nodeid)}"

    return LaneScheduling(config, log)


def _ci():
    return os.environ.get("CI", "").strip().lower() in {"1", "true", "yes"}


def skip_is_failure(report, ci, allowed=ALLOWED_SKIPS):
    """Whether this test report is a skip that must fail the run: under CI, not an xfail, not allowed."""
    return (ci and report.skipped and not hasattr(report, "wasxfail")
            and report.nodeid not in allowed)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if skip_is_failure(report, _ci()):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = (f"skipped under CI=true, which fails the run: {reason}\n"
                           "install what it needs (`make setup`), or, if the skip is legitimate, add "
                           "its node id with the reason to ALLOWED_SKIPS in tests/conftest.py")
