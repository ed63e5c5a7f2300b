"""Datadog's next APT signing key with no manual step (issue 11 item 6), tests run in this order.

The host's repository is the link /srv/datadog-repo; the tests move it to the variants that
molecule/harness/standin_rotation.sh builds (keys-update: a newer datadog-signing-keys carrying the
old and the next key, signed by the old key; rotated: signed by the next key only, with a newer
stand-in agent). The role's inputs never change but for the upgrade's version pin. Before each run
the APT lists are made two hours old, as if time had passed (datadog_agent_apt_cache_valid_time is
an hour by default).
"""

import shlex

from ddhelpers import agent_state, changed_in, journal, run_checked, run_role, tail

ROTATION = "/srv/datadog-standin-rotation"
PKG_KEYRING = "/usr/share/keyrings/datadog-archive-keyring.gpg"
FETCHED_KEY = "/etc/apt/keyrings/datadog/standin-archive-key.asc"
KEYS_TASK = ("datadog_agent : Install | datadog-signing-keys at its newest version "
             "(the APT lists refreshed when older than datadog_agent_apt_cache_valid_time)")
V61, V62 = "1:7.61.0-1", "1:7.62.0-1"


def switch(host, target):
    """Point the host's repository at `target`; the APT lists then look two hours old."""
    host.run_expect([0], f"ln -sfn {target} /srv/datadog-repo && touch -d '-2 hours' /var/lib/apt/lists && "
                         "{ [ ! -e /var/lib/apt/periodic/update-success-stamp ] || "
                         "touch -d '-2 hours' /var/lib/apt/periodic/update-success-stamp; }")


def refresh_with(host, signed_by):
    """`apt-get update` of the Datadog repository alone with this Signed-By, into throwaway lists."""
    source = (f"Types: deb\nURIs: file:/srv/datadog-repo\nSuites: stable\nComponents: 7\n"
              f"Signed-By: {signed_by}\n")
    return host.run(
        f"printf %s {shlex.quote(source)} >/tmp/rotation-probe.sources && d=$(mktemp -d) && mkdir -p $d/partial && "
        "apt-get update -o Dir::Etc::SourceList=/tmp/rotation-probe.sources -o Dir::Etc::SourceParts=/nonexistent "
        "-o Dir::State::Lists=$d -o APT::Get::List-Cleanup=0; rc=$?; rm -rf $d /tmp/rotation-probe.sources; exit $rc")


def signed_by(host):
    content = host.file("/etc/apt/sources.list.d/datadog.sources").content_string
    return next(line.split(":", 1)[1].strip() for line in content.splitlines() if line.startswith("Signed-By:"))


def fingerprints_of(host, path):
    """The fingerprints of the keys in the file `path` (gpg with a throwaway home directory)."""
    out = host.check_output(f"h=$(mktemp -d) && gpg --homedir $h --batch --with-colons --show-keys {path}; rm -rf $h")
    return {line.split(":")[9] for line in out.splitlines() if line.startswith("fpr:")}


def keyring_fingerprints(host):
    return fingerprints_of(host, PKG_KEYRING)


def test_converged_source_trusts_the_package_keyring(host):
    # Written in the converge run that installed datadog-signing-keys (Molecule's idempotence step
    # then proves the next run has nothing left to change in the source).
    assert signed_by(host) == f"{FETCHED_KEY},{PKG_KEYRING}"
    assert host.package("datadog-signing-keys").version == "1:1.4.0-1"
    assert host.package("datadog-agent").version == V61


def test_newer_signing_keys_installed_by_a_run_with_the_same_inputs(host):
    next_key = host.file(f"{ROTATION}/keys/standin-next-key.fingerprint").content_string.strip()
    assert next_key not in keyring_fingerprints(host)
    before = agent_state(host)
    switch(host, f"{ROTATION}/keys-update")
    rc, log, recap = run_role(host, "keys-update")
    assert rc == 0, tail(log)
    assert host.package("datadog-signing-keys").version == "1:1.5.0-1"
    assert next_key in keyring_fingerprints(host)
    # Only the keys package changed: no restart, no other task, the agent untouched.
    assert changed_in(host, "keys-update") == {KEYS_TASK}, tail(log)
    assert agent_state(host) == before, journal(host)
    assert host.package("datadog-agent").version == V61


def test_rotated_repository_needs_the_package_keyring(host):
    switch(host, f"{ROTATION}/rotated")
    # The old behaviour (Signed-By: the fetched keys only) cannot refresh the rotated repository...
    old = refresh_with(host, FETCHED_KEY)
    assert old.rc != 0, old.stdout + old.stderr
    assert any(s in old.stdout + old.stderr for s in ("NO_PUBKEY", "Missing key", "not signed")), old.stdout + old.stderr
    # ...the role's Signed-By can.
    new = refresh_with(host, signed_by(host))
    assert new.rc == 0, new.stdout + new.stderr


def test_run_after_the_rotation_refreshes_without_no_pubkey(host):
    before = agent_state(host)
    switch(host, f"{ROTATION}/rotated")
    rc, log, recap = run_role(host, "rotated")
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert "NO_PUBKEY" not in log and "not signed" not in log, tail(log)
    # The run refreshed the lists from the repository signed by the next key: its new agent is known.
    policy = host.check_output("apt-cache policy datadog-agent")
    assert f"Candidate: {V62}" in policy, policy
    assert agent_state(host) == before, journal(host)


def test_upgrade_after_the_rotation(host):
    before = agent_state(host)
    rc, log, recap = run_role(host, "upgrade", "-e", "datadog_agent_version=7.62.0")
    assert rc == 0, tail(log)
    assert host.package("datadog-agent").version == V62
    after = agent_state(host)
    assert after["started"] == before["started"] + 1, f"{before} -> {after}" + journal(host)
    assert host.run("datadog-agent health").rc == 0, journal(host)
    assert f"Package: datadog-agent {V62}" in host.check_output("datadog-agent status")
    rc, log, recap = run_role(host, "upgrade-again", "-e", "datadog_agent_version=7.62.0")
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert agent_state(host) == after


def test_key_refresh_fetches_a_rotated_current_key_again(host):
    """datadog_agent_key_refresh: the URL of a key the host already holds now serves the next key
    (as Datadog's CURRENT key URL does after a rotation). A run without the flag keeps the key it
    has (no re-download); a run with it fetches the key again, checks it against the pinned
    fingerprints and leaves the agent alone; the fetched key alone then trusts the repository
    signed by the next key. Run again with the flag, it changes nothing."""
    old = host.file("/srv/datadog-standin-repo/keys/standin-archive-key.fingerprint").content_string.strip()
    new = host.file(f"{ROTATION}/keys/standin-next-key.fingerprint").content_string.strip()
    host.run_expect([0], f"mkdir -p /srv/current && cp {ROTATION}/keys/standin-next-key.asc /srv/current/standin-archive-key.asc")
    inputs = ('{"datadog_agent_key_urls": ["file:///srv/current/standin-archive-key.asc"], '
              f'"datadog_agent_key_fingerprints": ["{old}", "{new}"], "datadog_agent_version": "7.62.0"}}')
    switch(host, f"{ROTATION}/rotated")
    assert fingerprints_of(host, FETCHED_KEY) == {old}
    before = agent_state(host)

    rc, log, recap = run_role(host, "key-kept", "-e", inputs)
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert fingerprints_of(host, FETCHED_KEY) == {old}, "without datadog_agent_key_refresh the key held must be kept"

    # --check first: it must report what the real run then changes (changes.py), but for apt's
    # refresh, which check mode cannot run (it reports one whenever the keys change).
    rc, log, recap = run_checked(host, "key-refresh", "-e", inputs, "-e", "datadog_agent_key_refresh=true", known={
        "check only: datadog_agent : Install | refresh the APT lists (repository changed, or a package change is due)":
            "the real refresh finds the lists current (the repository did not change, only its key file) and reports no change",
    })
    assert rc == 0, tail(log)
    assert fingerprints_of(host, FETCHED_KEY) == {new}
    assert changed_in(host, "key-refresh") == {"datadog_agent : Install | fetch the signing keys"}, tail(log)
    assert agent_state(host) == before, journal(host)
    trusted = refresh_with(host, FETCHED_KEY)
    assert trusted.rc == 0, trusted.stdout + trusted.stderr

    rc, log, recap = run_role(host, "key-refresh-again", "-e", inputs, "-e", "datadog_agent_key_refresh=true")
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert agent_state(host) == before, journal(host)
