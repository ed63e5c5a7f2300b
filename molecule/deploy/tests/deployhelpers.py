"""Helpers of the deploy scenario's tests.

What the hosts must report comes from the real staging inventory (inventory/staging/group_vars),
read here as plain YAML: env and site from group_vars/all/main.yml, the service from there too
(django_apm_service: "{{ ddapm_service }}" in group_vars/app.yml). Traces are read back from the
stand-in agent's trace intake (ddapm-test-agent API) on the host. Nested runs of the playbooks use
the scenario's inventory (its group_vars are the staging ones) and extra vars, keep their logs under
the ephemeral directory (runs/) and are grepped for the made-up secrets.
"""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "resources" / "tests"))
from apmtest import http_get, wait_for  # noqa: E402,F401  (shared; the tests import them from here)

PROJECT = Path(os.environ.get("MOLECULE_PROJECT_DIRECTORY", Path(__file__).resolve().parents[3]))
SCENARIO = Path(os.environ.get("MOLECULE_SCENARIO_DIRECTORY", Path(__file__).resolve().parents[1]))
STAGING = PROJECT / "inventory" / "staging" / "group_vars"
STAGING_ALL = yaml.safe_load((STAGING / "all" / "main.yml").read_text())
STAGING_APP = yaml.safe_load((STAGING / "app.yml").read_text())

ENV = STAGING_ALL["ddapm_env"]
SITE = STAGING_ALL["ddapm_site"]
SERVICE = STAGING_ALL["ddapm_service"]
APP = STAGING_APP["django_apm_app_dir"]
UNITS = [f"{SERVICE}-gunicorn.service", f"{SERVICE}-celery.service"]
AGENT_UNITS = ["datadog-agent.service", "datadog-agent-trace.service"]
REMOTE = "/srv/git/upstream.git"
WORK = "/srv/git/work"
RECORD = "/var/lib/app_deploy/srv_upstream.json"  # app_deploy's record of the last completed deploy of APP

# The clear values of vars/scenario.yml's vaulted secrets (made up): no log may contain them.
API_KEY = "5ca1ab1e0ddba11deadbeefcafef00d0"
DJANGO_SECRET = "molecule-deploy-Django-s3cret-not-real"
SECRETS = (API_KEY, DJANGO_SECRET)


def hostname(host):
    return host.ansible.get_variables()["inventory_hostname"]


def runs_dir():
    path = Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/tmp")) / "runs"
    path.mkdir(parents=True, exist_ok=True)
    return path


def tail(log, lines=80):
    return "\n".join(log.splitlines()[-lines:])


def assert_no_secret(log, what):
    for secret in SECRETS:
        assert secret not in log, f"a secret ({secret[:4]}...) appears in the log of {what}"


def recap(log, target):
    match = re.search(
        rf"^{re.escape(target)}\s+: ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)"
        r"\s+skipped=(\d+)\s+rescued=(\d+)\s+ignored=(\d+)", log, re.M)
    keys = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
    return dict(zip(keys, map(int, match.groups()))) if match else {}


def run_playbook(host, name, playbook, *args, inventory=None, limit=True):
    """ansible-playbook playbooks/<playbook>.yml against this host; returns (rc, log, recap)."""
    target = hostname(host)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"),
           "-i", str(inventory or os.environ["MOLECULE_INVENTORY_FILE"]),
           "-e", f"@{SCENARIO / 'vars' / 'scenario.yml'}",
           str(PROJECT / "playbooks" / f"{playbook}.yml"), *args]
    if limit:
        cmd += ["--limit", target]
    env = dict(os.environ, ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", PY_COLORS="0")
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=1200, check=False,
                          stdin=subprocess.DEVNULL)
    log = proc.stdout + "\n" + proc.stderr
    (runs_dir() / f"{target}-{name}.log").write_text(f"$ {' '.join(cmd)}\n{log}")
    return proc.returncode, log, recap(log, target)


def traces(host):
    return json.loads(http_get(host, "http://127.0.0.1:8126/test/session/traces")[1])


def host_time_ns(host):
    return int(host.check_output("date +%s%N"))



def head_sha(host):
    return host.check_output(f"git -c safe.directory={APP} -C {APP} rev-parse HEAD").strip()


def push_commit(host, change, message):
    """In the remote's work tree: run the shell CHANGE, commit it, force-push it to main; the new SHA."""
    proc = host.run(f"cd {WORK} && {{ {change}; }} && git add -A && git diff --cached --quiet && exit 3; "
                    f"git -c user.name=t -c user.email=t@example.invalid commit -qm {message!r} "
                    f"&& git push -qf {REMOTE} HEAD:main && git rev-parse HEAD")
    assert proc.rc == 0, proc.stdout + proc.stderr
    return proc.stdout.strip()


def remote_sha(host, ref="main"):
    return host.check_output(f"git --git-dir={REMOTE} rev-parse {ref}").strip()


def dotenv(host):
    """NAME -> value of the app's .env (the role writes NAME='value' or NAME="value")."""
    values = {}
    for line in host.file(f"{APP}/.env").content_string.splitlines():
        if "=" in line and not line.startswith("#"):
            name, value = line.split("=", 1)
            values[name] = value[1:-1]
    return values


def records(host):
    return json.loads(host.file("/root/ddapm_record.json").content_string)
