"""The Datadog agent's log_processing_rules, applied to a log line as the agent documents them, with
the RE2 library (google-re2): the tests' model of what would leave the host.

Documented behaviour (docs.datadoghq.com/agent/logs/advanced_log_collection): rules apply in order,
each on the result of the previous one; exclude_at_match drops a line its pattern matches;
include_at_match drops a line its pattern does not match; mask_sequences replaces every match with
replace_placeholder, where $1, ${1}, $name and ${name} expand to the groups (Go's regexp.Expand:
a name is the longest run of letters, digits and _; a group that does not exist expands to nothing;
$$ is a $). The stand-in agent does none of this: it collects and ships no logs.
"""

import re

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False
_REF = re.compile(r"\$(?:(\$)|\{([A-Za-z0-9_]+)\}|([A-Za-z0-9_]+))")


def expand(template, match):
    """Go's regexp.Expand of ``template`` for one RE2 match."""
    def one(ref):
        if ref.group(1):
            return "$"
        name = ref.group(2) or ref.group(3)
        if name.isdigit():
            index = int(name)
            return (match.group(index) or "") if index <= match.re.groups else ""
        return (match.group(name) or "") if name in match.re.groupindex else ""

    # A $ followed by nothing valid stays a $ (Go: "malformed; treat $ as raw text").
    return _REF.sub(one, template)


def apply(rules, line):
    """The line as the agent would send it, or None when a rule drops it."""
    for rule in rules:
        kind = rule["type"]
        if kind not in ("exclude_at_match", "include_at_match", "mask_sequences"):
            continue
        pattern = re2.compile(rule["pattern"], _OPTIONS)
        if kind == "exclude_at_match" and pattern.search(line):
            return None
        if kind == "include_at_match" and not pattern.search(line):
            return None
        if kind == "mask_sequences":
            line = pattern.sub(lambda m, t=rule["replace_placeholder"]: expand(t, m), line)
    return line


def trace_id_int(text):
    """A log line's dd.trace_id as the intake's trace_id: ddtrace writes a 128-bit trace id as 32 hex
    digits, a 64-bit one in decimal; the intake keeps the low 64 bits as a number (the high ones in
    _dd.p.tid)."""
    return int(text[16:], 16) if len(text) == 32 else int(text)
