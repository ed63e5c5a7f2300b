"""The small programs django_apm runs on the host (roles/django_apm/files/), run here as the role runs
them: `python -c "<the file's text>" ARGS` (ansible.builtin.command with the file looked up)."""

import json
import os
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


MODULE = Path(__file__).resolve().parents[2] / "plugins" / "modules" / "django_apm_probe.py"


def _probe(tmp_path, check_mode=False, **over):
    """The module ddapm.django_datadog.django_apm_probe, run as Ansible runs a module (its arguments
    in a JSON file), with the controller's Python (it needs ansible's module_utils)."""
    args = {"app_dir": str(tmp_path / "app"), "settings_file": str(tmp_path / "app/prod.py"),
            "dotenv_path": str(tmp_path / "app/.env"), "venv_python": sys.executable, "user": "nobody",
            "group": "nogroup", "git": True, "services": [], "units": [], "retired": [], **over}
    argfile = tmp_path / "args.json"
    argfile.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {**args, "_ansible_check_mode": check_mode}}))
    res = subprocess.run([sys.executable, str(MODULE), str(argfile)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    seen = json.loads(res.stdout)
    assert seen["changed"] is False and seen["check_mode"] is check_mode
    return seen


def test_probe_reads_everything_preflight_needs_in_one_run(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    (app / "prod.py").write_text("DEBUG = False\n# --- Sentry ---\n")
    (app / ".env").write_text("SECRET_KEY='s'\n")
    git = ["git", "-C", str(app), "-c", "user.name=t", "-c", "user.email=t@example.invalid"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "-A"], check=True)
    subprocess.run([*git, "commit", "-qm", "one"], check=True)
    sha = subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout.strip()
    seen = _probe(tmp_path)
    assert seen["app_dir"] and seen["settings_exists"] and seen["dotenv_exists"]
    assert (seen["settings"], seen["dotenv"]) == ("DEBUG = False\n# --- Sentry ---\n", "SECRET_KEY='s'\n")
    assert seen["python"] and seen["pipmodule"] and seen["ddtrace"] == "4.16.0"
    assert seen["user"] and seen["group"]
    assert seen["git"] == {"rc": 0, "sha": sha, "error": ""}


def test_probe_says_what_is_missing(tmp_path):
    (tmp_path / "app").mkdir()
    seen = _probe(tmp_path, venv_python=str(tmp_path / "nope/bin/python"), user="no-such-user-x", group="no-such-group-x")
    assert seen["app_dir"] and not seen["settings_exists"] and not seen["dotenv_exists"] and seen["settings"] == ""
    assert not seen["python"] and not seen["pipmodule"] and seen["ddtrace"] == "none"
    assert not seen["user"] and not seen["group"]
    assert seen["git"]["rc"] != 0 and seen["git"]["sha"] == "" and "git repository" in seen["git"]["error"]
    assert _probe(tmp_path, git=False)["git"] == {"rc": 0, "sha": "", "error": ""}  # no git read asked


def test_probe_tells_a_virtualenv_without_packaging_or_ddtrace(tmp_path):
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(tmp_path / "bare")], check=True, timeout=120)
    seen = _probe(tmp_path, venv_python=str(tmp_path / "bare/bin/python"))
    assert seen["python"] and not seen["pipmodule"] and seen["ddtrace"] == "none"


def test_probe_reads_the_files_the_role_writes_and_says_check_mode(tmp_path):
    import grp
    import hashlib
    import pwd
    app = tmp_path / "app"
    (app / "units.d").mkdir(parents=True)
    (app / ".env").write_text("A='1'\n")
    (app / ".env").chmod(0o600)
    (app / "units.d").chmod(0o750)
    me, mine = pwd.getpwuid(os.getuid())[0], grp.getgrgid(os.getgid())[0]
    seen = _probe(tmp_path, check_mode=True, git=False, agent_group=mine,
                  files=[str(app / ".env"), str(app / "units.d"), str(app / "missing.conf")])
    assert seen["files"] == {
        str(app / ".env"): {"exists": True, "isdir": False, "checksum": hashlib.sha1(b"A='1'\n").hexdigest(), "mode": "0600",
                            "owner": me, "group": mine},
        str(app / "units.d"): {"exists": True, "isdir": True, "checksum": "", "mode": "0750", "owner": me, "group": mine},
        str(app / "missing.conf"): {"exists": False, "isdir": False, "checksum": "", "mode": "", "owner": "", "group": ""}}
    assert seen["agent_group"] is True
    assert _probe(tmp_path, git=False, agent_group="no-such-group-x")["agent_group"] is False
    assert _probe(tmp_path, git=False)["agent_group"] is False  # not asked


def test_dotenv_contract_as_the_validator(tmp_path):
    good, bad = tmp_path / "good", tmp_path / "bad"
    good.write_text("#\n# Ansible managed\n#\nA='1'\nB=\"it's\"\n")
    bad.write_text("A='1'\nA='2'\n")
    assert run_c("dotenv_contract.py", str(good)).returncode == 0
    res = run_c("dotenv_contract.py", str(bad))
    assert res.returncode == 1 and "line 2: A is set twice" in res.stderr
