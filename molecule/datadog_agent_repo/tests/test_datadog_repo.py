"""The real agent from Datadog's repository (internet needed; not in CI)."""

import yaml

JOURNAL = "journalctl -u datadog-agent -u datadog-agent-trace --no-pager -n 50"


def test_real_agent_7_installed_from_datadogs_repository(host):
    agent = host.package("datadog-agent")
    assert agent.is_installed and agent.version.startswith("1:7."), agent.version
    assert host.package("datadog-signing-keys").is_installed
    policy = host.check_output("apt-cache policy datadog-agent")
    assert "https://apt.datadoghq.com stable/7" in policy, policy


def test_keyring_and_source(host):
    keys = sorted(host.run("ls /etc/apt/keyrings/datadog").stdout.split())
    assert keys == sorted(["DATADOG_APT_KEY_CURRENT.asc", "DATADOG_APT_KEY_C0962C7D.asc",
                           "DATADOG_APT_KEY_F14F620E.asc", "DATADOG_APT_KEY_382E94DE.asc"]), keys
    src = host.file("/etc/apt/sources.list.d/datadog.sources").content_string
    assert "URIs: https://apt.datadoghq.com/" in src and "Components: 7" in src, src
    assert "/usr/share/keyrings/datadog-archive-keyring.gpg" in src, src  # datadog-signing-keys' keyring


def test_agent_running_with_the_rendered_config(host):
    assert host.service("datadog-agent").is_running, host.run(JOURNAL).stdout
    conf = host.file("/etc/datadog-agent/datadog.yaml")
    assert (conf.user, conf.group, conf.mode) == ("root", "dd-agent", 0o640)
    assert yaml.safe_load(conf.content_string)["env"] == "molecule"
    status = host.run("datadog-agent status")
    assert status.rc == 0, status.stdout + status.stderr + host.run(JOURNAL).stdout
