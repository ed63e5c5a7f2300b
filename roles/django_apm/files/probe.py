"""Everything django_apm's preflight and plan need from the host, read in ONE run (read-only).

    python3 probe.py JSON_ARGS

JSON_ARGS is one JSON object: app_dir, settings_file, dotenv_path, venv_python, user, group,
git (bool: read the checkout's commit), services (units whose LoadState is asked), units (the
role's own units: active and enabled states), retired (the role's switched-off unit names: does
/etc/systemd/system hold them). Prints one JSON object (see probe()). The settings file and the
.env are returned whole (the controller plans from them): the task that runs this is no_log.
Standard library only: it runs under the host's Python; the app's virtualenv Python is asked,
in one subprocess, for the ddtrace version and whether Ansible's pip module can run there.
"""

import grp
import json
import os
import pwd
import subprocess
import sys

# Run by the virtualenv's Python: ddtrace's version ("none", as files/ddtrace_version.py prints for
# the verify stage) and whether Ansible's pip module can run there (it needs packaging or
# setuptools' pkg_resources).
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


def _run(argv, **kwargs):
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=120, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as err:
        return 127, "", str(err)
    return proc.returncode, proc.stdout, proc.stderr


def git_head(app_dir):
    """{"rc", "sha", "error"}: the commit checked out in app_dir (git rev-parse, as the role did)."""
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
    }


if __name__ == "__main__":
    print(json.dumps(probe(json.loads(sys.argv[1]))))
