"""Smoke checks of the harness: the stand-in agent (not Datadog's agent) from the signed repo."""

import json

import pytest

REPO = "/srv/datadog-standin-repo"


def journal(host):
    return host.run(
        "journalctl -u datadog-agent -u datadog-agent-trace --no-pager -n 40"
    ).stdout


def apt_update_with(host, key):
    """apt-get update against the stand-in repo only, trusting just `key`, in scratch dirs."""
    script = f"""
set -e
d=$(mktemp -d)
mkdir -p "$d/lists/partial"
cat >"$d/probe.sources" <<SRC
Types: deb
URIs: file:{REPO}
Suites: stable
Components: 7
Signed-By: {REPO}/keys/{key}
SRC
apt-get update -o Dir::Etc::SourceList="$d/probe.sources" -o Dir::Etc::SourceParts=/nonexistent \
  -o Dir::State::Lists="$d/lists" -o APT::Update::Error-Mode=any 2>&1
"""
    return host.run("bash -c %s", script)


def test_apt_accepts_the_repo_signed_by_its_key(host):
    res = apt_update_with(host, "standin-archive-key.asc")
    assert res.rc == 0, res.stdout + res.stderr


def test_apt_refuses_the_repo_with_a_wrong_key(host):
    res = apt_update_with(host, "wrong-key.asc")
    assert res.rc != 0, res.stdout
    assert "NO_PUBKEY" in res.stdout or "not signed" in res.stdout, res.stdout


def test_package_installed_from_the_repo(host):
    pkg = host.package("datadog-agent")
    assert pkg.is_installed
    assert pkg.version.startswith("1:7."), pkg.version
    policy = host.check_output("apt-cache policy datadog-agent")
    assert f"file:{REPO} stable/7" in policy, policy


@pytest.mark.parametrize("unit", ["datadog-agent", "datadog-agent-trace"])
def test_units_enabled_and_active(host, unit):
    svc = host.service(unit)
    assert svc.is_running, journal(host)
    if unit == "datadog-agent":
        assert svc.is_enabled


def test_trace_intake_answers_info_on_loopback(host):
    out = host.check_output(
        "python3 -c \"import urllib.request;"
        "print(urllib.request.urlopen('http://127.0.0.1:8126/info', timeout=5).read().decode())\""
    )
    info = json.loads(out)
    assert any(e.startswith("/v0.4/traces") for e in info["endpoints"]), info
    assert host.socket("tcp://127.0.0.1:8126").is_listening
    assert not host.socket("tcp://0.0.0.0:8126").is_listening


def test_status_exits_zero_and_hides_the_key(host):
    res = host.run("datadog-agent status")
    assert res.rc == 0, res.stdout + res.stderr + journal(host)
    assert "stand-in" in res.stdout
    assert "0123456789abcdef0123456789abcdef" not in res.stdout
    assert "bcdef" in res.stdout
