"""B. Overhead of django_apm's rendered config (issue 4), on one bench host.

bench/playbooks/app.yml installs the stand-in agent, deploys the sample app (git checkout,
virtualenv from the wheelhouse, Redis) and runs the django_apm role on it. Then every run serves
the patients view (Redis + DB + a Celery task published to Redis) in the three variants of
bench/remote/latency.py, each in two blocks of half the requests, in the order A B C C B A (the
first variant rotating from run to run) so that a drift in the machine's load during the run hits
every variant alike; p50 and p95 of each variant are taken over its two blocks, the ratios within
the run, and their medians over the runs are printed.
"""

import json
import subprocess

from common import ROOT, BenchError, log, median, percentile, run_playbook
from hosts import harness_vars, write_inventory
from report import Row

SETUP = ROOT / "bench/playbooks/app.yml"
DRIVER = "/usr/local/lib/bench-latency.py"
VARIANTS = ("rendered", "untraced", "ddtrace-run")
LABELS = {"rendered": "role's rendered config", "untraced": "same app, untraced", "ddtrace-run": "bare ddtrace-run"}


def measure(host, variant, requests, warmup):
    """One block: gunicorn started in this variant, warmed up, `requests` timed requests."""
    cmd = ["docker", "exec", host, "python3", DRIVER, variant, "--requests", str(requests), "--warmup", str(warmup)]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    if res.returncode != 0:
        raise BenchError(f"latency driver ({variant}) failed: {(res.stderr or res.stdout).strip()[-3000:]}")
    out = json.loads(res.stdout)
    traced = variant != "untraced"
    if out["workers_with_ddtrace"] != (out["workers"] if traced else 0):
        raise BenchError(f"{variant}: ddtrace loaded in {out['workers_with_ddtrace']} of {out['workers']} gunicorn workers")
    if traced and out["traces_received"] == 0:
        raise BenchError(f"{variant}: the stand-in agent received no trace")
    if not traced and out["traces_received"]:
        raise BenchError(f"untraced: the stand-in agent received {out['traces_received']} traces")
    return out


def one_run(host, i, requests, warmup):
    order = VARIANTS[i % 3:] + VARIANTS[:i % 3]
    blocks = [(v, measure(host, v, requests // 2, warmup)) for v in order + order[::-1]]
    result = {}
    for v in VARIANTS:
        mine = [out for variant, out in blocks if variant == v]
        latencies = [ms for out in mine for ms in out["latencies_ms"]]
        result[v] = {"p50": median(latencies), "p95": percentile(latencies, 95),
                     "received": sum(out["traces_received"] for out in mine),
                     "expected": sum(out["traces_expected"] for out in mine),
                     "spans": median([out["spans_per_trace"] for out in mine])}
    return result


def run(pool, runs, requests, warmup):
    host = pool.start(1)[0]
    try:
        inventory = write_inventory("overhead", {"app": [host]}, all_vars=harness_vars())
        log(f"B overhead: the stand-in agent, the sample app and django_apm on {host} (bench/playbooks/app.yml)")
        setup = run_playbook(SETUP, inventory, "overhead-setup")
        log(f"B overhead: host ready in {setup.seconds:.0f}s")
        results = []
        for i in range(runs):
            r = one_run(host, i, requests, warmup)
            results.append(r)
            log(f"B overhead run {i + 1}/{runs}: p50/p95 ms "
                + ", ".join(f"{v} {r[v]['p50']:.2f}/{r[v]['p95']:.2f}" for v in VARIANTS)
                + f"; rendered/untraced p50 {r['rendered']['p50'] / r['untraced']['p50']:.2f}, "
                f"rendered/ddtrace-run p50 {r['rendered']['p50'] / r['ddtrace-run']['p50']:.2f}")
    finally:
        pool.remove([host])
    return results


def rows(results, requests):
    out = []
    received = sum(r[v]["received"] for r in results for v in ("rendered", "ddtrace-run"))
    expected = sum(r[v]["expected"] for r in results for v in ("rendered", "ddtrace-run"))
    out.append(Row("B", "spans per trace of the view (rendered config)", [r["rendered"]["spans"] for r in results], "",
                   note=f"traces at the agent: {received}/{expected}"))
    for pct in ("p50", "p95"):
        for v in VARIANTS:
            out.append(Row("B", f"{pct} latency, {LABELS[v]}", [r[v][pct] for r in results], "ms",
                           note=f"{requests} requests a run" if v == "rendered" and pct == "p50" else ""))
    for pct in ("p50", "p95"):
        vs_untraced = [r["rendered"][pct] / r["untraced"][pct] for r in results]
        vs_ddtrace_run = [r["rendered"][pct] / r["ddtrace-run"][pct] for r in results]
        out.append(Row("B", f"{pct} ratio rendered / untraced", vs_untraced, "x", note="ddtrace's cost plus the config's"))
        out.append(Row("B", f"{pct} ratio rendered / bare ddtrace-run", vs_ddtrace_run, "x",
                       target_text="~1 (nothing measurable)", note="the config's own cost"))
    return out
