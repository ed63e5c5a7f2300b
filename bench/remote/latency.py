"""Latency of the sample app's patients view under one variant; runs ON the bench host as root.

    python3 bench-latency.py VARIANT --requests N --warmup W

VARIANT is one of:
  rendered     the role's rendered config: the .env (EnvironmentFile=) and the prod.py block
  untraced     the same app with the role's switch off (DD_TRACE_ENABLED=false: the block returns
               before importing ddtrace)
  ddtrace-run  bare `ddtrace-run gunicorn` with the same .env, on the settings as deployed before
               the role added its block (upstream.settings.bench_bare)

gunicorn runs as a transient systemd unit shaped like the role's gunicorn unit (same user,
EnvironmentFile=, workers and threads). Each variant starts with Redis flushed and the stand-in
agent's test session cleared; then W warm-up and N timed requests, one at a time, each a new
connection to GET /patients/?patient_id=<unique> (cache miss, DB query, cache set, Celery task
published to Redis). Afterwards the traces the agent received are counted. Prints one JSON object.
"""

import argparse
import http.client
import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

APP = "/srv/upstream"
USER = "upstream"
BIND = ("127.0.0.1", 8000)
AGENT = "http://127.0.0.1:8126"
UNIT = "bench-web"
WORKERS, THREADS = 2, 4  # the role's defaults (django_apm_gunicorn_workers/threads)
UNTRACED_ENV = Path("/run/bench-untraced.env")
GUNICORN = [f"{APP}/.venv/bin/gunicorn", "--bind", "%s:%d" % BIND, "--workers", str(WORKERS),
            "--threads", str(THREADS), "upstream.wsgi:application"]
VARIANTS = {
    "rendered": {"settings": "upstream.settings.prod", "env_files": [f"{APP}/.env"], "argv": GUNICORN},
    "untraced": {"settings": "upstream.settings.prod", "env_files": [f"{APP}/.env", str(UNTRACED_ENV)], "argv": GUNICORN},
    "ddtrace-run": {"settings": "upstream.settings.bench_bare", "env_files": [f"{APP}/.env"],
                    "argv": [f"{APP}/.venv/bin/ddtrace-run", *GUNICORN]},
}


def sh(*argv, check=True):
    return subprocess.run(argv, capture_output=True, text=True, check=check).stdout.strip()


def start(variant):
    spec = VARIANTS[variant]
    UNTRACED_ENV.write_text("DD_TRACE_ENABLED=false\n")
    stop()
    props = [f"User={USER}", f"Group={USER}", f"WorkingDirectory={APP}", "KillMode=mixed", "NoNewPrivileges=true"]
    # Later EnvironmentFile= entries win: the untraced variant's switch overrides the .env's.
    props += [f"EnvironmentFile={path}" for path in spec["env_files"]]
    sh("systemd-run", f"--unit={UNIT}", "--collect", "--quiet", *(f"--property={p}" for p in props),
       f"--setenv=DJANGO_SETTINGS_MODULE={spec['settings']}", "--setenv=PYTHONUNBUFFERED=1", *spec["argv"])
    end = time.monotonic() + 90
    while True:
        try:
            if get("/health/") == 200:
                return
        except OSError:
            pass
        if time.monotonic() > end or sh("systemctl", "is-active", UNIT, check=False) not in ("active", "activating"):
            journal = sh("journalctl", "-u", UNIT, "--no-pager", "-n", "40", check=False)
            sys.exit(f"gunicorn ({variant}) did not answer /health/:\n{journal}")
        time.sleep(0.2)


def stop():
    subprocess.run(["systemctl", "stop", UNIT], capture_output=True)
    subprocess.run(["systemctl", "reset-failed", UNIT], capture_output=True)


def get(path):
    """One request on a new connection; returns the status after reading the whole body."""
    conn = http.client.HTTPConnection(*BIND, timeout=30)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        resp.read()
        return resp.status
    finally:
        conn.close()


def agent(path):
    with urllib.request.urlopen(AGENT + path, timeout=60) as resp:
        return resp.read()


def timed_requests(variant, count, offset):
    latencies = []
    for i in range(offset, offset + count):
        begin = time.perf_counter()
        status = get(f"/patients/?patient_id=bench-{variant}-{i}")
        latencies.append((time.perf_counter() - begin) * 1000)
        if status != 200:
            sys.exit(f"GET /patients/ answered {status} ({variant})")
    return latencies


def workers_with_ddtrace():
    """(gunicorn workers that have ddtrace's native modules mapped, gunicorn workers)."""
    main = sh("systemctl", "show", "-p", "MainPID", "--value", UNIT)
    workers = Path(f"/proc/{main}/task/{main}/children").read_text().split()
    return sum("ddtrace" in Path(f"/proc/{pid}/maps").read_text() for pid in workers), len(workers)


def patients_traces():
    traces = json.loads(agent("/test/session/traces"))
    return [t for t in traces if any(s.get("resource") == "GET patients/" and s.get("name") == "django.request" for s in t)]


def collect_traces(expected, deadline):
    """The patients traces the agent has received, once `expected` arrived or the deadline passed."""
    end = time.monotonic() + deadline
    while True:
        found = patients_traces()
        if len(found) >= expected or time.monotonic() > end:
            return found
        time.sleep(0.5)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("variant", choices=sorted(VARIANTS))
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--warmup", type=int, required=True)
    args = parser.parse_args()

    sh("redis-cli", "FLUSHALL")
    start(args.variant)
    try:
        agent("/test/session/clear")
        timed_requests(args.variant, args.warmup, 0)
        latencies = timed_requests(args.variant, args.requests, args.warmup)
        with_ddtrace, workers = workers_with_ddtrace()
        expected = args.warmup + args.requests
        if args.variant == "untraced":
            time.sleep(3)  # nothing may arrive: give a stray flush the time to show up anyway
            traces = patients_traces()
        else:
            traces = collect_traces(expected, 30)
    finally:
        stop()
    spans = sorted(len(t) for t in traces)
    print(json.dumps({
        "variant": args.variant,
        "latencies_ms": latencies,
        "workers": workers,
        "workers_with_ddtrace": with_ddtrace,
        "traces_expected": expected,
        "traces_received": len(traces),
        "spans_per_trace": spans[len(spans) // 2] if spans else 0,
    }))


if __name__ == "__main__":
    main()
