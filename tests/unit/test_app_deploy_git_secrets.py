"""app_deploy's git tasks and a remote with credentials in it (a deploy token in an https URL).

The preflight's git task and the check after it (read from tasks/preflight.yml, run by
ansible-playbook -vvv on localhost; `become` left out: the test runs as the app user): with a token
in the remote, -vvv used to print the module's arguments, the URL with the token. Now the task
runs with no_log and the next task fails with git's message, the remote masked. The remote is
https://...@127.0.0.1:9 (nothing listens there: git fails at once, nothing leaves the machine);
a local bare repository shows the task still works, a remote without credentials is still shown,
and a ref the remote does not have is refused in preflight. No containers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefork import local_python, prefork_env

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "app_deploy"
TOKEN = "glpat-n0t-a-real-t0ken-4711"
TASKS = ("Preflight | what the checkout is at", "Preflight | git found app_deploy_version")


def _run(tmp_path, repo_url, version):
    tasks = [t for t in yaml.safe_load((ROLE / "tasks" / "preflight.yml").read_text()) if t["name"].startswith(TASKS)]
    assert len(tasks) == 2, [t["name"] for t in tasks]
    tasks = [{k: v for k, v in t.items() if k not in ("become", "become_user")} for t in tasks]
    play = [{"name": "Git", "hosts": "localhost", "connection": "local", "gather_facts": False,
             "vars": {"app_deploy_repo_url": repo_url, "app_deploy_version": version, "app_deploy_git_key_file": "",
                      "app_deploy_git_accept_newhostkey": False, "django_apm_facts": {"app_dir": str(tmp_path / "app")}},
             "tasks": [{"name": "The role's constants and expressions", "ansible.builtin.include_vars": str(ROLE / "vars" / "main.yml")},
                       *tasks]}]
    playbook = tmp_path / "git.yml"
    playbook.write_text(yaml.safe_dump(play, sort_keys=False))
    env = prefork_env(dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="0",
                           GIT_CONFIG_GLOBAL="/dev/null", GIT_TERMINAL_PROMPT="0"))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-vvv", "-i", "localhost,",
                           "-e", f"ansible_python_interpreter={local_python()}", str(playbook)],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300, check=False)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("url", [f"https://deploy:{TOKEN}@127.0.0.1:9/app.git", f"https://{TOKEN}@127.0.0.1:9/app.git"])
def test_a_token_in_the_remote_never_reaches_the_output(tmp_path, url):
    rc, out = _run(tmp_path, url, "main")
    assert rc != 0
    assert TOKEN not in out, [line for line in out.splitlines() if TOKEN in line][:5]
    assert "git could not resolve app_deploy_version (main) on https://********@127.0.0.1:9/app.git" in out, out[-3000:]
    assert "Failed to connect" in out or "Could not connect" in out or "Connection refused" in out, out[-3000:]


@pytest.fixture
def bare_remote(tmp_path):
    work, bare = tmp_path / "work", tmp_path / "remote.git"
    for argv in (["git", "init", "-q", "-b", "main", str(work)], ["git", "-C", str(work), "commit", "-q", "--allow-empty", "-m", "one"],
                 ["git", "clone", "-q", "--bare", str(work), str(bare)]):
        subprocess.run(argv, check=True, capture_output=True,
                       env=dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.invalid",
                                GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.invalid"))
    sha = subprocess.run(["git", "-C", str(bare), "rev-parse", "main"], check=True, capture_output=True, text=True).stdout.strip()
    return bare, sha


def test_a_remote_without_credentials_is_resolved_and_shown(tmp_path, bare_remote):
    bare, sha = bare_remote
    rc, out = _run(tmp_path, str(bare), "main")
    assert rc == 0, out[-3000:]
    assert f"after: {sha}" in out and f"repo: {bare}" in out, "no_log only where the remote has credentials"
    # git's check mode answers an unknown ref (or a SHA cut short) on a host without the checkout
    # with the ref itself: refused here, before the checkout stage creates the app's user and directory.
    for ref in ("no-such-branch", sha[:7]):
        rc, out = _run(tmp_path, str(bare), ref)
        assert rc != 0 and f"git could not resolve app_deploy_version ({ref}) on {bare} to a commit: no such branch or tag" in out, out[-3000:]
