"""django_apm's logs: the rules are checked as RE2 before any change (patterns Python's re accepts
but the agent's Go regexp refuses), the built-in and default PHI masks hide the needles of real app
lines, the logs configuration has the agent's shape, and logrules (the tests' model of the agent)
expands placeholders as Go does. Filter plugin and helpers only, no Ansible run."""

import importlib.util
import json
import re
from pathlib import Path

import pytest
import yaml

import logrules

ROLE = Path(__file__).resolve().parents[2] / "roles" / "django_apm"
_spec = importlib.util.spec_from_file_location("django_apm_logs_filters", ROLE / "filter_plugins" / "django_apm_logs.py")
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)
_check_spec = importlib.util.spec_from_file_location("django_apm_logs_check", ROLE / "files" / "logs_config_check.py")
CHECK = importlib.util.module_from_spec(_check_spec)
_check_spec.loader.exec_module(CHECK)

DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
VARS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
RULES = VARS["_django_apm_logs_builtin_rules"] + F.phi_rules(DEFAULTS["django_apm_logs_phi_patterns"], "[phi_redacted]")


def mask(name, pattern, placeholder="[x]"):
    return {"type": "mask_sequences", "name": name, "pattern": pattern, "replace_placeholder": placeholder}


@pytest.mark.parametrize("pattern,why", [
    (r"(?<=patient_id=)\d+", "invalid perl operator"),  # lookbehind
    (r"(?<!x)\d+", "invalid perl operator"),  # negative lookbehind
    (r"(?=x)\d+", "invalid perl operator"),  # lookahead
    (r"(['\"])\w+\1", "invalid escape sequence"),  # backreference
    (r"\d++", "bad repetition operator"),  # possessive
    (r"(?>\d+)", "invalid"),  # atomic group
    (r"end\Z", "invalid escape sequence"),  # Python-only \Z
])
def test_patterns_python_accepts_but_re2_refuses_are_refused_naming_the_rule(pattern, why):
    re.compile(pattern)  # Python's re takes it: checking with re would let it through
    errors = F.rule_errors([["django_apm_logs_phi_patterns", [mask("ok_rule", r"\d+"), mask("bad_rule", pattern)]]])
    assert len(errors) == 1
    assert errors[0].startswith("django_apm_logs_phi_patterns[1] (name 'bad_rule')"), errors
    assert "not RE2" in errors[0] and why in errors[0], errors


def test_the_builtin_masks_and_the_default_phi_patterns_are_re2():
    assert F.rule_errors([["builtin", VARS["_django_apm_logs_builtin_rules"]],
                          ["django_apm_logs_phi_patterns", RULES[len(VARS["_django_apm_logs_builtin_rules"]):]]]) == []


@pytest.mark.parametrize("rule,why", [
    ({"type": "mask", "name": "a", "pattern": "x"}, "type 'mask' is not one of"),
    ({"type": "exclude_at_match", "pattern": "x"}, "needs a name"),
    ({"type": "exclude_at_match", "name": "a b", "pattern": "x"}, "needs a name"),
    ({"type": "exclude_at_match", "name": "a", "pattern": ""}, "needs a pattern"),
    ({"type": "exclude_at_match", "name": "a", "pattern": "x", "placeholder": "y"}, "unknown keys ['placeholder']"),
    ({"type": "mask_sequences", "name": "a", "pattern": "x"}, "needs a replace_placeholder"),
    ({"type": "include_at_match", "name": "a", "pattern": "x", "replace_placeholder": "y"}, "only mask_sequences"),
    (mask("a", r"(id=)\d+", "$1x"), "group '1x'"),  # Go reads $1x as the group named 1x
    (mask("a", r"(id=)\d+", "${2}"), "group '2'"),
    (mask("a", r"(?P<key>id=)\d+", "${nokey}"), "group 'nokey'"),
    ("exclude_at_match", "not a mapping"),
])
def test_rules_the_agent_would_refuse_or_misread_are_refused(rule, why):
    errors = F.rule_errors([["django_apm_logs_processing_rules", [rule]]])
    assert len(errors) == 1 and errors[0].startswith("django_apm_logs_processing_rules[0]") and why in errors[0], errors


def test_good_placeholders_and_types_pass():
    rules = [mask("a", r"(id=)\d+", "${1}[x]"), mask("b", r"(?P<key>id=)\d+", "$key $$ ${key}"),
             {"type": "exclude_at_match", "name": "c", "pattern": "healthcheck"},
             {"type": "include_at_match", "name": "d", "pattern": "."}, {"type": "exclude_truncated", "name": "e"}]
    assert F.rule_errors([["v", rules]]) == []


def test_rule_names_are_unique_across_the_variables():
    errors = F.rule_errors([["django_apm_logs_phi_patterns", [mask("same", "x")]],
                            ["django_apm_logs_processing_rules", [mask("same", "y")]]])
    assert errors == ["django_apm_logs_processing_rules[0] (name 'same'): the name is also used by "
                      "django_apm_logs_phi_patterns[0] (name 'same'): rule names must be unique"]


# Lines as the sample app writes them (upstream/logs.py): JSON objects, one a line.
NEEDLES = ["12345", "98765", "alice", "alice.patientcare@example.org", "bob@example.com", "s3cretq"]
LINES = [
    {"logger": "upstream.request", "message": "GET /patients/?patient_id=12345&q=s3cretq 200 4.1ms"},
    {"logger": "upstream.request", "message": "GET https://lab.example.invalid/r?patient_id=98765 200"},
    {"logger": "upstream.task", "message": "task patients.tasks.record_visit[abc] started args=['12345'] kwargs={}",
     "note": "patient_id: '12345'"},
    {"logger": "upstream.audit", "message": "login user=alice email=alice.patientcare@example.org from 127.0.0.1"},
    {"logger": "x", "message": "lookup", "username": "alice", "mrn_id": 98765, "contact": "bob@example.com"},
]


@pytest.mark.parametrize("entry", LINES)
def test_the_default_masks_leave_no_needle_in_json_lines_except_bare_task_arguments(entry):
    line = json.dumps(entry)
    out = logrules.apply(RULES, line)
    left = [n for n in NEEDLES if n in out]
    if "args=[" in line:
        # A bare positional argument is not keyed: only a PHI pattern of the app's own shape masks it
        # (the scenario adds one for the sample app's task lines): the defaults cannot know it.
        assert left == ["12345"] and "patient_id: '[phi_redacted]'" in out
    else:
        assert left == [], out
    assert json.loads(out)["logger"] == entry["logger"]  # still one JSON object


def test_the_url_mask_keeps_the_path():
    assert logrules.apply(RULES, "GET /patients/?patient_id=1 200") == "GET /patients/?[query_redacted] 200"
    assert logrules.apply(RULES, "why? because") == "why? because"


def test_logrules_expands_as_gos_regexp_expand():
    # The agent's documented example (advanced_log_collection: "$1 masked_user@${2}").
    rule = mask("u", "(User email: )[^@]*@(.*)", "$1 masked_user@${2}")
    assert logrules.apply([rule], "User email: foo.bar@example.com") == "User email:  masked_user@example.com"
    assert logrules.apply([mask("g", "(a)(b)", "$1x|${1}x|$$|$2|$")], "ab") == "|ax|$|b|$"


def test_logrules_applies_the_rules_in_order():
    rules = [{"type": "exclude_at_match", "name": "e", "pattern": "health"}, mask("m", r"\d+", "N"),
             {"type": "include_at_match", "name": "i", "pattern": "N"}]
    assert logrules.apply(rules, "GET /health/ 200") is None
    assert logrules.apply(rules, "id 42") == "id N"
    assert logrules.apply(rules, "no digits") is None
    # include_at_match sees the masked line: the order is the configuration's.
    assert logrules.apply([mask("m", r"\d+", "N"), {"type": "include_at_match", "name": "i", "pattern": r"\d"}], "id 42") is None


def test_logs_config_journald_and_files():
    cfg = F.logs_config(RULES, "journald", ["b.service", "a.service"], [], "upstream", ["env:staging", "version:abc"])
    assert cfg == {"logs": [{"type": "journald", "include_units": ["a.service", "b.service"], "service": "upstream",
                             "source": "python", "tags": ["env:staging", "version:abc"], "log_processing_rules": RULES}]}
    cfg = F.logs_config([], "file", [], ["/var/log/a.log", "/var/log/b.log"], "upstream", [])
    assert [e["path"] for e in cfg["logs"]] == ["/var/log/a.log", "/var/log/b.log"]


def test_the_host_validator_accepts_the_rendered_config_and_refuses_broken_ones():
    cfg = F.logs_config(RULES, "journald", ["a.service"], [], "upstream", ["env:staging"])
    assert CHECK.problem("# managed\n" + yaml.safe_dump(cfg), yaml) == ""
    assert "not valid YAML" in CHECK.problem("logs: [\n", yaml)
    assert "no list of inputs" in CHECK.problem("logs: {}\n", yaml)
    assert "type is not journald or file" in CHECK.problem("logs:\n  - type: tcp\n", yaml)
    assert "absolute path" in CHECK.problem("logs:\n  - {type: file, path: x, service: s, source: python}\n", yaml)
    assert "type and a name" in CHECK.problem(
        "logs:\n  - {type: journald, service: s, source: python, log_processing_rules: [{type: mask_sequences}]}\n", yaml)
    assert "no PyYAML" in CHECK.problem("logs: []\n", None)
