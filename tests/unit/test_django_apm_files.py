"""The small programs django_apm runs on the host (roles/django_apm/files/), run here as the role runs
them: `python -c "<the file's text>" ARGS` (ansible.builtin.command with the file looked up)."""

import json
import subprocess
import sys
from pathlib import Path

FILES = Path(__file__).resolve().parents[2] / "roles" / "django_apm" / "files"


def run_c(name, *args, python=sys.executable):
    return subprocess.run([python, "-c", (FILES / name).read_text(), *args], capture_output=True, text=True, timeout=60)


def test_ddtrace_version_reads_the_installed_one():
    import importlib.metadata
    res = run_c("ddtrace_version.py")
    assert res.returncode == 0 and res.stdout.strip() == importlib.metadata.version("ddtrace") == "4.16.0"


def test_ddtrace_version_says_none_without_ddtrace(tmp_path):
    res = subprocess.run([sys.executable, "-I", "-S", "-c", (FILES / "ddtrace_version.py").read_text()],
                         capture_output=True, text=True, timeout=60)
    assert (res.returncode, res.stdout.strip()) == (0, "none")


def test_dotenv_readback_prints_what_decouple_reads(tmp_path):
    env = tmp_path / ".env"
    env.write_text("#\n# Ansible managed\n#\nA='x y'\nB=\"it's\"\n")
    res = run_c("dotenv_readback.py", str(env))
    assert res.returncode == 0 and json.loads(res.stdout) == {"A": "x y", "B": "it's"}


def test_dotenv_readback_exits_3_without_decouple(tmp_path):
    env = tmp_path / ".env"
    env.write_text("A='1'\n")
    res = subprocess.run([sys.executable, "-I", "-S", "-c", (FILES / "dotenv_readback.py").read_text(), str(env)],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 3 and res.stdout == ""


def test_venv_pipmodule_tells_whether_packaging_is_there():
    assert run_c("venv_pipmodule.py").returncode == 0
    bare = subprocess.run([sys.executable, "-I", "-S", "-c", (FILES / "venv_pipmodule.py").read_text()], timeout=60)
    assert bare.returncode == 3


def test_dotenv_contract_as_the_validator(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("#\n# Ansible managed\n#\nA='1'\nB=\"it's\"\n")
    bad.write_text("A='1'\nA='2'\n")
    assert run_c("dotenv_contract.py", str(good)).returncode == 0
    res = run_c("dotenv_contract.py", str(bad))
    assert res.returncode == 1 and "line 2: A is set twice" in res.stderr
