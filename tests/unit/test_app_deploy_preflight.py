"""app_deploy's preflight refuses, on the controller and before any host is contacted, the inputs
of the playbook before the role (deploy_*: the message names the new app_deploy_* name) and a
django_apm_version set by hand. Runs playbooks/deploy.yml against inventory/staging, whose hosts
are documentation addresses, pinned here to loopback port 9 (nothing listens there): a task that
reached a host would be UNREACHABLE at once. No containers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")


# The made-up secrets each play's vault check needs.
SECRETS = {"deploy.yml": ["vault_django_secret_key=made-up-not-a-secret", "vault_db_password=made-up-not-a-secret"],
           "agent.yml": ["vault_datadog_api_key=" + "0" * 32]}


def play(playbook, *extra, reach=False):
    """playbooks/<playbook> on the staging app host with extra -e items; the run must end before any
    host is asked (or, with reach, get as far as asking one). The host is pinned to loopback port 9,
    where nothing listens: a task that reaches it is UNREACHABLE at once, and no traffic leaves the
    machine."""
    argv = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(ROOT / "inventory" / "staging"),
            str(ROOT / "playbooks" / playbook), "--limit", "web-1.staging.example.invalid"]
    for item in (*SECRETS[playbook], "ansible_host=127.0.0.1", "ansible_port=9", *extra):
        argv += ["-e", item]
    res = subprocess.run(argv, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=300, check=False,
                         stdin=subprocess.DEVNULL)
    out = " ".join((res.stdout + res.stderr).split())
    if reach:
        assert "UNREACHABLE" in out, out[-3000:]
    else:
        assert "UNREACHABLE" not in out and "unreachable=0" in out, out[-3000:]
    return res.returncode, out


def deploy(*extra, reach=False):
    return play("deploy.yml", *extra, reach=reach)


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


TOKEN = "gl-deploy-t0ken-not-real"
# Each input with a careless value (a trailing line break, a leading -, an absolute or .. path):
# one run, one message per input, each naming it; the remote's token never shown.
CARELESS = {
    "app_deploy_repo_url": f"https://deploy:{TOKEN}@git.example.invalid/app.git\n",
    "app_deploy_version": "main\n",
    "app_deploy_git_key_file": "keys/deploy",
    "app_deploy_python": "-c",
    "app_deploy_requirements": "/etc/passwd",
    "app_deploy_constraints": "../constraints.txt",
    "app_deploy_health_url": "127.0.0.1:8000/health/",
    "app_deploy_gate_timeout": -5,
    "app_deploy_gate_units": ["upstream-gunicorn"],
    "app_deploy_state_dir": "var/lib/app_deploy",
}


def test_careless_inputs_are_refused_before_any_host_naming_each():
    rc, out = deploy(json.dumps(CARELESS))
    assert rc != 0
    for name in CARELESS:
        assert f"{name} (" in out or f"{name} has entries" in out, (name, out[-3000:])
    assert "https://********@git.example.invalid/app.git" in out
    assert TOKEN not in out


@pytest.mark.parametrize("version", ["-x", "v1.2.", "a..b", "release/", "main.lock", "has space"])
def test_a_version_git_would_refuse_or_read_as_an_option(version):
    rc, out = deploy(json.dumps({"app_deploy_version": version}))
    assert rc != 0 and "app_deploy_version (" in out and "is not a branch, a tag or a SHA" in out, out[-3000:]


def test_unusual_but_valid_inputs_pass_the_rules():
    rc, out = deploy(json.dumps({"app_deploy_version": "release/2026.12_rc1", "app_deploy_requirements": "requirements/prod.txt",
                                 "app_deploy_constraints": "./constraints.txt", "app_deploy_python": "/usr/bin/python3.11",
                                 "app_deploy_git_key_file": "/home/upstream/.ssh/deploy_ed25519",
                                 "app_deploy_health_url": "https://app.example.invalid/health/", "app_deploy_gate_timeout": 3600,
                                 "app_deploy_gate_units": ["upstream-gunicorn.service", "worker@2.service"],
                                 "app_deploy_state_dir": "/var/lib/app_deploy"}), reach=True)
    assert rc != 0 and "check the form of the role's inputs" in out and "must be" not in out, out[-3000:]


def test_a_bind_the_gate_cannot_ask_is_refused_unless_the_gate_is_off():
    rc, out = deploy(json.dumps({"django_apm_gunicorn_bind": "8000"}))
    assert rc != 0 and "django_apm_gunicorn_bind (8000) gives the gate no URL to ask: set app_deploy_health_url" in out, out[-3000:]
    rc, out = deploy(json.dumps({"django_apm_gunicorn_bind": "8000", "app_deploy_gate": False}), reach=True)
    assert rc != 0 and "gives the gate no URL" not in out, out[-3000:]


# --- the agent and the app's tracer agree (playbooks/tasks/agent_app_agree.yml) ------------------

def agent_play(*extra, reach=False):
    return play("agent.yml", *extra, reach=reach)


def test_the_agent_play_refuses_a_trace_port_the_app_does_not_send_to():
    rc, out = agent_play(json.dumps({"datadog_agent_apm_receiver_port": 9126}))
    assert rc != 0 and ("django_apm_agent_port (8126) is not the local agent's trace port, datadog_agent_apm_receiver_port (9126)"
                        in out), out[-3000:]


def test_the_agent_play_passes_when_both_move_together():
    rc, out = agent_play(json.dumps({"datadog_agent_apm_receiver_port": 9126, "django_apm_agent_port": 9126}), reach=True)
    assert rc != 0 and "is not the local agent's trace port" not in out and "differs from" not in out, out[-3000:]


def test_the_deploy_refuses_an_env_tag_the_agent_does_not_carry():
    rc, out = deploy("django_apm_env=staging-2")
    assert rc != 0 and "django_apm_env (staging-2) differs from datadog_agent_env (staging)" in out, out[-3000:]
