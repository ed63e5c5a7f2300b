#!/usr/bin/python3
"""A secret backend command for the tests (a stand-in for a real one such as a Vault client).

Speaks the protocol the Datadog Agent documents for secret_backend_command
(https://docs.datadoghq.com/agent/configuration/secrets-management/): reads
{"version": "1.0", "secrets": [handle, ...]} on stdin and prints {handle: {"value": ..., "error": ...}}.
The values come from the JSON store named by its first argument. It never prints a value anywhere
but on stdout, to the agent.
"""

import json
import sys


def main():
    payload = json.load(sys.stdin)
    if payload.get("version") != "1.0":
        print(f"unsupported payload version {payload.get('version')!r}", file=sys.stderr)
        return 1
    with open(sys.argv[1], encoding="utf-8") as handle:
        store = json.load(handle)
    answer = {}
    for name in payload.get("secrets", []):
        if name in store:
            answer[name] = {"value": store[name], "error": None}
        else:
            answer[name] = {"value": None, "error": f"no secret named {name!r} in the store"}
    json.dump(answer, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
