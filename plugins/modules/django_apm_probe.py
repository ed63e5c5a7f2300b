#!/usr/bin/python
"""Everything django_apm's preflight and plan need from the host, read in ONE task (read-only)."""

DOCUMENTATION = r"""
---
module: django_apm_probe
short_description: Read, in one task, everything the django_apm role needs from an app host
description:
  - >-
    Reads the app directory, the settings file and the .env (whole, since the controller plans from
    them, so the task that runs this module must be C(no_log)), the app user and group, the
    checkout's commit, the virtualenv (ddtrace's version, whether Ansible's pip module can run
    there), the state of the app's units, and the owner, group, mode and SHA-1 of the files the
    role writes (O(files)), so that a run that changes nothing skips their tasks.
  - >-
    Changes nothing; runs in check mode too and says whether the task runs in check mode
    (C(ansible_check_mode) misses the C(check_mode) keyword of a play or block).
  - Standard library only beyond Ansible's module_utils; the virtualenv's Python is asked once.
options:
  app_dir: {description: The app's checkout., type: path, required: true}
  settings_file: {description: The settings module's file., type: path, required: true}
  dotenv_path: {description: The .env file., type: path, required: true}
  venv_python: {description: The virtualenv's Python., type: path, required: true}
  user: {description: The app user., type: str, required: true}
  group: {description: The app group., type: str, required: true}
  git: {description: Read the checkout's commit (git rev-parse)., type: bool, default: false}
  services: {description: The app's own units, whose LoadState is read., type: list, elements: str, default: []}
  units: {description: The role's units, whose ActiveState and UnitFileState are read., type: list, elements: str, default: []}
  retired: {description: The role's switched-off unit names; which of them /etc/systemd/system holds., type: list, elements: str, default: []}
  agent_group: {description: A group whose existence is read (the Datadog agent's; empty for none)., type: str, default: ""}
  files: {description: Paths whose type, owner, group, mode and SHA-1 are read., type: list, elements: path, default: []}
author: ddapm
"""

RETURN = r"""
check_mode: {description: Whether the task ran in check mode., type: bool, returned: always}
files: {description: "path -> {exists, isdir, checksum, mode, owner, group} (checksum: SHA-1 of a regular file).", type: dict, returned: always}
"""

import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess

from ansible.module_utils.basic import AnsibleModule

# Run by the virtualenv's Python: ddtrace's version ("none", as roles/django_apm/files/ddtrace_version.py
# prints for the verify stage) and whether Ansible's pip module can run there (it needs packaging
# or setuptools' pkg_resources).
VENV_SNIPPET = (
    "import importlib.metadata as m, importlib.util as u, json\n"
    "try:\n    v = m.version('ddtrace')\nexcept m.PackageNotFoundError:\n    v = 'none'\n"
    "print(json.dumps({'ddtrace': v, 'pipmodule': bool(u.find_spec('packaging') or u.find_spec('pkg_resources'))}))\n"
)
SYSTEMD_PROPERTIES = ("LoadState", "ActiveState", "UnitFileState")


def _read(path):
    """(exists as a regular file, its text or '')."""
    if not os.path.isfile(path):
        return False, ""
    with open(path, encoding="utf-8", errors="replace", newline="") as handle:
        return True, handle.read()


def _known(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


def _name(lookup, ident):
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)


def _run(argv, **kwargs):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as err:
        return 127, "", str(err)
    return proc.returncode, proc.stdout, proc.stderr


def git_head(app_dir):
    """{"rc", "sha", "error"}: the commit checked out in app_dir (git rev-parse)."""
    rc, out, err = _run(["git", "-c", "safe.directory=" + app_dir, "-C", app_dir, "rev-parse", "--verify", "HEAD^{commit}"])
    return {"rc": rc, "sha": out.strip() if rc == 0 else "", "error": "" if rc == 0 else err.strip()}


def venv_state(python):
    """{"ddtrace": version or "none", "pipmodule": bool}, or None when python cannot run."""
    if not (os.path.isfile(python) and os.access(python, os.X_OK)):
        return None
    rc, out, _ = _run([python, "-c", VENV_SNIPPET])
    if rc != 0:
        return {"ddtrace": "none", "pipmodule": False}
    return json.loads(out)


def systemd_units(units):
    """unit -> {LoadState, ActiveState, UnitFileState}, in one systemctl call ("" when not answered).

    systemctl show prints one block per unit, in the order asked, separated by an empty line."""
    if not units:
        return {}
    rc, out, _ = _run(["systemctl", "show", "--property=" + ",".join(SYSTEMD_PROPERTIES), "--", *units])
    blocks = out.strip().split("\n\n") if rc == 0 else []
    states = {}
    for i, unit in enumerate(units):
        props = dict(line.split("=", 1) for line in blocks[i].splitlines() if "=" in line) if i < len(blocks) else {}
        states[unit] = {key: props.get(key, "") for key in SYSTEMD_PROPERTIES}
    return states


def file_state(path):
    """{exists, isdir, checksum, mode, owner, group} of path (links not followed, as the file
    modules see the path they write); checksum: SHA-1 of a regular file, else ""."""
    try:
        st = os.lstat(path)
    except OSError:
        return {"exists": False, "isdir": False, "checksum": "", "mode": "", "owner": "", "group": ""}
    checksum = ""
    if stat.S_ISREG(st.st_mode):
        digest = hashlib.sha1()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(65536), b""):
                digest.update(chunk)
        checksum = digest.hexdigest()
    return {"exists": True, "isdir": stat.S_ISDIR(st.st_mode), "checksum": checksum,
            "mode": "%04o" % stat.S_IMODE(st.st_mode), "owner": _name(pwd.getpwuid, st.st_uid),
            "group": _name(grp.getgrgid, st.st_gid)}


def probe(args):
    systemd = os.path.isdir("/run/systemd/system")
    settings_exists, settings = _read(args["settings_file"])
    dotenv_exists, dotenv = _read(args["dotenv_path"])
    venv = venv_state(args["venv_python"])
    services = list(args.get("services") or [])
    units = list(args.get("units") or [])
    states = systemd_units(services + [u for u in units if u not in services]) if systemd else {}
    return {
        "app_dir": os.path.isdir(args["app_dir"]),
        "settings_exists": settings_exists,
        "settings": settings,
        "dotenv_exists": dotenv_exists,
        "dotenv": dotenv,
        "python": venv is not None,
        "ddtrace": venv["ddtrace"] if venv else "none",
        "pipmodule": bool(venv and venv["pipmodule"]),
        "systemd": systemd,
        "user": _known(pwd.getpwnam, args["user"]),
        "group": _known(grp.getgrnam, args["group"]),
        "git": git_head(args["app_dir"]) if args.get("git") else {"rc": 0, "sha": "", "error": ""},
        "services": {u: states.get(u, {}).get("LoadState", "") for u in services},
        "units": {u: states.get(u, {}) for u in units},
        "retired": [u for u in args.get("retired") or [] if os.path.exists("/etc/systemd/system/" + u)],
        "agent_group": bool(args.get("agent_group")) and _known(grp.getgrnam, args["agent_group"]),
        "files": {path: file_state(path) for path in args.get("files") or []},
    }


def main():
    module = AnsibleModule(
        argument_spec={
            "app_dir": {"type": "path", "required": True},
            "settings_file": {"type": "path", "required": True},
            "dotenv_path": {"type": "path", "required": True},
            "venv_python": {"type": "path", "required": True},
            "user": {"type": "str", "required": True},
            "group": {"type": "str", "required": True},
            "git": {"type": "bool", "default": False},
            "services": {"type": "list", "elements": "str", "default": []},
            "units": {"type": "list", "elements": "str", "default": []},
            "retired": {"type": "list", "elements": "str", "default": []},
            "agent_group": {"type": "str", "default": ""},
            "files": {"type": "list", "elements": "path", "default": []},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=False, check_mode=module.check_mode, **probe(module.params))


if __name__ == "__main__":
    main()
