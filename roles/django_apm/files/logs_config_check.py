"""Validates the agent's logs configuration for the app before it lands (django_apm's logs task,
`validate:`): python3 logs_config_check.py PATH. A full YAML parse with PyYAML (Debian's, or the one
the agent package embeds under /opt/datadog-agent/embedded), then the shape the agent reads: a
mapping whose `logs` is a list of inputs (type journald or file), each with service, source and a
list of log_processing_rules (type and name each). Exits 1 with a one-line reason."""

import glob
import sys


def load_yaml():
    try:
        import yaml  # pylint: disable=import-outside-toplevel
        return yaml
    except ImportError:
        sys.path[:0] = sorted(glob.glob("/opt/datadog-agent/embedded/lib/python3*/site-packages"))
    try:
        import yaml  # pylint: disable=import-outside-toplevel,redefined-outer-name
        return yaml
    except ImportError:
        return None


def problem(text, yaml):
    """Why `text` is not a logs configuration the agent reads ('' when it is)."""
    if yaml is None:
        return "no PyYAML on the host (Debian's python3-yaml, or the agent's embedded one) to check the file with"
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        return "not valid YAML (line {})".format(getattr(getattr(exc, "problem_mark", None), "line", -1) + 1)
    if not isinstance(data, dict) or not isinstance(data.get("logs"), list) or not data["logs"]:
        return "no list of inputs under logs:"
    for index, entry in enumerate(data["logs"]):
        if not isinstance(entry, dict) or entry.get("type") not in ("journald", "file"):
            return f"logs[{index}]: type is not journald or file"
        if entry["type"] == "file" and not str(entry.get("path", "")).startswith("/"):
            return f"logs[{index}]: a file input needs an absolute path"
        if not all(isinstance(entry.get(key), str) and entry[key] for key in ("service", "source")):
            return f"logs[{index}]: service and source must be non-empty strings"
        rules = entry.get("log_processing_rules", [])
        if not isinstance(rules, list) or not all(isinstance(r, dict) and r.get("type") and r.get("name") for r in rules):
            return f"logs[{index}]: log_processing_rules must be a list of rules with a type and a name"
    return ""


def main(argv):
    with open(argv[1], encoding="utf-8") as stream:
        reason = problem(stream.read(), load_yaml())
    if reason:
        print(reason, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
