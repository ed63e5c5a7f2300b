"""The bench's host containers: systemd Debian hosts started like the Molecule base config.

Same image and flags as .config/molecule/config.yml (SYS_ADMIN, seccomp/apparmor unconfined, host
cgroup namespace, /sys/fs/cgroup rw, tmpfs /run /run/lock /tmp, no network but loopback, the
stand-in repository and the wheelhouse mounted read-only), named ddapm-bench-<n> and labelled
owner=ddapm-bench. Ansible reaches them with the community.docker.docker connection.
Unlike Molecule's hosts, they run Ansible's modules as users' hosts do: the image's bytecode cache
for zip imports (molecule/harness/zipimport_cache.py, a test-suite speed-up) is switched off by
removing its directory, so every task compiles its module_utils as it would on a real host.
"""

import subprocess
import time

import yaml

from common import BENCH_DIR, CACHE, WORK, BenchError, log

LABEL = "owner=ddapm-bench" + ("" if BENCH_DIR == "bench" else "-" + BENCH_DIR)
PREFIX = "ddapm-bench-"
REPO_DIR = "/srv/datadog-standin-repo"
WHEEL_DIR = "/srv/wheels"
ZIPIMPORT_CACHE = "/var/cache/ddapm-harness/zipimport"  # zipimport_cache.CACHE_DIR
# Made-up API key of the right shape: the stand-in agent only checks its format.
API_KEY = "0123456789abcdef0123456789abcdef"


def docker(*args, check=True, timeout=120):
    res = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=timeout)
    if check and res.returncode != 0:
        raise BenchError(f"docker {' '.join(args[:3])}... failed: {res.stderr.strip()[-2000:]}")
    return res


class HostPool:
    """Starts bench hosts and removes every one it started, also on failure or interruption."""

    def __init__(self, image):
        self.image = image
        self.counter = 0
        self.started = []

    def __enter__(self):
        stale = docker("ps", "-aq", "--filter", f"label={LABEL}").stdout.split()
        if stale:
            log(f"removing {len(stale)} container(s) left by an interrupted bench run")
            docker("rm", "-f", *stale)
        return self

    def __exit__(self, *exc):
        self.remove(list(self.started))
        return False

    def start(self, count, prefix=PREFIX):
        """Start count fresh hosts and wait until systemd has booted them; return their names
        (prefix + a number: ddapm-bench-1, ..., or bench-fleet-01, ... for a prefix ending in '-NN')."""
        names = []
        for i in range(1, count + 1):
            self.counter += 1
            name = f"{prefix[:-2]}{i:02d}" if prefix.endswith("NN") else f"{prefix}{self.counter}"
            self.started.append(name)
            docker("run", "-d", "--name", name, "--hostname", name, "--label", LABEL,
                   "--network", "none", "--cgroupns", "host", "--cap-add", "SYS_ADMIN",
                   "--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined",
                   "--tmpfs", "/run", "--tmpfs", "/run/lock", "--tmpfs", "/tmp",
                   "-v", "/sys/fs/cgroup:/sys/fs/cgroup:rw",
                   "-v", f"{CACHE / 'harness/repo'}:{REPO_DIR}:ro",
                   "-v", f"{CACHE / 'harness/wheels'}:{WHEEL_DIR}:ro",
                   self.image)
            names.append(name)
        for name in names:
            wait_booted(name)
            docker("exec", name, "rm", "-rf", ZIPIMPORT_CACHE)
        return names

    def remove(self, names):
        if names:
            docker("rm", "-f", *names, check=False)
            self.started = [n for n in self.started if n not in names]


def wait_booted(name, deadline=300):
    """Wait until systemd reports the host running (or degraded, as Molecule's prepare accepts)."""
    end = time.monotonic() + deadline
    while True:
        # Until systemd's bus is up, systemctl answers nothing at all: ask again.
        try:
            state = docker("exec", name, "systemctl", "is-system-running", "--wait", check=False, timeout=30).stdout.strip()
        except subprocess.TimeoutExpired:  # a loaded machine boots 20 hosts slowly: ask again until the deadline
            state = "starting (no answer within 30s)"
        if state in ("running", "degraded"):
            return
        if time.monotonic() > end:
            raise BenchError(f"{name} did not boot within {deadline}s: systemd says {state!r}")
        time.sleep(0.5)


def fingerprint():
    return (CACHE / "harness/repo/keys/standin-archive-key.fingerprint").read_text().strip()


def harness_vars():
    """The role inputs of the bench's own playbooks: the offline harness as an air-gapped site
    (as molecule/datadog_agent/vars/harness.yml), and how to reach the hosts."""
    return {
        "ansible_connection": "community.docker.docker",
        "harness_repo_dir": REPO_DIR,
        "harness_wheel_dir": WHEEL_DIR,
        "datadog_agent_api_key": API_KEY,
        "datadog_agent_repo_url": f"file:{REPO_DIR}",
        "datadog_agent_key_urls": [f"file://{REPO_DIR}/keys/standin-archive-key.asc"],
        "datadog_agent_key_fingerprints": [fingerprint()],
        "datadog_agent_env": "bench",
    }


def write_inventory(name, groups, *, children=None, all_vars=None, host_vars=None):
    """Write .cache/bench/<name>.yml: groups (group -> host names), child groups, variables."""
    inventory = {"all": {"children": {}}}
    if all_vars:
        inventory["all"]["vars"] = all_vars
    for group, hosts in groups.items():
        entry = {}
        if hosts:
            entry["hosts"] = {h: dict(host_vars or {}) for h in hosts}
        if children and children.get(group):
            entry["children"] = {child: None for child in children[group]}
        inventory["all"]["children"][group] = entry or None
    path = WORK / f"{name}.yml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("---\n# Written by bench/run.py for its containers; rewritten on every run.\n"
                    + yaml.safe_dump(inventory, sort_keys=False))
    return path
