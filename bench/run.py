"""`make bench`: every figure issues 3, 4 and 5 ask of bench/, printed as one table.

Progress lines as it goes, then the table (also saved to .cache/bench/results.md). Figures are
medians over BENCH_RUNS runs; ratios are taken within each run. Targets are printed, never
asserted: the bench fails only when something errors. See bench/README.md for the settings.
"""

import datetime
import os
import shutil
import signal
import subprocess
import sys

import fleet
import overhead
import scale
import trace_filter
import speed
from common import CACHE, ROOT, WORK, BenchError, env_int, log
from hosts import HostPool
from report import render

PARTS = ("speed", "overhead", "fleet", "filter", "scale")


def settings():
    only = [p.strip() for p in os.environ.get("BENCH_ONLY", ",".join(PARTS)).split(",") if p.strip()]
    unknown = set(only) - set(PARTS)
    if unknown:
        raise BenchError(f"BENCH_ONLY: unknown part(s) {sorted(unknown)}; choose from {', '.join(PARTS)}")
    runs = env_int("BENCH_RUNS", 3)
    return {
        "only": only,
        "image": os.environ.get("BENCH_IMAGE", "ddapm-host:bookworm"),
        "runs": runs,
        "requests": env_int("BENCH_REQUESTS", 400, minimum=20),
        "warmup": env_int("BENCH_WARMUP", 50, minimum=0),
        "fleet_size": env_int("BENCH_FLEET_SIZE", 6, minimum=2),
        "fleet_runs": env_int("BENCH_FLEET_RUNS", min(runs, 2)),
        "deploy_runs": env_int("BENCH_DEPLOY_RUNS", 2),
        "noop_runs": env_int("BENCH_NOOP_RUNS", 3),
        "scale_size": env_int("BENCH_SCALE_SIZE", 20, minimum=2),
        "scale_runs": env_int("BENCH_SCALE_RUNS", 3),
    }


def check_prerequisites(image):
    for path in ("harness/repo/dists/stable/InRelease", "harness/wheels"):
        if not (CACHE / path).exists():
            raise BenchError(f".cache/{path} is missing: run `make setup` first")
    if subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0:
        raise BenchError(f"image {image} is missing: run `make images` first")


def clear_workdir():
    """Drop the inventories and logs of the previous run (its results.md stays until replaced)."""
    workdir = WORK
    workdir.mkdir(parents=True, exist_ok=True)
    for path in workdir.iterdir():
        if path.name == "results.md":
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()


def measure(cfg, rows):
    clear_workdir()
    with HostPool(cfg["image"]) as pool:
        if "speed" in cfg["only"]:
            log(f"A: datadog_agent role speed, {cfg['runs']} run(s) on fresh hosts")
            rows += speed.rows(speed.run(pool, cfg["runs"]))
        if "overhead" in cfg["only"]:
            log(f"B: django_apm overhead, {cfg['runs']} run(s) of {cfg['requests']} requests per variant")
            rows += overhead.rows(overhead.run(pool, cfg["runs"], cfg["requests"], cfg["warmup"]), cfg["requests"])
        if "fleet" in cfg["only"]:
            log(f"C: fleet of {cfg['fleet_size']} hosts, {cfg['fleet_runs']} site.yml run(s), {cfg['deploy_runs']} deploy(s)")
            results = fleet.run(pool, cfg["fleet_runs"], cfg["deploy_runs"], cfg["fleet_size"], cfg["noop_runs"])
            rows += fleet.rows(results, cfg["fleet_size"])
        if "scale" in cfg["only"]:
            log(f"E: fleet scale, site.yml no-op on {cfg['scale_size']} hosts at once (bench-fleet-NN), {cfg['scale_runs']} round(s)")
            rows += scale.rows(scale.run(pool, cfg["scale_size"], cfg["scale_runs"]), cfg["scale_size"])
    if "filter" in cfg["only"]:
        log(f"D: the trace filter's cost per span next to ddtrace's, {cfg['runs']} run(s) on this machine")
        rows += trace_filter.rows(trace_filter.run(cfg["runs"]))


def publish(cfg, rows):
    table = render(rows)
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    stamp = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    about = (f"{stamp}, commit {head or '?'} (plus the working tree), image {cfg['image']}, {os.cpu_count()} CPUs, "
             f"BENCH_RUNS={cfg['runs']}, BENCH_REQUESTS={cfg['requests']}, BENCH_FLEET_SIZE={cfg['fleet_size']}, "
             f"BENCH_FLEET_RUNS={cfg['fleet_runs']}, BENCH_DEPLOY_RUNS={cfg['deploy_runs']}, BENCH_NOOP_RUNS={cfg['noop_runs']}, "
             f"BENCH_SCALE_SIZE={cfg['scale_size']}, BENCH_SCALE_RUNS={cfg['scale_runs']}, load average {os.getloadavg()[0]:.1f}")
    stand_in = ("The agent on the bench hosts is the project's stand-in datadog-agent package (its trace intake is "
                "Datadog's APM test agent), not the real Datadog Agent: agent figures are not the real agent's.")
    print(f"\n{about}\n{stand_in}\n\n{table}\n", flush=True)
    out = WORK / "results.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(f"# Bench results\n\n{about}.\n\n{stand_in}\n\n{table}\n")
    log(f"table saved to {out.relative_to(ROOT)}")


def _terminate(signum, frame):
    raise KeyboardInterrupt


def main():
    signal.signal(signal.SIGTERM, _terminate)
    rows = []
    try:
        cfg = settings()
        check_prerequisites(cfg["image"])
        measure(cfg, rows)
    except BenchError as exc:
        log(f"FAILED: {exc}")
        if rows:
            print("\nWhat was measured before the failure:\n\n" + render(rows), flush=True)
        return 1
    except KeyboardInterrupt:
        log("interrupted; the bench containers were removed")
        return 130
    publish(cfg, rows)
    return 0


if __name__ == "__main__":
    sys.exit(main())
