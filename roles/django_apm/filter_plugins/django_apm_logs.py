"""Filters of the django_apm role for the app's logs: the Datadog agent's log_processing_rules the
role writes (built-in masks, the PHI patterns, the user's own rules), their validation as RE2, and
the agent's logs configuration for the app's units.

The rules run in the Datadog agent, which is written in Go: its regexp package implements RE2, which
refuses what Python's ``re`` accepts (lookaround, backreferences, possessive quantifiers, ``\\Z``).
So every pattern is compiled here, on the controller, with google-re2 (a binding of the RE2 library,
in requirements.txt) before any change, and a failure names the variable and the rule.
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

# What the agent accepts in log_processing_rules (pkg/logs/config/processing_rules.go).
RULE_TYPES = ("exclude_at_match", "include_at_match", "mask_sequences", "exclude_truncated", "multi_line")
# A $name or ${name} of a replace_placeholder, as Go's regexp.Expand reads it ($$ is a literal $).
_EXPANSION = re.compile(r"\$(?:\$|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def _re2():
    try:
        import re2  # pylint: disable=import-outside-toplevel
    except ImportError:
        raise AnsibleFilterError(
            "django_apm: the RE2 library is not installed on the controller: pip install google-re2 "
            "(requirements.txt); django_apm_logs validates log_processing_rules with it") from None
    return re2


def _plain(value):
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    return str(value)


def rule_problem(rule):
    """Why ``rule`` (one log_processing_rules entry) would not work in the agent ('' when it would)."""
    if not isinstance(rule, Mapping):
        return "is not a mapping with type, name and pattern"
    kind, name, pattern = rule.get("type"), rule.get("name"), rule.get("pattern")
    if kind not in RULE_TYPES:
        return f"type {kind!r} is not one of {', '.join(RULE_TYPES)}"
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_.-]{1,100}", name):
        return "needs a name of letters, digits, _ . - (100 at most)"
    unknown = sorted(set(rule) - {"type", "name", "pattern", "replace_placeholder"})
    if unknown:
        return f"has unknown keys {unknown}"
    if kind == "exclude_truncated":
        return "" if pattern in (None, "") else "exclude_truncated takes no pattern"
    if not isinstance(pattern, str) or not pattern:
        return "needs a pattern (a non-empty string)"
    re2 = _re2()
    options = re2.Options()
    options.log_errors = False
    try:
        compiled = re2.compile(pattern, options)
    except re2.error as err:
        reason = err.args[0].decode() if err.args and isinstance(err.args[0], bytes) else str(err)
        return f"pattern {pattern!r} is not RE2 (the agent's Go regexp would refuse it): {reason}"
    if kind == "mask_sequences":
        placeholder = rule.get("replace_placeholder")
        if not isinstance(placeholder, str):
            return "mask_sequences needs a replace_placeholder (a string)"
        groups = compiled.groups
        names = set(compiled.groupindex)
        for match in _EXPANSION.finditer(placeholder):
            ref = match.group(1) or match.group(2)
            if ref is None:  # $$
                continue
            if not (ref.isdigit() and int(ref) <= groups) and ref not in names:
                return (f"replace_placeholder refers to group {ref!r}, which the pattern does not have "
                        "(Go reads $1x as group '1x': write ${1}x)")
    elif "replace_placeholder" in rule:
        return "only mask_sequences takes a replace_placeholder"
    return ""


def rule_errors(pairs):
    """Messages for the rules that would not work, each naming the variable and the rule.

    ``pairs``: [[variable name, list of rules], ...]. Names must be unique across all of them (the
    agent's status shows rules by name)."""
    errors, seen = [], {}
    for var, rules in pairs:
        if not isinstance(rules, (list, tuple)):
            errors.append(f"{var} must be a list of rules")
            continue
        for index, rule in enumerate(rules):
            label = f"{var}[{index}]"
            if isinstance(rule, Mapping) and rule.get("name"):
                label += f" (name {rule.get('name')!r})"
            problem = rule_problem(rule)
            if problem:
                errors.append(f"{label} {problem}")
                continue
            if rule["name"] in seen:
                errors.append(f"{label}: the name is also used by {seen[rule['name']]}: rule names must be unique")
            seen.setdefault(rule["name"], label)
    return errors


def phi_rules(patterns, default_placeholder):
    """The PHI patterns ({name, pattern, replace_placeholder?}) as mask_sequences rules."""
    rules = []
    for entry in patterns or []:
        entry = _plain(entry) if isinstance(entry, Mapping) else entry
        if not isinstance(entry, Mapping):
            rules.append(entry)  # reported by rule_errors
            continue
        rules.append({"type": "mask_sequences", "name": entry.get("name"), "pattern": entry.get("pattern"),
                      "replace_placeholder": entry.get("replace_placeholder", default_placeholder)})
    return rules


def logs_config(rules, kind, units, files, service, tags):
    """The agent's logs configuration for the app: one journald input for the app's units, or one
    file input per log file; every input with the service, source python, the tags and the rules."""
    common = {"service": str(service), "source": "python", "tags": [str(t) for t in tags],
              "log_processing_rules": _plain(list(rules))}
    if kind == "journald":
        if not units:
            raise AnsibleFilterError("django_apm_logs_type journald needs units (django_apm_manage_units or django_apm_services)")
        inputs = [{"type": "journald", "include_units": sorted(str(u) for u in units), **common}]
    elif kind == "file":
        inputs = [{"type": "file", "path": str(path), **common} for path in files]
    else:
        raise AnsibleFilterError(f"django_apm_logs_type {kind!r} is not journald or file")
    return {"logs": inputs}


class FilterModule:
    def filters(self):
        return {
            "django_apm_logs_rule_errors": rule_errors,
            "django_apm_logs_phi_rules": phi_rules,
            "django_apm_logs_config": logs_config,
        }
