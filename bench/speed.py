"""A. Speed of the datadog_agent role (issue 3), in floors measured in the same run.

Each run takes a fresh host and times, with ansible-playbook's wall clock:
  floor          bench/playbooks/floor.yml: fact gathering + one task
  first converge bench/playbooks/agent.yml on the fresh host
  no change      the same playbook again (it must report changed=0)
  check          the same playbook with --check on the converged host (changed=0 too)
in the order floor, converge, floor, no change, floor, check, floor: each figure is divided by the
mean of the floors just before and just after it, so that a change in the machine's load (it is
shared) during the run moves both sides of the ratio alike.
"""

from common import ROOT, BenchError, log, median, run_playbook
from hosts import harness_vars, write_inventory
from report import Row

FLOOR = ROOT / "bench/playbooks/floor.yml"
ROLE = ROOT / "bench/playbooks/agent.yml"
# Targets of issue 3, in floors.
TARGETS = {"converge": 8, "noop": 3, "check": 3}


def one_run(pool, run):
    host = pool.start(1)
    try:
        inventory = write_inventory(f"speed-{run}", {"agent_hosts": host}, all_vars=harness_vars())

        def floor(i):
            return run_playbook(FLOOR, inventory, f"speed-{run}-floor-{i}").seconds

        floors = [floor(0)]
        converge = run_playbook(ROLE, inventory, f"speed-{run}-converge")
        if converge.changed == 0:
            raise BenchError(f"the first converge changed nothing on a fresh host ({converge.log})")
        floors.append(floor(1))
        noop = run_playbook(ROLE, inventory, f"speed-{run}-noop")
        floors.append(floor(2))
        check = run_playbook(ROLE, inventory, f"speed-{run}-check", "--check")
        floors.append(floor(3))
    finally:
        pool.remove(host)
    result = {"floor": median(floors), "noop_changed": noop.changed, "check_changed": check.changed}
    for i, (key, playbook_run) in enumerate((("converge", converge), ("noop", noop), ("check", check))):
        result[key] = playbook_run.seconds
        result[f"{key}_floors"] = playbook_run.seconds / ((floors[i] + floors[i + 1]) / 2)
    return result


def run(pool, runs):
    results = []
    for i in range(1, runs + 1):
        r = one_run(pool, i)
        results.append(r)
        log(f"A speed run {i}/{runs}: floor {r['floor']:.1f}s, "
            f"first converge {r['converge']:.1f}s ({r['converge_floors']:.1f} floors), "
            f"no change {r['noop']:.1f}s ({r['noop_floors']:.1f}, changed={r['noop_changed']}), "
            f"--check {r['check']:.1f}s ({r['check_floors']:.1f}, changed={r['check_changed']})")
    return results


def rows(results):
    out = [Row("A", "floor: fact gathering + one task", [r["floor"] for r in results], "s",
               note="median of 4 a run, around the others")]
    labels = {"converge": "first converge, fresh host", "noop": "run that changes nothing", "check": "--check, converged host"}
    for key, label in labels.items():
        note = ""
        if key != "converge":
            changed = max(r[f"{key}_changed"] for r in results)
            note = "changed=0" if changed == 0 else f"changed={changed} (expected 0)"
        out.append(Row("A", label, [r[f"{key}_floors"] for r in results], "floors", target=TARGETS[key],
                       seconds=[r[key] for r in results], note=note))
    return out
