#!/usr/bin/env python3
"""The trace half of app_deploy's health gate, run on the app host (stdlib only, loopback only).

Did the app, restarted on the commit just deployed, send a trace that reached the local agent?

    trace_gate.py --agent datadog|standin [--url APP_URL [--unix-socket PATH]] --service S --env E --version SHA
                  [--unit UNIT ...] [--agent-port 8126] [--timeout 60] [--poll 2]
    trace_gate.py --stale-units --env E --version SHA --unit UNIT [--unit UNIT ...]

It asks the app itself (GET APP_URL, again every few seconds; through gunicorn's unix socket PATH
with --unix-socket, the URL then giving the path and the Host header), then asks the local agent what it
received. It prints one JSON object ({"ok": ..., "summary": ..., ...}) and exits 0 when the gate
passes, 1 when it does not. The caller says which agent is there (--agent): this script never
guesses.

Without --url (a host that serves no web requests, e.g. one that only runs the Celery worker: its
traces start on the web hosts) only the --unit checks below are made, and at least one is needed.

--agent datadog (the Datadog Agent, which keeps no spans to read back): the agent's own client,
    `datadog-agent status --json`. Its "apmStats" section is the trace-agent's expvar JSON
    (datadog-agent comp/trace/status/statusimpl/status.go, Agent 7.5x/7.6x), whose "receiver" is a
    list of TagStats (pkg/trace/info/stats.go: the Tags and Stats fields side by side, e.g.
    {"Lang": "python", ..., "TracesReceived": 12, ...}) for the previous minute, published once a
    minute. Passes when, while this probe keeps sending requests to the app, the window changes
    twice after it started (so the second one covers only traffic sent after the restart) and
    shows traces received from python tracers. The span tags (env, version) cannot be read back
    from the agent: the version is checked on the app side (each --unit's running process has
    DD_VERSION=VERSION and DD_ENV=ENV), and "ratebyservice" is reported when it lists
    service:SERVICE,env:ENV. Written from the datadog-agent sources; NOT run against a real
    Datadog Agent here (the test harness's stand-in answers `status --json` with the same fields).

--agent standin (the test harness's stand-in agent; its trace intake is Datadog's APM test agent):
    the spans themselves are read back from GET http://127.0.0.1:<agent-port>/test/session/traces.
    Passes when a span of SERVICE that started after this probe began carries env=ENV and
    version=VERSION. The tags of that trace are printed.

--unit UNIT (any agent): the unit's MainPID environment must hold DD_VERSION=VERSION and
    DD_ENV=ENV (systemd loaded the new .env, the process was restarted).

--stale-units: no gate; prints {"stale": [...]}, the --unit units whose running process does not
    carry DD_VERSION=VERSION and DD_ENV=ENV (or that do not run), and exits 0.
"""

import argparse
import http.client
import json
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def get(url, timeout=5):
    """GET a loopback URL, never through a proxy from the environment: (status, body)."""
    with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=timeout) as response:
        return response.status, response.read()


class UnixHTTPConnection(http.client.HTTPConnection):
    """HTTP over a unix socket (gunicorn --bind unix:PATH behind a web server)."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


def get_unix(url, path, timeout=10):
    """GET url's path from the app listening on the unix socket at path: the status."""
    parts = urllib.parse.urlsplit(url)
    conn = UnixHTTPConnection(path, timeout)
    try:
        conn.request("GET", (parts.path or "/") + (f"?{parts.query}" if parts.query else ""),
                     headers={"Host": parts.netloc or "localhost"})
        return conn.getresponse().status
    finally:
        conn.close()


def poke(url, unix_socket=None):
    """One request to the app; returns the HTTP status or the error."""
    try:
        return get_unix(url, unix_socket) if unix_socket else get(url, timeout=10)[0]
    except urllib.error.HTTPError as exc:
        return exc.code
    except (OSError, http.client.HTTPException) as exc:
        return f"error: {getattr(exc, 'reason', exc)}"


def unit_environment(unit):
    """DD_VERSION/DD_ENV of the unit's running main process (as systemd started it)."""
    pid = subprocess.run(["systemctl", "show", "-p", "MainPID", "--value", unit],
                         capture_output=True, text=True, check=False).stdout.strip()
    if pid in ("", "0"):
        return {"unit": unit, "pid": None, "error": "not running"}
    try:
        with open(f"/proc/{pid}/environ", "rb") as handle:
            raw = handle.read()
    except OSError as exc:
        return {"unit": unit, "pid": int(pid), "error": str(exc)}
    env = dict(item.decode("utf-8", "replace").split("=", 1) for item in raw.split(b"\0") if b"=" in item)
    return {"unit": unit, "pid": int(pid), "DD_VERSION": env.get("DD_VERSION"), "DD_ENV": env.get("DD_ENV")}


def check_units(args):
    found = [unit_environment(unit) for unit in args.unit]
    bad = [u for u in found if u.get("DD_VERSION") != args.version or u.get("DD_ENV") != args.env]
    return found, bad


# --------------------------------------------------------------------------- stand-in agent

def span_tags(span):
    meta = span.get("meta") or {}
    return {"service": span.get("service"), "env": meta.get("env"), "version": meta.get("version"),
            "name": span.get("name"), "resource": span.get("resource"),
            "trace_id": span.get("trace_id"), "start_ns": span.get("start")}


def standin(args, started_ns):
    url = f"http://127.0.0.1:{args.agent_port}/test/session/traces"
    deadline = time.monotonic() + args.timeout
    requests, seen, last_error = [], set(), None
    next_poke = 0.0
    while True:
        now = time.monotonic()
        if now >= next_poke:
            requests.append(poke(args.url, args.unix_socket))
            next_poke = now + 5
        try:
            traces = json.loads(get(url)[1] or b"[]")
            last_error = None
        except (OSError, ValueError) as exc:
            traces, last_error = [], f"GET {url}: {getattr(exc, 'reason', exc)}"
        for trace in traces:
            fresh = [s for s in trace if isinstance(s, dict) and (s.get("start") or 0) >= started_ns]
            for span in fresh:
                tags = span_tags(span)
                seen.add((tags["service"], tags["env"], tags["version"]))
                if (tags["service"], tags["env"], tags["version"]) == (args.service, args.env, args.version):
                    root = next((s for s in trace if not s.get("parent_id")), span)
                    return {"ok": True, "trace": span_tags(root) | {"spans": len(trace)}, "requests": requests}
        if time.monotonic() >= deadline:
            return {"ok": False, "requests": requests, "error": last_error,
                    "seen_since_start": sorted([list(map(str, t)) for t in seen])[:20]}
        time.sleep(1)


# --------------------------------------------------------------------------- Datadog Agent

def agent_status():
    """`datadog-agent status --json`, decoded (the CLI may print lines before the JSON)."""
    proc = subprocess.run(["datadog-agent", "status", "--json"], capture_output=True, text=True, check=False,
                          timeout=60)
    if proc.returncode != 0:
        raise ConnectionError(f"datadog-agent status --json: exit {proc.returncode}: {proc.stderr.strip()[-300:]}")
    out = proc.stdout
    try:
        return json.loads(out[out.index("{"):])
    except ValueError as exc:
        raise ConnectionError(f"datadog-agent status --json: not JSON ({exc})") from exc


def apm_stats(status):
    """The "apmStats" section: the trace-agent's expvar JSON, or {"error": ..., "port": ...}."""
    apm = status.get("apmStats")
    if not isinstance(apm, dict):
        raise ConnectionError("datadog-agent status --json has no apmStats section: is APM enabled (apm_config.enabled)?")
    if apm.get("error"):
        raise ConnectionError(f"the trace-agent is not running or unreachable: {apm['error']}")
    return apm


def python_traces(receiver):
    """Traces received from python tracers in a published receiver window (TagStats: flat JSON)."""
    return sum(int(entry.get("TracesReceived") or 0) for entry in receiver or []
               if isinstance(entry, dict) and str(entry.get("Lang", "")).lower() == "python")


def datadog(args, started_ns):
    del started_ns  # the agent's windows are counted instead (see the module docstring)
    deadline = time.monotonic() + args.timeout
    requests, refreshes, last, error = [], 0, None, None
    next_poke = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_poke:
            requests.append(poke(args.url, args.unix_socket))
            next_poke = now + 2
        try:
            apm = apm_stats(agent_status())
            error = None
        except (ConnectionError, OSError, subprocess.SubprocessError) as exc:
            error = str(exc)
            time.sleep(args.poll)
            continue
        window = json.dumps(apm.get("receiver"), sort_keys=True)
        if last is not None and window != last:
            refreshes += 1
        last = window
        if refreshes >= 2 and python_traces(apm.get("receiver")) > 0:
            key = f"service:{args.service},env:{args.env}"
            return {"ok": True, "requests": len(requests),
                    "python_traces_last_minute": python_traces(apm.get("receiver")),
                    "ratebyservice_lists_service_env": key in (apm.get("ratebyservice") or {}),
                    "note": "Datadog Agent: receiver statistics only; span tags are checked in Datadog, the version on the app side"}
        time.sleep(args.poll)
    return {"ok": False, "error": error, "refreshes_seen": refreshes, "requests": len(requests),
            "hint": "the trace-agent publishes its receiver statistics once a minute: raise app_deploy_gate_timeout"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agent", choices=["datadog", "standin"])
    parser.add_argument("--stale-units", action="store_true", help="only list the --unit units not on the version")
    parser.add_argument("--url", help="a URL of the app that makes a traced request (none: check the units only)")
    parser.add_argument("--unix-socket", help="ask --url through this unix socket (gunicorn's bind unix:PATH)")
    parser.add_argument("--service")
    parser.add_argument("--env", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--unit", action="append", default=[], help="an app unit whose process must carry the version")
    parser.add_argument("--agent-port", type=int, default=8126)
    parser.add_argument("--timeout", type=float, default=60)
    parser.add_argument("--poll", type=float, default=2, help="seconds between two questions to the Datadog Agent")
    args = parser.parse_args()
    if args.stale_units:
        print(json.dumps({"stale": [u["unit"] for u in check_units(args)[1]]}))
        return 0
    if args.agent is None or args.service is None:
        parser.error("--agent and --service are needed (unless --stale-units)")
    if args.url is None and not args.unit:
        parser.error("without --url (no web requests on this host) at least one --unit is needed")

    started_ns = time.time_ns()
    units, bad_units = check_units(args)
    if args.url is None:
        result = {"ok": True, "units_only": True}
    else:
        result = (standin if args.agent == "standin" else datadog)(args, started_ns)
    result.update(agent=args.agent, expected={"service": args.service, "env": args.env, "version": args.version},
                  units=units)
    if bad_units:
        result["ok"] = False
        result["units_error"] = [f"{u['unit']}: {u.get('error') or 'DD_VERSION=%s DD_ENV=%s' % (u.get('DD_VERSION'), u.get('DD_ENV'))}"
                                 for u in bad_units]
    if result["ok"] and result.get("units_only"):
        result["summary"] = (f"serves no web requests (its traces start on the web hosts); "
                             f"{', '.join(args.unit)} run with DD_VERSION={args.version} DD_ENV={args.env}")
    elif result["ok"] and args.agent == "standin":
        t = result["trace"]
        result["summary"] = (f"trace '{t['resource']}' ({t['spans']} spans) reached the stand-in agent with "
                             f"service={t['service']} env={t['env']} version={t['version']}")
    elif result["ok"]:
        result["summary"] = (f"the trace-agent received {result['python_traces_last_minute']} python traces in the last "
                             f"minute after the restart; the app runs with DD_VERSION={args.version} DD_ENV={args.env}")
    elif result.get("units_only"):
        result["summary"] = "the app's units do not run the deployed version"
    else:
        result["summary"] = "no fresh trace with the expected tags reached the agent"
    print(json.dumps(result, sort_keys=True))
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
