"""django_apm's health check after a restart (files/app_health.py, run on the host) and its rollback plan.

The check runs here against a real HTTP server on loopback and a scripted systemd (the unit states
it would report); the Molecule scenario django_apm runs it against real units.
"""

import importlib.util
import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "django_apm"
SCRIPT = ROLE / "files" / "app_health.py"


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


H = _load("app_health", SCRIPT)
F = _load("django_apm_filters", ROLE / "filter_plugins" / "django_apm.py")


@pytest.fixture(scope="module")
def server():
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 (http.server's name)
            code = int(self.path.strip("/") or 200)
            self.send_response(code)
            if code == 302:
                self.send_header("Location", "/500")
            self.end_headers()

        def log_message(self, *args):
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def states(*sequence):
    """A fake systemctl show: each call returns the next state of the unit, then the last one again."""
    calls = iter(sequence)
    last = {}

    def show(unit):
        last["state"] = next(calls, last.get("state"))
        return last["state"]

    return show


UP = {"ActiveState": "active", "SubState": "running", "MainPID": "100", "NRestarts": "0"}


@pytest.mark.parametrize("path", ["200", "404", "302", "400"])
def test_any_answer_below_500_is_healthy(server, path):
    clock = Clock()
    assert H.check(["web"], f"{server}/{path}", 2, state=states(UP, UP), clock=clock, sleep=clock.sleep) == []
    assert clock.now >= 2, "the units must be watched for the whole settle time"


def test_a_500_is_not(server):
    clock = Clock()
    problems = H.check([], f"{server}/500", 2, wait=3, clock=clock, sleep=clock.sleep)
    assert problems == [f"{server}/500 did not answer within 3s (HTTP 500)"]


def test_nothing_listening_is_not():
    clock = Clock()
    problems = H.check([], "http://127.0.0.1:9/", 1, wait=2, clock=clock, sleep=clock.sleep)
    assert len(problems) == 1 and "http://127.0.0.1:9/ did not answer within 2s" in problems[0]


def test_a_unit_that_fails_or_restarts_by_itself_is_not():
    clock = Clock()
    failed = {**UP, "ActiveState": "failed", "SubState": "failed", "MainPID": "0"}
    restarted = {**UP, "MainPID": "200", "NRestarts": "1"}
    assert H.check(["web"], "", 3, state=states(UP, failed), clock=clock, sleep=clock.sleep) == ["web is failed (failed)"]
    assert H.check(["worker"], "", 3, state=states(UP, restarted), clock=clock, sleep=clock.sleep) == [
        "worker did not stay up: restarted within 3s (main PID 100 -> 200)"]


def test_a_unit_that_goes_down_while_the_app_is_awaited_ends_the_wait_at_once():
    """Nothing answers and the unit failed (or systemd restarted it): no answer is coming, so the
    check stops long before --wait and names the unit."""
    failed = {**UP, "ActiveState": "failed", "SubState": "failed", "MainPID": "0"}
    restarting = {**UP, "ActiveState": "activating", "SubState": "auto-restart", "MainPID": "0", "NRestarts": "1"}
    for later, why in ((failed, "web is failed (failed)"), (restarting, "web is activating (auto-restart)")):
        clock = Clock()
        problems = H.check(["web"], "http://127.0.0.1:9/", 5, wait=60, state=states(UP, UP, UP, later),
                           clock=clock, sleep=clock.sleep)
        assert clock.now < 5, f"waited {clock.now}s for an app whose unit was down"
        assert len(problems) == 2 and "http://127.0.0.1:9/ did not answer (" in problems[0], problems
        assert problems[0].endswith("a unit went down first") and problems[1] == why


def test_a_unit_still_starting_does_not_end_the_wait(server):
    """A unit systemd still starts (activating, same PID, no restart) is given the whole wait."""
    starting = {**UP, "ActiveState": "activating", "SubState": "start"}
    answers = iter([0, 0, 200])

    def get(url, timeout):
        code = next(answers)
        return code, "" if code else "connection refused"

    clock = Clock()
    problems = H.check(["web"], f"{server}/200", 2, state=states(starting, starting, starting, UP), get=get,
                       clock=clock, sleep=clock.sleep)
    assert problems == [] and clock.now >= 2, (problems, clock.now)


def test_the_script_prints_json_and_exits_1_when_unhealthy(server):
    ok = subprocess.run([sys.executable, str(SCRIPT), "--settle", "1", "--url", f"{server}/204"], capture_output=True, text=True)
    bad = subprocess.run([sys.executable, str(SCRIPT), "--settle", "1", "--wait", "1", "--url", f"{server}/503"],
                         capture_output=True, text=True)
    assert (ok.returncode, json.loads(ok.stdout)) == (0, {"ok": True, "problems": []})
    assert bad.returncode == 1 and json.loads(bad.stdout)["problems"] == [f"{server}/503 did not answer within 1.0s (HTTP 503)"]


def test_the_app_is_asked_through_its_unix_socket(unix_app):
    """gunicorn behind a web server (--bind unix:PATH): the URL is asked through the socket."""
    path, seen = unix_app

    def run(url, sock, wait="60"):
        proc = subprocess.run([sys.executable, str(SCRIPT), "--settle", "1", "--wait", wait, "--url", url, "--unix-socket", str(sock)],
                              capture_output=True, text=True)
        return proc.returncode, json.loads(proc.stdout)

    assert run("http://localhost/204", path) == (0, {"ok": True, "problems": []})
    assert run("http://localhost/503", path, wait="1") == (1, {"ok": False, "problems": [
        "http://localhost/503 did not answer within 1.0s (HTTP 503)"]})
    rc, result = run("http://localhost/", path.parent / "gone.sock", wait="1")
    assert rc == 1 and "gone.sock" in result["problems"][0] and "No such file" in result["problems"][0], result
    assert ("/204", "localhost") in seen and ("/503", "localhost") in seen


def test_rollback_plan_restores_changed_files_and_removes_new_ones():
    entries = [
        ["/srv/app/.env", {"changed": True, "backup_file": "/srv/app/.env.1.2026~"}],
        ["/srv/app/prod.py", {"changed": False}],
        ["/etc/systemd/system/web.service", {"changed": True}],
        ["/etc/systemd/system/worker.service", {"skipped": True}],
    ]
    assert F.rollback_plan(entries) == {"restore": [{"path": "/srv/app/.env", "backup": "/srv/app/.env.1.2026~"}],
                                        "remove": ["/etc/systemd/system/web.service"]}


def test_changed_inputs_name_the_variables_behind_the_dotenv_changes():
    items = [{"name": "DD_ENV", "var": "django_apm_env"}, {"name": "DD_X", "var": "django_apm_tracer_env"},
             {"name": "DD_CELERY_DISTRIBUTED_TRACING", "var": ""}]
    plan = {"added": ["DD_X"], "changed": ["DD_ENV"], "removed": ["SECRET_KEY"]}
    assert F.changed_inputs(plan, items) == ["django_apm_tracer_env[DD_X]", "django_apm_env", "SECRET_KEY (removed from the .env)"]


def test_a_slow_start_gets_the_wait_and_the_units_are_watched_until_the_answer():
    clock = Clock()
    answers = iter([(0, "timed out")] * 3 + [(200, "")])

    def get(url, timeout):
        clock.sleep(timeout)
        return next(answers)

    assert H.check(["web"], "http://x/", 5, wait=60, state=states(UP, UP), get=get, clock=clock, sleep=clock.sleep) == []
    assert clock.now > 30, "four requests of 10 s (and the polls between them) went by"


def test_the_role_asks_a_unix_bind_through_its_socket(local_tasks):
    """The role's defaults and its health task's command line (read from tasks/service.yml), by
    ansible-playbook on localhost: a unix:/path bind is asked at http://localhost/ through the
    socket; a TCP bind on loopback; an empty django_apm_health_url still means the units only."""
    service = yaml.safe_load((ROLE / "tasks" / "service.yml").read_text())
    block = next(t for t in service if "block" in t and any("app_health.py" in str(x) for x in t["block"]))["block"]
    cmd = next(t for t in block if "app_health.py" in str(t))["ansible.builtin.script"]["cmd"]
    cases = [("unix", "unix:/run/upstream/gunicorn.sock", None), ("tcp", "0.0.0.0:8000", None),
             ("unix-units-only", "unix:/run/upstream/gunicorn.sock", "")]
    tasks = [{"name": "The role's defaults", "ansible.builtin.include_vars": str(ROLE / "defaults" / "main.yml")},
             {"name": "No case yet", "ansible.builtin.set_fact": {"got": {}}}]
    for name, bind, url in cases:
        facts = {"django_apm_manage_units": True, "django_apm_gunicorn_enabled": True, "django_apm_gunicorn_bind": bind,
                 "_django_apm_outcome": {"health_units": ["upstream-gunicorn.service"]}}
        if url is not None:
            facts["django_apm_health_url"] = url
        tasks += [{"name": f"Inputs ({name})", "ansible.builtin.set_fact": facts},
                  {"name": f"The command line ({name})", "ansible.builtin.set_fact": {"cmd_now": cmd}},
                  {"name": f"Kept ({name})", "ansible.builtin.set_fact": {
                      "got": "{{ got | combine({%r: {'cmd': cmd_now, 'socket': django_apm_health_socket}}) }}" % name}}]
    got = local_tasks([*tasks, {"name": "out", "ansible.builtin.debug": {"msg": "{{ got }}"}}])
    assert got["unix"]["socket"] == "/run/upstream/gunicorn.sock"
    assert got["unix"]["cmd"].split() == ["app_health.py", "--settle", "5", "--url", "http://localhost/", "--unix-socket",
                                          "/run/upstream/gunicorn.sock", "upstream-gunicorn.service"]
    assert got["tcp"]["socket"] == ""
    assert got["tcp"]["cmd"].split() == ["app_health.py", "--settle", "5", "--url", "http://127.0.0.1:8000/", "upstream-gunicorn.service"]
    assert got["unix-units-only"]["cmd"].split() == ["app_health.py", "--settle", "5", "--url", "''", "upstream-gunicorn.service"]
