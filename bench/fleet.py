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
  after each figure, as A measures): deploy.yml of the commit it runs (issue 9: <= 3 floors,
  changed=0), and deploy.yml of a new commit that changes code only (pip and migrate skipped)
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
NEEDED = (SITE, DEPLOY, SAMPLE_HOST, LOCAL_GROUP_VARS)
NOOP_DEPLOY_TARGET = 3  # floors, issue 9


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


def one_host_deploys(inventory, host, run):
    """deploy.yml on one host, in floors: the running commit again (no-op), then a code-only commit."""
    limit = ("--limit", host)

    def floor(i):
        return run_playbook(FLOOR, inventory, f"fleet-{run}-floor-{i}", *limit).seconds

    floors = [floor(0)]
    noop = run_playbook(DEPLOY, inventory, f"fleet-{run}-deploy-noop", *limit)
    floors.append(floor(1))
    run_playbook(SAMPLE_HOST, inventory, f"fleet-{run}-sample-code", "-e", f"sample_release=code-{run}", *limit)
    floors.append(floor(2))
    code = run_playbook(DEPLOY, inventory, f"fleet-{run}-deploy-code", *limit)
    floors.append(floor(3))
    text = code.log.read_text()
    skipped = all(re.search(re.escape(task) + r"[^\n]*\*+\n(?:[^\n]*\n)*?skipping: \[", text)
                  for task in ("Install | the app's requirements", "Migrate | database migrations"))
    result = {"noop": noop.seconds, "noop_floors": noop.seconds / ((floors[0] + floors[1]) / 2),
              "noop_changed": noop.changed, "code": code.seconds,
              "code_floors": code.seconds / ((floors[2] + floors[3]) / 2), "code_skipped": skipped}
    log(f"C deploy on 1 host, run {run}: the running commit {noop.seconds:.1f}s ({result['noop_floors']:.1f} floors, "
        f"changed={noop.changed}); a code-only commit {code.seconds:.1f}s ({result['code_floors']:.1f} floors, "
        f"pip and migrate {'skipped' if skipped else 'RAN'})")
    return result


def run(pool, site_count, deploy_count, size):
    absent = missing()
    if absent:
        raise BenchError(f"C needs {', '.join(absent)} (not there yet)")
    sites, hosts, inventory = site_runs(pool, site_count, size)
    try:
        first, timed, batches = deploys(inventory, deploy_count, size)
        singles = [one_host_deploys(inventory, hosts[0], run) for run in range(1, max(deploy_count, 1) + 1)]
    finally:
        pool.remove(hosts)
    return {"sites": sites, "first_deploy": first, "deploys": timed, "batches": batches, "singles": singles}


def rows(results, size):
    sites, singles = results["sites"], results["singles"]
    return [
        Row("C", "site.yml, 1 fresh host", [r["one"] for r in sites], "s"),
        Row("C", f"site.yml, {size} fresh hosts at once", [r["many"] for r in sites], "s"),
        Row("C", f"site.yml, {size} hosts / 1 host", [r["many"] / r["one"] for r in sites], "x",
            note=f"{size}x the work on {os.cpu_count()} CPUs"),
        Row("C", f"deploy.yml, new SHA to {size} hosts", results["deploys"], "s",
            note=f"the playbook's own batches ({results['batches']} here) and health gate"),
        Row("C", f"deploy.yml, first deploy to {size} hosts", [results["first_deploy"]], "s",
            note="set-up of the above (installs the app), one batch"),
        Row("C", "deploy.yml, the commit the host runs (1 host)", [r["noop_floors"] for r in singles], "floors",
            target=NOOP_DEPLOY_TARGET, seconds=[r["noop"] for r in singles],
            note="changed=0" if max(r["noop_changed"] for r in singles) == 0
            else f"changed={max(r['noop_changed'] for r in singles)} (expected 0)"),
        Row("C", "deploy.yml, a new commit changing code only (1 host)", [r["code_floors"] for r in singles], "floors",
            seconds=[r["code"] for r in singles],
            note="pip and migrate skipped" if all(r["code_skipped"] for r in singles) else "pip or migrate RAN (expected skipped)"),
    ]
