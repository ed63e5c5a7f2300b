"""Input rules match the WHOLE value. Jinja's `match` test is Python's re.match, whose `$` also
matches before a final line break: `'upstream\\n' is match('^[a-z]+$')` is true. A folded YAML
scalar (`>`) or a key piped into `ansible-vault encrypt_string` carries exactly that line break,
and it went on into datadog.yaml (hostname), the deb822 source (a blank line ends its stanza),
pip's requirement (ddtrace==4.16.0 + LF) and the .env's secret-name patterns. The roles' rules use
`regex(..., match_type='fullmatch')` instead; this scan keeps it that way (a prefix check such as
`is match('^https?://')`, not anchored at the end, stays allowed)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FILES = sorted(p for top in ("roles", "playbooks") for p in (ROOT / top).rglob("*.yml"))
_LIT = r"'(?:[^'\\]|\\.)*'"
# `x is match('...$')`, `select('match', '...$')`, `reject('match', '...$')`, or with a pattern
# variable (the roles keep their anchored patterns in vars/ as *_re / *_regex).
_ANCHORED_MATCH = re.compile(rf"(?:\bis(?:\s+not)?\s+match\(\s*|\('match',\s*)(?:{_LIT[:-1]}\$'|_\w+_re(?:gex)?\b)")


def anchored_matches(text):
    return [m.group(0) for m in _ANCHORED_MATCH.finditer(text)]


def test_the_scan_sees_an_anchored_match():
    assert anchored_matches("ok: \"{{ x is match('^[a-z]+$') }}\"")
    assert anchored_matches("{{ xs | reject('match', '^[a-z]+$') | list }}")
    assert anchored_matches("{{ p is\n   match(_django_apm_path_re) }}")
    assert not anchored_matches("{{ url is match('^https?://') }}")
    assert not anchored_matches("{{ x is regex('^[a-z]+$', match_type='fullmatch') }}")


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(ROOT)))
def test_rules_match_the_whole_value(path):
    assert anchored_matches(path.read_text()) == [], (
        "use regex(PATTERN, match_type='fullmatch'): match's $ lets a trailing line break through")
