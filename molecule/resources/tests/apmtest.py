"""Helpers shared by the testinfra tests of several scenarios (imported through sys.path)."""

import time

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


def span_contents(traces):
    """(text, numbers) of every span: text joins every key and string value at any depth (meta,
    resource, meta_struct...), numbers holds every other number (metrics...), so a PHI search is
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
    return "\n".join(texts), numbers
