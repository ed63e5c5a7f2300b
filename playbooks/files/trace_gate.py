#!/usr/bin/env python3
"""The trace half of deploy.yml's health gate, run on the app host (stdlib only, loopback only).

Did the app, restarted on the commit just deployed, send a trace that reached the local agent?

    trace_gate.py --agent standin|datadog [--url APP_URL] --service S --env E --version SHA
                  [--unit UNIT ...] [--agent-port 8126] [--debug-port 5012] [--timeout 60]

It asks the app itself (GET APP_URL, again every few seconds), then reads what the local agent
received. It prints one JSON object ({"ok": ..., "summary": ..., ...}) and exits 0 when the gate
passes, 1 when it does not.

Without --url (a host that serves no web requests, e.g. one that only runs the Celery worker: its
traces start on the web hosts) only the --unit checks below are made, and at least one is needed.

--agent standin (the harness's stand-in agent; its trace intake is Datadog's APM test agent):
    the spans themselves are read back from GET http://127.0.0.1:<agent-port>/test/session/traces.
    Passes when a span of SERVICE that started after this probe began carries env=ENV and
    version=VERSION. The tags of that trace are printed.

--agent datadog (the real Datadog Agent, which keeps no spans to read back): the trace-agent
    publishes its receiver statistics (Go expvar) on its debug server,
    https://127.0.0.1:<apm_config.debug.port, 5012>/debug/vars (TLS with the agent's IPC
    certificate in Agent 7.5x/7.6x; plain HTTP on the receiver port in old agents). "receiver"
    holds the traces received in the last minute per tracer language, refreshed once a minute.
    Passes when, while this probe keeps sending requests to the app, two refreshes happen after it
    started (so the second one covers only traffic sent after the restart) and the second shows
    traces received from python tracers. The span tags (env, version) cannot be read back from a
    real agent: the version is checked on the app side (each --unit's running process has
    DD_VERSION=VERSION and DD_ENV=ENV), and `ratebyservice` is reported when it lists
    service:SERVICE,env:ENV. This path was written from the datadog-agent sources (pkg/trace/info,
    pkg/trace/api/debug_server.go); it has NOT been run against a real Datadog Agent here.

--unit UNIT (any agent): the unit's MainPID environment must hold DD_VERSION=VERSION and
    DD_ENV=ENV (systemd loaded the new .env, the process was restarted).
"""

import argparse
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.error
import urllib.request

IPC_CERT = "/etc/datadog-agent/ipc_cert.pem"


def get(url, timeout=5, context=None):
    """GET a loopback URL, never through a proxy from the environment: (status, body)."""
    handlers = [urllib.request.ProxyHandler({})]
    if context is not None:
        handlers.append(urllib.request.HTTPSHandler(context=context))
    with urllib.request.build_opener(*handlers).open(url, timeout=timeout) as response:
        return response.status, response.read()


def poke(url):
    """One request to the app; returns the HTTP status or the error."""
    try:
        return get(url, timeout=10)[0]
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError as exc:
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
            requests.append(poke(args.url))
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


# --------------------------------------------------------------------------- real agent

def debug_vars(args):
    """The trace-agent's expvar JSON: HTTPS debug server first (7.5x+), then plain HTTP (old agents)."""
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # loopback, the agent's self-signed IPC certificate
    if os.access(IPC_CERT, os.R_OK):
        try:
            context.load_cert_chain(IPC_CERT)  # in case the debug server asks for the IPC client cert
        except (OSError, ssl.SSLError):
            pass
    errors = []
    for url, ctx in ((f"https://127.0.0.1:{args.debug_port}/debug/vars", context),
                     (f"http://127.0.0.1:{args.debug_port}/debug/vars", None),
                     (f"http://127.0.0.1:{args.agent_port}/debug/vars", None)):
        try:
            return url, json.loads(get(url, context=ctx)[1])
        except (OSError, ValueError, ssl.SSLError) as exc:
            errors.append(f"{url}: {getattr(exc, 'reason', exc)}")
    raise ConnectionError("; ".join(errors))


def python_traces(receiver):
    """Traces received from python tracers in a published receiver window (flat or nested JSON)."""
    total = 0
    for entry in receiver or []:
        tags = entry.get("Tags", entry)
        stats = entry.get("Stats", entry)
        if str(tags.get("Lang", "")).lower() == "python":
            total += int(stats.get("TracesReceived", 0) or 0)
    return total


def datadog(args, started_ns):
    del started_ns  # the real agent's windows are counted instead (see the module docstring)
    deadline = time.monotonic() + args.timeout
    requests, refreshes, url, last, error = [], 0, None, None, None
    next_poke = 0.0
    while time.monotonic() < deadline:
        now = time.monotonic()
        if now >= next_poke:
            requests.append(poke(args.url))
            next_poke = now + 2
        try:
            url, data = debug_vars(args)
            error = None
        except ConnectionError as exc:
            error = str(exc)
            time.sleep(2)
            continue
        window = json.dumps(data.get("receiver"), sort_keys=True)
        if last is not None and window != last:
            refreshes += 1
        last = window
        if refreshes >= 2 and python_traces(data.get("receiver")) > 0:
            key = f"service:{args.service},env:{args.env}"
            return {"ok": True, "debug_url": url, "requests": len(requests),
                    "python_traces_last_minute": python_traces(data.get("receiver")),
                    "ratebyservice_lists_service_env": key in (data.get("ratebyservice") or {}),
                    "note": "real agent: receiver statistics only; span tags are checked in Datadog, the version on the app side"}
        time.sleep(2)
    return {"ok": False, "debug_url": url, "error": error, "refreshes_seen": refreshes,
            "requests": len(requests),
            "hint": "is apm_config.debug.port (5012) enabled? set deploy_gate_timeout higher (windows refresh once a minute)"}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agent", choices=["standin", "datadog"], required=True)
    parser.add_argument("--url", help="a URL of the app that makes a traced request (none: check the units only)")
    parser.add_argument("--service", required=True)
    parser.add_argument("--env", required=True)
    parser.add_argument("--version", required=True)
    parser.add_argument("--unit", action="append", default=[], help="an app unit whose process must carry the version")
    parser.add_argument("--agent-port", type=int, default=8126)
    parser.add_argument("--debug-port", type=int, default=5012)
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args()
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
