"""The ddapm_changes callback and changes.py, against localhost: what the scenarios rely on to
compare a --check run with the real run that follows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from changes import assert_check_tells_the_truth, changed, changes_env, check_mismatch, check_then_real, nested_check_then_real

PLAYBOOK = """
- name: Changes of a small play
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A file written
      ansible.builtin.copy:
        content: "v2\\n"
        dest: "{{ target }}"
        mode: "0644"
      notify: Something restarted
    - name: A task that never changes
      ansible.builtin.stat:
        path: "{{ target }}"
    - name: A command check mode skips
      ansible.builtin.command: "true"
      when: lie | default(false) | bool
      changed_when: true
  handlers:
    - name: Something restarted
      ansible.builtin.copy:
        content: "restarted\n"
        dest: "{{ target }}.handler"
        mode: "0644"
"""


def _run(tmp_path, name, *args):
    book = tmp_path / "play.yml"
    book.write_text(PLAYBOOK)
    record = tmp_path / f"{name}.jsonl"
    env = changes_env(record, dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="", ANSIBLE_CALLBACK_PLUGINS=""))
    env.pop("MOLECULE_EPHEMERAL_DIRECTORY", None)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(book),
           "-e", f"target={tmp_path / 'file.txt'}", "-e", f"ansible_python_interpreter={sys.executable}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return record


def test_check_and_real_runs_record_the_same_tasks_and_handlers(tmp_path):
    check = changed(_run(tmp_path, "check", "--check"), host="localhost", check=True)
    real = changed(_run(tmp_path, "real"), host="localhost", check=False)
    assert check == real == {"A file written", "handler: Something restarted"}
    assert_check_tells_the_truth(check, real, "a truthful play")
    again = changed(_run(tmp_path, "again"), host="localhost")
    assert again == set(), "a second run changes nothing, so nothing is recorded"


def test_a_check_mode_that_hides_a_change_is_caught(tmp_path):
    # `command` is skipped in check mode: --check reports one task fewer than the real run.
    check = changed(_run(tmp_path, "check", "--check", "-e", "lie=true"), host="localhost")
    real = changed(_run(tmp_path, "real", "-e", "lie=true"), host="localhost")
    assert real - check == {"A command check mode skips"}
    assert check_mismatch(check, real) == "real only: A command check mode skips (--check did not tell the truth)"
    with pytest.raises(AssertionError, match="real only: A command check mode skips"):
        assert_check_tells_the_truth(check, real, "a lying play")
    # A difference the caller names (with its reason) passes; a named one that no longer occurs fails.
    known = {"real only: A command check mode skips": "command is skipped in check mode"}
    assert_check_tells_the_truth(check, real, "a known difference", known)
    with pytest.raises(AssertionError, match="the runs now agree there: remove it"):
        assert_check_tells_the_truth(check, check, "a fixed difference", known)


def test_the_check_play_and_the_real_play_that_follows_it_in_one_run(tmp_path):
    # As in a side_effect playbook: the same play in check mode, then for real, then once more.
    book = PLAYBOOK.replace("- name: Changes of a small play", "- name: Real", 1)
    both = (book.replace("- name: Real", "- name: Check\n  check_mode: true", 1) + book + book.replace("- name: Real", "- name: Again", 1))
    (tmp_path / "play.yml").write_text(both)
    record = tmp_path / "both.jsonl"
    env = changes_env(record, dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="", ANSIBLE_CALLBACK_PLUGINS=""))
    env.pop("MOLECULE_EPHEMERAL_DIRECTORY", None)
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(tmp_path / "play.yml"),
                           "-e", f"target={tmp_path / 'file.txt'}", "-e", f"ansible_python_interpreter={sys.executable}"],
                          capture_output=True, text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check, real = check_then_real(record, "Check", "Real", "localhost")
    assert check == real == {"A file written", "handler: Something restarted"}
    assert changed(record, play="Again") == set()


def test_a_nested_check_run_and_the_real_run_of_the_same_playbook_in_the_outer_run(tmp_path):
    # As in the app scenarios' side effects: a play runs `ansible-playbook play.yml --check` of its
    # own (recorded apart), then the outer playbook imports play.yml for real.
    (tmp_path / "play.yml").write_text(PLAYBOOK)
    ansible_playbook = Path(sys.executable).parent / "ansible-playbook"
    (tmp_path / "outer.yml").write_text(f"""
- name: Outer | the nested check run
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Run play.yml in check mode
      ansible.builtin.command:
        argv: ["{ansible_playbook}", -i, "localhost,", "{tmp_path / 'play.yml'}", --check,
               -e, "target={tmp_path / 'file.txt'}", -e, "ansible_python_interpreter={sys.executable}"]
      environment:
        DDAPM_CHANGES_FILE: "{tmp_path / 'check.jsonl'}"
      changed_when: false

- name: Outer | play.yml for real
  ansible.builtin.import_playbook: play.yml
""")
    env = changes_env(tmp_path / "outer.jsonl", dict(os.environ, ANSIBLE_CALLBACKS_ENABLED="", ANSIBLE_CALLBACK_PLUGINS=""))
    env.pop("MOLECULE_EPHEMERAL_DIRECTORY", None)
    proc = subprocess.run([str(ansible_playbook), "-i", "localhost,", str(tmp_path / "outer.yml"),
                           "-e", f"target={tmp_path / 'file.txt'}", "-e", f"ansible_python_interpreter={sys.executable}"],
                          capture_output=True, text=True, env=env, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check, real = nested_check_then_real(tmp_path / "check.jsonl", tmp_path / "outer.jsonl", "outer.yml", "localhost")
    assert check == real == {"A file written", "handler: Something restarted"}
    # The nested run's changes are not the outer run's: the outer file holds the real run only.
    assert changed(tmp_path / "outer.jsonl", host="localhost", check=True) == set()


def test_changes_env_keeps_the_callbacks_the_run_enables_already(tmp_path):
    """A verifier's run records its changes and keeps what Molecule's ansible.cfg enables
    (ddapm_prefork): the variable, when set, else the config's callbacks_enabled."""
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\ncallbacks_enabled = ddapm_changes, ddapm_prefork\n")
    env = changes_env(tmp_path / "c.jsonl", {"ANSIBLE_CONFIG": str(config)})
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "ddapm_changes,ddapm_prefork"
    env = changes_env(tmp_path / "c.jsonl", {"ANSIBLE_CONFIG": str(config), "ANSIBLE_CALLBACKS_ENABLED": "profile_tasks"})
    assert env["ANSIBLE_CALLBACKS_ENABLED"] == "profile_tasks,ddapm_changes"
    assert changes_env(tmp_path / "c.jsonl", {})["ANSIBLE_CALLBACKS_ENABLED"] == "ddapm_changes"
