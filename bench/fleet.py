"""C. Fleet (issue 5): site.yml on N fresh hosts at once vs one host, and a deploy of a new SHA.

The fleet is N copies of the `make demo` host: the bench's inventory puts every host in the groups
of inventory/local (agent_hosts > app > worker) and takes inventory/local's group_vars (a symlink),
so the playbooks run exactly as `make demo` runs them.

site runs (BENCH_FLEET_RUNS), each on fresh hosts:
  site.yml on one host, timed; then site.yml on N hosts at once, timed (the ratio is this run's)
deploys, on the N hosts of the last site run:
  molecule/resources/sample_app_host.yml: Redis and the app's git remote on each host (release 1)
  deploy.yml of release 1, all hosts in one batch (installs the app: set-up, printed for information)
  then BENCH_DEPLOY_RUNS times: a new commit on each host's remote (sample_app_host.yml with the
  next sample_release), and deploy.yml of that new SHA with the playbook's own rolling batches, timed;
  then, on the first host alone, in floors (bench/playbooks/floor.yml on that host, before and
  after each figure, as A measures): deploy.yml of a new commit that changes code only (pip and
  migrate skipped); then BENCH_NOOP_RUNS times the runs that change nothing (issue 13; each must
  report changed=0): site.yml (<= 5 floors), django_apm alone (bench/playbooks/django_apm.yml,
  <= 3 floors) and deploy.yml of the commit the host runs (issue 9: <= 3 floors)
"""

import os
import re

from common import ROOT, BenchError, log, run_playbook
from hosts import fingerprint, write_inventory
from report import Row

SITE = ROOT / "playbooks/site.yml"
DEPLOY = ROOT / "playbooks/deploy.yml"
SAMPLE_HOST = ROOT / "molecule/resources/sample_app_host.yml"
LOCAL_GROUP_VARS = ROOT / "inventory/local/group_vars"
FLOOR = ROOT / "bench/playbooks/floor.yml"
DJANGO_APM = ROOT / "bench/playbooks/django_apm.yml"
NEEDED = (SITE, DEPLOY, SAMPLE_HOST, LOCAL_GROUP_VARS)
# Runs that change nothing, in floors: issue 13 (site.yml, django_apm) and issue 9 (deploy.yml).
NOOP_TARGETS = {"site": 5, "django_apm": 3, "deploy": 3}
NOOP_LABELS = {"site": "site.yml, a run that changes nothing (1 host, app deployed)",
               "django_apm": "django_apm alone, a run that changes nothing (1 host)",
               "deploy": "deploy.yml, the commit the host runs (1 host)"}


def missing():
    return [str(p.relative_to(ROOT)) for p in NEEDED if not p.exists()]


def fleet_inventory(name, hosts):
    """inventory/local's groups and group_vars, for these hosts (.cache/bench/<name>/hosts.yml)."""
    # group_vars/all/main.yml reads the key's fingerprint relative to inventory/local: given per host here.
    host_vars = {"ansible_connection": "community.docker.docker", "datadog_agent_key_fingerprints": [fingerprint()]}
    path = write_inventory(f"{name}/hosts", {"agent_hosts": [], "app": [], "worker": hosts},
                           children={"agent_hosts": ["app"], "app": ["worker"]}, host_vars=host_vars)
    link = path.parent / "group_vars"
    if not link.is_symlink():
        link.symlink_to(LOCAL_GROUP_VARS)
    return path


def site(pool, run, size):
    hosts = pool.start(size)
    inventory = fleet_inventory(f"fleet-{run}-{size}", hosts)
    seconds = run_playbook(SITE, inventory, f"fleet-{run}-site-{size}").seconds
    log(f"C site run {run}: site.yml on {size} fresh host(s): {seconds:.1f}s")
    return hosts, inventory, seconds


def site_runs(pool, runs, size):
    """Returns the per-run timings and the last run's hosts (kept) with their inventory."""
    results = []
    for i in range(1, runs + 1):
        single, _, one = site(pool, i, 1)
        pool.remove(single)
        hosts, inventory, many = site(pool, i, size)
        results.append({"one": one, "many": many})
        log(f"C site run {i}/{runs}: {size} hosts / 1 host = {many / one:.2f}")
        if i < runs:
            pool.remove(hosts)
    return results, hosts, inventory


def deploys(inventory, runs, size):
    run_playbook(SAMPLE_HOST, inventory, "fleet-sample-1")
    first = run_playbook(DEPLOY, inventory, "fleet-deploy-1", "-e", "app_deploy_serial=100%").seconds
    log(f"C deploy: release 1 (installs the app) on {size} hosts in one batch: {first:.1f}s")
    timed = []
    for release in range(2, runs + 2):
        run_playbook(SAMPLE_HOST, inventory, f"fleet-sample-{release}", "-e", f"sample_release={release}")
        deploy = run_playbook(DEPLOY, inventory, f"fleet-deploy-{release}")
        if deploy.changed == 0:
            raise BenchError(f"the deploy of a new SHA changed nothing ({deploy.log})")
        timed.append(deploy.seconds)
        # deploy.yml is one play: Ansible prints its header once per serial batch.
        batches = len(re.findall(r"^PLAY \[", deploy.log.read_text(), re.M))
        log(f"C deploy {release - 1}/{runs}: a new SHA (release {release}) to {size} hosts in {batches} batch(es): "
            f"{deploy.seconds:.1f}s")
    return first, timed, batches


def noop_runs(inventory, host, runs):
    """On one host with the app deployed, in floors (bench/playbooks/floor.yml on that host before and
    after each figure, as A measures), ``runs`` times: site.yml, django_apm alone and deploy.yml of the
    commit the host runs, each of which must report changed=0 (issue 13)."""
    limit = ("--limit", host)
    out = []
    for run in range(1, runs + 1):
        floors = [run_playbook(FLOOR, inventory, f"noop-{run}-floor-0", *limit).seconds]
        result = {}
        for i, (key, playbook) in enumerate((("site", SITE), ("django_apm", DJANGO_APM), ("deploy", DEPLOY)), start=1):
            done = run_playbook(playbook, inventory, f"noop-{run}-{key}", *limit)
            floors.append(run_playbook(FLOOR, inventory, f"noop-{run}-floor-{i}", *limit).seconds)
            result[key] = done.seconds
            result[f"{key}_floors"] = done.seconds / ((floors[-2] + floors[-1]) / 2)
            result[f"{key}_changed"] = done.changed
        result["floor"] = sorted(floors)[len(floors) // 2]
        out.append(result)
        log(f"C no-op run {run}/{runs} on 1 host: floor {result['floor']:.1f}s; "
            + "; ".join(f"{k} {result[k]:.1f}s ({result[k + '_floors']:.2f} floors, changed={result[k + '_changed']})"
                        for k in ("site", "django_apm", "deploy")))
    return out


def one_host_deploys(inventory, host, run):
    """deploy.yml on one host, in floors: a new commit that changes code only."""
    limit = ("--limit", host)

    def floor(i):
        return run_playbook(FLOOR, inventory, f"fleet-{run}-floor-{i}", *limit).seconds

    run_playbook(SAMPLE_HOST, inventory, f"fleet-{run}-sample-code", "-e", f"sample_release=code-{run}", *limit)
    floors = [floor(0)]
    code = run_playbook(DEPLOY, inventory, f"fleet-{run}-deploy-code", *limit)
    floors.append(floor(1))
    text = code.log.read_text()
    skipped = all(re.search(re.escape(task) + r"[^\n]*\*+\n(?:[^\n]*\n)*?skipping: \[", text)
                  for task in ("Install | the app's requirements", "Migrate | database migrations"))
    result = {"code": code.seconds, "code_floors": code.seconds / ((floors[0] + floors[1]) / 2), "code_skipped": skipped}
    log(f"C deploy on 1 host, run {run}: a code-only commit {code.seconds:.1f}s ({result['code_floors']:.1f} floors, "
        f"pip and migrate {'skipped' if skipped else 'RAN'})")
    return result


def run(pool, site_count, deploy_count, size, noop_count=3):
    absent = missing()
    if absent:
        raise BenchError(f"C needs {', '.join(absent)} (not there yet)")
    sites, hosts, inventory = site_runs(pool, site_count, size)
    try:
        first, timed, batches = deploys(inventory, deploy_count, size)
        singles = [one_host_deploys(inventory, hosts[0], run) for run in range(1, max(deploy_count, 1) + 1)]
        noops = noop_runs(inventory, hosts[0], noop_count)
    finally:
        pool.remove(hosts)
    return {"sites": sites, "first_deploy": first, "deploys": timed, "batches": batches, "singles": singles, "noops": noops}


def rows(results, size):
    sites, singles, noops = results["sites"], results["singles"], results["noops"]
    return [
        Row("C", "site.yml, 1 fresh host", [r["one"] for r in sites], "s"),
        Row("C", f"site.yml, {size} fresh hosts at once", [r["many"] for r in sites], "s"),
        Row("C", f"site.yml, {size} hosts / 1 host", [r["many"] / r["one"] for r in sites], "x",
            note=f"{size}x the work on {os.cpu_count()} CPUs"),
        Row("C", f"deploy.yml, new SHA to {size} hosts", results["deploys"], "s",
            note=f"the playbook's own batches ({results['batches']} here) and health gate"),
        Row("C", f"deploy.yml, first deploy to {size} hosts", [results["first_deploy"]], "s",
            note="set-up of the above (installs the app), one batch"),
        Row("C", "deploy.yml, a new commit changing code only (1 host)", [r["code_floors"] for r in singles], "floors",
            seconds=[r["code"] for r in singles],
            note="pip and migrate skipped" if all(r["code_skipped"] for r in singles) else "pip or migrate RAN (expected skipped)"),
    ] + [Row("C", NOOP_LABELS[key], [r[f"{key}_floors"] for r in noops], "floors", target=NOOP_TARGETS[key],
             seconds=[r[key] for r in noops],
             note="changed=0" if max(r[f"{key}_changed"] for r in noops) == 0
             else f"changed={max(r[f'{key}_changed'] for r in noops)} (expected 0)")
         for key in NOOP_TARGETS]
