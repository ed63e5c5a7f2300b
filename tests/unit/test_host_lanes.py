"""molecule/conftest.py: the verifier's host lanes put every test of a host on one xdist worker."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
spec = importlib.util.spec_from_file_location("molecule_conftest", ROOT / "molecule" / "conftest.py")
lanes = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lanes)

NAMES = sorted(["datadog_agent-debian12", "datadog_agent-debian13", "datadog_agent-debian1"], key=len, reverse=True)


@pytest.mark.parametrize("nodeid, lane", [
    ("t/test_runs.py::test_noop[ansible://datadog_agent-debian12]", "datadog_agent-debian12"),
    # a second parameter after the host's: same lane as the host
    ("t/test_agent.py::test_units[ansible://datadog_agent-debian13-datadog-agent-trace]", "datadog_agent-debian13"),
    # a platform whose name is a prefix of another's is not confused with it
    ("t/test_agent.py::test_units[ansible://datadog_agent-debian1-x]", "datadog_agent-debian1"),
    ("t/test_agent.py::test_units[ansible://datadog_agent-debian13]", "datadog_agent-debian13"),
    # no host: a lane of its own
    ("t/test_runs.py::test_check_mode_on_the_fresh_host_logged_no_secret", "no-host"),
    ("t/test_runs.py::test_case[abc]", "no-host"),
])
def test_each_test_goes_to_the_lane_of_its_host(nodeid, lane):
    assert lanes.lane_of(nodeid, NAMES) == lane


def test_the_platforms_are_the_hosts_of_molecules_inventory(tmp_path, monkeypatch):
    inventory = tmp_path / "ansible_inventory.yml"
    inventory.write_text("all:\n  hosts:\n    s-debian12: {ansible_connection: community.docker.docker}\n"
                         "  children:\n    web:\n      hosts:\n        s-debian12: {}\n"
                         "    app:\n      children:\n        worker:\n          hosts:\n            s-debian13-extra: {}\n"
                         "ungrouped:\n  hosts: {}\n")
    monkeypatch.setenv("MOLECULE_INVENTORY_FILE", str(inventory))
    assert lanes.platforms() == ["s-debian13-extra", "s-debian12"]
    monkeypatch.setenv("MOLECULE_INVENTORY_FILE", str(tmp_path / "missing.yml"))
    assert lanes.platforms() == []


ONE_HOST_TESTS = '''
import pytest

HOSTS = ["ansible://s-debian12", "ansible://s-debian13"]


@pytest.mark.one_host("debian13")
@pytest.mark.parametrize("host", HOSTS, ids=HOSTS)
def test_logic(host):
    pass


@pytest.mark.one_host("debian14")
@pytest.mark.parametrize("host", HOSTS, ids=HOSTS)
def test_no_such_platform(host):
    pass


@pytest.mark.parametrize("host", HOSTS, ids=HOSTS)
def test_everywhere(host):
    pass


@pytest.mark.one_host("debian13")
def test_without_a_host():
    pass
'''


def _collected(tmp_path, hosts):
    """The node ids a verifier run would keep (molecule/conftest.py as the folder's conftest)."""
    (tmp_path / "conftest.py").write_text((ROOT / "molecule" / "conftest.py").read_text())
    (tmp_path / "test_o.py").write_text(ONE_HOST_TESTS)
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    inventory = tmp_path / "inventory.yml"
    inventory.write_text("all:\n  hosts:\n" + "".join(f"    {h}: {{}}\n" for h in hosts))
    env = dict(os.environ, MOLECULE_INVENTORY_FILE=str(inventory),
               PYTHONPATH=str(ROOT / "molecule" / "resources" / "tests"))
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                          "-c", str(tmp_path / "pytest.ini"), str(tmp_path)],
                         cwd=tmp_path, env=env, capture_output=True, text=True, check=True).stdout
    return sorted(line.split("::", 1)[1] for line in out.splitlines() if "::" in line)


def test_a_one_host_test_keeps_the_copy_of_its_platform_only(tmp_path):
    assert _collected(tmp_path, ["s-debian12", "s-debian13"]) == [
        "test_everywhere[ansible://s-debian12]", "test_everywhere[ansible://s-debian13]",
        "test_logic[ansible://s-debian13]",
        "test_no_such_platform[ansible://s-debian12]",  # no such host in the run: the first host
        "test_without_a_host",
    ]


def test_a_run_of_one_platform_keeps_every_test_of_its_host(tmp_path):
    assert _collected(tmp_path, ["s-debian12"]) == [
        "test_everywhere[ansible://s-debian12]", "test_everywhere[ansible://s-debian13]",
        "test_logic[ansible://s-debian12]", "test_logic[ansible://s-debian13]",
        "test_no_such_platform[ansible://s-debian12]", "test_no_such_platform[ansible://s-debian13]",
        "test_without_a_host",
    ]
