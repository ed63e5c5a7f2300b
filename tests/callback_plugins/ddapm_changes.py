"""Record every task and handler that reports a change, one JSON line each (tests only).

Enabled in the Molecule base config (.config/molecule/config.yml: callbacks_enabled, with
callback_plugins pointing here) so every Molecule run and every nested ansible-playbook run of a
verifier writes its changes to the file named by DDAPM_CHANGES_FILE, or else to
$MOLECULE_EPHEMERAL_DIRECTORY/changes.jsonl; with neither set it records nothing. The lines are
read by molecule/resources/tests/changes.py, which compares a --check run with the real run that
follows (same tasks, handlers included).

A line per play started: {"kind": "play", "run": <id of the ansible-playbook run>, "playbook":
<file>, "play": <play name>, "index": <the play's rank in the run>}; a line per change: the same
keys with "kind": "change", plus "check" (--check or check_mode), "host" (inventory name), "task"
("role : name") and "handler" (bool). Only names are written, never a result (they can hold secrets).
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path

from ansible import context
from ansible.playbook.handler import Handler
from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
name: ddapm_changes
type: aggregate
short_description: write the tasks and handlers that report a change as JSON lines (tests)
description:
  - Writes one JSON line per changed task or handler result to DDAPM_CHANGES_FILE, else to
    MOLECULE_EPHEMERAL_DIRECTORY/changes.jsonl; no file, no record.
requirements:
  - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ddapm_changes"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        self._run = uuid.uuid4().hex
        self._playbook = ""
        self._play = ""
        self._play_check = False
        self._index = -1
        target = os.environ.get("DDAPM_CHANGES_FILE")
        if not target and os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY"):
            target = str(Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "changes.jsonl")
        self._path = Path(target) if target else None

    def v2_playbook_on_start(self, playbook):
        self._playbook = str(getattr(playbook, "_file_name", ""))

    def v2_playbook_on_play_start(self, play):
        self._play = play.get_name().strip()
        self._play_check = play.check_mode is True
        self._index += 1
        self._append({"kind": "play"})

    def _append(self, fields):
        if self._path is None:
            return
        line = {"run": self._run, "playbook": self._playbook, "play": self._play, "index": self._index, **fields}
        self._path.parent.mkdir(parents=True, exist_ok=True)
        with self._path.open("a") as out:
            out.write(json.dumps(line, sort_keys=True) + "\n")

    def v2_runner_on_ok(self, result):
        if result._result.get("changed", False):
            task = result._task
            self._append({
                "kind": "change",
                "check": bool(context.CLIARGS.get("check")) or self._play_check or task.check_mode is True,
                "host": result._host.get_name(),
                "task": task.get_name().strip(),
                "handler": isinstance(task, Handler),
            })
