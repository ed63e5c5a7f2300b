"""E. Fleet scale (issue 13): site.yml that changes nothing, on BENCH_SCALE_SIZE hosts at once.

BENCH_SCALE_SIZE (20) fresh hosts named bench-fleet-NN (labelled owner=ddapm-bench like every bench
host, removed at the end), in the groups of inventory/local as in C, converged first by site.yml
(the agent on every host; the app is not deployed on them, so site.yml's app play stops at its
"app not deployed" check there: C measures django_apm's no-op on a host with the app). Then
site.yml again, changing nothing, timed with the wall clock and the controller's CPU (user + system
of ansible-playbook and every process it started, docker exec clients included):
  * on one of the hosts alone (--limit), the baseline;
  * on every host at once under each controller setting of VARIANTS (forks, strategy, pipelining),
    in BENCH_SCALE_RUNS (3) rounds, each with its own one-host baseline, the settings' order rotated.
Figures: wall time, the ratio to one host, controller CPU seconds per host-run, changed (must be 0).
"""

import glob
import os

from common import ROOT, BenchError, log, run_playbook
from fleet import SITE, fleet_inventory
from report import Row

# Controller settings tried on the fleet (environment of ansible-playbook; ansible.cfg has forks=10,
# strategy linear, pipelining on).
def variants(size):
    return {
        "forks 10 (ansible.cfg), linear, pipelining": {},
        f"forks {size}, linear, pipelining": {"ANSIBLE_FORKS": str(size)},
        f"forks {size}, free, pipelining": {"ANSIBLE_FORKS": str(size), "ANSIBLE_STRATEGY": "free"},
        f"forks {size}, linear, no pipelining": {"ANSIBLE_FORKS": str(size), "ANSIBLE_PIPELINING": "0"},
        "forks 5, linear, pipelining": {"ANSIBLE_FORKS": "5"},
    }


# Every systemd host takes inotify instances from fs.inotify.max_user_instances, shared by every
# container (all run as root): a host that finds none left never finishes booting.
INOTIFY_LIMIT = "/proc/sys/fs/inotify/max_user_instances"
INOTIFY_PER_HOST = 7  # measured on a harness host (Debian 12): systemd as PID 1 holds 5, dbus-daemon 1, systemd-logind 1


def inotify_in_use():
    """inotify instances open on this machine now (file descriptors of every process: an upper bound)."""
    count = 0
    for fd in glob.glob("/proc/[0-9]*/fd/*"):
        try:
            count += os.readlink(fd) == "anon_inode:inotify"
        except OSError:
            continue
    return count


def check_inotify(size):
    """Refuses, before any host starts, a fleet the machine's inotify limit cannot boot."""
    limit = int(open(INOTIFY_LIMIT, encoding="ascii").read())
    used = inotify_in_use()
    if used + size * INOTIFY_PER_HOST > limit:
        raise BenchError(f"E needs about {size * INOTIFY_PER_HOST} inotify instances for {size} hosts, {used} of the "
                         f"{limit} of {INOTIFY_LIMIT} are in use: raise it (as root: sysctl fs.inotify.max_user_instances=1024) "
                         f"or lower BENCH_SCALE_SIZE to {max(2, (limit - used) // INOTIFY_PER_HOST)}")
    log(f"E inotify: {used} instances in use, {limit} allowed, about {size * INOTIFY_PER_HOST} needed for {size} hosts")


def run(pool, size, rounds=3):
    """Converges `size` fresh hosts, then `rounds` rounds, each: the one-host baseline, then every
    setting of variants() on all hosts, the settings' order rotated from round to round."""
    check_inotify(size)
    hosts = pool.start(size, prefix="bench-fleet-NN")
    try:
        inventory = fleet_inventory("scale", hosts)
        converge = run_playbook(SITE, inventory, "scale-converge", extra_env={"ANSIBLE_FORKS": str(size)})
        if converge.changed == 0:
            raise BenchError(f"the converge of {size} fresh hosts changed nothing ({converge.log})")
        log(f"E converge: site.yml on {size} fresh hosts: {converge.seconds:.1f}s")
        # BENCH_SCALE_SETTINGS: the first words of the settings to try, comma-separated (all when unset),
        # e.g. "forks 10,forks 5".
        chosen = [c.strip() for c in os.environ.get("BENCH_SCALE_SETTINGS", "").split(",") if c.strip()]
        settings = [(n, e) for n, e in variants(size).items() if not chosen or any(n.startswith(c) for c in chosen)]
        if not settings:
            raise BenchError(f"BENCH_SCALE_SETTINGS={chosen} names none of {list(variants(size))}")
        results = {"converge": converge.seconds, "one": [], "variants": {name: [] for name, _ in settings}, "load": []}
        for r in range(rounds):
            one = run_playbook(SITE, inventory, f"scale-{r + 1}-one", "--limit", hosts[0])
            results["one"].append(one)
            log(f"E round {r + 1}/{rounds}: no-op site.yml on 1 host: {one.seconds:.1f}s, controller CPU {one.cpu:.1f}s, "
                f"changed={one.changed}")
            for i in range(len(settings)):
                name, env = settings[(i + r) % len(settings)]
                load = os.getloadavg()[0]
                done = run_playbook(SITE, inventory, f"scale-{r + 1}-" + "-".join(name.split(",")[0].split()) + f"-{i}",
                                    extra_env=env)
                results["variants"][name].append({"run": done, "ratio": done.seconds / one.seconds})
                results["load"].append(load)
                log(f"E round {r + 1}/{rounds}: no-op site.yml on {size} hosts, {name}: {done.seconds:.1f}s "
                    f"({done.seconds / one.seconds:.2f}x one host), controller CPU {done.cpu / size:.2f}s per host-run, "
                    f"changed={done.changed}, load average before {load:.1f}")
    finally:
        pool.remove(hosts)
    return results


def _changed(runs):
    worst = max(run.changed for run in runs)
    return "changed=0" if worst == 0 else f"changed={worst} (expected 0)"


def rows(results, size):
    ones = results["one"]
    out = [Row("E", f"site.yml, converge of {size} fresh hosts at once (set-up)", [results["converge"]], "s"),
           Row("E", "site.yml no-op, 1 host (of the fleet)", [one.seconds for one in ones], "s",
               note=f"controller CPU {sorted(one.cpu for one in ones)[len(ones) // 2]:.1f} s (median); {_changed(ones)}")]
    for name, done in results["variants"].items():
        runs = [d["run"] for d in done]
        out.append(Row("E", f"site.yml no-op, {size} hosts at once: {name}", [r.seconds for r in runs], "s",
                       note=f"{_changed(runs)}; the same runs below"))
        out.append(Row("E", f"  / 1 host of the same round ({name})", [d["ratio"] for d in done], "x"))
        out.append(Row("E", f"  controller CPU per host-run ({name})", [r.cpu / size for r in runs], "s"))
    loads = results["load"]
    out.append(Row("E", "load average (1 min) before the fleet runs", loads, "",
                   note=f"{os.cpu_count()} CPUs shared by the controller, the {size} hosts and any other work: the times are upper bounds"))
    return out
