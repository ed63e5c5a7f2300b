#!/usr/bin/env python3
"""Read-only probes of app_deploy on the host (stdlib only). Prints one JSON object.

    deploy_state.py probe --app-dir DIR --record FILE --user USER
        what the host runs: the record of the last completed deploy (FILE, written by the role
        after the health gate passed; null when there is none or it is unreadable), the commit
        checked out in DIR (null when DIR is no checkout) and whether USER exists.

    deploy_state.py tree --app-dir DIR --requirements FILE --constraints FILE
        what the checked-out commit needs: git's object ids of the requirements and constraints
        files (null when the commit has none) and one digest of every file under a `migrations`
        folder, all read from HEAD's tree (never the work tree, which django_apm edits).

A deploy compares "tree" with the record to run pip only when requirements or constraints changed
and migrate only when migrations changed.
"""

import argparse
import hashlib
import json
import os
import pwd
import subprocess
import sys


def git(app, *args):
    proc = subprocess.run(["git", "-c", "safe.directory=" + app, "-C", app, *args],
                          capture_output=True, text=True, check=False)
    return proc.stdout if proc.returncode == 0 else None


def read_record(path):
    try:
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def probe(args):
    head = git(args.app_dir, "rev-parse", "--verify", "-q", "HEAD^{commit}") if os.path.isdir(args.app_dir) else None
    return {"record": read_record(args.record), "head": head.strip() if head else None,
            "user_exists": user_exists(args.user)}


def tree_entries(listing):
    """(path, object id) of each line of `git ls-tree -r HEAD`: '<mode> <type> <id>\\t<path>'."""
    for line in listing.splitlines():
        meta, _, path = line.partition("\t")
        parts = meta.split()
        if len(parts) == 3:
            yield path, parts[2]


def migrations_digest(entries):
    lines = sorted(f"{oid} {path}" for path, oid in entries if "migrations" in path.split("/")[:-1])
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def tree(args):
    head = git(args.app_dir, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    listing = git(args.app_dir, "ls-tree", "-r", "HEAD")
    if head is None or listing is None:
        raise SystemExit(f"{args.app_dir} is not a git checkout with a commit")
    entries = dict(tree_entries(listing))
    return {"sha": head.strip(), "requirements": entries.get(args.requirements),
            "constraints": entries.get(args.constraints), "migrations": migrations_digest(entries.items())}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("probe")
    p.add_argument("--app-dir", required=True)
    p.add_argument("--record", required=True)
    p.add_argument("--user", required=True)
    t = sub.add_parser("tree")
    t.add_argument("--app-dir", required=True)
    t.add_argument("--requirements", required=True)
    t.add_argument("--constraints", required=True)
    args = parser.parse_args(argv)
    print(json.dumps(probe(args) if args.command == "probe" else tree(args), sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
