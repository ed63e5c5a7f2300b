"""roles/app_deploy/files/trace_gate.py on a host that serves no web requests (no --url): only the app
units' running processes are checked (DD_VERSION and DD_ENV in /proc/<MainPID>/environ). Real
processes stand in for the units; a fake `systemctl` on PATH answers `show -p MainPID` for them.
The agent is never asked (no --url), so nothing listens anywhere. No containers."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
GATE = ROOT / "roles" / "app_deploy" / "files" / "trace_gate.py"
SHA = "0123456789abcdef0123456789abcdef01234567"


@pytest.fixture
def units(tmp_path):
    """Two 'units': processes started with the environment systemd would give them."""
    procs = {
        "upstream-celery.service": subprocess.Popen(["sleep", "120"], env={"DD_VERSION": SHA, "DD_ENV": "staging"}),
        "old-celery.service": subprocess.Popen(["sleep", "120"], env={"DD_VERSION": "0" * 40, "DD_ENV": "staging"}),
    }
    fake = tmp_path / "bin" / "systemctl"
    fake.parent.mkdir()
    pids = {unit: proc.pid for unit, proc in procs.items()}
    # systemctl show -p MainPID --value UNIT  ->  the PID, or 0 for an unknown unit
    fake.write_text(f"#!{sys.executable}\nimport sys\nprint({pids!r}.get(sys.argv[-1], 0))\n")
    fake.chmod(0o755)
    yield dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    for proc in procs.values():
        proc.kill()
        proc.wait()


def gate(env, *units, version=SHA, url=None):
    argv = [sys.executable, str(GATE), "--agent", "standin", "--service", "upstream", "--env", "staging",
            "--version", version, "--timeout", "1"]
    argv += ["--url", url] if url else []
    for unit in units:
        argv += ["--unit", unit]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60, check=False)
    return proc.returncode, (json.loads(proc.stdout) if proc.stdout.strip() else None), proc.stderr


def test_units_running_the_deployed_version_pass(units):
    rc, result, err = gate(units, "upstream-celery.service")
    assert rc == 0, (result, err)
    assert result["ok"] and result["units_only"]
    assert "serves no web requests" in result["summary"] and f"DD_VERSION={SHA}" in result["summary"]
    assert result["units"][0]["DD_VERSION"] == SHA


def test_a_unit_on_another_version_or_not_running_fails(units):
    rc, result, _ = gate(units, "upstream-celery.service", "old-celery.service", "gone.service")
    assert rc == 1 and not result["ok"]
    assert result["summary"] == "the app's units do not run the deployed version"
    assert sorted(e.split(":")[0] for e in result["units_error"]) == ["gone.service", "old-celery.service"]


def test_without_url_a_unit_is_required(units):
    rc, result, err = gate(units)
    assert rc == 2 and result is None
    assert "at least one --unit" in err


# --------------------------------------------------------------------------- --agent datadog

STANDIN_SRC = ROOT / "molecule" / "harness" / "standin" / "src"


@pytest.fixture
def agent_cli(tmp_path):
    """A `datadog-agent` on PATH whose `status --json` carries the stand-in's apmStats section
    (molecule/harness/standin/src/agent.py apm_stats(), which follows the Datadog Agent's fields),
    computed over a trace intake served here; each second call moves the clock one minute on, so
    the receiver window changes as the trace-agent's does, once a minute."""
    import http.server
    import threading

    base = 1_800_000_000  # a whole minute
    # Python traces (2 spans each) as the stand-in's intake keeps them: 1, 2, 3, 1, 2, 3... in the minutes around base.
    traces = [[{"trace_id": 100 * m + i, "span_id": 1, "parent_id": 0, "service": "upstream",
                "start": (base + 60 * m + 5 + i) * 10**9, "meta": {"language": "LANG", "env": "staging"}},
               {"trace_id": 100 * m + i, "span_id": 2, "parent_id": 1, "service": "upstream",
                "start": (base + 60 * m + 6 + i) * 10**9, "meta": {}}]
              for m in range(-2, 30) for i in range(1 + m % 3)]
    lang = {"name": "python"}  # a test may change the tracers' language

    class Intake(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            body = json.dumps(traces).replace("LANG", lang["name"]).encode()
            self.send_response(200 if self.path == "/test/traces" else 404)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Intake)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    (tmp_path / "standin_version.py").write_text('AGENT_VERSION = "7.61.0"\nPACKAGE_VERSION = "1:7.61.0-1"\nTEST_AGENT_VERSION = "t"\n')
    fake = tmp_path / "bin" / "datadog-agent"
    fake.parent.mkdir()
    fake.write_text(f"""#!{sys.executable}
import json, sys, types
sys.path[:0] = [{str(tmp_path)!r}, {str(STANDIN_SRC)!r}]
import agent
assert sys.argv[1:] == ["status", "--json"], sys.argv
calls = {str(tmp_path / "calls")!r}
try:
    n = int(open(calls).read())
except OSError:
    n = 0
open(calls, "w").write(str(n + 1))
settings = types.SimpleNamespace(apm_enabled=True, apm_receiver_port={server.server_address[1]}, hostname="h",
                                 apm_bind_host="localhost")
print("a line the CLI may print first")
print(json.dumps({{"apmStats": agent.apm_stats(settings, now={base} + 60 * (n // 2) + 1)}}))
""")
    fake.chmod(0o755)
    yield dict(os.environ, PATH=f"{fake.parent}{os.pathsep}{os.environ['PATH']}"), lang
    server.shutdown()


def datadog_gate(env, timeout=20):
    argv = [sys.executable, str(GATE), "--agent", "datadog", "--url", "http://127.0.0.1:9/health/",
            "--service", "upstream", "--env", "staging", "--version", SHA, "--timeout", str(timeout), "--poll", "0.2"]
    proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, check=False)
    return proc.returncode, json.loads(proc.stdout), proc.stderr


def test_datadog_agent_path_reads_the_receiver_of_status_json(agent_cli):
    rc, result, err = datadog_gate(agent_cli[0])
    assert rc == 0, (result, err)
    # The windows seen: minute -1 (3 traces), minute 0 (1), minute 1 (2): the gate passes on the
    # second change, counting minute 1 only.
    assert result["python_traces_last_minute"] == 2, result
    assert result["ratebyservice_lists_service_env"] is True
    assert "the trace-agent received 2 python traces in the last minute" in result["summary"]


def test_datadog_agent_path_fails_without_python_traces(agent_cli):
    # The same agent, but the windows hold no python tracer: the gate times out and says why.
    env, lang = agent_cli
    lang["name"] = "go"
    rc, result, _ = datadog_gate(env, timeout=3)
    assert rc == 1 and not result["ok"]
    assert result["refreshes_seen"] >= 2


def test_datadog_agent_path_reports_an_agent_without_apm(tmp_path):
    fake = tmp_path / "datadog-agent"
    fake.write_text(f"#!{sys.executable}\nimport json\nprint(json.dumps({{'apmStats': {{'port': 5012, 'error': 'connection refused'}}}}))\n")
    fake.chmod(0o755)
    env = dict(os.environ, PATH=f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    rc, result, _ = datadog_gate(env, timeout=1)
    assert rc == 1
    assert "trace-agent is not running or unreachable: connection refused" in result["error"]


# --------------------------------------------------------------------------- --unix-socket

def test_the_app_is_asked_through_its_unix_socket(agent_cli, unix_app):
    path, seen = unix_app
    argv = [sys.executable, str(GATE), "--agent", "datadog", "--url", "http://localhost/health/?gate=1", "--unix-socket", str(path),
            "--service", "upstream", "--env", "staging", "--version", SHA, "--timeout", "20", "--poll", "0.2"]
    proc = subprocess.run(argv, env=agent_cli[0], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert json.loads(proc.stdout)["requests"] >= 1
    assert seen and set(seen) == {("/health/?gate=1", "localhost")}


def test_a_missing_unix_socket_is_reported(tmp_path):
    argv = [sys.executable, str(GATE), "--agent", "standin", "--url", "http://localhost/health/", "--unix-socket",
            str(tmp_path / "gone.sock"), "--agent-port", "9", "--service", "upstream", "--env", "staging", "--version", SHA,
            "--timeout", "1"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    result = json.loads(proc.stdout)
    assert proc.returncode == 1 and not result["ok"]
    assert any("No such file or directory" in str(r) for r in result["requests"]), result
