"""What every part of the bench shares: paths, progress lines, timed playbook runs, statistics."""

import os
import re
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".cache"
# BENCH_DIR: the work directory under .cache (and the hosts' label), so that two benches can run at
# once without removing each other's files or hosts (default: bench, label owner=ddapm-bench).
BENCH_DIR = os.environ.get("BENCH_DIR", "bench")
WORK = CACHE / BENCH_DIR
LOGS = WORK / "logs"
BIN = Path(sys.executable).parent
_START = time.monotonic()
_RECAP = re.compile(r"^(\S+)\s+:\s+ok=(\d+)\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


class BenchError(Exception):
    """Something went wrong while measuring: the bench stops and fails."""


def log(message):
    minutes, seconds = divmod(int(time.monotonic() - _START), 60)
    print(f"[bench {minutes:02d}:{seconds:02d}] {message}", flush=True)


@dataclass
class PlaybookRun:
    seconds: float
    recap: dict  # host -> {"ok": n, "changed": n, "unreachable": n, "failed": n}
    log: Path
    cpu: float = 0.0  # controller CPU seconds (user + system) of ansible-playbook and its children

    @property
    def changed(self):
        return sum(h["changed"] for h in self.recap.values())


def run_playbook(playbook, inventory, log_name, *args, extra_env=None):
    """Run ansible-playbook, timed (wall clock, start to exit); fail with the log's tail on error."""
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{log_name}.log"
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
               ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", ANSIBLE_RETRY_FILES_ENABLED="0")
    env.update(extra_env or {})
    cmd = [str(BIN / "ansible-playbook"), "-i", str(inventory), str(playbook), *args]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    with open(log_path, "w") as out:
        rc = subprocess.run(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL).returncode
    seconds = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    text = log_path.read_text()
    recap = {m[1]: dict(zip(("ok", "changed", "unreachable", "failed"), map(int, m.groups()[1:])))
             for m in _RECAP.finditer(text)}
    if rc != 0:
        tail = "\n".join(text.splitlines()[-40:])
        raise BenchError(f"{' '.join(cmd[3:])} failed (rc={rc}, log {log_path}):\n{tail}")
    return PlaybookRun(seconds, recap, log_path, cpu)


def median(values):
    return statistics.median(values)


def percentile(values, pct):
    """The pct-th percentile (linear interpolation between closest ranks)."""
    return statistics.quantiles(values, n=100, method="inclusive")[pct - 1]


def env_int(name, default, minimum=1):
    value = int(os.environ.get(name, default))
    if value < minimum:
        raise BenchError(f"{name} must be at least {minimum}")
    return value
