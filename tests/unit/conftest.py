"""Shared fixtures of the fast tests (no containers)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLEAPP = ROOT / "molecule" / "resources" / "sampleapp"


@pytest.fixture(scope="session")
def django_apm_sample_checkout(tmp_path_factory):
    """A factory of sample-app git checkouts (the state a deploy leaves) in temporary dirs."""
    import shutil

    def make(name):
        app = tmp_path_factory.mktemp(name) / "app"
        shutil.copytree(SAMPLEAPP, app)
        env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_SYSTEM="/dev/null")
        for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "deploy"]):
            subprocess.run(cmd, cwd=app, env=env, check=True)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=app, env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
        # The app's virtualenv: the tools venv has Django, celery, redis, decouple and ddtrace 4.16.0.
        venv = app.parent / "venv"
        (venv / "bin").mkdir(parents=True)
        for tool, target in (("python", sys.executable), ("pip", Path(sys.executable).parent / "pip")):
            wrapper = venv / "bin" / tool
            wrapper.write_text(f"#!/bin/sh\nexec {target} \"$@\"\n")
            wrapper.chmod(0o755)
        return app, venv, sha

    return make


@pytest.fixture
def local_tasks(tmp_path):
    """Runs these tasks in one play on localhost (local connection, this Python) and returns the
    debug message of the last one, as Ansible's JSON callback gives it."""
    import json

    def run(tasks):
        playbook = tmp_path / "local_tasks.yml"
        playbook.write_text(json.dumps([{"hosts": "localhost", "connection": "local", "gather_facts": False, "tasks": tasks}]))
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_LOAD_CALLBACK_PLUGINS="1")
        proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                               "-e", f"ansible_python_interpreter={sys.executable}", str(playbook)],
                              capture_output=True, text=True, env=env, timeout=120, check=False)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
        return json.loads(proc.stdout)["plays"][0]["tasks"][-1]["hosts"]["localhost"]["msg"]

    return run


@pytest.fixture
def unix_app(tmp_path):
    """An app behind gunicorn's `--bind unix:PATH` (behind a web server): an HTTP server on a unix
    socket that records each request's (path, Host header) and answers 200, or the status a path of
    digits names (/503). Yields (path, seen)."""
    import http.server
    import socketserver
    import threading

    seen = []

    class App(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            seen.append((self.path, self.headers.get("Host")))
            self.send_response(int(self.path.strip("/")) if self.path.strip("/").isdigit() else 200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    path = tmp_path / "gunicorn.sock"
    server = socketserver.ThreadingUnixStreamServer(str(path), App)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield path, seen
    server.shutdown()
    server.server_close()
