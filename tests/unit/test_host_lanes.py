"""molecule/conftest.py: the verifier's host lanes put every test of a host on one xdist worker."""

import importlib.util
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
