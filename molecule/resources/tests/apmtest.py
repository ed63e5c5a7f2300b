"""Helpers shared by the testinfra tests of several scenarios (imported through sys.path)."""

import time

import pytest


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
