"""The PHI search of molecule/resources/tests/apmtest.py (span_contents, used by the django scenario
and the fast trace tests) finds a needle hidden base64-, base64url- or percent-encoded, at any
byte alignment, inside a longer run of base64 characters, and through nested encodings."""

import base64
import sys
import urllib.parse
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "molecule" / "resources" / "tests"))
from apmtest import decoded_forms, span_contents  # noqa: E402

NEEDLES = ["12345", "jane.doe@example.com", "Jane Doe"]


def b64(text, prefix=b""):
    return base64.b64encode(prefix + text.encode()).decode()


def percent(text):
    return "".join(f"%{b:02X}" for b in text.encode())


def hidings(needle):
    """name -> a span value that hides needle."""
    forms = {
        "plain": f"/patients/{needle}/",
        "base64 padded": b64(f"patient={needle}"),
        "base64 unpadded": b64(f"id {needle} x").rstrip("="),
        "base64url": base64.urlsafe_b64encode(b"\xfb\xff" + needle.encode() + b"\xfe").decode(),
        "percent, every byte": percent(needle),
        "percent in a query, lower case": "q=" + percent(f"name={needle}").lower() + "&x=1",
        "double percent": urllib.parse.quote(percent(f"<{needle}>"), safe=""),
        "base64 of percent": b64(urllib.parse.quote(f"user {needle}", safe="")),
        "percent of base64": urllib.parse.quote(b64(f"?{needle}"), safe=""),
    }
    for pad in range(3):  # every byte alignment of the needle in the encoded text
        forms[f"base64, needle at byte {pad}"] = b64(needle, prefix=b"\0" * pad)
    for shift in range(1, 4):  # the encoding inside a longer run of base64 characters
        forms[f"base64 after {shift} base64 characters"] = "tok"[:shift] + b64(needle, prefix=b"\xff")
    return forms


CASES = [(n, name, value) for n in NEEDLES for name, value in hidings(n).items()]


@pytest.mark.parametrize("needle,how,value", CASES, ids=[f"{n}-{h}" for n, h, _ in CASES])
def test_a_hidden_needle_is_found(needle, how, value):
    if how != "plain":
        assert needle not in value, "the crafted value must hide the needle"
    spans = [[{"name": "django.request", "service": "web", "trace_id": 1,
               "meta": {"http.url": "http://127.0.0.1/", "custom": {"deep": [value]}}, "metrics": {"x": 1.0}}]]
    text, _ = span_contents(spans)
    assert needle in text, f"{how}: {value}"


def test_clean_spans_hold_no_needle():
    spans = [[{"name": "django.request", "resource": "GET /patients/<int:id>/", "service": "upstream",
               "meta": {"http.url": "http://127.0.0.1:8000/patients/", "_dd.p.tid": "6745a1b200000000",
                        "component": "django", "env": "molecule", "version": "0123abcd" * 5},
               "trace_id": 12246862954123456084, "span_id": 412345, "metrics": {"_sampling_priority_v1": 1}}]]
    text, numbers = span_contents(spans)
    for needle in NEEDLES:
        assert needle not in text
    assert 12246862954123456084 not in numbers and 412345 not in numbers  # the tracer's own numbers


def test_decoded_forms_stay_small_on_long_identifiers():
    text = "\n".join(f"upstream-service-{i:06d}_{'A' * 60}" for i in range(2000))
    forms = decoded_forms(text)
    assert sum(map(len, forms)) < 20 * len(text)
