"""The host converged by ddapm.django_datadog.datadog_agent from the INSTALLED collection.

The agent here is the harness's stand-in (molecule/harness/standin), not the Datadog Agent.
The controller-side checks run Ansible with the scenario's paths only: the collections path
prepare.yml installed the tarball into, and an empty roles path.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

PROJECT = Path(os.environ["MOLECULE_PROJECT_DIRECTORY"])
WORK = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
COLLECTIONS = WORK / "collections"
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((PROJECT / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
INSTALLED = COLLECTIONS / "ansible_collections" / GALAXY["namespace"] / GALAXY["name"]


def ansible(tmp_path, *argv):
    """Run an Ansible CLI with no config of this checkout: the scenario's collections and roles paths only."""
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(config), ANSIBLE_COLLECTIONS_PATH=str(COLLECTIONS),
               ANSIBLE_ROLES_PATH=str(WORK / "no-roles"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0")
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=tmp_path, env=env, capture_output=True, text=True,
                          check=False)


def test_the_stand_in_agent_runs(host):
    assert host.package("datadog-agent").is_installed
    assert host.service("datadog-agent").is_running
    assert host.service("datadog-agent").is_enabled
    assert "stand-in" in host.check_output("datadog-agent version").lower()


def test_the_role_wrote_the_config(host):
    config = host.file("/etc/datadog-agent/datadog.yaml")
    assert config.user == "root" and config.group == "dd-agent" and config.mode == 0o640
    assert yaml.safe_load(host.check_output("cat /etc/datadog-agent/datadog.yaml"))["env"] == "collection"


def test_the_installed_collection_is_the_built_one(tmp_path):
    res = ansible(tmp_path, "ansible-galaxy", "collection", "list", FQCN, "-p", str(COLLECTIONS), "--format", "json")
    assert res.returncode == 0, res.stdout + res.stderr
    listed = json.loads(res.stdout)
    assert listed == {str(COLLECTIONS / "ansible_collections"): {FQCN: {"version": GALAXY["version"]}}}, listed
    shipped = {p.name for p in INSTALLED.iterdir()}
    assert {"roles", "plugins", "meta"} <= shipped
    assert not shipped & {"molecule", ".cache", "inventory", "tests", "collections", ".git", ".venv"}, shipped


def test_the_checkout_roles_are_out_of_reach(tmp_path):
    # The same play by short role name cannot find the role: converge could only use the collection.
    for name, expect_rc in ((f"{FQCN}.datadog_agent", 0), ("datadog_agent", 1)):
        play = tmp_path / "play.yml"
        play.write_text(yaml.safe_dump([{"name": "p", "hosts": "localhost", "gather_facts": False,
                                         "roles": [{"role": name}]}]))
        res = ansible(tmp_path, "ansible-playbook", "--syntax-check", "-i", "localhost,", str(play))
        assert (res.returncode == 0) == (expect_rc == 0), (name, res.stdout + res.stderr)
        if expect_rc:
            assert "datadog_agent" in res.stderr and "not found" in res.stderr, res.stderr


def test_ansible_doc_renders_every_role(tmp_path):
    roles = sorted(p.name for p in (PROJECT / "roles").iterdir() if (p / "meta" / "argument_specs.yml").is_file())
    assert "datadog_agent" in roles
    for role in roles:
        res = ansible(tmp_path, "ansible-doc", "-t", "role", f"{FQCN}.{role}")
        assert res.returncode == 0, res.stdout + res.stderr
        assert f"{FQCN}.{role}" in res.stdout and str(INSTALLED) in res.stdout, res.stdout[:500]
        assert "ENTRY POINT:" in res.stdout


def test_a_role_filter_runs_from_the_installed_collection(tmp_path):
    res = ansible(tmp_path, "ansible", "localhost", "-m", "ansible.builtin.debug", "-a",
                  'msg={{ {"a": [1, true, none]} | ' + FQCN + '.django_apm_pyliteral }}')
    assert res.returncode == 0, res.stdout + res.stderr
    assert "{'a': [1, True, None]}" in res.stdout, res.stdout
