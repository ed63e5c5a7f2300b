"""datadog_agent: the filters of roles/datadog_agent/filter_plugins/datadog_agent.py, called directly."""

import hashlib
import importlib.util
import re
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "datadog_agent"
_SPEC = importlib.util.spec_from_file_location("datadog_agent_filters", ROLE / "filter_plugins" / "datadog_agent.py")
F = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(F)
SITES = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_datadog_agent_sites"]
KEY = "0123456789abcdef0123456789abcdef"  # made-up


def test_filters_are_registered():
    names = F.FilterModule().filters()
    assert all(n.startswith("datadog_agent_") for n in names)
    assert names["datadog_agent_version"] is F.version


@pytest.mark.parametrize("value,wanted,pinned,valid", [
    ("", "", False, True), (None, "", False, True), ("latest", "", False, True), (" 7.61.0 ", "1:7.61.0-1", True, True),
    ("7.61.0-1", "1:7.61.0-1", True, True), ("1:7.61.0-1", "1:7.61.0-1", True, True),
    ("2:7.62.0~rc.3-4", "2:7.62.0~rc.3-4", True, True), ("6.53.0", "", True, False), ("7.61", "", True, False),
])
def test_version(value, wanted, pinned, valid):
    assert F.version(value) == {"text": (value or "").strip(), "pinned": pinned, "valid": valid, "wanted": wanted}


def test_key_files_and_fingerprints():
    files = F.key_files(["https://k.example.com/a/DATADOG_APT_KEY_CURRENT.public", "file:///m/keys/b.asc"], "/kr")
    assert files == [{"url": "https://k.example.com/a/DATADOG_APT_KEY_CURRENT.public", "dest": "/kr/DATADOG_APT_KEY_CURRENT.asc"},
                     {"url": "file:///m/keys/b.asc", "dest": "/kr/b.asc"}]
    assert F.fingerprints(["09a8 fcfd\t367B"]) == ["09A8FCFD367B"]


def test_http_key_url_needs_fingerprints():
    problem = F.key_url_problem("http://keys.example.com/k.asc", False)
    assert "plain http" in problem and "datadog_agent_key_fingerprints" in problem
    assert F.key_url_problem("HTTP://keys.example.com/k.asc", False)
    assert F.key_url_problem("http://keys.example.com/k.asc", True) == ""
    assert F.key_url_problem("https://keys.example.com/k.asc", False) == ""
    assert F.key_url_problem("file:///k.asc", False) == ""


@pytest.mark.parametrize("result,cause", [
    ({"msg": "Request failed: <urlopen error [Errno -2] Name or service not known>"}, "does not resolve"),
    ({"msg": "Request failed: <urlopen error [Errno -3] Temporary failure in name resolution>"}, "does not resolve"),
    ({"msg": "Request failed", "status_code": 404, "response": "HTTP Error 404: Not Found"}, "HTTP 404 (not found)"),
    ({"msg": "HTTP Error 403: Forbidden"}, "HTTP 403"),
    ({"msg": "Request failed: <urlopen error [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed>"}, "TLS"),
    ({"msg": "Request failed: <urlopen error [Errno 111] Connection refused>"}, "refused"),
    ({"msg": "Request failed: <urlopen error [Errno 2] No such file or directory: '/x.asc'>"}, "does not exist"),
    ({"msg": "something else"}, "unknown cause"),
])
def test_fetch_cause(result, cause):
    assert cause in F.fetch_cause(result)


def test_fetch_cause_line_names_the_url():
    line = F.fetch_cause_line({"item": {"url": "https://k.invalid/a.public"}, "msg": "HTTP Error 404: Not Found"})
    assert line.startswith("https://k.invalid/a.public: the server answered HTTP 404")


def test_gpg_fingerprints_primary_keys_only():
    lines = ["pub:-:4096:1:AAA:1:::-:::scESC::::::23::0:", "fpr:::::::::AAAA1111AAAA1111AAAA1111AAAA1111AAAA1111:",
             "uid:-::::1::X::Datadog:::::::::0:", "sub:-:4096:1:BBB:1::::::e::::::23:",
             "fpr:::::::::bbbb2222BBBB2222BBBB2222BBBB2222BBBB2222:",
             "pub:-:4096:1:CCC:1:::-:::scESC::::::23::0:", "fpr:::::::::cccc3333CCCC3333CCCC3333CCCC3333CCCC3333:"]
    assert F.gpg_fingerprints(lines) == ["AAAA1111AAAA1111AAAA1111AAAA1111AAAA1111", "CCCC3333CCCC3333CCCC3333CCCC3333CCCC3333"]
    assert F.gpg_fingerprints([]) == []


def test_source_content_and_legacy_regex():
    assert F.source_content("datadog", "file:/m/", "stable", "7", ["/kr/a.asc", "/kr/b.asc"]) == (
        "Components: 7\nEnabled: yes\nX-Repolib-Name: datadog\nSigned-By: /kr/a.asc,/kr/b.asc\n"
        "Suites: stable\nTypes: deb\nURIs: file:/m/\n")
    rx = re.compile(F.legacy_regex("https://apt.datadoghq.com/", "stable", "7"))
    assert rx.match("deb [signed-by=/usr/share/keyrings/k.gpg] https://apt.datadoghq.com stable 7 # x")
    assert not rx.match("deb https://apt.datadoghq.com/ stable 6")


def test_tags_list_and_mapping():
    assert F.tags(["a:b", "c"]) == ["a:b", "c"]
    assert F.tags({"team": "apm", "role": ["web", "worker"], "tier": 1}) == ["role:web", "role:worker", "team:apm", "tier:1"]
    assert F.tags([]) == [] and F.tags({}) == []


@pytest.mark.parametrize("tags,needle", [
    ({"owner": None}, "the tag 'owner' has no value"),
    ({"owner": []}, "the tag 'owner' has no value"),
    ({"owner": ""}, "the value '' of the tag 'owner' is empty"),
    ({"team": "apm, web"}, "the value 'apm, web' of the tag 'team' contains a space"),
    ({"team": "apm,web"}, "the value 'apm,web' of the tag 'team' contains a comma"),
    ({"team": "a b"}, "of the tag 'team' contains a space"),
    ({"role": ["web", None]}, "the tag 'role' has a value that is not text or a number"),
    ({"role": ["web", "wor ker"]}, "the value 'wor ker' of the tag 'role'"),
    ({"a b": "x"}, "the tag name 'a b' contains a space"),
    ({"a:b": "x"}, "the tag name 'a:b' contains ':'"),
    (["a b"], "the tag 'a b' contains a space"),
    (["a,b"], "the tag 'a,b' contains a comma"),
    ([""], "the tag '' is empty"),
    ([None], "the tag 'None' is not a string"),
    ("a:b", "expected a list"),
])
def test_tag_errors_name_the_tag(tags, needle):
    errors = F.tag_errors(tags)
    assert errors and all(e.startswith("datadog_agent_tags: ") for e in errors)
    assert needle in " ".join(errors), errors


def test_valid_tags_have_no_errors():
    assert F.tag_errors({"team": "apm", "role": ["web", "worker"], "tier": 1}) == []
    assert F.tag_errors(["a:b", "c"]) == [] and F.tag_errors([]) == [] and F.tag_errors({}) == []


INPUTS = {"datadog_agent_api_key": f" {KEY} ", "datadog_agent_site": "datadoghq.eu", "datadog_agent_hostname": None,
          "datadog_agent_env": "prod", "datadog_agent_tags": {"team": "apm"}, "datadog_agent_apm_enabled": True,
          "datadog_agent_apm_receiver_port": "9126", "datadog_agent_apm_non_local_traffic": False,
          "datadog_agent_logs_enabled": False, "datadog_agent_process_enabled": True,
          "datadog_agent_apm_obfuscate_query_string": True, "datadog_agent_apm_obfuscate_redis": False,
          "datadog_agent_apm_obfuscate_memcached": True, "datadog_agent_apm_obfuscate_credit_cards": True,
          "datadog_agent_remote_configuration": False}


def test_base_config_and_merge():
    base = F.base_config(INPUTS)
    obfuscation = {"http": {"remove_query_string": True}, "redis": {"enabled": False, "remove_all_args": False},
                   "valkey": {"enabled": False, "remove_all_args": False},
                   "memcached": {"enabled": True, "keep_command": False}, "credit_cards": {"enabled": True, "luhn": True}}
    assert base == {"api_key": KEY, "site": "datadoghq.eu", "env": "prod", "tags": ["team:apm"],
                    "apm_config": {"enabled": True, "receiver_port": 9126, "apm_non_local_traffic": False,
                                   "obfuscation": obfuscation},
                    "logs_enabled": False, "process_config": {"process_collection": {"enabled": True}},
                    "remote_configuration": {"enabled": False}}
    merged = F.merge(base, {"apm_config": {"enabled": False, "x": 1}, "tags": ["b:c"]})
    assert merged["apm_config"] == {"enabled": False, "receiver_port": 9126, "apm_non_local_traffic": False, "x": 1,
                                    "obfuscation": obfuscation}
    assert merged["tags"] == ["b:c"]
    assert base["apm_config"]["enabled"] is True  # not modified in place


@pytest.mark.parametrize("config,needle", [
    ({"apm_config": {"receiver_port": 0}}, "datadog_agent_config.apm_config.receiver_port: expected an integer port"),
    ({"apm_config": {"receiver_port": 70000}}, "datadog_agent_config.apm_config.receiver_port"),
    ({"apm_config": {"receiver_port": True}}, "datadog_agent_config.apm_config.receiver_port"),
    ({"apm_config": {"enabled": "maybe"}}, "datadog_agent_config.apm_config.enabled: expected true or false"),
    ({"apm_config": "off"}, "datadog_agent_config.apm_config: expected a mapping"),
    ({"env": "prod env"}, "datadog_agent_config.env: expected a non-empty string"),
    ({"hostname": "bad host"}, "datadog_agent_config.hostname: expected null or a valid host name"),
    ({"site": "datadoghq.org"}, "datadog_agent_config.site: expected one of datadoghq.com"),
    ({"tags": ["a b"]}, "datadog_agent_config.tags: the tag 'a b' contains a space"),
    ({"tags": {"a": "b"}}, "datadog_agent_config.tags: expected a list"),
    ({"logs_enabled": "yes"}, "datadog_agent_config.logs_enabled"),
    ({"remote_configuration": {"enabled": "no"}}, "datadog_agent_config.remote_configuration.enabled"),
    ({"apm_config": {"obfuscation": {"redis": {"remove_all_args": 1}}}},
     "datadog_agent_config.apm_config.obfuscation.redis.remove_all_args"),
    ({"apm_config": {"obfuscation": {"credit_cards": {"keep_values": "x"}}}},
     "datadog_agent_config.apm_config.obfuscation.credit_cards.keep_values"),
    ({"api_key": KEY}, "datadog_agent_config: must not set api_key"),
])
def test_config_errors_name_the_setting(config, needle):
    errors = F.config_errors(config, SITES)
    assert needle in " ".join(errors), errors
    assert KEY not in " ".join(errors)


def test_config_errors_accept_valid_settings():
    assert F.config_errors({"apm_config": {"receiver_port": 8127, "enabled": False, "max_traces_per_second": 5},
                            "log_level": "warn", "tags": ["a:b"], "env": "x", "hostname": None,
                            "remote_configuration": {"enabled": True}}, SITES) == []
    assert F.config_errors({}, SITES) == []


def test_port_env_hostname_rules():
    assert F.port_problem(8126) == "" and F.port_problem("65535") == ""
    assert F.port_problem(0) and F.port_problem(65536) and F.port_problem("http") and F.port_problem(None)
    assert F.env_problem(None) == "" and F.env_problem("prod") == ""
    assert F.env_problem("") and F.env_problem(" ") and F.env_problem("a,b") and F.env_problem(3)
    assert F.hostname_problem(None) == "" and F.hostname_problem("web-1.example.com") == ""
    assert F.hostname_problem("bad host") and F.hostname_problem("-x")


# re.match's `$` also matches before a final line break (a folded YAML scalar, a key piped into
# ansible-vault encrypt_string): every rule matches the whole value. The version, the API key and
# the proxies are read stripped (the same text is checked and rendered), so they are accepted.
def test_a_trailing_line_break_is_refused_or_stripped():
    assert F.hostname_problem("web-1\n")
    assert F.keep_errors(["redisdb\n"]) and F.keep_errors(["redisdb/conf\n"])
    assert F.compose_checks({"datadog_agent_checks": {"redisdb\n": REDIS}})["errors"]
    checks = F.compose_checks({"datadog_agent_checks": {"q": REDIS}})
    assert any("'q\n' is not a check name" in e
               for e in F.compose_custom_checks({"datadog_agent_custom_checks": {"q\n": "x = 1\n"}}, checks)["errors"])
    assert F.version("7.61.0\n")["wanted"] == "1:7.61.0-1"
    assert F.api_key_problem(KEY + "\n", "") == ""
    assert F.base_config({**INPUTS, "datadog_agent_api_key": KEY + "\n"})["api_key"] == KEY
    assert F.proxy_problem("http://proxy.example:3128\n", "p") == ""
    assert F.proxy_config({"datadog_agent_proxy_http": "http://proxy.example:3128\n"}) == {"http": "http://proxy.example:3128"}


FOUND = {"files": [
    {"path": "/etc/apt/keyrings/datadog/a.asc", "isdir": False, "checksum": "1", "mode": "0644"},
    {"path": "/etc/apt/sources.list.d/datadog.list", "isdir": False},
    {"path": "/etc/apt/sources.list.d/datadog.sources", "isdir": False},
    {"path": "/etc/datadog-agent/datadog.yaml", "isdir": False},
    {"path": "/etc/datadog-agent/datadog.yaml.123.2026-11-30@10:00:00~", "isdir": False},
    {"path": "/etc/datadog-agent/conf.d/redisdb.d", "isdir": True},
    {"path": "/etc/datadog-agent/conf.d/redisdb.d/conf.yaml", "isdir": False},
    {"path": "/etc/datadog-agent/conf.d/redisdb.d/conf.yaml.1.x~", "isdir": False},
    {"path": "/etc/datadog-agent/.restart-pending", "isdir": False},
], "skipped_paths": {}}


def test_probe():
    p = F.probe(FOUND, "/etc/apt/keyrings/datadog", "/etc/apt/sources.list.d", "/etc/datadog-agent",
                "/etc/datadog-agent/conf.d", "/etc/datadog-agent/.restart-pending")
    assert p["keyring_missing"] is False
    assert p["keys_present"] == ["/etc/apt/keyrings/datadog/a.asc"]
    assert p["legacy_candidates"] == ["/etc/apt/sources.list.d/datadog.list"]
    assert p["check_dirs_present"] == ["redisdb"]
    assert p["check_files_present"] == ["/etc/datadog-agent/conf.d/redisdb.d/conf.yaml"]
    assert p["stale_backups"] == ["/etc/datadog-agent/datadog.yaml.123.2026-11-30@10:00:00~",
                                  "/etc/datadog-agent/conf.d/redisdb.d/conf.yaml.1.x~"]
    assert p["restart_pending"] is True
    assert p["by_path"]["/etc/apt/keyrings/datadog/a.asc"]["mode"] == "0644"
    empty = F.probe({"files": [], "skipped_paths": {"/etc/apt/keyrings/datadog": "not a directory"}}, "/etc/apt/keyrings/datadog",
                    "/s", "/c", "/c/conf.d", "/c/.restart-pending")
    assert empty["keyring_missing"] is True and empty["restart_pending"] is False


PKG_KEYRING = "/usr/share/keyrings/datadog-archive-keyring.gpg"


def test_probe_sees_the_keyring_of_datadog_signing_keys():
    args = ("/etc/apt/keyrings/datadog", "/etc/apt/sources.list.d", "/etc/datadog-agent",
            "/etc/datadog-agent/conf.d", "/etc/datadog-agent/.restart-pending")
    with_pkg = {"files": FOUND["files"] + [{"path": PKG_KEYRING, "isdir": False}], "skipped_paths": {}}
    assert F.probe(with_pkg, *args, package_keyring=PKG_KEYRING)["package_keyring_present"] is True
    assert F.probe(FOUND, *args, package_keyring=PKG_KEYRING)["package_keyring_present"] is False
    # A keyring of that name elsewhere (say in the role's own keyring directory) is not the package's.
    elsewhere = {"files": [{"path": "/etc/apt/keyrings/datadog/datadog-archive-keyring.gpg", "isdir": False}]}
    assert F.probe(elsewhere, *args, package_keyring=PKG_KEYRING)["package_keyring_present"] is False
    assert F.probe(with_pkg, *args)["package_keyring_present"] is False  # no keyring asked about


def test_signed_by_names_the_package_keyring_only_while_it_exists():
    keys = [{"url": "https://k/A.public", "dest": "/etc/apt/keyrings/datadog/A.asc"},
            {"url": "https://k/B.public", "dest": "/etc/apt/keyrings/datadog/B.asc"}]
    assert F.signed_by(keys, PKG_KEYRING, False) == ["/etc/apt/keyrings/datadog/A.asc", "/etc/apt/keyrings/datadog/B.asc"]
    assert F.signed_by(keys, PKG_KEYRING, True) == ["/etc/apt/keyrings/datadog/A.asc", "/etc/apt/keyrings/datadog/B.asc",
                                                    PKG_KEYRING]
    # Never twice (a key URL whose file is the package keyring), never from a truthy string.
    assert F.signed_by([{"url": "file:///x", "dest": PKG_KEYRING}], PKG_KEYRING, True) == [PKG_KEYRING]
    assert F.signed_by(keys[:1], PKG_KEYRING, "False") == ["/etc/apt/keyrings/datadog/A.asc"]
    assert F.signed_by([], PKG_KEYRING, True) == [PKG_KEYRING]
    assert "datadog_agent_signed_by" in F.FilterModule().filters()
    content = F.source_content("datadog", "file:/r", "stable", "7", F.signed_by(keys[:1], PKG_KEYRING, True))
    assert f"Signed-By: /etc/apt/keyrings/datadog/A.asc,{PKG_KEYRING}\n" in content


def test_file_current_and_files_to_write():
    content = "a: 1\n"
    sha = hashlib.sha1(content.encode()).hexdigest()
    by_path = {"/c/x.d/conf.yaml": {"checksum": sha, "mode": "0640", "pw_name": "root", "gr_name": "dd-agent"}}
    assert F.file_current(by_path, "/c/x.d/conf.yaml", content, "0640", "root", "dd-agent")
    assert not F.file_current(by_path, "/c/x.d/conf.yaml", content, "0644", "root", "dd-agent")
    assert not F.file_current(by_path, "/c/x.d/conf.yaml", "a: 2\n", "0640", "root", "dd-agent")
    assert not F.file_current({}, "/c/x.d/conf.yaml", content, "0640", "root", "dd-agent")
    todo = F.files_to_write([{"path": "x.d/conf.yaml", "content": content}, {"path": "y.d/conf.yaml", "content": "b: 1\n"}],
                            by_path, "/c", "dd-agent")
    assert todo == [{"path": "y.d/conf.yaml", "content": "b: 1\n"}]


def test_check_files_and_paths():
    composed = F.compose_checks({"datadog_agent_checks": {"redisdb": {"instances": [{"port": 6379, "host": "h"}], "init_config": {}}}})
    assert composed["errors"] == []
    files = F.check_files(composed["files"], "#\n# Ansible managed\n#")
    assert [(f["path"], f["check"]) for f in files] == [("redisdb.d/conf.yaml", "redisdb")]
    text = files[0]["content"]
    assert text.startswith("#\n# Ansible managed\n#\ninit_config: {}\n")
    assert yaml.safe_load(text) == {"init_config": {}, "instances": [{"host": "h", "port": 6379}]}
    assert F.check_paths(composed["files"], "/c") == ["/c/redisdb.d/conf.yaml"]


PG = {"init_config": {}, "instances": [{"host": "db", "password": "x"}]}
REDIS = {"init_config": {}, "instances": [{"host": "127.0.0.1", "port": 6379}]}


def test_composition_order_is_base_then_sorted_suffixes():
    order = F.composition_order({"datadog_agent_checks__worker": 1, "datadog_agent_checks__db": 2,
                                 "datadog_agent_checks": 0, "datadog_agent_checks__web": 3}, "datadog_agent_checks")
    assert [v for v, _ in order] == ["datadog_agent_checks", "datadog_agent_checks__db",
                                     "datadog_agent_checks__web", "datadog_agent_checks__worker"]


def test_compose_merges_groups_and_files_per_check():
    composed = F.compose_checks({
        "datadog_agent_checks": {"http_check": {"instances": [{"url": "http://x"}]}},
        "datadog_agent_checks__web": {"redisdb/cache": REDIS},
        "datadog_agent_checks__worker": {"redisdb/queue": REDIS},
        "datadog_agent_checks__db": {"postgres": PG},
        "datadog_agent_checks__empty": None,
    })
    assert composed["errors"] == []
    assert [(f["path"], f["var"]) for f in composed["files"]] == [
        ("http_check.d/conf.yaml", "datadog_agent_checks"),
        ("postgres.d/conf.yaml", "datadog_agent_checks__db"),
        ("redisdb.d/cache.yaml", "datadog_agent_checks__web"),
        ("redisdb.d/queue.yaml", "datadog_agent_checks__worker"),
    ]
    assert composed["files"][1]["conf"] == PG


@pytest.mark.parametrize("sources,expected", [
    # The same file from two groups: refused, naming both variables (never a silent override).
    ({"datadog_agent_checks__web": {"redisdb": REDIS}, "datadog_agent_checks__worker": {"redisdb": REDIS}},
     "conf.d/redisdb.d/conf.yaml is set twice: by datadog_agent_checks__web ('redisdb') and by datadog_agent_checks__worker ('redisdb')"),
    ({"datadog_agent_checks": {"redisdb": REDIS, "redisdb/conf": REDIS}},
     "is set twice: by datadog_agent_checks ('redisdb') and by datadog_agent_checks ('redisdb/conf')"),
    ({"datadog_agent_checks": {"a b": {}}}, "datadog_agent_checks: 'a b' is not a check name"),
    ({"datadog_agent_checks": {"x/y/z": {}}}, "datadog_agent_checks: 'x/y/z' is not a check name"),
    ({"datadog_agent_checks__db": {"postgres/main.yaml": PG}}, "give the file name without .yaml ('postgres/main')"),
    ({"datadog_agent_checks": {"redisdb/auto_conf": REDIS}}, "is the agent package's own file"),
    ({"datadog_agent_checks__db": {"postgres": [1]}}, "datadog_agent_checks__db: the value of 'postgres' must be a mapping"),
    ({"datadog_agent_checks__db": ["postgres"]}, "datadog_agent_checks__db: expected a mapping of check names"),
])
def test_compose_errors_name_the_variables(sources, expected):
    errors = F.compose_checks(sources)["errors"]
    assert any(expected in e for e in errors), errors


def test_custom_checks_need_a_conf_and_compile():
    checks = F.compose_checks({"datadog_agent_checks": {"queue_depth": {"instances": [{}]}}})
    ok = F.compose_custom_checks({"datadog_agent_custom_checks__worker": {"queue_depth": "x = 1"}}, checks)
    assert ok["errors"] == []
    assert ok["files"] == [{"check": "queue_depth", "path": "queue_depth.py", "var": "datadog_agent_custom_checks__worker",
                            "content": "x = 1\n"}]
    bad = F.compose_custom_checks({"datadog_agent_custom_checks": {"queue_depth": "def f(:\n  secret = 'S3cret'\n"}}, checks)
    assert len(bad["errors"]) == 1, bad
    assert bad["errors"][0].startswith("datadog_agent_custom_checks: the custom check 'queue_depth' is not valid Python (line 1"), bad
    assert "S3cret" not in " ".join(bad["errors"])
    orphan = F.compose_custom_checks({"datadog_agent_custom_checks": {"other": "x = 1"}}, checks)
    assert "the custom check 'other' has no configuration" in orphan["errors"][0]
    twice = F.compose_custom_checks({"datadog_agent_custom_checks": {"queue_depth": "x = 1"},
                                     "datadog_agent_custom_checks__web": {"queue_depth": "x = 2"}}, checks)
    assert twice["errors"] == ["checks.d/queue_depth.py is set twice: by datadog_agent_custom_checks and by "
                               "datadog_agent_custom_checks__web; keep it in one variable"]
    assert "must be the check's Python source" in F.compose_custom_checks(
        {"datadog_agent_custom_checks": {"queue_depth": ""}}, checks)["errors"][0]


def test_unmanaged_checks_respect_the_keep_list():
    present = ["/c/conf.d/a.d/conf.yaml", "/c/conf.d/a.d/extra.yaml", "/c/conf.d/b.d/conf.yaml",
               "/c/conf.d/k.d/conf.yaml", "/c/conf.d/k.d/two.yaml", "/c/conf.d/f.d/one.yaml", "/c/conf.d/f.d/two.yaml",
               "/c/checks.d/k.py", "/c/checks.d/old.py"]
    managed = ["/c/conf.d/a.d/conf.yaml"]
    assert F.unmanaged_checks(present, managed, ["k", "f/one"], "/c/conf.d", "/c/checks.d") == [
        "/c/conf.d/a.d/extra.yaml", "/c/conf.d/b.d/conf.yaml", "/c/conf.d/f.d/two.yaml", "/c/checks.d/old.py"]
    assert F.keep_errors(["ok", "ok/file"]) == []
    assert F.keep_errors(["bad name"]) and F.keep_errors("k")


def test_probe_sees_every_check_file_but_the_package_ones():
    found = {"files": [
        {"path": "/e/conf.d/postgres.d", "isdir": True},
        {"path": "/e/conf.d/postgres.d/conf.yaml", "isdir": False},
        {"path": "/e/conf.d/postgres.d/replica.yaml", "isdir": False},
        {"path": "/e/conf.d/postgres.d/auto_conf.yaml", "isdir": False},
        {"path": "/e/conf.d/jmx.d/metrics.yaml", "isdir": False},
        {"path": "/e/checks.d", "isdir": True},
        {"path": "/e/checks.d/queue.py", "isdir": False},
        {"path": "/e/checks.d/queue.py.12.x~", "isdir": False},
    ]}
    p = F.probe(found, "/k", "/s", "/e", "/e/conf.d", "/e/.restart-pending", "/e/checks.d")
    assert p["check_files_present"] == ["/e/conf.d/postgres.d/conf.yaml", "/e/conf.d/postgres.d/replica.yaml"]
    assert p["custom_checks_present"] == ["/e/checks.d/queue.py"]
    assert p["custom_dir_present"] is True
    assert p["stale_backups"] == ["/e/checks.d/queue.py.12.x~"]


def test_changed_backups_created():
    config = {"changed": True, "backup_file": "/e/datadog.yaml.1~", "dest": "/e/datadog.yaml"}
    checks = {"results": [{"changed": True, "dest": "/e/conf.d/a.d/conf.yaml"},
                          {"changed": False, "dest": "/e/conf.d/b.d/conf.yaml"}]}
    skipped = {"skipped": True, "changed": False}
    assert F.any_changed(skipped, {"results": []}) is False
    assert F.any_changed(skipped, checks) is True
    assert F.backups(config, checks) == [{"backup": "/e/datadog.yaml.1~", "dest": "/e/datadog.yaml"}]
    assert F.created(config, checks) == ["/e/conf.d/a.d/conf.yaml"]


def test_redact():
    assert F.redact(f"bad api_key: {KEY} here {KEY}", KEY) == "bad api_key: ******** here ********"
    assert F.redact("nothing", "") == "nothing"
    assert F.redact(None, KEY) == ""


@pytest.mark.parametrize("value,command,needle", [
    (KEY, "", ""),
    ("ENC[datadog_api_key]", "/usr/local/bin/helper", ""),
    ("ENC[vault;path;1]", "/usr/local/bin/helper", ""),
    ("ENC[datadog_api_key]", "", "needs datadog_agent_secret_backend_command"),
    ("ENC[]", "/usr/local/bin/helper", "expected a Datadog API key"),
    ("prefix-ENC[a]", "/usr/local/bin/helper", "a value of 13 characters"),
    ("", "", "got nothing"),
])
def test_api_key_problem(value, command, needle):
    problem = F.api_key_problem(value, command)
    assert (problem == "") if not needle else (needle in problem), problem
    assert KEY not in problem and (not value or value not in problem)


def test_secret_handle():
    assert F.secret_handle("ENC[a;b]") == "a;b"
    assert F.secret_handle(KEY) == "" and F.secret_handle("x-ENC[a]") == ""


@pytest.mark.parametrize("url,ok", [
    ("", True), ("http://proxy:3128", True), ("https://u:p@proxy.example.com:3128/", True), ("http://127.0.0.1:3128", True),
    ("socks5://proxy:1080", False), ("proxy:3128", False), ('http://proxy:3128";', False), ("http://pro xy", False),
    ("http://proxy:3128/path", False),
])
def test_proxy_problem_masks_credentials(url, ok):
    problem = F.proxy_problem(url, "datadog_agent_proxy_http")
    assert (problem == "") is ok, problem
    if not ok:
        assert problem.startswith("datadog_agent_proxy_http: expected")
    assert F.proxy_problem("socks5://u:S3cr3t@h:1", "v").count("S3cr3t") == 0


def test_url_mask():
    assert F.url_mask("http://user:S3cr3t@proxy:3128") == "http://user:********@proxy:3128"
    assert F.url_mask("http://proxy:3128") == "http://proxy:3128"


def test_apt_proxy_conf_names_only_the_repository_host():
    conf = F.apt_proxy_conf("http://u:p@proxy:3128", "https://apt.datadoghq.com/", "# managed")
    assert conf == '# managed\nAcquire::https::Proxy::apt.datadoghq.com "http://u:p@proxy:3128";\n'
    assert 'Acquire::http::Proxy::127.0.0.1 "http://proxy:3128";' in F.apt_proxy_conf("http://proxy:3128", "http://127.0.0.1:8080/", "#")
    with pytest.raises(F.AnsibleFilterError):
        F.apt_proxy_conf("http://proxy:3128", "file:/srv/repo", "#")


def test_secret_backend_and_proxy_config():
    v = {"datadog_agent_secret_backend_command": "/usr/local/bin/helper", "datadog_agent_secret_backend_arguments": ["a"],
         "datadog_agent_secret_backend_timeout": 5, "datadog_agent_proxy_http": "", "datadog_agent_proxy_https": "http://p:1",
         "datadog_agent_proxy_no_proxy": []}
    assert F.secret_backend_config(v) == {"secret_backend_command": "/usr/local/bin/helper",
                                          "secret_backend_arguments": ["a"], "secret_backend_timeout": 5}
    assert F.secret_backend_config({"datadog_agent_secret_backend_command": ""}) == {}
    assert F.proxy_config(v) == {"https": "http://p:1"}
    assert F.proxy_config({}) == {}
