"""Everything datadog_agent's preflight and plan need from the host, read in ONE run (read-only).

    python3 host_state.py JSON_ARGS

JSON_ARGS is one JSON object:
  find       {paths, patterns, depth}: the files and directories under paths (hidden ones too,
             links not followed, at most depth levels down) whose name matches one of patterns,
             each with its mode, owner, group and SHA-1, in ansible.builtin.find's shape (files,
             skipped_paths): the keyring, the APT sources, /etc/datadog-agent;
  packages   names whose installed version dpkg is asked for ("" when not installed);
  candidate  a package whose APT candidate version is asked (apt-cache policy; "" when none);
  user       the agent's user, and groups, the groups it must be in: does each exist, is the user in it;
  service    the agent's unit: its ActiveState and UnitFileState;
  paths      paths whose existence is asked (links followed).
Prints one JSON object: found (the find's answer), packages, candidate, apt_cache_age (seconds since APT's lists were last
refreshed, as ansible.builtin.apt's cache_valid_time reads it), groups, service, paths.
Standard library only: it runs under the host's Python.
"""

import fnmatch
import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess
import sys
import time

# ansible.builtin.apt's cache age: the update-success stamp, else the lists directory.
APT_STAMPS = ("/var/lib/apt/periodic/update-success-stamp", "/var/lib/apt/lists")


def _run(argv):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120,
                              env={**os.environ, "LC_ALL": "C"})
    except (OSError, subprocess.TimeoutExpired):
        return 127, ""
    return proc.returncode, proc.stdout


def installed_versions(names):
    """name -> the installed version (dpkg's, epoch included), "" when not installed."""
    versions = dict.fromkeys(names, "")
    if not names:
        return versions
    _, out = _run(["dpkg-query", "-W", "-f", "${Package}\t${db:Status-Status}\t${Version}\n", "--", *names])
    for line in out.splitlines():
        fields = line.split("\t")
        if len(fields) == 3 and fields[0] in versions and fields[1] == "installed":
            versions[fields[0]] = fields[2]
    return versions


def candidate_version(name):
    """APT's candidate version of name, "" when it has none (or APT cannot read its lists)."""
    if not name:
        return ""
    rc, out = _run(["apt-cache", "policy", "--", name])
    for line in out.splitlines() if rc == 0 else []:
        key, _, value = line.strip().partition(":")
        if key == "Candidate":
            value = value.strip()
            return "" if value == "(none)" else value
    return ""


def apt_cache_age(now=None):
    now = time.time() if now is None else now
    for path in APT_STAMPS:
        if os.path.exists(path):
            return now - os.stat(path).st_mtime
    return now


def group_membership(user, groups):
    """group -> {"exists", "member"}: member when the user lists it or has it as primary group."""
    try:
        primary = pwd.getpwnam(user).pw_gid if user else None
    except KeyError:
        primary = None
    out = {}
    for name in groups:
        try:
            entry = grp.getgrnam(name)
        except KeyError:
            out[name] = {"exists": False, "member": False}
            continue
        out[name] = {"exists": True, "member": user in entry.gr_mem or entry.gr_gid == primary}
    return out


def service_state(unit):
    if not unit or not os.path.isdir("/run/systemd/system"):
        return {"ActiveState": "", "UnitFileState": ""}
    rc, out = _run(["systemctl", "show", "--property=ActiveState,UnitFileState", "--", unit])
    props = dict(line.split("=", 1) for line in out.splitlines() if "=" in line) if rc == 0 else {}
    return {"ActiveState": props.get("ActiveState", ""), "UnitFileState": props.get("UnitFileState", "")}


def _entry(path):
    st = os.lstat(path)
    entry = {"path": path, "isdir": stat.S_ISDIR(st.st_mode), "isreg": stat.S_ISREG(st.st_mode),
             "islnk": stat.S_ISLNK(st.st_mode), "mode": "%04o" % stat.S_IMODE(st.st_mode)}
    for key, lookup, ident in (("pw_name", pwd.getpwuid, st.st_uid), ("gr_name", grp.getgrgid, st.st_gid)):
        try:
            entry[key] = lookup(ident)[0]
        except KeyError:
            entry[key] = ""
    if entry["isreg"]:
        digest = hashlib.sha1()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(65536), b""):
                digest.update(chunk)
        entry["checksum"] = digest.hexdigest()
    return entry


def find(paths, patterns, depth):
    """ansible.builtin.find's answer (file_type any, recurse, hidden, get_checksum, follow false):
    {"files": [...], "skipped_paths": {path: reason}} with path, isdir, isreg, islnk, mode,
    pw_name, gr_name and (regular files) checksum."""
    files, skipped = [], {}
    for top in paths:
        if not os.path.isdir(top):
            skipped[top] = "%s was skipped as it does not seem to be a valid directory or it cannot be accessed" % top
            continue
        base = top.rstrip("/").count("/")
        for root, dirs, names in os.walk(top):
            level = root.rstrip("/").count("/") - base + 1
            for name in sorted(dirs) + sorted(names):
                if any(fnmatch.fnmatch(name, p) for p in patterns):
                    try:
                        files.append(_entry(os.path.join(root, name)))
                    except OSError:
                        continue
            if level >= depth:
                dirs[:] = []
    return {"files": files, "skipped_paths": skipped}


def state(args):
    look = args.get("find") or {}
    return {
        "found": find(list(look.get("paths") or []), list(look.get("patterns") or []), int(look.get("depth") or 1)),
        "packages": installed_versions(list(args.get("packages") or [])),
        "candidate": candidate_version(args.get("candidate") or ""),
        "apt_cache_age": apt_cache_age(),
        "groups": group_membership(args.get("user") or "", list(args.get("groups") or [])),
        "service": service_state(args.get("service") or ""),
        "paths": {p: os.path.exists(p) for p in args.get("paths") or []},
    }


if __name__ == "__main__":
    print(json.dumps(state(json.loads(sys.argv[1]))))
