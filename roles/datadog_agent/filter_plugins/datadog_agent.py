"""Filters of the datadog_agent role: what the role computes on the controller.

Version pins, key file names, host tags and their problems, the datadog.yaml data and the rules
its settings follow (the same rules for a first-class variable and for the same setting reached
through datadog_agent_config), the read-only probe of the host, the check files and which of
them must be written, the deb822 source text, gpg's fingerprints, why a key fetch failed, and the
redaction of the API key in failure messages. tests/unit/test_datadog_agent_filters.py calls each
of them directly.
"""

import hashlib
import posixpath
import re
from collections.abc import Mapping, Sequence
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError

# [epoch:]7.X.Y[~suffix][-revision]; epoch and revision default to 1 (Datadog's packages).
VERSION_RE = re.compile(r"^(?:([0-9]+):)?(7\.[0-9]+\.[0-9]+(?:~[0-9A-Za-z.+~]+)?)(?:-([0-9A-Za-z.+~]+))?$")
HOSTNAME_RE = re.compile(r"^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
                         r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$")
FINGERPRINT_RE = re.compile(r"^[0-9A-F]{40}$")


def _text(value):
    return "" if value is None else str(value)


# --- Version --------------------------------------------------------------------------------------

def version(value):
    """The pin as the role reads it: text, pinned, valid and wanted (APT's spelling, 1:7.61.0-1)."""
    text = _text(value).strip()
    pinned = text not in ("", "latest")
    match = VERSION_RE.fullmatch(text) if pinned else None
    wanted = f"{match.group(1) or '1'}:{match.group(2)}-{match.group(3) or '1'}" if match else ""
    return {"text": text, "pinned": pinned, "valid": not pinned or match is not None, "wanted": wanted}


# --- Keys and source ------------------------------------------------------------------------------

def key_files(urls, keyring_dir):
    """One .asc file per key URL (apt reads ASCII-armored keys only from files named *.asc)."""
    out = []
    for url in urls or []:
        base = posixpath.splitext(posixpath.basename(urlsplit(_text(url)).path))[0]
        out.append({"url": url, "dest": f"{keyring_dir}/{base}.asc"})
    return out


def fingerprints(values):
    """Fingerprints without spaces, upper case."""
    return [re.sub(r"\s", "", _text(v)).upper() for v in values or []]


def key_url_problem(url, pinned):
    """Why a key URL is refused ('' when it is fine): an http:// URL is fetched in clear, so its key
    is trusted only when datadog_agent_key_fingerprints pins it."""
    if _text(url).lower().startswith("http://") and not pinned:
        return (f"{url} is plain http: the key would travel unencrypted and be trusted unpinned "
                "(anyone on the path could replace it); use https://, or pin the key with "
                "datadog_agent_key_fingerprints")
    return ""


def gpg_fingerprints(lines):
    """Primary-key fingerprints in `gpg --with-colons` output: the fpr record right after a pub."""
    out, after_pub = [], False
    for line in lines or []:
        fields = line.split(":")
        if fields[0] == "fpr" and after_pub and len(fields) > 9 and fields[9].upper() not in out:
            out.append(fields[9].upper())
        after_pub = fields[0] == "pub"
    return out


def fetch_cause(result):
    """The cause of a failed key fetch (get_url's result), in words a user can act on."""
    result = result or {}
    text = " ".join(_text(result.get(k)) for k in ("msg", "response", "stderr"))
    status = result.get("status_code", result.get("status"))
    causes = [
        (r"Name or service not known|Temporary failure in name resolution|nodename nor servname|"
         r"No address associated|Errno -[235]\]", "the host name does not resolve (DNS)"),
        (r"CERTIFICATE_VERIFY_FAILED|certificate verify failed|SSL|TLS|hostname .* doesn't match",
         "the TLS connection failed (certificate not trusted, wrong host name, or TLS error)"),
        (r"Connection refused", "the connection was refused (nothing listens there)"),
        (r"timed out|timeout", "the connection timed out"),
        (r"No such file or directory|does not exist", "the file does not exist"),
        (r"Network is unreachable|No route to host", "the network is unreachable"),
    ]
    if isinstance(status, int) and status >= 400:
        return f"the server answered HTTP {status}" + (" (not found)" if status == 404 else "")
    match = re.search(r"HTTP Error (\d{3})", text)
    if match:
        return f"the server answered HTTP {match.group(1)}" + (" (not found)" if match.group(1) == "404" else "")
    for pattern, cause in causes:
        if re.search(pattern, text, re.I):
            return cause
    return "unknown cause"


def fetch_cause_line(result):
    """One line for a failed key fetch of a loop: the URL and the cause."""
    result = result or {}
    url = (result.get("item") or {}).get("url") if isinstance(result.get("item"), Mapping) else result.get("url")
    return f"{url}: {fetch_cause(result)} ({_text(result.get('msg')).strip()})"


def source_content(name, url, suite, component, key_paths):
    """What deb822_repository writes (fields sorted by option name), to skip it when already there."""
    return (f"Components: {component}\nEnabled: yes\nX-Repolib-Name: {name}\n"
            f"Signed-By: {','.join(key_paths)}\nSuites: {suite}\nTypes: deb\nURIs: {url}\n")


def signed_by(key_files, package_keyring, package_keyring_present):
    """The files of the source's Signed-By: the fetched keys (their `dest`), then the keyring the
    datadog-signing-keys package maintains, but only while it exists (APT 3, Debian 13, refuses
    the whole source when a Signed-By file is missing; APT 2 ignores it)."""
    files = [k["dest"] for k in key_files or []]
    if package_keyring_present is True and package_keyring and package_keyring not in files:
        files.append(package_keyring)
    return files


def legacy_regex(url, suite, component):
    """A one-line `deb` source of the same URL, suite and component (find's `contains`)."""
    return (r"^\s*deb\s+(\[[^]]*\]\s+)?" + re.escape(re.sub(r"/+$", "", _text(url))) + r"/?\s+"
            + re.escape(_text(suite)) + r"\s+" + re.escape(_text(component)) + r"\s*(#.*)?$")


# --- Tags -----------------------------------------------------------------------------------------

def _tag_values(value):
    return list(value) if isinstance(value, Sequence) and not isinstance(value, str) else [value]


def tags(value):
    """Host tags as datadog.yaml lists them: "key:value" strings (a mapping sorted by name)."""
    if isinstance(value, Mapping):
        return [f"{k}:{v}" for k, vs in sorted(value.items(), key=lambda kv: str(kv[0]))
                for v in _tag_values(vs)]
    return [_text(v) for v in value or []]


def _tag_part_problem(text):
    if not text.strip():
        return "is empty"
    if re.search(r"\s", text):
        return "contains a space"
    if "," in text:
        return "contains a comma"
    return ""


def tag_errors(value, name="datadog_agent_tags"):
    """Problems of host tags, each naming the tag: the list and the mapping form follow one rule
    (no empty or null value, no space, no comma)."""
    errors = []
    if isinstance(value, Mapping):
        for key, values in value.items():
            problem = _tag_part_problem(_text(key)) or (":" in _text(key) and "contains ':'")
            if problem:
                errors.append(f"{name}: the tag name '{key}' {problem}")
                continue
            if values is None or (not isinstance(values, str) and isinstance(values, Sequence) and not values):
                errors.append(f"{name}: the tag '{key}' has no value (null or empty list)")
                continue
            for v in _tag_values(values):
                if v is None or isinstance(v, (Mapping, Sequence)) and not isinstance(v, str):
                    errors.append(f"{name}: the tag '{key}' has a value that is not text or a number: {v!r}")
                elif _tag_part_problem(_text(v)):
                    errors.append(f"{name}: the value '{v}' of the tag '{key}' {_tag_part_problem(_text(v))}")
    elif isinstance(value, Sequence) and not isinstance(value, str):
        for v in value:
            if not isinstance(v, str) or _tag_part_problem(v):
                errors.append(f"{name}: the tag '{v}' "
                              + (_tag_part_problem(v) if isinstance(v, str) else "is not a string"))
    else:
        errors.append(f'{name}: expected a list of non-empty "key:value" strings without spaces or commas, '
                      "or a mapping of tag names to values (or lists of values)")
    return errors


# --- datadog.yaml ---------------------------------------------------------------------------------

def base_config(v):
    """The first-class settings (v: the role's variables by name) as datadog.yaml data."""
    conf = {"api_key": _text(v["datadog_agent_api_key"]).strip(), "site": v["datadog_agent_site"]}
    if v.get("datadog_agent_hostname") is not None:
        conf["hostname"] = v["datadog_agent_hostname"]
    if v.get("datadog_agent_env") is not None:
        conf["env"] = v["datadog_agent_env"]
    if tags(v["datadog_agent_tags"]):
        conf["tags"] = tags(v["datadog_agent_tags"])
    conf["apm_config"] = {
        "enabled": bool(v["datadog_agent_apm_enabled"]),
        "receiver_port": int(v["datadog_agent_apm_receiver_port"]),
        "apm_non_local_traffic": bool(v["datadog_agent_apm_non_local_traffic"]),
        "obfuscation": obfuscation(v),
    }
    conf["logs_enabled"] = bool(v["datadog_agent_logs_enabled"])
    if logs_config(v):
        conf["logs_config"] = logs_config(v)
    conf["process_config"] = {"process_collection": {"enabled": bool(v["datadog_agent_process_enabled"])}}
    # Remote Configuration lets Datadog's UI change the agent's and the tracers' behaviour with no
    # deploy and no review (https://docs.datadoghq.com/agent/remote_config/): off unless asked for.
    conf["remote_configuration"] = {"enabled": bool(v["datadog_agent_remote_configuration"])}
    conf.update(secret_backend_config(v))
    if proxy_config(v):
        conf["proxy"] = proxy_config(v)
    return conf


def logs_config(v):
    """logs_config for datadog.yaml: the first-class settings that are set (nothing by default)."""
    conf = {}
    if v.get("datadog_agent_logs_processing_rules"):
        conf["processing_rules"] = [dict(rule) for rule in v["datadog_agent_logs_processing_rules"]]
    if v.get("datadog_agent_logs_use_compression") is not None:
        conf["use_compression"] = bool(v["datadog_agent_logs_use_compression"])
    if v.get("datadog_agent_logs_open_files_limit") is not None:
        conf["open_files_limit"] = int(v["datadog_agent_logs_open_files_limit"])
    return conf


def logs_rule_sets(rules, config):
    """[[variable, rules]] of every logs_config.processing_rules a run would write: the first-class
    variable's, and datadog_agent_config's when it sets some (for the RE2 checker of the rules)."""
    sets = [["datadog_agent_logs_processing_rules", rules]]
    extra = (config or {}).get("logs_config") if isinstance(config, Mapping) else None
    if isinstance(extra, Mapping) and "processing_rules" in extra:
        sets.append(["datadog_agent_config.logs_config.processing_rules", extra["processing_rules"]])
    return sets


def _count_problem(value):
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,7}", _text(value)) or int(_text(value)) < 1:
        return f"expected a whole number, 1 or more; got '{value}'"
    return ""


# --- Secrets backend and proxies -----------------------------------------------------------------

# The API key as a secret handle. Datadog: "ENC[<secret_id>]" makes up the whole value, any
# characters inside (https://docs.datadoghq.com/agent/configuration/secrets-management/).
ENC_RE = re.compile(r"^ENC\[(.+)\]$", re.S)
API_KEY_RE = re.compile(r"^[0-9a-fA-F]{32}$")
# http(s)://[user[:password]@]host[:port][/]: what the agent's proxy settings and APT take.
PROXY_RE = re.compile(r"^https?://(?:[^\s/@:\"';]+(?::[^\s/@\"';]*)?@)?[A-Za-z0-9.-]+(?::[0-9]{1,5})?/?$")


def secret_handle(value):
    """The handle of an ENC[...] value, or "" when value is not one."""
    match = ENC_RE.match(_text(value).strip())
    return match.group(1) if match else ""


def api_key_problem(value, command):
    """Why datadog_agent_api_key is refused ("" when it is 32 hex digits, or an ENC[...] handle
    with datadog_agent_secret_backend_command set). Never shows the value."""
    text = _text(value).strip()
    if API_KEY_RE.fullmatch(text):
        return ""
    if secret_handle(text):
        return "" if _text(command).strip() else (
            "datadog_agent_api_key: an ENC[...] secret handle needs datadog_agent_secret_backend_command "
            "(the executable the agent asks for the key)")
    return ("datadog_agent_api_key: expected a Datadog API key, 32 hexadecimal characters (keep it in Ansible Vault), "
            "or an ENC[<handle>] resolved by datadog_agent_secret_backend_command; got "
            + ("nothing" if not text else f"a value of {len(text)} characters that is neither"))


def secret_backend_config(v):
    """secret_backend_command/_arguments/_timeout for datadog.yaml (nothing without a command)."""
    command = _text(v.get("datadog_agent_secret_backend_command") or "").strip()
    if not command:
        return {}
    return {"secret_backend_command": command,
            "secret_backend_arguments": [_text(a) for a in v.get("datadog_agent_secret_backend_arguments") or []],
            "secret_backend_timeout": int(v.get("datadog_agent_secret_backend_timeout") or 30)}


def proxy_config(v):
    """The agent's `proxy:` section (http, https, no_proxy), only what is set."""
    conf = {}
    for key in ("http", "https"):
        url = _text(v.get(f"datadog_agent_proxy_{key}") or "").strip()
        if url:
            conf[key] = url
    if v.get("datadog_agent_proxy_no_proxy"):
        conf["no_proxy"] = [_text(h) for h in v["datadog_agent_proxy_no_proxy"]]
    return conf


def url_mask(url):
    """`url` with the password of its user info masked (what messages may show of a proxy URL)."""
    return re.sub(r"^([A-Za-z][A-Za-z0-9+.-]*://[^/@:]*):[^/@]*@", r"\1:********@", _text(url))


def proxy_problem(url, name):
    """Why a proxy URL is refused ("" when empty or valid), credentials masked."""
    text = _text(url).strip() if url is not None else ""
    if not text or PROXY_RE.fullmatch(text):
        return ""
    return (f"{name}: expected http://[user:password@]host[:port] (or https://), without quotes, ';' or spaces; "
            f"got '{url_mask(text)}'")


def apt_proxy_conf(proxy, repo_url, header):
    """The apt.conf.d file sending APT's requests for the repository's host (only) through proxy:
    Acquire::<scheme>::Proxy::<host> "<proxy>"; (apt.conf(5), "Proxy::host")."""
    parts = urlsplit(_text(repo_url))
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AnsibleFilterError(f"datadog_agent_apt_proxy needs an http(s) repository URL, not {url_mask(repo_url)}")
    return f'{header}\nAcquire::{parts.scheme}::Proxy::{parts.hostname} "{_text(proxy).strip()}";\n'


def obfuscation(v):
    """apm_config.obfuscation from the role's switches: the trace agent's own obfuscation of span
    tags, a second layer behind the app's trace filter. Settings as Datadog documents them in
    https://docs.datadoghq.com/tracing/configure_data_security/#trace-obfuscation and
    datadog-agent's pkg/config/config_template.yaml (apm_config.obfuscation.http.remove_query_string,
    .redis/.valkey.enabled + remove_all_args, .memcached.enabled + keep_command,
    .credit_cards.enabled + luhn)."""
    query = bool(v["datadog_agent_apm_obfuscate_query_string"])
    redis = bool(v["datadog_agent_apm_obfuscate_redis"])
    memcached = bool(v["datadog_agent_apm_obfuscate_memcached"])
    cards = bool(v["datadog_agent_apm_obfuscate_credit_cards"])
    return {
        "http": {"remove_query_string": query},
        "redis": {"enabled": redis, "remove_all_args": redis},
        "valkey": {"enabled": redis, "remove_all_args": redis},
        "memcached": {"enabled": memcached, "keep_command": False},
        "credit_cards": {"enabled": cards, "luhn": cards},
    }


def merge(base, override):
    """`override` deep-merged over `base`: mappings merged, anything else (lists too) replaced."""
    out = dict(base)
    for key, value in (override or {}).items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = merge(out[key], value)
        else:
            out[key] = value
    return out


def _is_bool(value):
    return isinstance(value, bool)


def port_problem(value):
    if isinstance(value, bool) or not re.fullmatch(r"[0-9]{1,5}", _text(value)) or not 1 <= int(_text(value)) <= 65535:
        return f"expected an integer port between 1 and 65535; got '{value}'"
    return ""


def env_problem(value):
    if value is None:
        return ""
    if not isinstance(value, str) or not value.strip() or re.search(r"[\s,]", value):
        return f"expected a non-empty string without spaces or commas (or null to leave env unset); got '{value}'"
    return ""


def hostname_problem(value):
    if value is None or (isinstance(value, str) and HOSTNAME_RE.fullmatch(value)):
        return ""
    return f"expected null or a valid host name (letters, digits, '-', '.'); got '{value}'"


def bool_problem(value):
    return "" if _is_bool(value) else f"expected true or false; got '{value}'"


def _strings_problem(value):
    if isinstance(value, Sequence) and not isinstance(value, str) and all(
            isinstance(v, str) and v.strip() for v in value):
        return ""
    return f"expected a list of non-empty strings; got '{value}'"


# Settings of datadog.yaml the role knows, by path, and the rule each follows. Used for the merged
# data: a value datadog_agent_config sets is refused like the first-class variable it overrides.
SETTING_RULES = {
    ("hostname",): hostname_problem,
    ("env",): env_problem,
    ("apm_config", "enabled"): bool_problem,
    ("apm_config", "receiver_port"): port_problem,
    ("apm_config", "apm_non_local_traffic"): bool_problem,
    ("logs_enabled",): bool_problem,
    ("logs_config", "use_compression"): bool_problem,
    ("logs_config", "force_use_http"): bool_problem,
    ("logs_config", "open_files_limit"): _count_problem,
    ("process_config", "process_collection", "enabled"): bool_problem,
    ("remote_configuration", "enabled"): bool_problem,
    ("apm_config", "obfuscation", "http", "remove_query_string"): bool_problem,
    ("apm_config", "obfuscation", "http", "remove_paths_with_digits"): bool_problem,
    ("apm_config", "obfuscation", "redis", "enabled"): bool_problem,
    ("apm_config", "obfuscation", "redis", "remove_all_args"): bool_problem,
    ("apm_config", "obfuscation", "valkey", "enabled"): bool_problem,
    ("apm_config", "obfuscation", "valkey", "remove_all_args"): bool_problem,
    ("apm_config", "obfuscation", "memcached", "enabled"): bool_problem,
    ("apm_config", "obfuscation", "memcached", "keep_command"): bool_problem,
    ("apm_config", "obfuscation", "credit_cards", "enabled"): bool_problem,
    ("apm_config", "obfuscation", "credit_cards", "luhn"): bool_problem,
    ("apm_config", "obfuscation", "credit_cards", "keep_values"): _strings_problem,
}


def _lookup(data, path):
    for key in path:
        if not isinstance(data, Mapping) or key not in data:
            return False, None
        data = data[key]
    return True, data


def config_errors(config, sites, name="datadog_agent_config"):
    """Problems of the settings `config` (datadog_agent_config) puts into datadog.yaml, checked
    with the rules of the first-class variables, each naming datadog_agent_config.<path>."""
    if not isinstance(config, Mapping):
        return [f"{name}: expected a mapping of datadog.yaml settings"]
    errors = []
    if "api_key" in config:
        errors.append(f"{name}: must not set api_key; use datadog_agent_api_key (kept out of logs and validated)")
    if "site" in config and config["site"] not in sites:
        errors.append(f"{name}.site: expected one of {', '.join(sites)}; got '{config['site']}'")
    if "tags" in config:
        errors += tag_errors(config["tags"], f"{name}.tags") if isinstance(config["tags"], Sequence) \
            and not isinstance(config["tags"], str) else [f"{name}.tags: expected a list of \"key:value\" strings"]
    for path, rule in SETTING_RULES.items():
        for depth in range(1, len(path)):
            found, parent = _lookup(config, path[:depth])
            if found and not isinstance(parent, Mapping):
                errors.append(f"{name}.{'.'.join(path[:depth])}: expected a mapping; got '{parent}'")
        found, value = _lookup(config, path)
        if found and rule(value):
            errors.append(f"{name}.{'.'.join(path)}: {rule(value)}")
    return list(dict.fromkeys(errors))


# --- The read-only probe and what it tells --------------------------------------------------------

def probe(found, keyring_dir, sources_dir, config_dir, checks_dir, marker, custom_dir=None, package_keyring=None):
    """What the install stage's find saw: files by path, keys present, legacy candidates, check
    directories and files (conf.d/<check>.d/*.yaml but the package's own, checks.d/*.py), stale
    backups, whether an earlier run left a restart pending, and whether the keyring of the
    datadog-signing-keys package (`package_keyring`) is there."""
    found = found or {}
    custom_dir = custom_dir or f"{config_dir}/checks.d"
    files = found.get("files") or []
    paths = [f["path"] for f in files if not f.get("isdir")]
    dirs = [f["path"] for f in files if f.get("isdir")]
    conf_re = re.compile(re.escape(checks_dir) + r"/[^/]+\.d/([^/]+\.yaml)")
    return {
        "by_path": {f["path"]: {k: f.get(k) for k in ("checksum", "mode", "pw_name", "gr_name")} for f in files},
        "keyring_missing": keyring_dir in (found.get("skipped_paths") or {}),
        "keys_present": [p for p in paths if p.startswith(keyring_dir + "/")],
        "legacy_candidates": [p for p in paths if p.startswith(sources_dir + "/") and p.endswith(".list")],
        "check_dirs_present": [posixpath.basename(d)[:-2] for d in dirs
                               if d.startswith(checks_dir + "/") and d.endswith(".d")],
        "check_files_present": [p for p in paths if (m := conf_re.fullmatch(p)) and m.group(1) not in PACKAGE_CHECK_FILES],
        "custom_dir_present": custom_dir in dirs,
        "custom_checks_present": [p for p in paths if re.fullmatch(re.escape(custom_dir) + r"/[^/]+\.py", p)],
        "stale_backups": [p for p in paths if p.startswith(config_dir + "/") and re.search(r"\.(yaml|py)\.[^/]*~$", p)],
        "restart_pending": marker in paths,
        "package_keyring_present": bool(package_keyring) and package_keyring in paths,
    }


def file_current(by_path, path, content, mode, owner, group):
    """The probe saw `path` with exactly this content (sha1), mode, owner and group."""
    f = (by_path or {}).get(path) or {}
    return (f.get("checksum") == hashlib.sha1(_text(content).encode("utf-8")).hexdigest()
            and f.get("mode") == mode and f.get("pw_name") == owner and f.get("gr_name") == group)


# --- Checks: composed from several variables --------------------------------------------------------

# A key of a checks variable: "<check>" (conf.d/<check>.d/conf.yaml) or "<check>/<file>"
# (conf.d/<check>.d/<file>.yaml).
CHECK_KEY_RE = re.compile(r"^([A-Za-z0-9][A-Za-z0-9_.-]*)(?:/([A-Za-z0-9][A-Za-z0-9_.-]*))?$")
CHECK_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
# Files the agent package itself ships in conf.d/<check>.d/ (autodiscovery templates, JMX metric
# lists): the role never writes them and never purges them.
PACKAGE_CHECK_FILES = ("auto_conf.yaml", "metrics.yaml")


def composition_order(sources, base):
    """[(variable, value)] in the order the role composes them: `base` first, then the variables
    `<base>__<suffix>` sorted by suffix (Python's string order)."""
    sources = sources or {}
    extra = sorted(k for k in sources if k != base)
    return ([(base, sources[base])] if base in sources else []) + [(k, sources[k]) for k in extra]


def compose_checks(sources, base="datadog_agent_checks"):
    """The check files of every checks variable: {"files": [{check, file, path, var, key, conf}]
    sorted by path (conf.d/ relative), "errors": [...]}. The same file set by two variables (or
    twice by one: "<check>" and "<check>/conf") is an error naming both: nothing is overridden."""
    errors, owners, files = [], {}, []
    for var, value in composition_order(sources, base):
        if value is None:
            continue
        if not isinstance(value, Mapping):
            errors.append(f"{var}: expected a mapping of check names to their configuration; got {type(value).__name__}")
            continue
        for key, conf in value.items():
            match = CHECK_KEY_RE.fullmatch(_text(key))
            if not match:
                errors.append(f"{var}: '{key}' is not a check name: '<check>' writes conf.d/<check>.d/conf.yaml, "
                              "'<check>/<file>' writes conf.d/<check>.d/<file>.yaml (letters, digits, '_', '.', '-')")
                continue
            check, name = match.group(1), match.group(2) or "conf"
            if re.search(r"\.ya?ml$", name):
                errors.append(f"{var}: '{key}': give the file name without .yaml ('{check}/{re.sub(r'[.]ya?ml$', '', name)}')")
                continue
            if f"{name}.yaml" in PACKAGE_CHECK_FILES:
                errors.append(f"{var}: '{key}': conf.d/{check}.d/{name}.yaml is the agent package's own file; choose another name")
                continue
            if not isinstance(conf, Mapping):
                errors.append(f"{var}: the value of '{key}' must be a mapping (for example init_config and instances)")
                continue
            path = f"{check}.d/{name}.yaml"
            if path in owners:
                other_var, other_key = owners[path]
                errors.append(f"conf.d/{path} is set twice: by {other_var} ('{other_key}') and by {var} ('{key}'); "
                              "keep it in one variable, or give one of them another file name ('<check>/<file>')")
                continue
            owners[path] = (var, key)
            files.append({"check": check, "file": name, "path": path, "var": var, "key": _text(key), "conf": conf})
    return {"files": sorted(files, key=lambda f: f["path"]), "errors": errors}


def compose_custom_checks(sources, checks, base="datadog_agent_custom_checks"):
    """The Python checks of every custom checks variable: {"files": [{check, path, var, content}],
    "errors": [...]}. `checks` is compose_checks()'s result: a custom check needs a conf there."""
    errors, owners, files = [], {}, []
    configured = {f["check"] for f in (checks or {}).get("files", [])}
    for var, value in composition_order(sources, base):
        if value is None:
            continue
        if not isinstance(value, Mapping):
            errors.append(f"{var}: expected a mapping of check names to their Python source; got {type(value).__name__}")
            continue
        for name, source in value.items():
            name = _text(name)
            if not CHECK_NAME_RE.fullmatch(name) or name.endswith(".py"):
                errors.append(f"{var}: '{name}' is not a check name (letters, digits, '_', '.', '-'; without .py)")
            elif not isinstance(source, str) or not source.strip():
                errors.append(f"{var}: the value of '{name}' must be the check's Python source (text), "
                              "for example \"{{ lookup('ansible.builtin.file', 'checks/" + name + ".py') }}\"")
            elif name in owners:
                errors.append(f"checks.d/{name}.py is set twice: by {owners[name]} and by {var}; keep it in one variable")
            elif _compile_problem(source, name):
                errors.append(f"{var}: the custom check '{name}' {_compile_problem(source, name)}")
            elif name not in configured:
                errors.append(f"{var}: the custom check '{name}' has no configuration: add '{name}' (its init_config "
                              "and instances) to datadog_agent_checks or a datadog_agent_checks__<suffix> variable")
            else:
                owners[name] = var
                text = source if source.endswith("\n") else source + "\n"
                files.append({"check": name, "path": f"{name}.py", "var": var, "content": text})
    return {"files": sorted(files, key=lambda f: f["path"]), "errors": errors}


def _compile_problem(source, name):
    """Why a custom check's source does not compile ('' when it does); the line number and the
    parser's message, never the source text."""
    try:
        compile(source, f"checks.d/{name}.py", "exec", dont_inherit=True)
    except SyntaxError as exc:
        return f"is not valid Python (line {exc.lineno}: {exc.msg})"
    except ValueError as exc:
        return f"is not valid Python ({exc})"
    return ""


def check_paths(files, base_dir):
    """Full paths of the composed files (compose_checks' or compose_custom_checks' "files")."""
    return [f"{base_dir}/{f['path']}" for f in files or []]


def check_files(files, header):
    """[{path, check, content}] of compose_checks' files: the ansible_managed header, then the
    configuration as YAML (keys sorted)."""
    from ansible.plugins.filter.core import to_nice_yaml  # pylint: disable=import-outside-toplevel
    if not isinstance(files, Sequence) or isinstance(files, (str, Mapping)):
        raise AnsibleFilterError("datadog_agent_check_files: expected the files of datadog_agent_compose_checks")
    return [{"path": f["path"], "check": f["check"],
             "content": f"{header}\n{to_nice_yaml(f['conf'], indent=2, width=2147483647, sort_keys=True)}"}
            for f in files]


def files_to_write(files, by_path, base_dir, group):
    """The files ([{path, content}], paths relative to base_dir) missing or different on the host
    (content, 0640, root:group)."""
    return [f for f in files or []
            if not file_current(by_path, f"{base_dir}/{f['path']}", f["content"], "0640", "root", group)]


def unmanaged_checks(present, managed, keep, checks_dir, custom_dir):
    """Check files on the host (the probe's) that the role did not write and the keep-list does not
    keep: "<check>" keeps conf.d/<check>.d/* and checks.d/<check>.py, "<check>/<file>" keeps
    conf.d/<check>.d/<file>.yaml."""
    keep = {_text(k) for k in keep or []}
    out = []
    for path in present or []:
        if path in (managed or []):
            continue
        if path.startswith(custom_dir + "/"):
            check, name = posixpath.basename(path)[:-3], None
        else:
            check = posixpath.basename(posixpath.dirname(path))[:-2]
            name = posixpath.basename(path)[:-5]
        if check in keep or (name is not None and f"{check}/{name}" in keep):
            continue
        out.append(path)
    return out


def keep_errors(keep, name="datadog_agent_checks_keep"):
    """Problems of the keep-list: entries "<check>" or "<check>/<file>"."""
    if not isinstance(keep, Sequence) or isinstance(keep, str):
        return [f"{name}: expected a list of '<check>' or '<check>/<file>' entries"]
    bad = [k for k in keep if not isinstance(k, str) or not CHECK_KEY_RE.fullmatch(k)]
    return [f"{name}: expected '<check>' or '<check>/<file>' entries (letters, digits, '_', '.', '-'); got {bad}"] if bad else []


# --- Results of this run --------------------------------------------------------------------------

def _results(registered):
    registered = registered or {}
    return registered.get("results") if "results" in registered else [registered]


def any_changed(*registered):
    """Whether any of these registered results (a task's or a loop's) changed something."""
    return any(r.get("changed") for reg in registered for r in _results(reg) if isinstance(r, Mapping))


def backups(*registered):
    """[{backup, dest}] of the files these template/copy results replaced, keeping a backup."""
    return [{"backup": r["backup_file"], "dest": r["dest"]} for reg in registered for r in _results(reg)
            if isinstance(r, Mapping) and r.get("changed") and r.get("backup_file")]


def created(*registered):
    """Paths these template/copy results created (changed, no previous file to back up)."""
    return [r["dest"] for reg in registered for r in _results(reg)
            if isinstance(r, Mapping) and r.get("changed") and not r.get("backup_file") and r.get("dest")]


def redact(text, secret):
    """`text` with every occurrence of `secret` (the API key) masked."""
    text, secret = _text(text), _text(secret)
    return text.replace(secret, "********") if secret else text


class FilterModule:
    def filters(self):
        return {
            "datadog_agent_logs_rule_sets": logs_rule_sets,
            "datadog_agent_version": version,
            "datadog_agent_key_files": key_files,
            "datadog_agent_fingerprints": fingerprints,
            "datadog_agent_key_url_problem": key_url_problem,
            "datadog_agent_gpg_fingerprints": gpg_fingerprints,
            "datadog_agent_fetch_cause": fetch_cause,
            "datadog_agent_fetch_cause_line": fetch_cause_line,
            "datadog_agent_source_content": source_content,
            "datadog_agent_legacy_regex": legacy_regex,
            "datadog_agent_tags": tags,
            "datadog_agent_tag_errors": tag_errors,
            "datadog_agent_base_config": base_config,
            "datadog_agent_obfuscation": obfuscation,
            "datadog_agent_merge": merge,
            "datadog_agent_port_problem": port_problem,
            "datadog_agent_env_problem": env_problem,
            "datadog_agent_hostname_problem": hostname_problem,
            "datadog_agent_config_errors": config_errors,
            "datadog_agent_probe": probe,
            "datadog_agent_file_current": file_current,
            "datadog_agent_signed_by": signed_by,
            "datadog_agent_check_paths": check_paths,
            "datadog_agent_check_files": check_files,
            "datadog_agent_files_to_write": files_to_write,
            "datadog_agent_composition_order": composition_order,
            "datadog_agent_compose_checks": compose_checks,
            "datadog_agent_compose_custom_checks": compose_custom_checks,
            "datadog_agent_unmanaged_checks": unmanaged_checks,
            "datadog_agent_keep_errors": keep_errors,
            "datadog_agent_any_changed": any_changed,
            "datadog_agent_backups": backups,
            "datadog_agent_created": created,
            "datadog_agent_redact": redact,
            "datadog_agent_secret_handle": secret_handle,
            "datadog_agent_api_key_problem": api_key_problem,
            "datadog_agent_url_mask": url_mask,
            "datadog_agent_proxy_problem": proxy_problem,
            "datadog_agent_apt_proxy_conf": apt_proxy_conf,
        }
