"""The one sample-app play (molecule/resources/sample_app_host.yml) and its helper with_env.py.

with_env.py hands the app's database settings to manage.py from a 0600 file, so the password is on
no command line and in no task environment (Ansible's -vvv prints the `environment:` of a task):
run here for real. Every place that deploys the sample app imports that one play.
"""

import json
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
WITH_ENV = ROOT / "molecule" / "resources" / "files" / "with_env.py"
PLAY = "molecule/resources/sample_app_host.yml"
USERS = {  # who imports the play, and how its path reads from there
    "molecule/django_apm/prepare.yml": "../resources/sample_app_host.yml",
    "molecule/app_deploy/prepare.yml": "../resources/sample_app_host.yml",
    "molecule/app_deploy/side_effect.yml": "../resources/sample_app_host.yml",
    "bench/playbooks/app.yml": "../../molecule/resources/sample_app_host.yml",
}


def test_with_env_runs_the_command_with_the_file_variables_and_no_secret_in_its_arguments(tmp_path):
    secret = "made-up $HOME 'quoted' #x"
    env_file = tmp_path / "db.json"
    env_file.write_text(json.dumps({"DB_PASSWORD": secret, "DB_NAME": "upstream"}))
    code = "import os, sys, json; print(json.dumps([os.environ['DB_PASSWORD'], os.environ['DB_NAME'], sys.argv[1:]]))"
    res = subprocess.run([sys.executable, str(WITH_ENV), str(env_file), "--", sys.executable, "-c", code, "migrate"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout) == [secret, "upstream", ["migrate"]]


def test_with_env_passes_the_exit_status_and_refuses_a_bad_file(tmp_path):
    good = tmp_path / "ok.json"
    good.write_text("{}")
    res = subprocess.run([sys.executable, str(WITH_ENV), str(good), "--", sys.executable, "-c", "raise SystemExit(7)"],
                         capture_output=True, text=True, check=False, timeout=60)
    assert res.returncode == 7
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"DB_PORT": 5432}))
    res = subprocess.run([sys.executable, str(WITH_ENV), str(bad), "--", "true"], capture_output=True, text=True,
                         check=False, timeout=60)
    assert res.returncode != 0 and "string values" in res.stderr
    res = subprocess.run([sys.executable, str(WITH_ENV), str(good), "true"], capture_output=True, text=True,
                         check=False, timeout=60)
    assert res.returncode != 0 and "usage" in res.stderr


def test_every_sample_app_deployment_imports_the_one_play():
    for user, path in USERS.items():
        plays = yaml.safe_load((ROOT / user).read_text())
        imports = [p.get("ansible.builtin.import_playbook") for p in plays]
        assert path in imports, user
        assert (ROOT / user).parent.joinpath(path).resolve() == (ROOT / PLAY).resolve()
        text = (ROOT / user).read_text()
        # nothing of the sample app's set-up is done a second time there
        for copy in ("sampleapp", "python3 -m venv", "requirements.txt", "redis-server", "postgres.yml"):
            assert copy not in text.replace(PLAY, "").replace(path, ""), (user, copy)


def test_no_password_reaches_a_task_environment():
    """A task's `environment:` is printed by -vvv: no play or task file of molecule/, bench/,
    playbooks/ or roles/ passes a DB_* setting or a password through one."""
    for path in [*ROOT.glob("molecule/**/*.yml"), *ROOT.glob("bench/**/*.yml"), *ROOT.glob("playbooks/**/*.yml"),
                 *ROOT.glob("roles/**/tasks/*.yml")]:
        if "sampleapp" in path.parts:
            continue
        text = path.read_text()
        for block in text.split("environment:")[1:]:
            head = block.split("\n  - name:", 1)[0].split("\n- name:", 1)[0][:600]
            assert "DB_" not in head and "password" not in head.lower(), path
