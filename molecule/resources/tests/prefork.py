"""What the fast tests' localhost runs of the roles share with the Molecule runs to spend less CPU
(the tests only; bench/ and users' runs have neither). On pytest.ini's pythonpath: the fast
tests import it by module name.

- prefork_env(env): the environment of an ansible-playbook run with the ddapm_prefork callback
  (tests/callback_plugins/ddapm_prefork.py), as the Molecule base config gives every Molecule run:
  AnsiballZ payloads shared through .cache/ansiballz, Jinja plugins loaded before workers fork.
- local_python(): the interpreter for ansible_python_interpreter of a localhost host: this Python
  with the zip-import bytecode cache the test hosts have (molecule/harness/zipimport_cache.py,
  kept in .cache/zipimport). Each module run on localhost imports ansible.module_utils from the
  AnsiballZ zip, which Python compiles from source every time without it.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from changes import CALLBACK_DIR, enable_callback

ROOT = Path(__file__).resolve().parents[3]
CACHE = ROOT / ".cache" / "ansiballz"
HARNESS = ROOT / "molecule" / "harness"
LOCAL_PYTHON = ROOT / ".cache" / "local-python"
ZIPIMPORT_CACHE = ROOT / ".cache" / "zipimport"


def prefork_env(env):
    """`env` plus what enables ddapm_prefork (the callbacks and callback folders already named are kept)."""
    return dict(enable_callback(env, "ddapm_prefork"), DDAPM_ANSIBALLZ_CACHE=env.get("DDAPM_ANSIBALLZ_CACHE") or str(CACHE))


def _write(path, text, mode):
    """Write `text` to `path` unless it holds it already; whole files only (xdist workers race)."""
    if path.is_file() and path.read_text() == text:
        return
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name + ".")
    with os.fdopen(fd, "w") as out:
        out.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def local_python():
    """Path of a wrapper that runs this Python with the zip-import bytecode cache installed."""
    site = LOCAL_PYTHON / "site"
    site.mkdir(parents=True, exist_ok=True)
    ZIPIMPORT_CACHE.mkdir(mode=0o700, parents=True, exist_ok=True)
    _write(site / "sitecustomize.py",
           f"import sys\nsys.path.insert(0, {str(HARNESS)!r})\nimport zipimport_cache\n"
           f"sys.path.remove({str(HARNESS)!r})\nzipimport_cache.install({str(ZIPIMPORT_CACHE)!r})\n", 0o644)
    wrapper = LOCAL_PYTHON / "python"
    _write(wrapper, f'#!/bin/sh\nPYTHONPATH="{site}${{PYTHONPATH:+:$PYTHONPATH}}" exec {sys.executable} "$@"\n', 0o755)
    return str(wrapper)
