"""scenariorun: the one way scenario tests re-run a playbook (molecule/resources/tests/scenariorun.py).

The recap parsing and the command line directly; run() and run_until() for real, with
ansible-playbook against this machine (connection local) standing in for a Molecule host.
"""

import sys
import time

import pytest
import scenariorun

RECAP = """\
TASK [debug] *******************************************************************
ok: [web-debian12] => {"msg": "web-debian12 : ok=99 changed=99"}

PLAY RECAP *********************************************************************
web-debian12               : ok=12   changed=3    unreachable=0    failed=1    skipped=4    rescued=2    ignored=5
web-debian12-b             : ok=7    changed=0    unreachable=1    failed=0    skipped=0    rescued=0    ignored=0
"""


def test_parse_recap_reads_the_line_of_the_host_only():
    assert scenariorun.parse_recap(RECAP, "web-debian12") == {
        "ok": 12, "changed": 3, "unreachable": 0, "failed": 1, "skipped": 4, "rescued": 2, "ignored": 5}
    assert scenariorun.parse_recap(RECAP, "web-debian12-b")["unreachable"] == 1
    assert scenariorun.parse_recap(RECAP, "web-debian1") == {}
    assert scenariorun.parse_recap("fatal: no recap at all", "web-debian12") == {}


def test_command_resolves_the_scenario_playbook_inventory_extra_vars_and_limit(monkeypatch, tmp_path):
    monkeypatch.setenv("MOLECULE_SCENARIO_DIRECTORY", str(tmp_path / "scenario"))
    monkeypatch.setenv("MOLECULE_INVENTORY_FILE", "/eph/inventory.yml")
    cmd = scenariorun.command("converge.yml", "--check", "-e", "x=1", target="h1", extra_vars_files=["/v/s.yml"])
    assert cmd == [str(scenariorun.ANSIBLE_PLAYBOOK), "-i", "/eph/inventory.yml", "-e", "@/v/s.yml",
                   str(tmp_path / "scenario" / "converge.yml"), "--check", "-e", "x=1", "--limit", "h1"]
    assert scenariorun.ANSIBLE_PLAYBOOK.name == "ansible-playbook" and scenariorun.ANSIBLE_PLAYBOOK.exists()
    cmd = scenariorun.command("/abs/playbooks/deploy.yml", inventory="/other/inv")
    assert cmd == [str(scenariorun.ANSIBLE_PLAYBOOK), "-i", "/other/inv", "/abs/playbooks/deploy.yml"]


class _Ansible:
    def get_variables(self):
        return {"inventory_hostname": "localhost"}


class _Host:
    """What scenariorun reads of a testinfra host."""
    ansible = _Ansible()


@pytest.fixture
def scenario(monkeypatch, tmp_path):
    monkeypatch.setenv("MOLECULE_SCENARIO_DIRECTORY", str(tmp_path))
    monkeypatch.setenv("MOLECULE_EPHEMERAL_DIRECTORY", str(tmp_path / "eph"))
    monkeypatch.setenv("ANSIBLE_LOCALHOST_WARNING", "0")
    monkeypatch.setenv("ANSIBLE_FORCE_COLOR", "1")  # a run must turn colours off itself
    (tmp_path / "inventory").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
                                        "other ansible_connection=local\n")
    monkeypatch.setenv("MOLECULE_INVENTORY_FILE", str(tmp_path / "inventory"))
    return tmp_path


def test_run_limits_to_the_host_logs_under_runs_and_returns_the_recap(scenario):
    (scenario / "play.yml").write_text(
        "- name: Play\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - {name: Say, ansible.builtin.debug: {msg: 'value {{ x }}'}}\n"
        "    - {name: Change, ansible.builtin.command: 'true'}\n"
        "    - {name: Fail, ansible.builtin.fail: {msg: stop here}}\n")
    rc, log, recap = scenariorun.run(_Host(), "first", "play.yml", "-e", "x=42")
    assert rc == 2, log
    assert recap == {"ok": 2, "changed": 1, "unreachable": 0, "failed": 1, "skipped": 0, "rescued": 0, "ignored": 0}
    assert "value 42" in log and "stop here" in log and "\x1b[" not in log
    assert "other" not in log, "--limit must keep the run to the host under test"
    saved = (scenario / "eph" / "runs" / "localhost-first.log").read_text()
    assert saved.startswith(f"$ {scenariorun.ANSIBLE_PLAYBOOK} -i {scenario / 'inventory'} {scenario / 'play.yml'}")
    assert saved.endswith(log)


def test_run_until_kills_the_run_at_the_marker(scenario):
    done = scenario / "reached"
    (scenario / "play.yml").write_text(
        "- name: Play\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - {name: Before, ansible.builtin.debug: {msg: before}}\n"
        "    - {name: Wait, ansible.builtin.command: sleep 20}\n"
        f"    - {{name: After, ansible.builtin.file: {{path: '{done}', state: touch, mode: '0644'}}}}\n")
    started = time.monotonic()
    log = scenariorun.run_until(_Host(), "killed", r"^TASK \[Wait\]", "play.yml")
    assert time.monotonic() - started < 15, "the run was not killed at the marker"
    assert "TASK [Before]" in log and log.rstrip().splitlines()[-1].startswith("TASK [Wait]")
    assert "PLAY RECAP" not in log
    time.sleep(1)
    assert not done.exists(), "the run went on after the marker"
    assert (scenario / "eph" / "runs" / "localhost-killed.log").read_text().endswith(log)


def test_run_until_fails_when_the_marker_never_shows(scenario):
    (scenario / "play.yml").write_text(
        "- name: Play\n  hosts: all\n  gather_facts: false\n  tasks:\n"
        "    - {name: Only, ansible.builtin.debug: {msg: hi}}\n")
    with pytest.raises(AssertionError, match="before 'no such task' showed"):
        scenariorun.run_until(_Host(), "never", "no such task", "play.yml")
