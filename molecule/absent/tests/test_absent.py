"""state: absent, then purge, then --check of an install on the cleaned host (tests run in order)."""

from ddhelpers import assert_no_secret, run_role, tail

GONE_AFTER_REMOVE = [
    "/etc/apt/sources.list.d/datadog.sources",
    "/etc/apt/sources.list.d/datadog.list",
    "/etc/apt/keyrings/datadog",
    "/lib/systemd/system/datadog-agent.service",
    "/opt/datadog-agent/bin/agent/agent",
]


def test_packages_removed(host):
    for name in ("datadog-agent", "datadog-signing-keys"):
        assert not host.package(name).is_installed, name


def test_agent_not_running(host):
    procs = [line for line in host.check_output("ps -eo args=").splitlines() if "/opt/datadog-agent/" in line]
    assert procs == [], procs
    assert not host.socket("tcp://127.0.0.1:8126").is_listening


def test_source_keyring_and_old_list_removed(host):
    for path in GONE_AFTER_REMOVE:
        assert not host.file(path).exists, path


def test_configuration_kept_without_purge(host):
    conf = host.file("/etc/datadog-agent/datadog.yaml")
    assert conf.exists and conf.mode == 0o640
    assert host.file("/etc/datadog-agent/conf.d/redisdb.d/conf.yaml").exists


def test_purge_removes_the_configuration_too(host):
    rc, log, recap = run_role(host, "purge", "-e", "datadog_agent_purge=true")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert not host.file("/etc/datadog-agent").exists
    assert host.run("dpkg -s datadog-agent").rc != 0, "dpkg still knows datadog-agent (not purged)"
    rc, log, recap = run_role(host, "purge-again", "-e", "datadog_agent_purge=true")
    assert rc == 0 and recap["changed"] == 0, tail(log)


def test_check_mode_install_on_the_cleaned_host_runs_to_the_end(host):
    rc, log, recap = run_role(host, "check-install", "--check", "--diff", "-vvv", playbook="install.yml")
    assert rc == 0 and recap["failed"] == 0, tail(log)
    assert recap["changed"] >= 5, tail(log)
    for report in ("would fetch file://", "would install datadog-agent", "would write /etc/datadog-agent/datadog.yaml",
                   "would enable and start datadog-agent"):
        assert report in log, report + "\n" + tail(log)
    assert_no_secret(log, "--check --diff -vvv of an install")
    for path in GONE_AFTER_REMOVE + ["/etc/datadog-agent"]:
        assert not host.file(path).exists, f"check mode created {path}"
    assert not host.package("datadog-agent").is_installed
