"""Shared helpers of the datadog-agent stand-in (a test double, not the Datadog Agent).

Installed as /opt/datadog-agent/embedded/lib/standin/standin_common.py and used by the
stand-in CLI (/opt/datadog-agent/bin/agent/agent) and the stand-in trace-agent
(/opt/datadog-agent/embedded/bin/trace-agent).

Only the standard library is imported at module level: the embedded site-packages
(PyYAML, ddapm-test-agent and its dependencies) are put on sys.path by
use_embedded_site_packages(), which picks the directory built for the running
interpreter (3.11 for Debian 12, 3.13 for Debian 13).
"""

import logging
import os
import socket
import sys

from standin_version import AGENT_VERSION, PACKAGE_VERSION, TEST_AGENT_VERSION  # written by build.sh

STANDIN_NOTE = "stand-in for tests, not the Datadog Agent"
DEFAULT_CONFIG = "/etc/datadog-agent/datadog.yaml"
LOG_DIR = "/var/log/datadog"
DEFAULT_CMD_PORT = 5001
DEFAULT_RECEIVER_PORT = 8126

__all__ = [
    "AGENT_VERSION", "PACKAGE_VERSION", "TEST_AGENT_VERSION", "STANDIN_NOTE", "DEFAULT_CONFIG",
    "use_embedded_site_packages", "resolve_config_path", "load_config", "Settings",
    "setup_logging", "die", "config_type_error", "auth_token_path", "create_or_fetch_auth_token",
    "fetch_auth_token", "intake_rejects", "INTAKE_FILE", "SecretError", "secret_handles", "resolve_secrets",
    "check_secret_command_rights",
]


def die(message, code=1):
    """Print an error on stderr (the journal, under systemd) and exit non-zero."""
    print(f"Error: {message}", file=sys.stderr, flush=True)
    sys.exit(code)


def use_embedded_site_packages(root):
    """Put <root>/embedded/lib/pythonX.Y/site-packages for the running interpreter on sys.path."""
    version = "%d.%d" % sys.version_info[:2]
    site = os.path.join(root, "embedded", "lib", "python" + version, "site-packages")
    if not os.path.isdir(site):
        lib = os.path.join(root, "embedded", "lib")
        built = sorted(d[len("python"):] for d in os.listdir(lib) if d.startswith("python")) if os.path.isdir(lib) else []
        die(f"the datadog-agent stand-in embeds its Python libraries for Python {', '.join(built) or 'nothing'}, "
            f"but this interpreter ({sys.executable}) is Python {version}", code=3)
    sys.path.insert(0, site)
    return site


def resolve_config_path(path):
    """Like the real agent's -c/--cfgpath: a datadog.yaml file or the directory that holds it."""
    path = path or DEFAULT_CONFIG
    if os.path.isdir(path):
        path = os.path.join(path, "datadog.yaml")
    return path


def load_config(path):
    """Read datadog.yaml as a dict. Missing, unreadable or malformed files are fatal (exit 1)."""
    import yaml  # embedded PyYAML

    try:
        with open(path, encoding="utf-8") as handle:
            data = yaml.safe_load(handle)
    except FileNotFoundError:
        die(f"unable to load Datadog config file: {path} does not exist")
    except PermissionError:
        die(f"unable to load Datadog config file: permission denied reading {path} (run as root or dd-agent)")
    except yaml.YAMLError as exc:
        die(f"unable to load Datadog config file {path}: invalid YAML: {exc}")
    if data is None:
        return {}
    if not isinstance(data, dict):
        die(f"unable to load Datadog config file {path}: the top level must be a mapping")
    problem = config_type_error(data)
    if problem:
        die(f"unable to load Datadog config file {path}: {problem}")
    return data


# The keys the stand-in reads, with the type the agent declares for them. Source: DataDog/datadog-agent
# pkg/config/setup/config.go (agent 7.61.0: BindEnvAndSetDefault of api_key, site, hostname, env,
# tags, log_level, cmd_port, apm_config.*), whose values pkg/config/model casts to these types. The
# stand-in refuses a value of another type outright (at least as strict: the agent's cast would turn
# `tags: 5` into nonsense or an empty list, `apm_config: yes` into defaults, silently).
_STR, _INT, _BOOL, _TAGS = "a string", "a port number", "a boolean", "a list of tags or a string"
CONFIG_TYPES = {
    "api_key": _STR, "site": _STR, "hostname": _STR, "env": _STR, "log_level": _STR,
    "tags": _TAGS, "cmd_port": _INT, "auth_token_file_path": _STR,
    "apm_config": {"enabled": _BOOL, "receiver_port": _INT, "apm_non_local_traffic": _BOOL},
    # pkg/config/setup/config.go: secret_backend_command (string), _arguments ([]string), _timeout (int);
    # proxy.http / proxy.https (string), proxy.no_proxy ([]string).
    "secret_backend_command": _STR, "secret_backend_arguments": _TAGS, "secret_backend_timeout": _INT,
    "proxy": {"http": _STR, "https": _STR, "no_proxy": _TAGS},
}


def _type_ok(value, kind):
    if value is None:
        return True  # unset: the default applies
    if kind == _STR:
        return isinstance(value, str)
    if kind == _INT:
        return (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())
    if kind == _BOOL:
        return isinstance(value, bool) or (isinstance(value, str) and value.lower() in ("true", "false"))
    return isinstance(value, str) or (isinstance(value, list) and all(isinstance(t, str) for t in value))


def config_type_error(data):
    """Why datadog.yaml is refused (a known key of the wrong type), or None."""
    for key, kind in CONFIG_TYPES.items():
        value = data.get(key)
        if isinstance(kind, dict):
            if value is None:
                continue
            if not isinstance(value, dict):
                return f"{key} must be a mapping, not {type(value).__name__}"
            for sub, subkind in kind.items():
                if not _type_ok(value.get(sub), subkind):
                    return f"{key}.{sub} must be {subkind}, not {value.get(sub)!r}"
        elif not _type_ok(value, kind):
            shown = "(hidden)" if key == "api_key" else repr(value)
            return f"{key} must be {kind}, not {shown}"
    return None


# --- IPC authentication: the agent's auth_token -----------------------------------------------
# Source: DataDog/datadog-agent pkg/api/security/security.go (agent 7.61.0: CreateOrFetchToken /
# FetchAuthToken: a random token written next to datadog.yaml as `auth_token`, mode 0600, owned by
# the agent's user, overridable with auth_token_file_path) and pkg/api/util/util.go (the CLI reads
# it and sends `Authorization: Bearer <token>`; the IPC server refuses a request without it).

def auth_token_path(config, config_path):
    return config.get("auth_token_file_path") or os.path.join(os.path.dirname(config_path), "auth_token")


def create_or_fetch_auth_token(path):
    """The agent's side (`run`): the token in path, created (0600, our user) when missing."""
    import secrets

    try:
        with open(path, encoding="ascii") as handle:
            token = handle.read().strip()
        if len(token) >= 32:
            return token
    except FileNotFoundError:
        pass
    token = secrets.token_hex(32)
    fd = os.open(path + ".tmp", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token)
    os.replace(path + ".tmp", path)
    return token


def fetch_auth_token(path):
    """The CLI's side: the token, or exit 1 as the real CLI does when it cannot read it."""
    try:
        with open(path, encoding="ascii") as handle:
            token = handle.read().strip()
    except OSError as exc:
        die(f"unable to read authentication token file: {exc} (run it as root or dd-agent; the agent "
            "writes the token when it starts)")
    if len(token) < 32:
        die(f"invalid authentication token in {path}: the agent may not have started yet")
    return token


# --- secrets: ENC[<handle>] values resolved by secret_backend_command ----------------------------
# Source: DataDog/datadog-agent comp/core/secrets/impl (agent 7.61.0) and
# https://docs.datadoghq.com/agent/configuration/secrets-management/: a string value that is
# exactly ENC[<handle>] is a handle; the agent runs secret_backend_command (with
# secret_backend_arguments, killed after secret_backend_timeout seconds, default 30), writes
# {"version": "1.0", "secrets": [handles]} to its stdin and reads {handle: {"value": ..., "error": ...}}
# from its stdout (fetch_secret.go), after checkRights (check_rights_nix.go): group and others must
# have no rights on the executable, and the agent's user must be able to execute it. A handle that
# does not resolve makes loading datadog.yaml fail: the agent does not start. Values never logged.
SECRET_PAYLOAD_VERSION = "1.0"
SECRET_OUTPUT_MAX = 1024 * 1024  # secret_backend_output_max_size default
ENC_PATTERN = r"ENC\[(.+)\]"  # the whole value (secrets.go isEnc)


class SecretError(Exception):
    """A handle could not be resolved (the message never holds a secret's value)."""


def secret_handles(node, path=""):
    """[(handle, setting path)] of every ENC[...] string value under node."""
    import re

    found = []
    if isinstance(node, dict):
        for key, value in node.items():
            found += secret_handles(value, f"{path}.{key}" if path else str(key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            found += secret_handles(value, f"{path}[{index}]")
    elif isinstance(node, str):
        match = re.fullmatch(ENC_PATTERN, node.strip(), re.S)
        if match:
            found.append((match.group(1), path))
    return found


def check_secret_command_rights(command):
    """check_rights_nix.go checkRights(path, allowGroupExec=false): the reason the executable is
    refused, or None."""
    import stat

    try:
        mode = os.stat(command).st_mode
    except OSError as exc:
        return f"invalid executable '{command}': can't stat it: {exc.strerror}"
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        return f"invalid executable '{command}', 'group' or 'others' have rights on it"
    if not os.access(command, os.X_OK):
        return f"invalid executable '{command}': can't access it: permission denied"
    return None


def fetch_secrets(config, handles):
    """Run secret_backend_command for handles: {handle: value}, or SecretError."""
    import json
    import subprocess

    command = config.get("secret_backend_command")
    if not command:
        raise SecretError("secret_backend_command is not set: cannot resolve ENC[] handles")
    problem = check_secret_command_rights(command)
    if problem:
        raise SecretError(problem)
    timeout = int(config.get("secret_backend_timeout") or 30)
    args = [str(a) for a in (config.get("secret_backend_arguments") or [])]
    payload = json.dumps({"version": SECRET_PAYLOAD_VERSION, "secrets": handles})
    try:
        proc = subprocess.run([command, *args], input=payload.encode(), capture_output=True, timeout=timeout,
                              check=False)
    except subprocess.TimeoutExpired:
        raise SecretError(f"error while running '{command}': command timeout") from None
    except OSError as exc:
        raise SecretError(f"error while running '{command}': {exc.strerror}") from None
    if len(proc.stdout) > SECRET_OUTPUT_MAX:
        raise SecretError(f"command output was too long: exceeded {SECRET_OUTPUT_MAX} bytes")
    if proc.returncode != 0:
        raise SecretError(f"error while running '{command}': exit status {proc.returncode}")
    try:
        output = json.loads(proc.stdout.decode("utf-8"))
        if not isinstance(output, dict):
            raise ValueError("not an object")
    except ValueError as exc:
        raise SecretError(f"could not unmarshal 'secret_backend_command' output: {exc}") from None
    values = {}
    for handle in handles:
        entry = output.get(handle)
        if not isinstance(entry, dict):
            raise SecretError(f"secret handle '{handle}' was not resolved by the secret_backend_command")
        if entry.get("error"):
            raise SecretError(f"an error occurred while resolving '{handle}': {entry['error']}")
        value = entry.get("value")
        if not isinstance(value, str) or value == "":
            raise SecretError(f"resolved secret for '{handle}' is empty")
        values[handle] = value
    return values


def resolve_secrets(config):
    """config with every ENC[...] value replaced by its secret, and [(handle, path)] resolved."""
    import re

    found = secret_handles(config)
    if not found:
        return config, []
    values = fetch_secrets(config, sorted({h for h, _ in found}))

    def walk(node):
        if isinstance(node, dict):
            return {k: walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(v) for v in node]
        if isinstance(node, str):
            match = re.fullmatch(ENC_PATTERN, node.strip(), re.S)
            return values[match.group(1)] if match else node
        return node

    return walk(config), found


# --- the forwarder's API key validation -------------------------------------------------------
# Source: DataDog/datadog-agent comp/forwarder/defaultforwarder/forwarder_health.go (agent 7.61.0):
# the forwarder validates its API keys against the intake (/api/v1/validate) and stops reporting
# healthy when every key is invalid (403), so `datadog-agent health` lists `forwarder` as unhealthy.
# The stand-in never contacts an intake: INTAKE_FILE tells its pretend intake which keys to reject.
INTAKE_FILE = "/var/lib/datadog-standin/intake.yaml"


def intake_rejects(api_key, intake_file=INTAKE_FILE):
    """Why the pretend intake rejects api_key (reject_api_keys: all, or a list of keys), or None."""
    import yaml

    try:
        with open(intake_file, encoding="utf-8") as handle:
            rules = yaml.safe_load(handle) or {}
    except FileNotFoundError:
        return None
    except (OSError, yaml.YAMLError) as exc:
        return f"cannot read {intake_file}: {exc}"
    rejected = rules.get("reject_api_keys") if isinstance(rules, dict) else None
    if rejected == "all" or (isinstance(rejected, list) and api_key in rejected):
        return f"API Key ending with {api_key[-5:]} is invalid (403 from the intake, per {intake_file})"
    return None


def _to_bool(value, default):
    """YAML/env truthiness the way the agent reads it ("true", "1", "yes", True...)."""
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("1", "true", "yes", "on", "y")


def _to_int(value, default, name):
    if value is None or value == "":
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        die(f"invalid value for {name}: {value!r} is not a port number")


def _to_tags(value):
    """tags: a YAML list, or a comma/space separated string (as DD_TAGS is)."""
    if value is None:
        return []
    if isinstance(value, (list, tuple)):
        return [str(t) for t in value if t is not None and str(t) != ""]
    return [t for t in str(value).replace(",", " ").split() if t]


class Settings:
    """The subset of datadog.yaml the stand-in understands, with DD_* environment overrides.

    Environment variables win over the file, like the real agent (the units read the optional
    EnvironmentFile /etc/datadog-agent/environment, as the real ones do).
    """

    def __init__(self, config, path):
        env = os.environ
        apm = config.get("apm_config") or {}
        if not isinstance(apm, dict):
            die(f"invalid apm_config in {path}: it must be a mapping")
        self.config_path = path
        self.auth_token_path = auth_token_path(config, path)
        self.api_key = str(env.get("DD_API_KEY") or config.get("api_key") or "").strip()
        self.site = str(env.get("DD_SITE") or config.get("site") or "datadoghq.com")
        self.hostname = str(env.get("DD_HOSTNAME") or config.get("hostname") or socket.gethostname())
        self.env = str(env.get("DD_ENV") or config.get("env") or "")
        self.tags = _to_tags(env.get("DD_TAGS") or config.get("tags"))
        self.log_level = str(env.get("DD_LOG_LEVEL") or config.get("log_level") or "info")
        self.cmd_port = _to_int(env.get("DD_CMD_PORT") or config.get("cmd_port"), DEFAULT_CMD_PORT, "cmd_port")
        self.apm_enabled = _to_bool(env.get("DD_APM_ENABLED", apm.get("enabled")), True)
        self.apm_receiver_port = _to_int(env.get("DD_APM_RECEIVER_PORT") or apm.get("receiver_port"),
                                         DEFAULT_RECEIVER_PORT, "apm_config.receiver_port")
        self.apm_non_local_traffic = _to_bool(
            env.get("DD_APM_NON_LOCAL_TRAFFIC", apm.get("apm_non_local_traffic")), False)

    @property
    def api_key_ending(self):
        """The last 5 characters of the API key: the only part ever shown or logged."""
        return self.api_key[-5:] if self.api_key else ""

    @property
    def apm_bind_host(self):
        return "0.0.0.0" if self.apm_non_local_traffic else "127.0.0.1"

    @property
    def apm_receiver_address(self):
        """The receiver as the real `status` prints it."""
        host = "0.0.0.0" if self.apm_non_local_traffic else "localhost"
        return f"{host}:{self.apm_receiver_port}"


def setup_logging(component, logfile, level="info"):
    """Log like the real agent ("<date> UTC | CORE | INFO | (...) | msg") to stderr and, when
    logfile is given and writable, to /var/log/datadog/<logfile>. Under systemd stderr ends up
    in the journal."""
    import time

    fmt = logging.Formatter(f"%(asctime)s UTC | {component} | %(levelname)s | (stand-in) | %(message)s",
                            "%Y-%m-%d %H:%M:%S")
    fmt.converter = time.gmtime
    root = logging.getLogger()
    root.handlers.clear()
    numeric = getattr(logging, str(level).upper(), None)
    root.setLevel(numeric if isinstance(numeric, int) else logging.INFO)
    stream = logging.StreamHandler(sys.stderr)
    stream.setFormatter(fmt)
    root.addHandler(stream)
    handler = None
    if logfile:
        try:
            handler = logging.FileHandler(os.path.join(LOG_DIR, logfile))
        except OSError:
            pass  # not running as dd-agent/root, or no log dir: the journal is enough
    if handler is not None:
        handler.setFormatter(fmt)
        root.addHandler(handler)
    return logging.getLogger(component.lower())
