"""app_deploy's preflight refuses, on the controller and before any host is contacted, the inputs
of the playbook before the role (deploy_*: the message names the new app_deploy_* name) and a
django_apm_version set by hand. Runs playbooks/deploy.yml against inventory/staging, whose hosts
are documentation addresses: a task that reached one would be UNREACHABLE. No containers."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")


def deploy(*extra):
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(ROOT / "inventory" / "staging"),
            str(ROOT / "playbooks" / "deploy.yml"), "-e", "vault_django_secret_key=made-up-not-a-secret", "-e", "vault_db_password=made-up-not-a-secret",
            "--limit", "web-1.staging.example.invalid"]
    for item in extra:
        argv += ["-e", item]
    res = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300, check=False,
                         stdin=subprocess.DEVNULL)
    out = " ".join((res.stdout + res.stderr).split())
    assert "UNREACHABLE" not in out and "unreachable=0" in out, out[-3000:]
    return res.returncode, out


@pytest.mark.parametrize("old,new", [("deploy_version=main", "app_deploy_version"),
                                     ("deploy_serial=1", "app_deploy_serial"),
                                     ("deploy_gate_debug_port=5012", "app_deploy_gate_agent")])
def test_an_old_input_name_is_refused_naming_the_new_one(old, new):
    rc, out = deploy(old)
    assert rc != 0
    assert f"{old.split('=')[0]} was renamed: set {new}" in out, out[-3000:]


def test_django_apm_version_is_refused():
    rc, out = deploy("django_apm_version=1.0")
    assert rc != 0
    assert "leave django_apm_version unset" in out and "Got app_deploy_repo_url=git@git.example.invalid" in out, out[-3000:]
