"""Helpers shared by the testinfra tests of several scenarios (imported through sys.path)."""

import base64
import binascii
import re
import time
import urllib.parse

import pytest


def quote(text):
    """text as one single-quoted shell word."""
    return "'" + str(text).replace("'", "'\"'\"'") + "'"


def http_get(host, url, timeout=10):
    """(status, body) of a GET made on the host itself (an HTTP error status is returned too)."""
    code = ("import sys, urllib.request as u, urllib.error as e\n"
            "try:\n    r = u.urlopen(sys.argv[1], timeout=float(sys.argv[2])); s, b = r.status, r.read()\n"
            "except e.HTTPError as x:\n    s, b = x.code, x.read()\n"
            "print(s); sys.stdout.write(b.decode(errors='replace'))")
    res = host.run(f"python3 -c {quote(code)} {quote(url)} {timeout}")
    assert res.rc == 0, res.stderr
    status, _, body = res.stdout.partition("\n")
    return int(status), body


def wait_for(fetch, check, what, deadline=60.0):
    """Poll fetch() until check(result) is truthy and return that; fail with the last result."""
    end = time.monotonic() + deadline
    while True:
        result = fetch()
        found = check(result)
        if found:
            return found
        if time.monotonic() > end:
            pytest.fail(f"timed out after {deadline}s waiting for {what}; last: {str(result)[:3000]}")
        time.sleep(1)


# Numbers the tracer makes up itself (random ids, clock readings, its process id). No PHI travels
# in them, and a digit needle such as a patient id turns up inside them by chance: trace_id
# 12246862954123456084 "contains" 12345. They are left out of the PHI search; everything else is in.
TRACER_NUMBERS = frozenset({"trace_id", "span_id", "parent_id", "start", "duration", "process_id"})


# A run of base64 / base64url characters (and its padding) long enough to hide a needle: 8 or more.
_B64_RUN = re.compile(r"[A-Za-z0-9+/_-]{6,}={0,2}")
_B64URL = str.maketrans("-_", "+/")
_PERCENT = re.compile(r"%[0-9A-Fa-f]{2}")


def _b64_decodings(run):
    """The text of every base64 decoding of run, at the 4 alignments a quantum can start at.

    An encoded string inside a longer run of base64 characters (`token` + encoding, a JWT part)
    starts at an unknown offset; decoding from offsets 0..3 puts one of them on its quantum
    boundary, and the bytes before it only garble the first 3 decoded bytes.
    """
    run = run.rstrip("=").translate(_B64URL)
    for offset in range(4):
        chunk = run[offset:]
        # A last quantum of 2 or 3 characters is an unpadded end (1 cannot be base64).
        chunk = chunk[: len(chunk) - 1] if len(chunk) % 4 == 1 else chunk
        chunk += "=" * (-len(chunk) % 4)
        if len(chunk) >= 4:
            try:
                yield base64.b64decode(chunk, validate=True).decode("utf-8", errors="replace")
            except (binascii.Error, ValueError):
                continue


def decoded_forms(text, depth=3):
    """Every text hidden in text by base64, base64url or percent-encoding, nested up to `depth`
    layers (base64 of a percent-encoded value...), for a search of the decoded text too."""
    found, layer = [], [text]
    for _ in range(depth):
        nxt = []
        for item in layer:
            if _PERCENT.search(item) or "+" in item:
                unquoted = urllib.parse.unquote_plus(item)
                if unquoted != item:
                    nxt.append(unquoted)
            for run in _B64_RUN.findall(item):
                if len(run) >= 8:
                    nxt.extend(_b64_decodings(run))
        found.extend(nxt)
        # Only a decoding that reads as text can hold a further layer (garbage from a run that
        # was never base64 is searched but not decoded again).
        layer = [d for d in nxt if sum(c.isprintable() or c.isspace() for c in d) >= 0.9 * len(d)]
    return found


def span_contents(traces):
    """(text, numbers) of every span: text joins every key and string value at any depth (meta,
    resource, meta_struct...) and what any of them hides base64-, base64url- or percent-encoded
    (decoded_forms), numbers holds every other number (metrics...), so a PHI search is
    `needle not in text` plus, for a digit needle, `int(needle) not in numbers`."""
    texts, numbers = [], set()

    def walk(value):
        if isinstance(value, dict):
            for key, item in value.items():
                texts.append(str(key))
                if key not in TRACER_NUMBERS:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)
        elif isinstance(value, str):
            texts.append(value)
        elif isinstance(value, (int, float)) and not isinstance(value, bool):
            numbers.add(value)
        elif value is not None:
            texts.append(str(value))

    walk(traces)
    text = "\n".join(texts)
    return "\n".join([text, *decoded_forms(text)]), numbers
