"""Under CI=true a skipped test fails the run (tests/conftest.py), unless ALLOWED_SKIPS names it.

Each case runs pytest on a crafted test file with the project's conftest (pytester), so what is
checked is the run's real outcome, not the hook's return value alone.
"""

import shutil
from pathlib import Path

import pytest

pytest_plugins = ["pytester"]

CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
CRAFTED = """
import pytest

def test_skipped():
    pytest.skip("needs something not installed")

@pytest.mark.skipif(True, reason="marker skip")
def test_marker_skipped():
    pass

@pytest.mark.xfail(reason="known", strict=True)
def test_xfail():
    assert False

def test_runs():
    pass
"""


@pytest.fixture
def crafted(pytester):
    shutil.copy(CONFTEST, pytester.path / "conftest.py")
    # The project's conftest imports the scenario lanes from molecule/test_scenarios.py: none here.
    (pytester.path / "molecule").mkdir()
    (pytester.path / "molecule" / "test_scenarios.py").write_text("LANES = {}\n")
    pytester.makepyfile(test_crafted=CRAFTED)
    return pytester


def test_a_skip_fails_the_run_under_ci_unless_allowed(crafted, monkeypatch):
    monkeypatch.setenv("CI", "true")
    conftest = crafted.path / "conftest.py"
    conftest.write_text(conftest.read_text().replace(
        "ALLOWED_SKIPS: dict[str, str] = {}",
        'ALLOWED_SKIPS: dict[str, str] = {"test_crafted.py::test_marker_skipped": "crafted"}'))
    result = crafted.runpytest_subprocess("-p", "no:cacheprovider", "test_crafted.py")
    result.assert_outcomes(passed=1, failed=1, skipped=1, xfailed=1)
    result.stdout.fnmatch_lines(["*skipped under CI=true*needs something not installed*"])
    assert result.ret != 0


def test_a_skip_is_only_reported_outside_ci(crafted, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    result = crafted.runpytest_subprocess("-p", "no:cacheprovider", "test_crafted.py")
    result.assert_outcomes(passed=1, skipped=2, xfailed=1)
    assert result.ret == 0


def test_the_allow_list_is_empty():
    import importlib.util

    spec = importlib.util.spec_from_file_location("project_conftest", CONFTEST)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.ALLOWED_SKIPS == {}, "every allowed skip must be justified in the README too"
