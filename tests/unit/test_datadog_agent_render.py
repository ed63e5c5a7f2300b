"""datadog_agent: what the role computes on the controller, rendered by ansible-playbook on localhost
(no containers): the role's own preflight.yml (its messages, and the facts it sets), then
datadog.yaml, the check files and the deb822 source text from the very expressions the role's
tasks use (read from configure.yml and repository.yml), with defaults and edge values."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from prefork import local_python, prefork_env

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "datadog_agent"
KEY = "0123456789abcdef0123456789abcdef"  # made-up test key

VALID = {
    "defaults": {},
    "edge": {
        "datadog_agent_hostname": "web-1.example.com",
        "datadog_agent_env": "prod",
        "datadog_agent_site": "datadoghq.eu",
        "datadog_agent_tags": {"team": "apm", "role": ["web", "worker"], "tier": 1},
        "datadog_agent_apm_receiver_port": 9126,
        "datadog_agent_apm_non_local_traffic": True,
        "datadog_agent_logs_enabled": True,
        "datadog_agent_process_enabled": True,
        "datadog_agent_logs_processing_rules": [{"type": "mask_sequences", "name": "mrn", "pattern": "MRN-[0-9]{6,}",
                                                 "replace_placeholder": "MRN-[redacted]"}],
        "datadog_agent_logs_use_compression": False,
        "datadog_agent_logs_open_files_limit": 200,
        "datadog_agent_config": {"apm_config": {"max_traces_per_second": 5, "enabled": False,
                                                "obfuscation": {"credit_cards": {"luhn": False}}},
                                 "log_level": "warn", "tags": ["replaced:yes"], "logs_config": {"batch_wait": 10}},
        "datadog_agent_apm_obfuscate_query_string": False,
        "datadog_agent_apm_obfuscate_memcached": False,
        "datadog_agent_remote_configuration": True,
        "datadog_agent_checks": {"redisdb": {"init_config": {}, "instances": [{"host": "127.0.0.1", "password": "p"}]}},
        "datadog_agent_version": "7.61.0",
        "datadog_agent_repo_url": "file:/srv/mirror/",
        "datadog_agent_key_urls": ["file:///srv/mirror/keys/a.asc", "https://keys.example.com/B.public"],
        "datadog_agent_key_fingerprints": ["09A8 FCFD 367B 690D 5442  9553 C2B2 2CE5 544F 51F2"],
    },
    "tags-list": {"datadog_agent_tags": ["a:b", "c"], "datadog_agent_version": "7.61.0-1"},
    "http-key-pinned": {"datadog_agent_key_urls": ["http://keys.example.com/k.public"],
                        "datadog_agent_key_fingerprints": ["09A8FCFD367B690D54429553C2B22CE5544F51F2"]},
    "epoch": {"datadog_agent_version": "1:7.61.0-1"},
    "rc": {"datadog_agent_version": "2:7.62.0~rc.3-4"},
    "latest": {"datadog_agent_version": "latest"},
    "absent-no-key": {"datadog_agent_state": "absent", "datadog_agent_api_key": ""},
    # Last: include_vars keeps these variables for the cases after it (the defaults do not reset
    # them). Group variables composed (as group_vars of web, worker and db would set them) with a custom check.
    "composed": {
        "datadog_agent_checks__web": {"redisdb/cache": {"init_config": {}, "instances": [{"host": "127.0.0.1", "port": 6379}]}},
        "datadog_agent_checks__worker": {"redisdb/queue": {"init_config": {}, "instances": [{"host": "127.0.0.1", "db": 1}]},
                                         "queue_depth": {"init_config": {}, "instances": [{"queue": "default"}]}},
        "datadog_agent_checks__db": {"postgres": {"init_config": {}, "instances": [{"host": "localhost", "password": "pw"}]}},
        "datadog_agent_custom_checks__worker": {"queue_depth": "from datadog_checks.base import AgentCheck\n"},
    },
    # After composed (the variables of each case stay for the next: this one keeps composed's checks).
    "secrets-proxy": {"datadog_agent_api_key": "ENC[datadog_api_key]", "datadog_agent_secret_backend_command": "/bin/sh",
                      "datadog_agent_secret_backend_arguments": ["--store", "/etc/store.json"],
                      "datadog_agent_secret_backend_timeout": 10,
                      "datadog_agent_proxy_http": "http://u:Pr0xyPa55@proxy.example:3128",
                      "datadog_agent_proxy_https": "http://proxy.example:3128/",
                      "datadog_agent_proxy_no_proxy": ["localhost", "127.0.0.1"],
                      "datadog_agent_repo_url": "https://apt.example.com/",
                      "datadog_agent_apt_proxy": "http://u:Pr0xyPa55@proxy.example:3128"},
}
PROXY_PASSWORD = "Pr0xyPa55"
INVALID = {
    "no-key": ({"datadog_agent_api_key": ""}, ["datadog_agent_api_key: expected a Datadog API key, 32 hexadecimal"]),
    "short-key": ({"datadog_agent_api_key": KEY[:-1]}, ["got a value of 31 characters"]),
    "port": ({"datadog_agent_apm_receiver_port": 0}, ["datadog_agent_apm_receiver_port: expected an integer port"]),
    "env": ({"datadog_agent_env": " "}, ["datadog_agent_env: expected a non-empty string"]),
    "hostname": ({"datadog_agent_hostname": "bad host"}, ["datadog_agent_hostname: expected null or a valid host name"]),
    "tags": ({"datadog_agent_tags": "a:b"}, ["datadog_agent_tags: expected a list"]),
    "tags-space": ({"datadog_agent_tags": ["a b"]}, ["datadog_agent_tags"]),
    "version": ({"datadog_agent_version": "6.53.0"}, ["datadog_agent_version: expected"]),
    "checks": ({"datadog_agent_checks": {"a b": {}}}, ["datadog_agent_checks: 'a b' is not a check name"]),
    "checks-conflict": ({"datadog_agent_checks__web": {"redisdb": {"instances": []}},
                         "datadog_agent_checks__worker": {"redisdb": {"instances": []}}},
                        ["conf.d/redisdb.d/conf.yaml is set twice: by datadog_agent_checks__web ('redisdb') "
                         "and by datadog_agent_checks__worker ('redisdb')"]),
    "custom-check-syntax": ({"datadog_agent_checks": {"q": {"instances": [{}]}}, "datadog_agent_custom_checks": {"q": "def (:"}},
                            ["datadog_agent_custom_checks: the custom check 'q' is not valid Python (line 1"]),
    "checks-keep": ({"datadog_agent_checks_keep": ["a b"]}, ["datadog_agent_checks_keep: expected"]),
    "config-key": ({"datadog_agent_config": {"api_key": KEY}}, ["datadog_agent_config: must not set api_key"]),
    "key-urls": ({"datadog_agent_key_urls": ["ftp://x/k.asc"]}, ["datadog_agent_key_urls: expected a non-empty list"]),
    "key-urls-dup": ({"datadog_agent_key_urls": ["file:///a/k.asc", "file:///b/k.gpg"]}, ["must be distinct"]),
    "fingerprint": ({"datadog_agent_key_fingerprints": ["ABCD"]}, ["datadog_agent_key_fingerprints: expected"]),
    "repo": ({"datadog_agent_repo_url": "apt.datadoghq.com"}, ["datadog_agent_repo_url: expected"]),
    "config-port": ({"datadog_agent_config": {"apm_config": {"receiver_port": 0}}},
                    ["datadog_agent_config.apm_config.receiver_port: expected an integer port between 1 and 65535"]),
    "config-obfuscation": ({"datadog_agent_config": {"apm_config": {"obfuscation": {"redis": {"remove_all_args": "yes"}}}}},
                           ["datadog_agent_config.apm_config.obfuscation.redis.remove_all_args: expected true or false"]),
    "config-remote": ({"datadog_agent_config": {"remote_configuration": {"enabled": "false"}}},
                      ["datadog_agent_config.remote_configuration.enabled: expected true or false"]),
    "http-key-unpinned": ({"datadog_agent_key_urls": ["http://keys.example.com/k.public"], "datadog_agent_key_fingerprints": []},
                          ["datadog_agent_key_urls: http://keys.example.com/k.public is plain http"]),
    "tags-null": ({"datadog_agent_tags": {"owner": None}}, ["datadog_agent_tags: the tag 'owner' has no value"]),
    "tags-comma": ({"datadog_agent_tags": {"team": "apm,web"}}, ["the value 'apm,web' of the tag 'team' contains a comma"]),
    "enc-no-command": ({"datadog_agent_api_key": "ENC[datadog_api_key]"},
                       ["datadog_agent_api_key: an ENC[...] secret handle needs datadog_agent_secret_backend_command"]),
    "enc-empty": ({"datadog_agent_api_key": "ENC[]", "datadog_agent_secret_backend_command": "/bin/sh"},
                  ["datadog_agent_api_key: expected a Datadog API key"]),
    "secret-command-relative": ({"datadog_agent_secret_backend_command": "bin/helper"},
                                ["datadog_agent_secret_backend_command: expected the absolute path"]),
    "secret-timeout": ({"datadog_agent_secret_backend_timeout": 0}, ["datadog_agent_secret_backend_timeout: expected"]),
    "proxy-scheme": ({"datadog_agent_proxy_https": "socks5://u:Pr0xyPa55@proxy.example:1080"},
                     ["datadog_agent_proxy_https: expected http://", "socks5://u:********@proxy.example:1080"]),
    "proxy-quote": ({"datadog_agent_proxy_http": 'http://u:Pr0xyPa55@proxy.example:3128";'},
                    ["datadog_agent_proxy_http: expected"]),
    "apt-proxy-file-repo": ({"datadog_agent_apt_proxy": "http://u:Pr0xyPa55@proxy.example:3128",
                             "datadog_agent_repo_url": "file:/srv/mirror"},
                            ["datadog_agent_apt_proxy: APT uses a proxy for http:// or https:// repositories only"]),
    # Log processing rules run in the agent's Go regexp: RE2 refuses lookbehind and backreferences.
    "logs-rule-not-re2": ({"datadog_agent_logs_processing_rules": [{"type": "mask_sequences", "name": "ids", "pattern": "(?<=id=)[0-9]+",
                                                                    "replace_placeholder": "[id]"}]},
                          ["datadog_agent_logs_processing_rules[0] (name 'ids') pattern '(?<=id=)[0-9]+' is not RE2"]),
    "config-logs": ({"datadog_agent_config": {"logs_config": {"use_compression": "yes", "open_files_limit": 0,
                                                              "processing_rules": [{"type": "mask_sequences", "name": "b",
                                                                                    "pattern": "(a)\\1", "replace_placeholder": "x"}]}}},
                    ["datadog_agent_config.logs_config.use_compression: expected true or false",
                     "datadog_agent_config.logs_config.open_files_limit: expected a whole number",
                     "datadog_agent_config.logs_config.processing_rules[0] (name 'b') pattern"]),
    "logs-files-limit": ({"datadog_agent_logs_open_files_limit": 0}, ["datadog_agent_logs_open_files_limit: expected a number of files"]),
    # A trailing line break (a folded YAML scalar): refused, not written into datadog.yaml or the source.
    "hostname-newline": ({"datadog_agent_hostname": "web-1\n"}, ["datadog_agent_hostname: expected null or a valid host name"]),
    "repository-newline": ({"datadog_agent_repo_url": "https://apt.example.com/\n", "datadog_agent_repo_suite": "stable\n",
                            "datadog_agent_repo_component": "7\n"},
                           ["datadog_agent_repo_url: expected", "datadog_agent_repo_suite: expected", "datadog_agent_repo_component: expected"]),
    "key-url-newline": ({"datadog_agent_key_urls": ["https://keys.example.com/B.public\n"]}, ["datadog_agent_key_urls: expected a non-empty list"]),
    "checks-keep-newline": ({"datadog_agent_checks_keep": ["redisdb\n"]}, ["datadog_agent_checks_keep: expected"]),
    "many": ({"datadog_agent_env": "", "datadog_agent_apm_receiver_port": 99999},
             ["datadog_agent_env:", "datadog_agent_apm_receiver_port:"]),
}

CASE_TASKS = """
    - name: Defaults ({name})
      ansible.builtin.include_vars: {role}/defaults/main.yml
    - name: Role vars ({name})
      ansible.builtin.include_vars: {role}/vars/main.yml
    - name: Inputs ({name})
      ansible.builtin.include_vars: {case}
    - name: Preflight ({name})
      block:
        - name: The role's preflight ({name})
          ansible.builtin.include_tasks: {role}/tasks/preflight.yml
        - name: No error ({name})
          ansible.builtin.set_fact:
            case_errors: []
      rescue:
        - name: Errors ({name})
          ansible.builtin.set_fact:
            case_errors: "{{{{ ansible_failed_result.msg[1:] }}}}"
    - name: "CASE {name}"
      ansible.builtin.debug:
        msg: "{{{{ {payload} }}}}"
      vars: {task_vars}
"""
PAYLOAD_VALID = ("{'errors': case_errors, 'yaml': lookup('ansible.builtin.template', 'datadog.yaml.j2'),"
                 " 'wanted': _datadog_agent_version.wanted, 'pinned': _datadog_agent_version.pinned,"
                 " 'key_files': _datadog_agent_key_files, 'source': _datadog_agent_source_content,"
                 " 'checks': dict(__datadog_agent_checks_to_write | map(attribute='path')"
                 " | zip(__datadog_agent_checks_to_write | map(attribute='content'))),"
                 " 'custom': dict(__datadog_agent_custom_checks_to_write | map(attribute='path')"
                 " | zip(__datadog_agent_custom_checks_to_write | map(attribute='content'))),"
                 " 'check_paths': _datadog_agent_check_paths,"
                 " 'fingerprints': _datadog_agent_key_fingerprints_norm, 'legacy_regex': _datadog_agent_legacy_regex}")
PAYLOAD_INVALID = "{'errors': case_errors}"


def _task_vars():
    """The variables of the role's tasks that compute datadog.yaml, the check files and the source."""
    configure = yaml.safe_load((ROLE / "tasks" / "configure.yml").read_text())
    source = next(t for t in yaml.safe_load((ROLE / "tasks" / "source.yml").read_text())
                  if "ansible.builtin.deb822_repository" in t)
    # A host without datadog-signing-keys' keyring yet (the keyring's own case: test_datadog_agent_filters.py).
    return {**configure[0]["vars"], **source["vars"], "_datadog_agent_probe": {"by_path": {}},
            "_datadog_agent_package_keyring_present": False}


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """One ansible-playbook run on localhost (local actions only): each case loads the role's
    defaults, its vars and the case's inputs, then prints what the role computes (JSON callback)."""
    tmp = tmp_path_factory.mktemp("datadog_agent_render")
    (tmp / "templates").symlink_to(ROLE / "templates")
    (tmp / "files").symlink_to(ROLE / "files")  # the preflight probe (host_state.py), run on localhost: read-only
    tasks = []
    for kind, cases in (("valid", VALID), ("invalid", {k: v[0] for k, v in INVALID.items()})):
        for name, overrides in cases.items():
            case = tmp / f"{kind}-{name}.yml"
            case.write_text(yaml.safe_dump({"datadog_agent_api_key": KEY, **overrides}))
            tasks.append(CASE_TASKS.format(name=f"{kind}-{name}", role=ROLE, case=case,
                                           payload=PAYLOAD_VALID if kind == "valid" else PAYLOAD_INVALID,
                                           task_vars=json.dumps(_task_vars() if kind == "valid" else {})))
    playbook = tmp / "render.yml"
    playbook.write_text("---\n- name: Render\n  hosts: localhost\n  connection: local\n  gather_facts: false\n"
                        "  tasks:" + "".join(tasks))
    env = prefork_env(dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                           ANSIBLE_LOAD_CALLBACK_PLUGINS="1", ANSIBLE_FILTER_PLUGINS=str(ROLE / "filter_plugins")))
    proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,",
                           "-e", f"ansible_python_interpreter={local_python()}", str(playbook)],
                          capture_output=True, text=True, env=env, cwd=tmp, timeout=120, check=False)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    return {t["task"]["name"][len("CASE "):]: t["hosts"]["localhost"]["msg"]
            for t in out["plays"][0]["tasks"] if t["task"]["name"].startswith("CASE ")}


def _yaml(result):
    text = result["yaml"]
    assert text.startswith("#\n# Ansible managed\n#\n"), text[:60]
    return yaml.safe_load(text)


def test_defaults_render(rendered):
    r = rendered["valid-defaults"]
    assert r["errors"] == []
    assert _yaml(r) == {
        "api_key": KEY, "site": "datadoghq.com",
        "apm_config": {"enabled": True, "receiver_port": 8126, "apm_non_local_traffic": False, "obfuscation": {"http": {"remove_query_string": True}, "redis": {"enabled": True, "remove_all_args": True},
                                       "valkey": {"enabled": True, "remove_all_args": True},
                                       "memcached": {"enabled": True, "keep_command": False},
                                       "credit_cards": {"enabled": True, "luhn": True}}},
        "logs_enabled": False, "process_config": {"process_collection": {"enabled": False}},
        "remote_configuration": {"enabled": False},
    }
    assert r["wanted"] == "" and r["pinned"] is False
    assert [f["dest"] for f in r["key_files"]] == [
        "/etc/apt/keyrings/datadog/DATADOG_APT_KEY_CURRENT.asc", "/etc/apt/keyrings/datadog/DATADOG_APT_KEY_C0962C7D.asc",
        "/etc/apt/keyrings/datadog/DATADOG_APT_KEY_F14F620E.asc", "/etc/apt/keyrings/datadog/DATADOG_APT_KEY_382E94DE.asc"]
    assert r["checks"] == {}


def test_edge_values_render_and_deep_merge(rendered):
    r = rendered["valid-edge"]
    assert r["errors"] == []
    assert _yaml(r) == {
        "api_key": KEY, "site": "datadoghq.eu", "hostname": "web-1.example.com", "env": "prod",
        "tags": ["replaced:yes"],  # datadog_agent_config wins, lists replaced
        "apm_config": {"enabled": False, "receiver_port": 9126, "apm_non_local_traffic": True, "max_traces_per_second": 5,
                       "obfuscation": {"http": {"remove_query_string": False}, "redis": {"enabled": True, "remove_all_args": True},
                                       "valkey": {"enabled": True, "remove_all_args": True},
                                       "memcached": {"enabled": False, "keep_command": False},
                                       "credit_cards": {"enabled": True, "luhn": False}}},
        "logs_enabled": True, "process_config": {"process_collection": {"enabled": True}}, "log_level": "warn",
        "remote_configuration": {"enabled": True},
        "logs_config": {"processing_rules": [{"type": "mask_sequences", "name": "mrn", "pattern": "MRN-[0-9]{6,}",
                                              "replace_placeholder": "MRN-[redacted]"}],
                        "use_compression": False, "open_files_limit": 200, "batch_wait": 10},
    }
    assert r["wanted"] == "1:7.61.0-1"
    assert r["fingerprints"] == ["09A8FCFD367B690D54429553C2B22CE5544F51F2"]
    assert [f["dest"] for f in r["key_files"]] == ["/etc/apt/keyrings/datadog/a.asc", "/etc/apt/keyrings/datadog/B.asc"]
    assert r["source"] == ("Components: 7\nEnabled: yes\nX-Repolib-Name: datadog\n"
                           "Signed-By: /etc/apt/keyrings/datadog/a.asc,/etc/apt/keyrings/datadog/B.asc\n"
                           "Suites: stable\nTypes: deb\nURIs: file:/srv/mirror/\n")
    check = r["checks"]["redisdb.d/conf.yaml"]
    assert check.startswith("#\n# Ansible managed\n#\n")
    assert yaml.safe_load(check) == {"init_config": {}, "instances": [{"host": "127.0.0.1", "password": "p"}]}


def test_checks_composed_from_group_variables(rendered):
    r = rendered["valid-composed"]
    assert r["errors"] == []
    assert sorted(r["checks"]) == ["postgres.d/conf.yaml", "queue_depth.d/conf.yaml", "redisdb.d/cache.yaml", "redisdb.d/queue.yaml"]
    assert yaml.safe_load(r["checks"]["redisdb.d/queue.yaml"])["instances"] == [{"host": "127.0.0.1", "db": 1}]
    assert yaml.safe_load(r["checks"]["postgres.d/conf.yaml"])["instances"][0]["password"] == "pw"
    assert r["custom"] == {"queue_depth.py": "from datadog_checks.base import AgentCheck\n"}
    assert r["check_paths"] == ["/etc/datadog-agent/conf.d/postgres.d/conf.yaml", "/etc/datadog-agent/conf.d/queue_depth.d/conf.yaml",
                                "/etc/datadog-agent/conf.d/redisdb.d/cache.yaml", "/etc/datadog-agent/conf.d/redisdb.d/queue.yaml",
                                "/etc/datadog-agent/checks.d/queue_depth.py"]


def test_tags_mapping_and_list(rendered):
    assert _yaml(rendered["valid-defaults"]).get("tags") is None
    assert _yaml(rendered["valid-tags-list"])["tags"] == ["a:b", "c"]


@pytest.mark.parametrize("case,wanted", [("tags-list", "1:7.61.0-1"), ("epoch", "1:7.61.0-1"),
                                         ("rc", "2:7.62.0~rc.3-4"), ("latest", "")])
def test_version_normalisation(rendered, case, wanted):
    assert rendered[f"valid-{case}"]["wanted"] == wanted
    assert rendered[f"valid-{case}"]["errors"] == []


def test_absent_needs_no_key(rendered):
    assert rendered["valid-absent-no-key"]["errors"] == []


@pytest.mark.parametrize("case", sorted(INVALID))
def test_preflight_names_the_variable_and_never_the_key(rendered, case):
    errors = rendered[f"invalid-{case}"]["errors"]
    text = "\n".join(errors)
    for expected in INVALID[case][1]:
        assert expected in text, f"{expected!r} not in {errors}"
    assert KEY not in text and KEY[:-1] not in text
    assert PROXY_PASSWORD not in text


def test_secret_handle_backend_and_proxies_render(rendered):
    r = rendered["valid-secrets-proxy"]
    assert r["errors"] == []
    data = _yaml(r)
    assert data["api_key"] == "ENC[datadog_api_key]"
    assert (data["secret_backend_command"], data["secret_backend_arguments"], data["secret_backend_timeout"]) == (
        "/bin/sh", ["--store", "/etc/store.json"], 10)
    assert data["proxy"] == {"http": "http://u:Pr0xyPa55@proxy.example:3128", "https": "http://proxy.example:3128/",
                             "no_proxy": ["localhost", "127.0.0.1"]}


def test_no_backend_or_proxy_settings_by_default(rendered):
    data = _yaml(rendered["valid-defaults"])
    assert not {"secret_backend_command", "secret_backend_arguments", "secret_backend_timeout", "proxy"} & set(data)


def test_legacy_regex_matches_only_the_same_repository(rendered):
    rx = re.compile(rendered["valid-edge"]["legacy_regex"])
    assert rx.match("deb file:/srv/mirror stable 7\n")
    assert rx.match("deb [signed-by=/usr/share/keyrings/k.gpg] file:/srv/mirror/ stable 7")
    assert not rx.match("deb file:/srv/mirror stable observability-pipelines-worker-1")
    assert not rx.match("# deb file:/srv/mirror stable 7")
    assert not rx.match("deb file:/srv/mirror beta 7")
    rx_default = re.compile(rendered["valid-defaults"]["legacy_regex"])
    assert rx_default.match("deb [signed-by=/usr/share/keyrings/datadog-archive-keyring.gpg] https://apt.datadoghq.com/ stable 7")
    assert not rx_default.match("deb https://apt.datadoghq.com/ stable main")
