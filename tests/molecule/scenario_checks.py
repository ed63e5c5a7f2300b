"""What the scenario driver (test_scenarios.py) checks after each Molecule run, besides its exit code.

- verifier_problems(): Molecule's testinfra verifier passes when it finds no tests. The driver has
  it write a junit report (PYTEST_ADDOPTS=--junitxml=...) and reads it back: every test function
  of the scenario's tests/ folder ran, once per platform for those that take a host (on its one
  host for a test marked one_host: molecule/resources/tests/onehost.py), and nothing failed,
  errored or was skipped.
- test_sequence(), unit_states() / unit_problems(): the driver runs the scenario's sequence step
  by step and reads systemd's record of each unit (docker exec ... systemctl show) before and after
  Molecule's idempotence step: every unit active with a real main PID, and not restarted.
- secret_values() / secret_findings(): every secret the scenarios use (the vaulted values of
  molecule/**, decrypted with the scenario's vault-password.txt, and inventory/local's demo
  secrets), searched for in every log a run wrote. A finding names the file, the line and where
  the secret comes from, never the secret itself; mask() hides them in any text shown.
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import onehost
import yaml

# Shorter values (an empty DSN, "x") are not secrets worth a search and would match anywhere.
MIN_SECRET_LEN = 8


# --- the verifier's junit report -------------------------------------------------------------

def _test_functions(tests_dir: Path):
    """(module stem, function's AST) for every test function pytest would collect.

    Molecule's testinfra verifier runs the test_*.py files of the scenario's tests/ folder: the
    module-level test_* functions and the test_* methods of Test* classes.
    """
    for path in sorted(Path(tests_dir).rglob("test_*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        funcs = [n for n in tree.body if isinstance(n, ast.FunctionDef)]
        for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.startswith("Test")):
            funcs += [n for n in cls.body if isinstance(n, ast.FunctionDef)]
        for fn in funcs:
            if fn.name.startswith("test_"):
                yield path.stem, fn


def expected_tests(tests_dir: Path) -> dict[tuple[str, str], bool]:
    """(module stem, function) -> takes a host? for every test function pytest would collect."""
    return {(stem, fn.name): "host" in {a.arg for a in fn.args.args} for stem, fn in _test_functions(tests_dir)}


def one_host_tests(tests_dir: Path) -> dict[tuple[str, str], str]:
    """(module stem, function) -> platform, for the test functions marked one_host(platform)."""
    return {(stem, fn.name): platform for stem, fn in _test_functions(tests_dir)
            if (platform := onehost.marked_platform(fn)) is not None}


def _host_of(name: str, platforms: list[str]) -> str | None:
    for platform in platforms:
        if re.search(rf"ansible://{re.escape(platform)}(?:[-\]]|$)", name):
            return platform
    return None


def verifier_problems(junit: Path, tests_dir: Path, platforms: list[str]) -> list[str]:
    """What is wrong with the verifier's run, as sentences; [] when every test ran and passed."""
    expected = expected_tests(tests_dir)
    one_host = one_host_tests(tests_dir)
    if not expected:
        return [f"the scenario has no test functions in {tests_dir}: its verify step proves nothing"]
    junit = Path(junit)
    if not junit.is_file():
        return [f"the verifier wrote no junit report ({junit}): it found no tests or did not run"]
    problems = []
    ran: dict[tuple[str, str], set[str | None]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        name, classname = case.get("name", ""), case.get("classname", "")
        for tag in ("failure", "error", "skipped"):
            if case.find(tag) is not None:
                problems.append(f"{classname}::{name}: {tag}")
        func = name.split("[", 1)[0]
        stems = [s for s in classname.split(".") if (s, func) in expected]
        if stems:
            ran.setdefault((stems[-1], func), set()).add(_host_of(name, platforms))
    for (stem, func), takes_host in expected.items():
        hosts = ran.get((stem, func))
        if not hosts:
            problems.append(f"{stem}::{func} did not run")
            continue
        if (stem, func) in one_host:
            host = onehost.chosen(one_host[(stem, func)], platforms)
            if host not in hosts:
                problems.append(f"{stem}::{func} (one_host) did not run on {host}")
            if hosts - {host}:
                problems.append(f"{stem}::{func} (one_host) ran on {', '.join(sorted(map(str, hosts - {host})))} too")
        elif takes_host or hosts - {None}:
            missing = [p for p in platforms if p not in hosts]
            if missing:
                problems.append(f"{stem}::{func} did not run on {', '.join(missing)}")
    return problems


def scenario_platforms(root: Path, scenario: str, platform: str | None) -> list[str]:
    """The platforms a `molecule test -s scenario [-p platform]` run creates."""
    if platform:
        return [platform]
    for config in (root / "molecule" / scenario / "molecule.yml", root / ".config" / "molecule" / "config.yml"):
        platforms = (yaml.safe_load(config.read_text()) or {}).get("platforms")
        if platforms:
            return [p["name"].replace("${MOLECULE_SCENARIO_NAME}", scenario) for p in platforms]
    raise ValueError(f"no platforms for scenario {scenario}")


def test_sequence(root: Path, scenario: str) -> list[str]:
    """The scenario's test_sequence (its molecule.yml, else the base config's)."""
    for config in (root / "molecule" / scenario / "molecule.yml", root / ".config" / "molecule" / "config.yml"):
        sequence = ((yaml.safe_load(config.read_text()) or {}).get("scenario") or {}).get("test_sequence")
        if sequence:
            return list(sequence)
    raise ValueError(f"no test_sequence for scenario {scenario}")


# --- units restarted or not, by systemd's account ----------------------------------------------

UNIT_PROPS = ("ActiveState", "MainPID", "NRestarts", "ActiveEnterTimestampMonotonic")


def parse_systemctl_show(text: str) -> dict[str, dict[str, str]]:
    """`systemctl show -p Id,... u1 u2` (blocks separated by blank lines) -> {Id: {prop: value}}."""
    units = {}
    for block in re.split(r"\n\s*\n", text.strip()):
        props = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if props.get("Id"):
            units[props["Id"]] = {k: props.get(k, "") for k in UNIT_PROPS}
    return units


def _containers(platforms: list[str]) -> list[str]:
    """The names of the containers (running or not) named exactly as one of `platforms`."""
    if not platforms:
        return []
    listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}", *(f"--filter=name=^/{p}$" for p in platforms)],
                            capture_output=True, text=True, check=True, timeout=60).stdout.split()
    return sorted(set(listed) & set(platforms))


def remove_hosts(platforms: list[str]) -> str:
    """Remove the scenario's host containers, as Molecule's docker destroy does (docker rm -f), and
    say what was removed. Molecule's own `destroy` runs a playbook for it: 7 CPU seconds and 8 to
    11 s each time, twice per scenario run. Raises if a container is still there afterwards."""
    present = _containers(platforms)
    if present:
        subprocess.run(["docker", "rm", "-f", "-v", *present], capture_output=True, text=True, check=False, timeout=120)
    left = _containers(platforms)
    if left:
        raise RuntimeError(f"containers still there after docker rm -f: {left}")
    return f"removed: {', '.join(present) or 'none was there'}"


def ephemeral_problems(ephemeral: Path) -> list[str]:
    """The scenario's ephemeral directory must still hold the run's changes.jsonl when its logs are
    searched for secrets: every scenario run writes it (ddapm_changes: Molecule's create already
    changes something), and a directory without it was pruned (as `molecule destroy` prunes it), its
    runs/ logs gone unsearched."""
    if (ephemeral / "changes.jsonl").is_file():
        return []
    return [f"{ephemeral}/changes.jsonl is missing: the directory was pruned or never written, so the "
            "run's logs there cannot be searched for secrets"]


def unit_states(platforms: list[str], units) -> dict[str, dict[str, dict[str, str]]]:
    """{platform: {unit: {prop: value}}} read on each live host; a host that does not answer, {}."""
    states = {}
    for platform in platforms:
        if not units:
            states[platform] = {}
            continue
        proc = subprocess.run(["docker", "exec", platform, "systemctl", "show", "-p", "Id," + ",".join(UNIT_PROPS),
                               *units], capture_output=True, text=True, check=False, timeout=60)
        states[platform] = parse_systemctl_show(proc.stdout) if proc.returncode == 0 else {}
    return states


def unit_problems(before: dict, after: dict, units, what: str) -> list[str]:
    """Sentences for each unit not active with a real main PID (before or after) or restarted by `what`."""
    problems = []
    for platform in before:
        for unit in units:
            was, now = before[platform].get(unit, {}), after.get(platform, {}).get(unit, {})
            for label, state in (("before", was), ("after", now)):
                if state.get("ActiveState") != "active" or int(state.get("MainPID") or 0) <= 0:
                    problems.append(f"{platform}: {unit} is not active with a main PID {label} {what}: {state or 'no answer'}")
            if was and now and was != now:
                problems.append(f"{platform}: {what} restarted {unit}: {was} -> {now}")
    return problems


# --- secrets in logs ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Secret:
    value: str
    origin: str  # "<file> (<variable>)": what a finding names instead of the value


class _VaultTagged(str):
    """The ciphertext of an inline `!vault |` value."""


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_constructor("!vault", lambda loader, node: _VaultTagged(loader.construct_scalar(node)))
_Loader.add_constructor("!unsafe", lambda loader, node: loader.construct_scalar(node))


def _leaves(data, path=""):
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _leaves(value, f"{path}.{key}" if path else str(key))
    elif isinstance(data, list):
        for i, value in enumerate(data):
            yield from _leaves(value, f"{path}[{i}]")
    elif isinstance(data, str):
        yield path, data


def _vault(password_files: list[Path]):
    from ansible.parsing.vault import VaultLib, VaultSecret

    return VaultLib([(f"pw{i}", VaultSecret(p.read_text().strip().encode()))
                     for i, p in enumerate(password_files)])


def secret_values(root: Path) -> list[Secret]:
    """Every secret of the YAML files under molecule/ and of inventory/local's demo secrets.

    A whole-file vault is decrypted and all its string values are secrets; in a plain YAML file,
    the inline `!vault` values are, and the clear values of variables named like a password,
    API key or secret (made-up test values). The passwords are the vault-password.txt files of the scenarios
    (each is tried). Raises if a vaulted value cannot be decrypted: a secret the
    search cannot know is a search that cannot fail.
    """
    root = Path(root)
    passwords = sorted((root / "molecule").glob("*/vault-password.txt"))
    vault = _vault(passwords)
    secrets: list[Secret] = []
    for path in sorted((root / "molecule").rglob("*.y*ml")):
        if "sampleapp" in path.parts:
            continue
        text = path.read_text(errors="replace")
        rel = path.relative_to(root)
        if text.startswith("$ANSIBLE_VAULT"):  # a whole-file vault: every value is a secret
            pairs = list(_leaves(yaml.safe_load(vault.decrypt(text.encode()).decode())))
        elif "$ANSIBLE_VAULT" in text:  # inline `!vault` values
            pairs = [(var, vault.decrypt(value.encode()).decode())
                     for var, value in _leaves(_plays(text)) if isinstance(value, _VaultTagged)]
        else:  # made-up secrets a scenario sets in clear (a check's password, a test API key)
            pairs = [(var, v) for var, v in _leaves(_plays(text))
                     if _SECRET_NAME.search(var.rsplit(".", 1)[-1]) and "{{" not in v]
        secrets += [Secret(v, f"{rel} ({var})") for var, v in pairs if len(v) >= MIN_SECRET_LEN]
    for path in sorted((root / "inventory" / "local").rglob("*secret*.y*ml")):
        rel = path.relative_to(root)
        secrets += [Secret(v, f"{rel} ({var})") for var, v in _leaves(yaml.safe_load(path.read_text()))
                    if len(v) >= MIN_SECRET_LEN]
    return list({s.value: s for s in secrets}.values())


# Variables that hold a secret (not a path to one: vault_password_file).
_SECRET_NAME = re.compile(r"(password|api_key|secret)(?!.*_file$)", re.I)


def _plays(text):
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError:
        return None


def secret_findings(paths, secrets: list[Secret]) -> list[str]:
    """'<file>:<line>: the secret of <origin>' for every secret found in the files (or dirs) given."""
    findings = []
    files = []
    for p in map(Path, paths):
        files += sorted(f for f in p.rglob("*") if f.is_file()) if p.is_dir() else [p] if p.is_file() else []
    for f in files:
        with f.open(errors="replace") as handle:
            for lineno, line in enumerate(handle, 1):
                findings += [f"{f}:{lineno}: the secret of {s.origin}" for s in secrets if s.value in line]
    return findings


def mask(text: str, secrets: list[Secret]) -> str:
    for s in sorted(secrets, key=lambda s: -len(s.value)):
        text = text.replace(s.value, "********")
    return text


def logs_written_since(logs: Path, since: float, exclude: set[str]) -> list[Path]:
    """Files under `logs` modified at or after `since` (a run's start), but the ones named in exclude."""
    if not logs.is_dir():
        return []
    return [f for f in sorted(logs.rglob("*"))
            if f.is_file() and f.name not in exclude and os.stat(f).st_mtime >= since]
