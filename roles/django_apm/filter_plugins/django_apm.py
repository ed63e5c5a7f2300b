"""Filters of the django_apm role: quoting for the .env and for Python, and the settings-file plan.

The .env contract (which values can be written, how they are quoted, which lines a file may hold)
lives in ONE place, files/dotenv_contract.py: the .env task runs it on the host as its validator,
and these filters import it, so the two cannot drift.
"""

import fnmatch
import hashlib
import importlib.util
import ipaddress
import json
import re
from collections.abc import Mapping
from pathlib import Path

from ansible.errors import AnsibleFilterError

_spec = importlib.util.spec_from_file_location(
    "django_apm_dotenv_contract", Path(__file__).resolve().parents[1] / "files" / "dotenv_contract.py")
CONTRACT = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(CONTRACT)

dotenv_problem = CONTRACT.problem
dotenv_str = CONTRACT.text


def dotenv_quote(value):
    """``value`` quoted for the .env (see the contract); refuses what it cannot carry."""
    try:
        return CONTRACT.quote(value)
    except ValueError as err:
        raise AnsibleFilterError("django_apm_dotenv_quote: " + str(err)) from None


def _plain(value):
    """Ansible's tagged/lazy containers turned into plain Python values (for repr)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise AnsibleFilterError("django_apm_pyliteral: cannot write a %s as a Python literal" % type(value).__name__)


def pyliteral(value):
    """A Python literal that evaluates to ``value`` (str, int, float, bool, None, list, dict)."""
    text = repr(_plain(value))
    if "\n" in text or "\r" in text:  # repr never emits raw line breaks; keep the promise explicit
        raise AnsibleFilterError("django_apm_pyliteral: unexpected line break")
    return text


def settings_plan(content, marker_begin, marker_end, sentry_regex, header_regex):
    """Where the APM block goes in the settings file, and what in the file stands in the way.

    Returns a dict:
      has_block:      the managed markers are there (blockinfile then replaces the block in place)
      insertbefore:   a regex for blockinfile (with firstmatch) to put a new block right after the
                      Sentry section, i.e. before the next section header; '' = at the end
      sentry_line:    1-based line of the Sentry header, 0 when there is none
      foreign_lines:  1-based lines outside the managed block that import or patch ddtrace
    """
    lines = str(content).split("\n")
    begin, end = str(marker_begin), str(marker_end)
    inside, has_block, foreign = False, False, []
    outside = []  # (index, line) outside the managed block
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == begin:
            inside, has_block = True, True
            continue
        if stripped == end:
            inside = False
            continue
        if inside:
            continue
        outside.append((i, line))
        if re.match(r"\s*(from\s+ddtrace[\s.]|import\s+ddtrace\b)", line) or re.search(r"\bpatch_all\s*\(", line):
            foreign.append(i + 1)
    sentry_re, header_re = re.compile(str(sentry_regex)), re.compile(str(header_regex))
    sentry = next((i for i, line in outside if sentry_re.search(line)), None)
    insertbefore = ""
    if sentry is not None:
        nxt = next((line for i, line in outside if i > sentry and header_re.search(line)
                    and line.strip() not in (begin, end)), None)
        # blockinfile inserts before the LAST line matching the regex: use the next
        # header only when that line occurs once, else the end of the file (still after Sentry).
        if nxt is not None and sum(1 for _, line in outside if line == nxt) == 1:
            insertbefore = "^" + re.escape(nxt) + "$"
    return {
        "has_block": has_block,
        "insertbefore": insertbefore,
        "sentry_line": 0 if sentry is None else sentry + 1,
        "foreign_lines": foreign,
    }


def dotenv_names(content):
    """The variable names a .env file sets (the lines python-decouple would read)."""
    names = []
    for line in str(content).splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name = line.split("=", 1)[0].strip()
        if name.startswith("export "):
            name = name[len("export "):].strip()
        if name not in names:
            names.append(name)
    return names


def dotenv_errors(items, skip=()):
    """One message per .env item (dicts with name, value, var) whose value breaks the contract."""
    errors = []
    for item in items:
        if item["name"] in skip:
            continue
        problem = dotenv_problem(item["value"])
        if problem:
            where = item.get("var") or "the role"
            if where in ("django_apm_tracer_env", "django_apm_dotenv_extra"):
                where = "%s[%s]" % (where, item["name"])
            errors.append("%s (%s in the .env) %s" % (where, item["name"], problem))
    return errors


def dotenv_expected(items):
    """name -> the exact text python-decouple and systemd must read back for it."""
    return {str(item["name"]): dotenv_str(item["value"]) for item in items}


# --- Secrets in the .env: which names are secret, what changed (names only) ---------------------
# A name is secret when it matches one of these glob patterns (case-insensitive) or one of the
# role's django_apm_secret_names, or when its value is a URL that carries a password
# (scheme://user:password@host, as DATABASE_URL, CELERY_BROKER_URL or a Redis URL with auth do).
SECRET_NAME_PATTERNS = ("*KEY*", "*SECRET*", "*PASSWORD*", "*PASSWD*", "*PASS", "*TOKEN*", "*DSN*",
                        "*CREDENTIAL*", "*PRIVATE*", "*AUTH*", "*COOKIE*", "*SESSION*", "*SALT*")
_URL_WITH_PASSWORD = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s]*:[^/?#@\s]*@")


def is_secret(name, value="", extra_names=()):
    """Whether the .env variable ``name`` (with ``value``) is a secret under the documented rule."""
    upper = str(name).upper()
    patterns = SECRET_NAME_PATTERNS + tuple(str(p).upper() for p in (extra_names or ()))
    if any(fnmatch.fnmatchcase(upper, p) for p in patterns):
        return True
    return bool(_URL_WITH_PASSWORD.match(dotenv_str(value)))


def dotenv_parse(content):
    """name -> value of a .env file, read as python-decouple reads it (see the contract above)."""
    values = {}
    # universal newlines, as open() in text mode: NOT str.splitlines(), which also splits at
    # \x0b, \x0c, \x1c-\x1e, \x85, U+2028 and U+2029 (found by the hypothesis test)
    for line in str(content).replace("\r\n", "\n").replace("\r", "\n").split("\n"):
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.split("=", 1)
        name, value = name.strip(), value.strip()
        if name.startswith("export "):
            name = name[len("export "):].strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[name] = value
    return values


def dotenv_changes(old_content, items, extra_secret_names=()):
    """What rendering ``items`` over the .env ``old_content`` changes, by variable name.

    Returns {"added": [...], "changed": [...], "removed": [...], "lines": [...]}: name lists and one
    line per change for the run's output. The value of a secret (in the old file or in the new
    items: see is_secret) is never in the result; other values are shown as old -> new.
    """
    old = dotenv_parse(old_content) if old_content else {}
    new = {str(item["name"]): dotenv_str(item["value"]) for item in items}
    out = {"added": [], "changed": [], "removed": [], "lines": []}

    def secret(name):
        return (is_secret(name, old.get(name, ""), extra_secret_names)
                or is_secret(name, new.get(name, ""), extra_secret_names))

    for name, value in new.items():
        if name not in old:
            out["added"].append(name)
            shown = "(secret, value hidden)" if secret(name) else repr(value)
            out["lines"].append("+ %s %s" % (name, shown))
        elif old[name] != value:
            out["changed"].append(name)
            shown = "(secret, value hidden)" if secret(name) else "%r -> %r" % (old[name], value)
            out["lines"].append("~ %s %s" % (name, shown))
    for name in old:
        if name not in new:
            out["removed"].append(name)
            out["lines"].append("- %s%s" % (name, " (secret, value hidden)" if secret(name) else ""))
    return out


# --- Hosts, binds and URLs -------------------------------------------------------------------
_HOSTNAME_LABEL = re.compile(r"^(?!-)[A-Za-z0-9-]{1,63}(?<!-)$")


def host_problem(host):
    """Why ``host`` is not a host name, an IPv4 or an IPv6 address without a port ('' when it is).

    An IPv6 address may be written bare (::1) or in brackets ([::1]).
    """
    text = str(host)
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    try:
        address = ipaddress.ip_address(bare)
        if bare == text or address.version == 6:
            return ""
    except ValueError:
        pass
    if bare != text:
        return "is not an IPv6 address in brackets"
    if re.fullmatch(r"[^:\[\]]+:[0-9]*", text) or re.fullmatch(r"\[[^\]]*\]:[0-9]*", text):
        return "has a port: give the host alone (and the port in its own variable)"
    if len(text) > 253 or not text.rstrip("."):
        return "is not a host name or an IP address"
    labels = text.rstrip(".").split(".")
    if not all(_HOSTNAME_LABEL.fullmatch(label) for label in labels):
        return "is not a host name or an IP address"
    if labels[-1].isdigit():
        return "is not a valid IPv4 address (nor a host name: the last label is all digits)"
    return ""


def _url_host(host):
    text = str(host)
    bare = text[1:-1] if text.startswith("[") and text.endswith("]") else text
    return "[" + bare + "]" if ":" in bare else bare


def agent_url(host, port):
    """http://HOST:PORT for the agent's trace intake, an IPv6 address in brackets once."""
    return "http://%s:%d" % (_url_host(host), int(port))


def bind_problem(bind):
    """Why ``bind`` is not a gunicorn bind the role accepts ('' when it is).

    HOST:PORT (host name or IPv4), [IPv6]:PORT with PORT 1-65535, or unix:/absolute/path.
    """
    text = str(bind)
    if text.startswith("unix:"):
        return "" if re.fullmatch(r"unix:/[A-Za-z0-9._/@+-]+", text) else "is not unix:/absolute/path"
    host, sep, port = text.rpartition(":")
    if not sep or not host:
        return "is not HOST:PORT, [IPv6]:PORT or unix:/path"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return "has a port outside 1-65535"
    if ":" in host and not (host.startswith("[") and host.endswith("]")):
        return "has an IPv6 address without brackets: write [ADDRESS]:PORT"
    problem = host_problem(host)
    return "has a host that " + problem if problem else ""


def bind_url(bind, path="/"):
    """The http:// URL a client on the host reaches a gunicorn bind at ('' for a unix socket).

    A wildcard bind (0.0.0.0, [::]) is reached on the loopback address of the same family.
    """
    text = str(bind)
    if text.startswith("unix:") or bind_problem(text):
        return ""
    host, _, port = text.rpartition(":")
    bare = host[1:-1] if host.startswith("[") else host
    if bare in ("0.0.0.0", ""):
        bare = "127.0.0.1"
    elif bare == "::":
        bare = "::1"
    return "http://%s:%s%s" % (_url_host(bare), port, path)


_LOOPBACK = ("127.0.0.1", "localhost", "::1", "[::1]")


def agent_disagreements(given, defaults=None):
    """Where the app's settings (django_apm_*) and the local agent's (datadog_agent_*) of one host
    disagree, one message each naming both variables: the env tag (traces and the host's own data
    apart), the site, and the trace port when the app sends to the agent on loopback (its traces
    would reach nothing). Nothing when the agent is being removed. ``given``: the host's values
    (None where unset), ``defaults``: the roles' defaults of the same names."""
    v = dict(defaults or {})
    v.update({k: x for k, x in (given or {}).items() if x is not None})
    if str(v.get("datadog_agent_state") or "present") != "present":
        return []
    out = []
    app_env, agent_env = str(v.get("django_apm_env") or ""), v.get("datadog_agent_env")
    if agent_env not in (None, "") and app_env != str(agent_env):
        out.append("django_apm_env (%s) differs from datadog_agent_env (%s): the app's traces and the host's own data would carry "
                   "different env tags; set both from one variable (the inventories' ddapm_env)" % (app_env, agent_env))
    if str(v.get("django_apm_site")) != str(v.get("datadog_agent_site")):
        out.append("django_apm_site (%s) differs from datadog_agent_site (%s): set both from one variable (the inventories' ddapm_site)"
                   % (v.get("django_apm_site"), v.get("datadog_agent_site")))
    app_port, agent_port = str(v.get("django_apm_agent_port")), str(v.get("datadog_agent_apm_receiver_port"))
    if not str(v.get("django_apm_agent_url") or "") and str(v.get("django_apm_agent_host")) in _LOOPBACK and app_port != agent_port:
        out.append("django_apm_agent_port (%s) is not the local agent's trace port, datadog_agent_apm_receiver_port (%s): the app's "
                   "traces would reach nothing; set both from one variable" % (app_port, agent_port))
    return out


def bind_socket(bind):
    """The socket path of a gunicorn bind unix:/path ('' for a TCP bind or an invalid one)."""
    text = str(bind)
    return text[len("unix:"):] if text.startswith("unix:") and not bind_problem(text) else ""


def bind_health_url(bind, path="/"):
    """The URL a health check on the host asks a gunicorn bind: bind_url for TCP; for unix:/path,
    http://localhost<path>, to be asked through the socket (bind_socket)."""
    return "http://localhost%s" % path if bind_socket(bind) else bind_url(bind, path)


# --- Rollback --------------------------------------------------------------------------------
def rollback_plan(entries):
    """What puts a failed change back: ``entries`` are [path, registered result] pairs of the file
    tasks (run with backup: true). Returns {"restore": [{"path", "backup"}], "remove": [path]}: a
    changed file that existed is restored from its backup, a file the run created is removed."""
    restore, remove = [], []
    for path, result in entries:
        if not isinstance(result, Mapping) or not result.get("changed"):
            continue
        backup = result.get("backup_file") or ""
        if backup:
            restore.append({"path": str(path), "backup": str(backup)})
        else:
            remove.append(str(path))
    return {"restore": restore, "remove": remove}


def changed_inputs(plan, items):
    """The role variables behind the .env changes of ``plan`` (dotenv_changes), for a failure
    message: each added or changed name's variable, and the names the run removed."""
    by_name = {str(item["name"]): item.get("var") or "" for item in items}
    names = list(plan.get("added", [])) + list(plan.get("changed", []))
    out = []
    for name in names:
        var = by_name.get(name) or "the role"
        if var in ("django_apm_tracer_env", "django_apm_dotenv_extra"):
            var = "%s[%s]" % (var, name)
        if var not in out:
            out.append(var)
    out += ["%s (removed from the .env)" % name for name in plan.get("removed", [])]
    return out


# --- The plan: DD_VERSION, the .env items, the units (from the role's inputs) ----------------------
def _bool(value):
    """Ansible's truthiness of an input that argument_specs typed as bool (or a string from -e)."""
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on", "y", "t")
    return bool(value)


def version_info(explicit, git_result, checkout_sha, length):
    """DD_VERSION and where it comes from: django_apm_version if set; else ``after`` of the deploy's
    git result; else the commit the probe read in the checkout. Returns {"source", "version",
    "git_after"}; a SHA is cut to ``length`` hex digits when length > 0."""
    explicit = "" if explicit is None else str(explicit).strip()
    git_after = str((git_result or {}).get("after") or "").strip() if isinstance(git_result, Mapping) else ""
    if explicit:
        return {"source": "django_apm_version", "version": explicit, "git_after": git_after}
    source, sha = ("django_apm_git_result", git_after) if git_after else ("checkout", str(checkout_sha or "").strip())
    length = int(length)
    return {"source": source, "version": sha[:length] if length > 0 else sha, "git_after": git_after}


def sampling_rules(keep_redis_only_traces, redis_service, sample_rate):
    """DD_TRACE_SAMPLING_RULES: rules match the local root span. The first one drops traces that
    are Redis commands alone (the Celery worker's broker polling); every other trace is kept at
    the sample rate."""
    rules = [] if _bool(keep_redis_only_traces) else [{"service": str(redis_service), "name": "redis.command", "sample_rate": 0.0}]
    return rules + [{"sample_rate": float(sample_rate)}]


def dotenv_items(inputs, privacy_env):
    """The .env, in file order: dicts {name, value, var, group}: ``var`` is the variable a bad value is
    blamed on; ``group`` is tracer (the role's own settings), privacy (forced, not switchable), custom
    (django_apm_tracer_env), api_key, app (django_apm_dotenv_extra), logs (DD_LOGS_INJECTION with
    django_apm_logs). ``inputs`` holds the role's inputs by their names without the django_apm_ prefix."""
    i = inputs
    url = str(i.get("agent_url") or "") or agent_url(i["agent_host"], i["agent_port"])
    rules = sampling_rules(i["keep_redis_only_traces"], i["redis_service"], i["sample_rate"])
    tracer = [
        ("DD_TRACE_ENABLED", dotenv_str(i["trace_enabled"]), "django_apm_trace_enabled"),
        ("DD_SERVICE", i["service"], "django_apm_service"),
        ("DD_ENV", i["env"], "django_apm_env"),
        ("DD_VERSION", i["version"], "django_apm_version"),
        ("DD_SITE", i["site"], "django_apm_site"),
        ("DD_TRACE_AGENT_URL", url, "django_apm_agent_url"),
        ("DD_TRACE_SAMPLING_RULES", json.dumps(rules), "django_apm_sample_rate"),
        ("DD_TRACE_RATE_LIMIT", i["trace_rate_limit"], "django_apm_trace_rate_limit"),
        ("DD_REDIS_SERVICE", i["redis_service"], "django_apm_redis_service"),
        ("DD_CELERY_DISTRIBUTED_TRACING", "true", ""),
        ("DD_PSYCOPG_SERVICE", i["postgres_service"], "django_apm_postgres_service"),
        ("DD_REMOTE_CONFIGURATION_ENABLED", dotenv_str(i["remote_configuration_enabled"]), "django_apm_remote_configuration_enabled"),
    ]
    items = [{"name": n, "value": v, "var": var, "group": "tracer"} for n, v, var in tracer]
    items += [{"name": str(n), "value": v, "var": "", "group": "privacy"} for n, v in (privacy_env or {}).items()]
    if _bool(i.get("logs")):
        # ddtrace's trace correlation in every log record, said explicitly (4.x's default is on; a
        # stray DD_LOGS_INJECTION=false elsewhere would break the link between logs and traces).
        items.append({"name": "DD_LOGS_INJECTION", "value": "true", "var": "django_apm_logs", "group": "logs"})
    items += [{"name": str(n), "value": v, "var": "django_apm_tracer_env", "group": "custom"}
              for n, v in (i.get("tracer_env") or {}).items()]
    if _bool(i.get("write_api_key")):
        items.append({"name": "DD_API_KEY", "value": i.get("api_key", ""), "var": "django_apm_api_key", "group": "api_key"})
    items += [{"name": str(n), "value": v, "var": "django_apm_dotenv_extra", "group": "app"}
              for n, v in (i.get("dotenv_extra") or {}).items()]
    return items


def dotenv_group_names(items, groups):
    """The names of the .env items of these groups: block (tracer, privacy, custom: what the settings
    block exports before ddtrace loads; never the API key, never the app's own) or managed (tracer,
    privacy, and DD_API_KEY: names the role owns, refused in django_apm_tracer_env and
    django_apm_dotenv_extra)."""
    named = {"block": ("tracer", "privacy", "logs", "custom"), "managed": ("tracer", "privacy", "logs")}
    wanted = named.get(groups, groups)
    names = [str(item["name"]) for item in items if item.get("group") in wanted]
    return names + (["DD_API_KEY"] if groups == "managed" else [])


def units_plan(prefix, manage, gunicorn_enabled, celery_enabled, services):
    """The app's units: managed (the role installs and runs them), retired (the role's units switched
    off: stopped, disabled, removed if present), templates (unit -> template), all (managed + the
    app's own django_apm_services; never the agent's)."""
    own = [("%s-gunicorn.service" % prefix, "gunicorn.service.j2", _bool(gunicorn_enabled)),
           ("%s-celery.service" % prefix, "celery.service.j2", _bool(celery_enabled))]
    manage = _bool(manage)
    managed = [unit for unit, _, on in own if manage and on]
    return {
        "managed": managed,
        "retired": [unit for unit, _, on in own if manage and not on],
        "templates": [{"unit": unit, "src": src} for unit, src, on in own if manage and on],
        "all": managed + [str(s) for s in services or []],
    }


# --- What the probe saw (plugins/modules/django_apm_probe.py): the host's state, without the files' contents
PROBE_KEYS = ("app_dir", "settings_exists", "dotenv_exists", "python", "ddtrace", "pipmodule", "systemd", "user", "group",
              "git", "services", "units", "retired", "agent_group", "files", "check_mode")


def host_view(probe, marker_begin, marker_end, sentry_regex, header_regex):
    """The probe's answer reduced to what preflight and the plan use: the settings file's plan
    (settings_plan) and the .env's names, never the contents of either (they may hold secrets)."""
    dotenv = probe.get("dotenv") or ""
    view = {k: probe[k] for k in PROBE_KEYS if k in probe}
    view["settings_plan"] = settings_plan(probe.get("settings") or "", marker_begin, marker_end, sentry_regex, header_regex)
    view["dotenv_managed"] = "# django_apm: rendered whole by the django_apm role" in dotenv
    view["dotenv_names"] = dotenv_names(dotenv)
    return view


# --- Which of the role's files are already what it writes (a run that changes nothing skips them) --
def file_current(files, path, content, mode, owner, group):
    """The probe saw `path` as a regular file with exactly this content (SHA-1), mode, owner, group."""
    f = (files or {}).get(path) or {}
    return (bool(f.get("checksum")) and f["checksum"] == hashlib.sha1(str(content).encode("utf-8")).hexdigest()
            and (f.get("mode"), f.get("owner"), f.get("group")) == (mode, owner, group))


def written_files(dotenv_path, units_plan, services, logs_paths):
    """The paths of the files and directories the role writes, whose state the probe reads: the
    .env, the logs configuration's (given), the managed units, the drop-in directories and files."""
    units = ["/etc/systemd/system/" + t["unit"] for t in (units_plan or {}).get("templates", [])]
    dropins = [f"/etc/systemd/system/{s}.d{leaf}" for s in services or [] for leaf in ("", "/django-apm.conf")]
    return [str(dotenv_path)] + [str(p) for p in logs_paths or []] + units + dropins


def dir_current(files, path, mode, owner, group):
    """The probe saw `path` as a directory with this mode, owner and group."""
    f = (files or {}).get(path) or {}
    return bool(f.get("isdir")) and (f.get("mode"), f.get("owner"), f.get("group")) == (mode, owner, group)


def block_current(content, marker_begin, marker_end, block):
    """Whether ansible.builtin.blockinfile, given this block between these markers (and
    prepend_newline / append_newline), would leave `content` as it is: its own steps on the file's
    lines (the last line equal to each marker; the block's lines replace them; a blank line before
    and after the block unless the file starts or ends there or one is already there). When the
    markers are not both there the answer is False: the task runs and decides."""
    lines = str(content or "").splitlines(keepends=True)
    begin, end = marker_begin + "\n", marker_end + "\n"
    n0 = n1 = None
    for i, line in enumerate(lines):
        if line == begin:
            n0 = i
        if line == end:
            n1 = i
    if n0 is None or n1 is None:
        return False
    if n0 < n1:
        del lines[n0:n1 + 1]
    else:
        del lines[n1:n0 + 1]
        n0 = n1
    if n0 > 0 and not lines[n0 - 1].endswith("\n"):
        lines[n0 - 1] += "\n"
    if n0 != 0 and lines[n0 - 1] != "\n":
        lines.insert(n0, "\n")
        n0 += 1
    block_lines = [begin] + [line + "\n" for line in str(block).splitlines()] + [end]
    lines[n0:n0] = block_lines
    after = n0 + len(block_lines)
    if after < len(lines) and lines[after] != "\n":
        lines.insert(after, "\n")
    return "".join(lines) == content


def host_problems(view, inputs, hostname):
    """One message per fact about the host that stops the role (each names the variable to fix)."""
    i, out = inputs, []
    if not view["app_dir"]:
        out.append("django_apm_app_dir (%s) is not a directory on %s: deploy the app first" % (i["app_dir"], hostname))
    manage_py = i.get("manage_py") or ""
    if view["app_dir"] and manage_py and not ((view.get("files") or {}).get(manage_py) or {}).get("exists"):
        out.append("django_apm_project_dir (%s) has no manage.py: set it to the directory of the app's manage.py, the import "
                   "root of its settings module (e.g. %s/src)" % (i.get("project_dir", ""), i["app_dir"]))
    if not view["settings_exists"]:
        out.append("django_apm_settings_file (%s) does not exist: set django_apm_settings_module or django_apm_settings_file "
                   "to the app's production settings" % i["settings_file"])
    if not view["python"]:
        out.append("django_apm_venv (%s) has no bin/python: point it at the app's virtualenv (the role never installs "
                   "into the system Python)" % i["venv"])
    elif not view["pipmodule"]:
        out.append("django_apm_venv (%s) lacks the 'packaging' module that Ansible's pip module needs there: add "
                   "packaging to the app's requirements" % i["venv"])
    if not view["user"]:
        out.append("django_apm_app_user (%s) does not exist on %s" % (i["app_user"], hostname))
    if not view["group"]:
        out.append("django_apm_app_group (%s) does not exist on %s" % (i["app_group"], hostname))
    if i["version_source"] == "checkout" and view["git"]["rc"] != 0:
        out.append("django_apm_app_dir (%s) is not a git checkout with a commit (%s) and no version was given: set "
                   "django_apm_version, or pass the deploy's git result as django_apm_git_result"
                   % (i["app_dir"], view["git"]["error"]))
    foreign = view["settings_plan"]["foreign_lines"]
    if foreign:
        out.append("django_apm_settings_file (%s) imports or patches ddtrace outside the managed block (lines %s): remove "
                   "that old APM code, the role's block replaces it" % (i["settings_file"], ", ".join(map(str, foreign))))
    foreign_names = [n for n in view["dotenv_names"] if n not in i["dotenv_names"]]
    if view["dotenv_exists"] and not view["dotenv_managed"] and foreign_names:
        out.append("django_apm_dotenv_path (%s) exists, was not written by this role and sets %s: the role renders the "
                   "whole file, so add those to django_apm_dotenv_extra (or point django_apm_dotenv_path elsewhere)"
                   % (i["dotenv_path"], ", ".join(foreign_names)))
    unknown = [unit for unit, state in view["services"].items() if view["systemd"] and state != "loaded"]
    if unknown:
        out.append("django_apm_services lists units that systemd does not know: %s" % unknown)
    if i["units"] and not view["systemd"]:
        out.append("django_apm_manage_units / django_apm_services need systemd, which is not running on %s" % hostname)
    return out


# --- What a run changed (from the registered results of its tasks) ---------------------------------
def _changed(result):
    return isinstance(result, Mapping) and bool(result.get("changed"))


def run_outcome(results, units, dotenv_path, settings_file, dotenv_plan, items, ddtrace_before, ddtrace_version, verify_always):
    """What this run changed and what follows from it. ``results`` holds the registered results:
    dotenv, block, pip (one each) and unit_files, dropins, started (the ``results`` lists of the
    loops). Returns:
      app_changed    the .env, the block or ddtrace changed: every unit loads those
      restart_units  every unit when app_changed, else those whose own file or drop-in changed
      health_units   restarted or started: each must stay up (and the app answer), else rollback
      rollback       rollback_plan of every file this run changed (all written with backup: true)
      changed_inputs what changed, by input, for a rolled-back run's message (names, never values)
      verify_needed  the verify stage has something to check (or django_apm_verify_always)
    """
    dotenv, block, pip = (results.get(k) or {} for k in ("dotenv", "block", "pip"))
    unit_files, dropins, started = (list(results.get(k) or []) for k in ("unit_files", "dropins", "started"))
    app_changed = _changed(dotenv) or _changed(block) or _changed(pip)
    own = [r["item"]["unit"] for r in unit_files if _changed(r)] + [r["item"] for r in dropins if _changed(r)]
    restart = list(units) if app_changed else list(dict.fromkeys(own))
    health = list(dict.fromkeys(restart + [r["item"] for r in started if _changed(r)]))
    entries = ([[dotenv_path, dotenv], [settings_file, block]]
               + [["/etc/systemd/system/" + r["item"]["unit"], r] for r in unit_files]
               + [["/etc/systemd/system/%s.d/django-apm.conf" % r["item"], r] for r in dropins])
    inputs = changed_inputs(dotenv_plan, items) if _changed(dotenv) else []
    inputs += ["the settings block in %s" % settings_file] if _changed(block) else []
    inputs += ["the unit %s (django_apm_gunicorn_*, django_apm_celery_*, django_apm_wsgi_app)" % r["item"]["unit"]
               for r in unit_files if _changed(r)]
    inputs += ["ddtrace %s -> %s (django_apm_ddtrace_version)" % (ddtrace_before, ddtrace_version)] if _changed(pip) else []
    return {
        "app_changed": app_changed,
        "restart_units": restart,
        "health_units": health,
        "rollback": rollback_plan(entries),
        "changed_inputs": inputs,
        "verify_needed": _bool(verify_always) or app_changed or bool(health),
    }


class FilterModule:
    def filters(self):
        return {
            "django_apm_dotenv_quote": dotenv_quote,
            "django_apm_dotenv_problem": dotenv_problem,
            "django_apm_dotenv_str": dotenv_str,
            "django_apm_pyliteral": pyliteral,
            "django_apm_settings_plan": settings_plan,
            "django_apm_dotenv_names": dotenv_names,
            "django_apm_dotenv_errors": dotenv_errors,
            "django_apm_dotenv_expected": dotenv_expected,
            "django_apm_dotenv_changes": dotenv_changes,
            "django_apm_is_secret": is_secret,
            "django_apm_host_problem": host_problem,
            "django_apm_bind_problem": bind_problem,
            "django_apm_agent_url": agent_url,
            "django_apm_bind_url": bind_url,
            "django_apm_bind_socket": bind_socket,
            "django_apm_agent_disagreements": agent_disagreements,
            "django_apm_bind_health_url": bind_health_url,
            "django_apm_rollback_plan": rollback_plan,
            "django_apm_changed_inputs": changed_inputs,
            "django_apm_version_info": version_info,
            "django_apm_sampling_rules": sampling_rules,
            "django_apm_dotenv_items": dotenv_items,
            "django_apm_dotenv_group_names": dotenv_group_names,
            "django_apm_units_plan": units_plan,
            "django_apm_host_view": host_view,
            "django_apm_file_current": file_current,
            "django_apm_dir_current": dir_current,
            "django_apm_written_files": written_files,
            "django_apm_block_current": block_current,
            "django_apm_host_problems": host_problems,
            "django_apm_run_outcome": run_outcome,
        }
