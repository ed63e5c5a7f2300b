"""The interpreter `make` builds the virtualenv from (Makefile: PYTHON, $(VENV)/.python).

By default the distribution's /usr/bin/python3 when it is 3.11 to 3.13 (built with profile-guided and
link-time optimisation, unlike a default pyenv build), else the first python3 on the PATH; a
virtualenv made from another interpreter is made again."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = Path("/usr/bin/python3")


def _version(python):
    out = subprocess.run([str(python), "-c", "import sys; print(*sys.version_info[:2])"], capture_output=True,
                         text=True, check=True).stdout.split()
    return tuple(int(x) for x in out)


def _make(*args):
    return subprocess.run(["make", "-s", "--no-print-directory", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=60, check=False)


def test_the_virtualenv_this_suite_runs_in_comes_from_the_distributions_python():
    if not (SYSTEM.exists() and (3, 11) <= _version(SYSTEM) <= (3, 13)):
        pytest.fail("this test machine's /usr/bin/python3 is not 3.11 to 3.13: the Makefile's default differs")
    cfg = dict(line.split(" = ", 1) for line in (ROOT / ".venv" / "pyvenv.cfg").read_text().splitlines()
               if " = " in line)
    assert cfg["executable"] == os.path.realpath(SYSTEM), cfg
    assert Path(sys.prefix) == ROOT / ".venv", "the tests run in the virtualenv make built"


def test_a_virtualenv_of_another_interpreter_is_made_again_and_the_same_one_is_kept(tmp_path):
    venv = tmp_path / "venv"
    other = os.path.realpath(sys.executable)  # the virtualenv's own python: not what venv/.python names
    venv.mkdir()
    (venv / ".python").write_text("/opt/some/other/python3.11\n")
    (venv / "stale").write_text("made by the other interpreter")
    res = _make(f"VENV={venv}", f"PYTHON={other}", f"{venv}/.python")
    assert res.returncode == 0, res.stdout + res.stderr
    assert not (venv / "stale").exists(), "a virtualenv of another interpreter must be made again"
    assert (venv / ".python").read_text().strip() == other

    (venv / "kept").write_text("made by this interpreter")
    before = (venv / ".python").stat().st_mtime_ns
    res = _make(f"VENV={venv}", f"PYTHON={other}", f"{venv}/.python")
    assert res.returncode == 0, res.stdout + res.stderr
    assert (venv / "kept").exists() and (venv / ".python").stat().st_mtime_ns == before, \
        "the same interpreter keeps the virtualenv (and its stamp's time: nothing is installed again)"


def test_an_interpreter_that_does_not_run_is_named(tmp_path):
    res = _make(f"VENV={tmp_path / 'venv'}", "PYTHON=/nonexistent/python3", f"{tmp_path / 'venv'}/.python")
    assert res.returncode != 0 and "need /nonexistent/python3 (Python 3.11 to 3.13)" in res.stdout + res.stderr


def test_the_virtualenv_holds_every_pin_of_requirements_txt_uv_included():
    """What uv installed (Makefile: pip installs the pinned uv, uv installs requirements.txt) is
    what requirements.txt pins, uv itself too."""
    from importlib import metadata

    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.split("[")[0]] = version
    assert "uv" in pins, "requirements.txt pins the uv that installs it"
    wrong = {name: (version, metadata.version(name)) for name, version in pins.items()
             if metadata.version(name) != version}
    assert not wrong, f"pinned -> installed: {wrong}"
    uv = subprocess.run([str(Path(sys.prefix) / "bin" / "uv"), "--version"], capture_output=True, text=True,
                        check=True).stdout.split()
    assert uv[:2] == ["uv", pins["uv"]], uv
