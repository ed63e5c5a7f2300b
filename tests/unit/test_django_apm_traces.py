"""What the rendered block sends, without containers: the sample app, instrumented by the role,
served in-process by Django's test client, with a real Celery worker, a local redis-server and a
local ddapm-test-agent (all on free loopback ports, stopped by PID at the end).

Proves on ddtrace 4.16: service/env/version tags (version = the checkout's SHA), 100% sampling by
rule, the Celery task in the request's trace, Redis spans named after the service, and no patient
id, user name, email or login anywhere in any span (plain or base64-encoded).
Skipped when redis-server is not installed (apt-get install redis-server).
"""

import base64
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
sys.path.insert(0, str(ROOT / "molecule" / "resources" / "tests"))
from apmtest import span_contents  # noqa: E402  (the PHI search the django scenario uses too)
PATIENT, USER, EMAIL = "12345", "alice.patientcare", "alice.patientcare@example.org"
NEEDLES = [PATIENT, USER, EMAIL, "Patientcare", "alice"]

pytestmark = pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server (apt-get install redis-server)")

VISIT = r'''
import json, django
django.setup()
from django.core.management import call_command
call_command("migrate", verbosity=0)
call_command("create_test_user", stdout=open("/dev/null", "w"))
from django.test import Client
from django.contrib.auth import get_user_model
c = Client()
out = {"login": c.login(username="alice.patientcare", password="correct-horse-battery-staple")}
out["patients"] = c.get("/patients/?patient_id=12345").status_code
out["me"] = c.get("/me/").status_code
from ddtrace.trace import tracer
tracer.flush()
print(json.dumps(out))
'''


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def wait_port(port, proc, what, deadline=30):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(f"{what} exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{what} did not listen on {port}")


def stop(proc):
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def world(tmp_path_factory, django_apm_sample_checkout):
    tmp = tmp_path_factory.mktemp("traces")
    redis_port, agent_port, otlp_http, otlp_grpc = free_ports(4)
    procs = []
    try:
        redis = subprocess.Popen(["redis-server", "--port", str(redis_port), "--bind", "127.0.0.1", "--save", "",
                                  "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        procs.append(redis)
        agent = subprocess.Popen([str(BIN / "ddapm-test-agent"), "--host", "127.0.0.1", "--port", str(agent_port),
                                  "--otlp-http-port", str(otlp_http), "--otlp-grpc-port", str(otlp_grpc)],
                                 stdout=open(tmp / "agent.log", "w"), stderr=subprocess.STDOUT)
        procs.append(agent)
        wait_port(redis_port, redis, "redis-server")
        wait_port(agent_port, agent, "ddapm-test-agent")

        # The role renders the .env (agent URL included) and the block into a fresh checkout.
        app, venv, sha = django_apm_sample_checkout("traces")
        inventory = tmp / "inventory.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": {"traces": {
            "ansible_connection": "local", "ansible_python_interpreter": sys.executable,
            "django_apm_app_dir": str(app), "django_apm_venv": str(venv), "django_apm_app_user": "nobody",
            "django_apm_app_group": "nogroup", "django_apm_env": "staging", "django_apm_verify": False,
            "django_apm_agent_port": agent_port,
            "django_apm_dotenv_extra": {"REDIS_URL": f"redis://127.0.0.1:{redis_port}", "SQLITE_PATH": str(tmp / "db.sqlite3"),
                                        "ALLOWED_HOSTS": "testserver"},
        }}}}))
        (tmp / "site.yml").write_text("- name: Role\n  hosts: all\n  gather_facts: false\n  roles: [django_apm]\n")
        env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_ROLES_PATH=str(ROOT / "roles"))
        res = subprocess.run([str(BIN / "ansible-playbook"), "-i", str(inventory), str(tmp / "site.yml")],
                             env=env, capture_output=True, text=True, timeout=600)
        assert res.returncode == 0, res.stdout[-4000:]

        # Nothing from this process's environment: the block reads the .env by itself.
        app_env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DJANGO_"))}
        app_env.update(DJANGO_SETTINGS_MODULE="upstream.settings.prod", PYTHONDONTWRITEBYTECODE="1")
        worker = subprocess.Popen([str(BIN / "celery"), "--app", "upstream", "worker", "--pool", "solo", "--loglevel", "INFO"],
                                  cwd=app, env=app_env, stdout=open(tmp / "worker.log", "w"), stderr=subprocess.STDOUT)
        procs.append(worker)
        _get(agent_port, "/test/session/clear")
        visit = subprocess.run([sys.executable, "-c", VISIT], cwd=app, env=app_env, capture_output=True, text=True, timeout=120)
        assert visit.returncode == 0, visit.stderr[-4000:]
        assert json.loads(visit.stdout.strip().splitlines()[-1]) == {"login": True, "patients": 200, "me": 200}

        def complete():
            ts = json.loads(_get(agent_port, "/test/session/traces"))
            for t in ts:
                if any(s["resource"] == "GET patients/" for s in t) and any(s["name"] == "celery.run" for s in t):
                    return ts
            return None

        end = time.monotonic() + 40
        while not (ts := complete()):
            if time.monotonic() > end:
                pytest.fail("no trace with the request and its Celery task; worker log:\n"
                            + (tmp / "worker.log").read_text()[-3000:])
            time.sleep(0.5)
        yield {"traces": ts, "sha": sha}
    finally:
        for proc in reversed(procs):
            stop(proc)


def _get(port, path):
    with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=10) as r:
        return r.read().decode()


def _root(trace):
    return next((s for s in trace if not s.get("parent_id")), trace[0])


def test_request_traces_carry_service_env_and_sha(world):
    requests = [_root(t) for t in world["traces"] if _root(t)["name"] == "django.request"]
    assert {r["resource"] for r in requests} >= {"GET patients/", "GET me/"}
    for r in requests:
        assert (r["service"], r["meta"]["env"], r["meta"]["version"]) == ("upstream", "staging", world["sha"])
        assert r["metrics"]["_sampling_priority_v1"] == 2 and r["metrics"]["_dd.rule_psr"] == 1.0


def test_celery_task_in_the_request_trace_and_redis_named_after_the_service(world):
    t = next(t for t in world["traces"] if any(s["resource"] == "GET patients/" for s in t))
    run = next(s for s in t if s["name"] == "celery.run")
    assert run["trace_id"] == _root(t)["trace_id"] and run["meta"]["version"] == world["sha"]
    assert {s["service"] for s in t if s["name"] == "redis.command"} == {"upstream-redis"}


def test_no_phi_anywhere(world):
    text, numbers = span_contents(world["traces"])  # every key and value but the tracer's own ids and clock
    assert "patient_id" not in text  # the view's query parameter
    for needle in NEEDLES:
        assert needle not in text, needle
        assert not needle.isdigit() or int(needle) not in numbers, needle
        for pad in range(3):
            enc = base64.b64encode(b"\0" * pad + needle.encode()).decode().rstrip("=")
            if len(enc[3:-2]) >= 4:
                assert enc[3:-2] not in text, f"{needle} base64-encoded"
    for s in (s for t in world["traces"] for s in t):
        assert not any(k.startswith("usr.") or k == "django.user.name" for k in s["meta"]), s["meta"]
        assert "?" not in s["meta"].get("http.url", "")
