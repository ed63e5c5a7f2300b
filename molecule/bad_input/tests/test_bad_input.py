"""The bad-input converge again with -vvv: it passes (every case failed as expected) and its log,
failure messages included, never shows the API key."""

from ddhelpers import assert_no_secret, run_role, tail


def test_bad_inputs_fail_clearly_and_never_show_the_key(host):
    rc, log, recap = run_role(host, "bad-input-vvv", "-vvv")
    assert rc == 0, tail(log, 150)
    assert recap["rescued"] >= 25, tail(log)
    assert_no_secret(log, "the bad-input cases with -vvv")
    assert "0123456789abcdef0123456789abcdef" not in log


def test_host_untouched(host):
    assert not host.package("datadog-agent").is_installed
    for path in ("/etc/apt/sources.list.d/datadog.sources", "/etc/apt/keyrings/datadog", "/etc/datadog-agent"):
        assert not host.file(path).exists, path
