"""The one conftest of every Molecule verifier (molecule/<scenario>/tests/ is below this folder).

Host lanes: a scenario whose molecule.yml gives its verifier `n: "2"` (pytest-xdist) runs its
tests on each host side by side, one worker per host, each host's tests in file order as without
xdist. A test that re-runs a playbook against its host (scenariorun) then waits for its own host
only: two hosts' runs overlap instead of taking turns. The lane of a test is the platform its
testinfra parameter names (`[ansible://<platform>...]`); tests without a host share a lane of
their own. Hosts never share state across lanes (each test limits its runs to its host), so the
order between lanes does not matter.

One host: a test marked `@pytest.mark.one_host("<platform>")` runs on one host only (the
platform's when the run has it): its copies for the other hosts are deselected here
(molecule/resources/tests/onehost.py says when to mark a test).
"""

import os
import re

import onehost
import pytest

_ANSIBLE_ID = re.compile(r"\[ansible://(?P<rest>[^\]]*)\]$")


def _hosts(node):
    """Every host name of an Ansible YAML inventory (node: a group)."""
    names = set((node or {}).get("hosts") or {})
    for child in ((node or {}).get("children") or {}).values():
        names |= _hosts(child)
    return names


def platforms():
    """The scenario's hosts (the Molecule inventory's, i.e. its platforms), longest name first."""
    inventory = os.environ.get("MOLECULE_INVENTORY_FILE")
    if not inventory or not os.path.exists(inventory):
        return []
    import yaml

    with open(inventory, encoding="utf-8") as handle:
        data = yaml.safe_load(handle) or {}
    return sorted(set().union(*(_hosts(group) for group in data.values())), key=len, reverse=True)


def lane_of(nodeid, names):
    """The platform a test runs on ("no-host" for a test without one)."""
    match = _ANSIBLE_ID.search(nodeid)
    if not match:
        return "no-host"
    rest = match["rest"]
    for name in names:
        if rest == name or rest.startswith(name + "-"):
            return name
    return rest


def pytest_xdist_make_scheduler(config, log):
    from xdist.scheduler import LoadScopeScheduling

    names = platforms()
    if not names:
        raise pytest.UsageError("host lanes need Molecule's inventory (MOLECULE_INVENTORY_FILE): "
                                "run the verifier through molecule")

    class HostLanes(LoadScopeScheduling):
        """xdist's load-by-scope scheduler with the host as the scope: a host stays on one worker."""

        def _split_scope(self, nodeid):
            return f"host-{lane_of(nodeid, names)}"

    return HostLanes(config, log)


def pytest_configure(config):
    config.addinivalue_line("markers", onehost.DOC)


def pytest_collection_modifyitems(config, items):
    """Deselect the copies of a one_host test for the hosts it does not run on."""
    names = platforms()
    if not names:
        return
    keep, drop = [], []
    for item in items:
        mark = item.get_closest_marker(onehost.MARK)
        lane = lane_of(item.nodeid, names)
        if mark is None or lane not in names or lane == onehost.chosen(mark.args[0], names):
            keep.append(item)
        else:
            drop.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
