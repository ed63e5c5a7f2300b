"""Validates a rendered file on the host before it replaces the real one (`validate:` of the
datadog_agent role's configure stage): python3 yaml_check.py PATH main|check|python.

python: a custom check's source (checks.d/<name>.py) must compile (the agent imports it); the
reason names the line, never the source text.

A full parse with PyYAML, Debian's or else the one the agent package embeds under
/opt/datadog-agent/embedded (the hosts' minimal python3 has none); structural checks only when
neither exists. For datadog.yaml (main) also a top-level api_key of 32 hex characters. Exits
non-zero with a one-line reason that never holds the file's content.
"""

import glob
import re
import sys


def load_yaml():
    try:
        import yaml  # pylint: disable=import-outside-toplevel
        return yaml
    except ImportError:
        pass
    # The agent's own PyYAML (pure Python, any python3 can import it), when Debian's is absent.
    mine = "/opt/datadog-agent/embedded/lib/python{}.{}/site-packages".format(*sys.version_info[:2])
    sys.path[:0] = [mine] + sorted(glob.glob("/opt/datadog-agent/embedded/lib/python3*/site-packages"))
    try:
        import yaml  # pylint: disable=import-outside-toplevel,redefined-outer-name
        return yaml
    except ImportError:
        return None


def python_problem(text, path):
    """Why a custom check's source does not compile ('' when it does)."""
    try:
        compile(text, path, "exec", dont_inherit=True)
    except SyntaxError as exc:
        return "not valid Python (line {}: {})".format(exc.lineno, exc.msg)
    except ValueError as exc:  # null bytes
        return "not valid Python ({})".format(exc)
    return ""


def problem(text, kind, yaml):
    """Why `text` is not a valid file of this kind ('' when it is)."""
    body = [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if not body:
        return "no content"
    if any("\t" in line[:len(line) - len(line.lstrip())] for line in body):
        return "tab in indentation"
    if yaml is not None:
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            return "not valid YAML (line {})".format(getattr(getattr(exc, "problem_mark", None), "line", -1) + 1)
        if not isinstance(data, dict):
            return "top level is not a mapping"
        if kind == "main" and not api_key_ok(str(data.get("api_key", "")), data.get("secret_backend_command")):
            return "api_key missing or malformed (32 hex digits, or ENC[...] with secret_backend_command)"
        return ""
    if not re.match(r"^[^\s#-][^:]*:( |$)", body[0]):
        return "top level is not a mapping"
    keys = [re.sub(r"^api_key: ?", "", line).strip("'\"") for line in body if line.startswith("api_key:")]
    command = [line for line in body if re.match(r"^secret_backend_command: ?\S", line)]
    if kind == "main" and not (keys and api_key_ok(keys[0], bool(command))):
        return "api_key missing or malformed (32 hex digits, or ENC[...] with secret_backend_command)"
    return ""


def api_key_ok(key, command):
    """32 hex digits, or an ENC[<handle>] the secret backend command resolves."""
    return bool(re.fullmatch(r"[0-9a-fA-F]{32}", key) or (command and re.fullmatch(r"ENC\[.+\]", key, re.S)))


def main(argv):
    path, kind = argv[1], argv[2]
    with open(path, "rb") as handle:
        text = handle.read().decode("utf-8")
    reason = python_problem(text, path) if kind == "python" else problem(text, kind, load_yaml())
    if reason:
        sys.stderr.write(reason + "\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
