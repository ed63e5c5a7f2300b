"""The playbooks parse, and the inventories agree with each other (no containers, a few seconds).

* every playbook passes `ansible-playbook --syntax-check`;
* production, staging, development and local have the same groups, example host names
  (example.invalid) and RFC 5737 documentation addresses only;
* in each of them ONE variable (ddapm_env, named after the inventory, "local" for the demo) feeds
  the agent's env, DD_ENV and the Sentry environment, and the service and site come from
  ddapm_service and ddapm_site: checked on the values Ansible resolves for every host;
* secrets: only vault.yml.example files with CHANGE_ME placeholders are shipped, no API key in
  clear text anywhere but the local demo's made-up test key; a play run without the vault stops
  before any change (and without contacting any host), naming the variable and the file to create.
"""

import importlib.util
import ipaddress
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORY = ROOT / "inventory"
ENVIRONMENTS = ["production", "staging", "development"]
PLAYBOOKS = sorted((ROOT / "playbooks").glob("*.yml"))
DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]
ENV = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1")


def run(*argv, env=ENV):
    return subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=300, check=False, stdin=subprocess.DEVNULL)


def inventory_list(name):
    res = run("ansible-inventory", "-i", str(INVENTORY / name), "--list")
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def test_the_four_playbooks_are_there():
    assert {p.name for p in PLAYBOOKS} >= {"site.yml", "agent.yml", "deploy.yml", "remove.yml"}


@pytest.mark.parametrize("playbook", PLAYBOOKS, ids=[p.name for p in PLAYBOOKS])
def test_playbook_syntax(playbook):
    res = run("ansible-playbook", "--syntax-check", "-i", str(INVENTORY / "staging"), str(playbook))
    assert res.returncode == 0, res.stdout + res.stderr


@pytest.mark.parametrize("name", ENVIRONMENTS + ["local"])
def test_same_groups_and_documentation_hosts_only(name):
    data = inventory_list(name)
    groups = {g for g in data if g not in ("_meta", "all", "ungrouped")}
    assert groups == {"agent_hosts", "app", "web", "worker", "db"}, groups
    assert set(data["agent_hosts"]["children"]) == {"app", "db"} and set(data["app"]["children"]) == {"web", "worker"}
    hostvars = data["_meta"]["hostvars"]
    for host, hvars in hostvars.items():
        if name == "local":
            assert host == "ddapm-local" and hvars["ansible_connection"] == "community.docker.docker"
            continue
        assert host.endswith(f".{name}.example.invalid"), host
        address = ipaddress.ip_address(hvars["ansible_host"])
        assert any(address in net for net in DOC_NETS), f"{host}: {address} is not an RFC 5737 address"


# The checks each host of production and staging gets, composed by the role's own filter from the
# datadog_agent_checks__<group> variables of its groups (group_vars/web.yml, worker.yml, db.yml).
CHECKS_BY_GROUP = {"web": ["http_check.d/conf.yaml"], "worker": ["process.d/conf.yaml"],
                   "db": ["postgres.d/conf.yaml", "redisdb.d/conf.yaml"]}


@pytest.mark.parametrize("name", ["production", "staging"])
def test_checks_composed_per_group_with_vaulted_passwords(name):
    spec = importlib.util.spec_from_file_location("dda_filters", ROOT / "roles/datadog_agent/filter_plugins/datadog_agent.py")
    filters = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(filters)
    data = inventory_list(name)
    hosts = {g: data[g]["hosts"] for g in CHECKS_BY_GROUP}
    assert all(hosts.values()), hosts
    for group, members in hosts.items():
        for host in members:
            hvars = data["_meta"]["hostvars"][host]
            sources = {k: v for k, v in hvars.items() if k.startswith("datadog_agent_checks__")}
            composed = filters.compose_checks(sources)
            assert composed["errors"] == [], (host, composed["errors"])
            assert [f["path"] for f in composed["files"]] == CHECKS_BY_GROUP[group], host
    db = data["_meta"]["hostvars"][hosts["db"][0]]["datadog_agent_checks__db"]
    assert db["postgres"]["instances"][0]["password"] == "{{ vault_datadog_postgres_password | default('') }}"
    assert db["redisdb"]["instances"][0]["password"] == "{{ vault_datadog_redis_password | default('') }}"
    example = yaml.safe_load((INVENTORY / name / "group_vars/all/vault.yml.example").read_text())
    assert example["vault_datadog_postgres_password"] == example["vault_datadog_redis_password"] == "CHANGE_ME"


@pytest.mark.parametrize("name", ENVIRONMENTS + ["local"])
def test_one_variable_feeds_the_agent_env_dd_env_and_sentry(name):
    """The values Ansible resolves for each host (the debug action runs on the controller only)."""
    expr = ("{{ {'env': ddapm_env, 'agent_env': datadog_agent_env, 'agent_site': datadog_agent_site,"
            " 'service': ddapm_service, 'site': ddapm_site,"
            " 'dd_env': django_apm_env | default(none), 'dd_service': django_apm_service | default(none),"
            " 'dd_site': django_apm_site | default(none),"
            " 'sentry': (django_apm_dotenv_extra | default({})).SENTRY_ENVIRONMENT | default(none),"
            " 'celery': django_apm_celery_enabled | default(none), 'groups': group_names} }}")
    env = dict(ENV, ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    res = subprocess.run([str(BIN / "ansible"), "-i", str(INVENTORY / name), "all", "-m", "ansible.builtin.debug",
                          "-a", f"msg={expr}"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=300,
                         check=False, stdin=subprocess.DEVNULL)
    assert res.returncode == 0, res.stdout + res.stderr
    found = {host: result["msg"] for host, result in json.loads(res.stdout)["plays"][0]["tasks"][0]["hosts"].items()}
    assert found, res.stdout
    for host, v in found.items():
        assert v["env"] == name, host
        assert v["agent_env"] == v["env"] and v["agent_site"] == v["site"], host
        if "app" in v["groups"]:
            assert (v["dd_env"], v["sentry"]) == (v["env"], v["env"]), host
            assert v["dd_service"] == v["service"] == "patient-portal", host
            assert v["dd_site"] == v["site"], host
            assert v["celery"] is ("worker" in v["groups"]), host


@pytest.mark.parametrize("name", ENVIRONMENTS)
def test_only_vault_examples_with_placeholders_are_shipped(name):
    folder = INVENTORY / name / "group_vars" / "all"
    assert not (folder / "vault.yml").exists(), "a real vault file must not be shipped"
    example = yaml.safe_load((folder / "vault.yml.example").read_text())
    db_checks = {"vault_datadog_postgres_password", "vault_datadog_redis_password"} if name != "development" else set()
    assert set(example) == {"vault_datadog_api_key", "vault_django_secret_key", "vault_db_password", "vault_sentry_dsn"} | db_checks
    assert all(value == "CHANGE_ME" for value in example.values()), example


def test_no_key_in_clear_text_but_the_local_demo_test_key():
    for path in INVENTORY.rglob("*"):
        if path.is_file():
            text = path.read_text()
            keys = re.findall(r"\b[0-9a-fA-F]{32}\b", text)
            if path.name == "demo_secrets.yml":
                assert "MADE-UP TEST VALUES" in text and path.parts[-4] == "local"
                continue
            assert not keys, f"{path} holds what looks like an API key"


def test_a_play_without_the_vault_stops_before_any_change_naming_the_file():
    # The hosts are documentation addresses: the play must fail on the controller, never reach them.
    res = run("ansible-playbook", "-i", str(INVENTORY / "staging"), str(ROOT / "playbooks" / "site.yml"))
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "vault_datadog_api_key is not set" in out, out[-3000:]
    assert "group_vars/all/vault.yml.example" in out
    assert "UNREACHABLE" not in out and "unreachable=0" in out, out[-3000:]
    assert re.search(r"failed=1", out)


def test_ansible_cfg_pipelines_modules_on_every_connection(tmp_path):
    """ansible.cfg sets pipelining under [connection], which every connection plugin reads (ssh,
    community.docker.docker, local), not under [ssh_connection], which only ssh reads: a -vvv run
    through the local connection pipes its module into python and copies nothing (no PUT); with
    pipelining off the same run copies it. (Through docker exec: harness_smoke's verifier.)"""
    playbook = tmp_path / "ping.yml"
    playbook.write_text("- name: Ping\n  hosts: all\n  gather_facts: false\n  tasks:\n"
                        "    - name: Ping\n      ansible.builtin.ping:\n")
    argv = ["ansible-playbook", "-i", "localhost,", "-c", "local", "-e", f"ansible_python_interpreter={sys.executable}",
            str(playbook), "-vvv"]
    res = run(*argv)
    assert res.returncode == 0, res.stdout[-3000:]
    assert "PUT " not in res.stdout, res.stdout[-3000:]
    off = run(*argv, env=dict(ENV, ANSIBLE_PIPELINING="0"))
    assert off.returncode == 0 and "PUT " in off.stdout, off.stdout[-3000:]
    config = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    assert config["provisioner"]["config_options"]["connection"]["pipelining"] is True


def test_ansible_playbook_looks_for_results_every_10_ms_here_and_in_molecule():
    """ansible.cfg sets internal_poll_interval (an ini key only: Ansible reads no variable for it)
    and Ansible takes it from there, and the Molecule runs set the same value."""
    proc = run("ansible-config", "dump", "--only-changed")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    line = next((x for x in proc.stdout.splitlines() if x.startswith("DEFAULT_INTERNAL_POLL_INTERVAL")), "")
    assert str(ROOT / "ansible.cfg") in line and line.endswith("= 0.01"), proc.stdout
    base = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    assert base["provisioner"]["config_options"]["defaults"]["internal_poll_interval"] == 0.01


def test_no_role_playbook_or_scenario_reads_a_fact_as_a_top_level_variable():
    """The Molecule runs set inject_facts_as_vars false, which proves the roles behave the same with
    either setting only if nothing reads a fact as a top-level ansible_* variable: no file of the
    roles, playbooks, inventories, templates or scenarios names one of the facts this controller's
    setup module returns (ansible_local aside: Ansible always promotes it)."""
    base = yaml.safe_load((ROOT / ".config" / "molecule" / "config.yml").read_text())
    assert base["provisioner"]["config_options"]["defaults"]["inject_facts_as_vars"] is False
    proc = run("ansible", "localhost", "-i", "localhost,", "-c", "local", "-m", "ansible.builtin.setup",
               "-a", "gather_subset=all", "-e", f"ansible_python_interpreter={sys.executable}", "-o")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    facts = json.loads(proc.stdout.split("=>", 1)[1])["ansible_facts"]
    names = sorted(n for n in facts if n.startswith("ansible_") and n != "ansible_local")
    assert "ansible_distribution" in names and len(names) > 50, names
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
    found = []
    for folder in ("roles", "playbooks", "inventory", "templates", "molecule"):
        for path in sorted((ROOT / folder).rglob("*")):
            if path.suffix in (".yml", ".yaml", ".j2") and path.is_file():
                for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
                    if match := pattern.search(line):
                        found.append(f"{path.relative_to(ROOT)}:{number}: {match.group(1)}")
    assert not found, "facts read as top-level variables (use ansible_facts[...]):\n" + "\n".join(found)
