#!/usr/bin/env python3
"""Run a command with extra environment variables read from a JSON file (an object of names to
string values), so that a secret (the app's database password) reaches the command without
appearing on a command line, in Ansible's `environment:` (which -vvv prints) or in a log.

    with_env.py FILE -- COMMAND [ARG...]

The file is the caller's (mode 0600, owned by the user running the command). The variables are
added to the current environment; the command replaces this process (its exit status is the
command's).
"""

import json
import os
import sys


def main(argv):
    if len(argv) < 4 or argv[2] != "--":
        sys.exit("usage: with_env.py FILE -- COMMAND [ARG...]")
    with open(argv[1], encoding="utf-8") as handle:
        extra = json.load(handle)
    if not isinstance(extra, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in extra.items()):
        sys.exit(f"{argv[1]}: expected a JSON object of names to string values")
    os.environ.update(extra)
    os.execvp(argv[3], argv[3:])


if __name__ == "__main__":
    main(sys.argv)
