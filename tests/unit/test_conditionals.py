"""Every conditional in the project's task files is a string (or a boolean): a plain YAML item
holding ": " (a regular expression's `\\s+: ok=`, a message) silently becomes a mapping, which
yamllint and ansible-lint accept and Ansible refuses only when the task runs ("Conditional
expressions must be strings"). Found once in a Molecule step by a CI run; this finds it at once."""

from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
CONDITION_KEYS = ("when", "changed_when", "failed_when", "until")
FILES = sorted(p for top in ("roles", "playbooks", "molecule") for p in (ROOT / top).rglob("*.yml")
               if "sampleapp" not in p.parts)


class _Loader(yaml.SafeLoader):
    """The safe loader, reading Ansible's tags (!vault, !unsafe) as their plain text."""


_Loader.add_multi_constructor("!", lambda loader, tag, node: loader.construct_scalar(node))


def _tasks(node):
    """Every mapping of a loaded YAML document that looks like a task, play or block."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from _tasks(value)
    elif isinstance(node, list):
        for item in node:
            yield from _tasks(item)


def _bad(value):
    items = value if isinstance(value, list) else [value]
    return [item for item in items if not isinstance(item, (str, bool))]


def test_the_scan_sees_a_mapping_where_a_condition_belongs():
    doc = yaml.safe_load("- name: t\n  ansible.builtin.assert:\n    that:\n      - x is search('a\\s+: b')\n")
    assert [_bad(t["ansible.builtin.assert"]["that"]) for t in _tasks(doc) if "ansible.builtin.assert" in t] != [[]]


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_conditions_are_strings(path):
    docs = list(yaml.load_all(path.read_text(), Loader=_Loader))
    problems = []
    for task in _tasks(docs):
        for key in CONDITION_KEYS:
            if key in task and (bad := _bad(task[key])):
                problems.append(f"{task.get('name', '?')}: {key} holds {bad}")
        assertion = task.get("ansible.builtin.assert")
        if isinstance(assertion, dict) and "that" in assertion and (bad := _bad(assertion["that"])):
            problems.append(f"{task.get('name', '?')}: assert.that holds {bad}")
    assert not problems, problems
