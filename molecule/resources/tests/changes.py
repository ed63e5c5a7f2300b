"""Check mode compared with the real run: the tasks and handlers that report a change.

The project's callback tests/callback_plugins/ddapm_changes.py (enabled in the Molecule base
config) writes one JSON line per changed task or handler result. `changes_env(path)` points a
nested ansible-playbook run at its own file; `changed(path, ...)` reads back the set of changed
tasks of a host ("role : task name", handlers marked "handler: "); `check_mismatch(check, real)`
says in words how a --check run and the real run that follows disagree ("" when they agree).
"""

from __future__ import annotations

import configparser
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
CALLBACK_DIR = ROOT / "tests" / "callback_plugins"


def enabled_callbacks(env):
    """The callbacks a run with `env` enables: ANSIBLE_CALLBACKS_ENABLED, else callbacks_enabled of
    the ansible.cfg that ANSIBLE_CONFIG names (Molecule's: ddapm_changes and ddapm_prefork)."""
    if "ANSIBLE_CALLBACKS_ENABLED" in env:
        return env["ANSIBLE_CALLBACKS_ENABLED"]
    config = env.get("ANSIBLE_CONFIG")
    if not config or not Path(config).is_file():
        return ""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(config)
    return parser.get("defaults", "callbacks_enabled", fallback="")


def enable_callback(env, name):
    """`env` with callback `name` of tests/callback_plugins enabled, keeping the callbacks the run
    enables already (enabled_callbacks) and the callback folders it names."""
    enabled = [n.strip() for n in enabled_callbacks(env).split(",") if n.strip()]
    folders = [f for f in env.get("ANSIBLE_CALLBACK_PLUGINS", "").split(":") if f and f != str(CALLBACK_DIR)]
    return dict(env, ANSIBLE_CALLBACKS_ENABLED=",".join(enabled + ([] if name in enabled else [name])),
                ANSIBLE_CALLBACK_PLUGINS=":".join([str(CALLBACK_DIR), *folders]))


def changes_env(path, env):
    """`env` for an ansible-playbook run that records its changed tasks in `path` (emptied), with
    the callbacks the run would enable anyway."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("")
    return dict(enable_callback(env, "ddapm_changes"), DDAPM_CHANGES_FILE=str(path))


def records(path):
    path = Path(path)
    if not path.is_file():
        raise AssertionError(f"no record of changed tasks at {path}: was the ddapm_changes callback enabled?")
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def changed(path, host=None, play=None, check=None, playbook=None, run=None, index=None):
    """{"role : task", "handler: role : handler"} that reported a change, filtered by host, play
    name, mode (check True/False), playbook file name, run id and the play's index in its run."""
    return {("handler: " if r["handler"] else "") + r["task"]
            for r in records(path)
            if r.get("kind", "change") == "change" and (host is None or r["host"] == host)
            and (play is None or r["play"] == play) and (check is None or r["check"] == check)
            and (playbook is None or Path(r["playbook"]).name == playbook)
            and (run is None or r["run"] == run) and (index is None or r["index"] == index)}


def check_then_real(path, check_play, real_play, host):
    """(check, real): the changes of the play `check_play` (run in check mode) and of the first
    play named `real_play` that follows it in the same ansible-playbook run."""
    plays = [r for r in records(path) if r.get("kind") == "play"]
    first = next((r for r in plays if r["play"] == check_play), None)
    assert first, f"no play {check_play!r} in {path}"
    real = next((r for r in plays if r["run"] == first["run"] and r["index"] > first["index"]
                 and r["play"] == real_play), None)
    assert real, f"no play {real_play!r} after {check_play!r} in {path}"
    return (changed(path, host=host, run=first["run"], index=first["index"]),
            changed(path, host=host, run=real["run"], index=real["index"]))


def nested_check_then_real(check_path, path, outer_playbook, host):
    """(check, real) for a --check run that recorded its changes in `check_path` (a nested
    ansible-playbook started by a play of `outer_playbook`, e.g. a side effect), and the plays of
    the same names that `outer_playbook` itself ran (its real run of the same playbook), recorded
    in `path`."""
    names = {r["play"] for r in records(check_path) if r.get("kind") == "play"}
    assert names, f"no play recorded in {check_path}"
    outer = [r for r in records(path) if r.get("kind") == "play" and Path(r["playbook"]).name == outer_playbook
             and r["play"] in names]
    assert outer, f"no play of {outer_playbook} named {sorted(names)} in {path}"
    real = set()
    for play in outer:
        real |= changed(path, host=host, run=play["run"], index=play["index"])
    return changed(check_path, host=host, check=True), real


def differences(check: set[str], real: set[str]) -> set[str]:
    """"real only: <task>" / "check only: <task>" for each task the two runs disagree on."""
    return {f"real only: {t}" for t in real - check} | {f"check only: {t}" for t in check - real}


def check_mismatch(check: set[str], real: set[str], known=None) -> str:
    """How a --check run's changes and the real run's differ beyond the `known` differences
    ({"real only: <task>" or "check only: <task>": why}), as sentences; "" when they agree."""
    known = known or {}
    found = differences(check, real)
    lines = [f"{d} (--check did not tell the truth)" for d in sorted(found - set(known))]
    lines += [f"{d} is listed as a known difference but the runs now agree there: remove it"
              for d in sorted(set(known) - found)]
    return "\n".join(lines)


def assert_check_tells_the_truth(check: set[str], real: set[str], what: str, known=None):
    """--check reported exactly the tasks and handlers the real run changed, but for the `known`
    differences the caller names with their reason (each must still occur: the list cannot rot)."""
    assert real, f"{what}: the real run changed nothing, so the comparison proves nothing"
    mismatch = check_mismatch(check, real, known)
    assert not mismatch, f"{what}: --check and the real run differ\n{mismatch}"
