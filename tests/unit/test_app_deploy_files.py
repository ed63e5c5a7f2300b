"""The Python files app_deploy runs on the host (roles/app_deploy/files/), against real git
checkouts in a temporary folder: local_changes.py (what a deploy's reset would throw away) and
deploy_state.py (the probe of what the host runs, the hashes that decide pip and migrate). No
containers."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = ROOT / "roles" / "app_deploy" / "files"
SETTINGS = "upstream/settings/prod.py"
BLOCK = ("# BEGIN django_apm: Datadog APM, managed by Ansible (role django_apm)\n"
         "import os\nos.environ.setdefault('DD_SERVICE', 'x')\n"
         "# END django_apm: Datadog APM, managed by Ansible (role django_apm)\n")


def git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], capture_output=True, text=True, check=True).stdout.strip()


def commit(repo, files, message="a commit"):
    for name, text in files.items():
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def app(tmp_path):
    repo = tmp_path / "app"
    repo.mkdir()
    git(repo, "init", "-q")
    commit(repo, {SETTINGS: "DEBUG = False\n\n# --- Sentry ---\nSENTRY = 1\n", "requirements.txt": "Django==5.2\n",
                  "constraints.txt": "asgiref==3.8\n", "patients/migrations/0001_initial.py": "ops = []\n",
                  "patients/views.py": "def view(): pass\n"})
    return repo


def run(script, *args):
    proc = subprocess.run([sys.executable, str(FILES / script), *map(str, args)], capture_output=True, text=True,
                          check=False)
    return proc.returncode, proc.stdout, proc.stderr


# --------------------------------------------------------------------------- local_changes.py

def test_a_clean_checkout_has_nothing_to_lose(app):
    assert run("local_changes.py", app, SETTINGS)[:2] == (0, "\n")


def test_only_the_django_apm_block_may_differ(app):
    settings = app / SETTINGS
    text = settings.read_text()
    settings.write_text(text.replace("\n# --- Sentry", "\n\n" + BLOCK + "\n# --- Sentry"))
    assert run("local_changes.py", app, SETTINGS)[:2] == (0, "\n")


def test_other_changes_are_listed(app):
    settings = app / SETTINGS
    settings.write_text(settings.read_text() + BLOCK + "DEBUG = True\n")
    (app / "patients/views.py").write_text("def view(): return 1\n")
    rc, out, _ = run("local_changes.py", app, SETTINGS)
    assert rc == 0
    assert out.splitlines() == ["patients/views.py", f"{SETTINGS} (outside the django_apm block)"]


def test_local_changes_fails_outside_a_checkout(tmp_path):
    rc, _, err = run("local_changes.py", tmp_path, SETTINGS)
    assert rc != 0 and "CalledProcessError" in err


# --------------------------------------------------------------------------- deploy_state.py

def tree(app):
    rc, out, err = run("deploy_state.py", "tree", "--app-dir", app, "--requirements", "requirements.txt",
                       "--constraints", "constraints.txt")
    assert rc == 0, err
    return json.loads(out)


def test_tree_hashes_move_only_with_what_they_cover(app):
    first = tree(app)
    assert first["sha"] == git(app, "rev-parse", "HEAD")
    assert first["requirements"] == git(app, "rev-parse", "HEAD:requirements.txt")
    assert first["constraints"] == git(app, "rev-parse", "HEAD:constraints.txt")

    commit(app, {"patients/views.py": "def view(): return 2\n"}, "code only")
    code = tree(app)
    assert code["sha"] != first["sha"]
    assert {k: code[k] for k in ("requirements", "constraints", "migrations")} == \
        {k: first[k] for k in ("requirements", "constraints", "migrations")}

    commit(app, {"patients/migrations/0002_more.py": "ops = [1]\n"}, "a migration")
    migration = tree(app)
    assert migration["migrations"] != code["migrations"]
    assert migration["requirements"] == code["requirements"]

    commit(app, {"constraints.txt": "asgiref==3.9\n"}, "a new pin")
    pin = tree(app)
    assert pin["constraints"] != migration["constraints"] and pin["requirements"] == migration["requirements"]
    assert pin["migrations"] == migration["migrations"]


def test_tree_ignores_the_work_tree(app):
    before = tree(app)
    (app / "requirements.txt").write_text("Django==9\n")  # not committed: what git checked out counts
    assert tree(app) == before


def test_tree_without_constraints_file(app):
    git(app, "rm", "-q", "constraints.txt")
    commit(app, {}, "no constraints")
    assert tree(app)["constraints"] is None


def test_probe_reads_the_record_the_head_and_the_user(app, tmp_path):
    record = tmp_path / "record.json"
    rc, out, _ = run("deploy_state.py", "probe", "--app-dir", app, "--record", record, "--user", "root")
    assert rc == 0
    assert json.loads(out) == {"record": None, "head": git(app, "rev-parse", "HEAD"), "user_exists": True}

    record.write_text(json.dumps({"sha": "abc", "requirements": "r"}))
    rc, out, _ = run("deploy_state.py", "probe", "--app-dir", tmp_path / "nowhere", "--record", record,
                     "--user", "no-such-user-here")
    assert json.loads(out) == {"record": {"sha": "abc", "requirements": "r"}, "head": None, "user_exists": False}

    record.write_text("{not json")  # a record cut short: as if there were none (the deploy runs in full)
    rc, out, _ = run("deploy_state.py", "probe", "--app-dir", app, "--record", record, "--user", "root")
    assert json.loads(out)["record"] is None
