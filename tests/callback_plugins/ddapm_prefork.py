"""Work every worker of a run would do again, done once (tests only: the Molecule runs).

Ansible runs each task on each host in a new process forked from ansible-playbook. What a worker
loads or builds dies with it, and what ansible-playbook itself builds lives only as long as the
run. Measured on a `molecule converge` of datadog_agent (cProfile of the workers, 2026-12-01),
three costs are the same in every run and every worker, and this callback, loaded in
ansible-playbook's own process before the first fork, pays them once:

- **AnsiballZ payloads.** Before a Python module first runs in an ansible-playbook run, Ansible
  walks its imports (recursive_finder) and zips the module with its module_utils: 0.25 to 0.7 CPU
  seconds per module, cached in a directory of that run only (C.DEFAULT_LOCAL_TMP/ansiballz_cache),
  so the suite's few hundred runs build the same payloads again and again. With
  DDAPM_ANSIBALLZ_CACHE set (the Molecule base config sets it to .cache/ansiballz), a run starts
  with the payloads earlier runs built and adds the ones it builds. Only payloads built wholly from
  files of this virtualenv are shared (ansible-core's modules, the collections of the `ansible`
  package): their files change only with the installed versions, which name the shared folder.
  A payload with a file from anywhere else (this project's collection, a collections path) is
  built in each run as before. Entries are written under a temporary name and renamed, as Ansible
  does, so parallel runs never read half a file.
- **The Jinja filter and test plugins.** A worker's first filter lookup loads every filter and
  test plugin file of ansible-core and of the roles' filter_plugins (Jinja2Loader
  `_ensure_non_collection_wrappers`: a fifth of a worker's CPU in that profile). Loading them at
  the start of each play lets every worker inherit them. Ansible drops that cache itself when a
  role added later (include_role) brings plugin folders, and the workers then load them as before.
- **Connection plugins of collections.** ansible-playbook loads the connection, shell and become
  plugins of its own folders before the first fork, not those of collections: each worker that
  reaches a host through community.docker.docker imports that plugin from source and parses its
  documentation again (0.02 CPU seconds per task, a third of such a worker's own CPU, measured with
  getrusage on 40 tasks against one container, 2026-12-02). At play start the callback loads the
  connection plugins the inventory names for the play's hosts.

The modules run on the hosts exactly as without this callback: the payload is the same zip of the
same files. bench/ never enables it: it measures runs as users' controllers make them.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import pickle
import sys
import tempfile
import zipfile
from importlib import import_module, metadata
from pathlib import Path

import ansible
from ansible import constants as C
from ansible.inventory.helpers import get_group_vars
from ansible.plugins.callback import CallbackBase
from ansible.plugins.loader import connection_loader, filter_loader, test_loader
from ansible.release import __version__ as ANSIBLE_CORE_VERSION
from ansible.utils.vars import combine_vars

DOCUMENTATION = """
name: ddapm_prefork
type: aggregate
short_description: share AnsiballZ payloads between runs, load Jinja and connection plugins before workers fork (tests)
description:
  - With DDAPM_ANSIBALLZ_CACHE set, seeds this run's AnsiballZ cache with the payloads earlier
    runs built from files of this virtualenv only, and adds the ones this run builds.
  - Loads the Jinja filter and test plugins at the start of each play, before the workers fork.
  - Loads the connection plugins the inventory names for the play's hosts, before the workers fork.
requirements:
  - enabled in callbacks_enabled
"""

PART = ".ddapm-part-"


def shared_dir(root, prefix=sys.prefix):
    """The folder under `root` for payloads of this virtualenv as installed now."""
    try:
        community = metadata.version("ansible")
    except metadata.PackageNotFoundError:
        community = "none"
    key = "\0".join((ANSIBLE_CORE_VERSION, community, sys.version, os.path.realpath(prefix)))
    return Path(root) / hashlib.sha256(key.encode()).hexdigest()[:16]


def entries(folder):
    """The finished payload files of an AnsiballZ cache folder (no lock or partial files)."""
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return set()
    return {n for n in names if not n.endswith((".lock", "-part")) and PART not in n}


def _collection_dir(namespace, name):
    """Where this run's collection loader finds collection namespace.name (None if nowhere)."""
    try:
        return os.path.dirname(import_module(f"ansible_collections.{namespace}.{name}").__file__)
    except (ImportError, TypeError):
        return None


def built_from(path, prefix=sys.prefix):
    """True when every file zipped in the cached payload at `path` comes from under `prefix`:
    ansible/ (this controller's ansible-core) and collections this run finds under `prefix`."""
    try:
        with open(path, "rb") as handle:
            cached = pickle.load(handle)  # written by this controller's Ansible (module_common._CachedModule)
        names = zipfile.ZipFile(io.BytesIO(base64.b64decode(cached.zip_data))).namelist()  # stored base64-encoded
    except Exception:  # pylint: disable=broad-except  # an entry we cannot read is not shared
        return False
    root = os.path.realpath(prefix) + os.sep
    if not os.path.realpath(os.path.dirname(ansible.__file__)).startswith(root):
        return False
    collections = {tuple(n.split("/")[1:3]) for n in names if n.startswith("ansible_collections/") and n.count("/") >= 3}
    for namespace, name in collections:
        where = _collection_dir(namespace, name)
        if where is None or not os.path.realpath(where).startswith(root):
            return False
    return bool(names)


def seed(shared, own):
    """Link (or copy) every shared payload that `own` lacks into `own`; returns their names."""
    own.mkdir(parents=True, exist_ok=True)
    have = entries(own)
    seeded = set()
    for name in entries(shared) - have:
        target = own / name
        try:
            os.link(shared / name, target)
        except OSError:
            try:
                data = (shared / name).read_bytes()
            except OSError:
                continue
            target.write_bytes(data)
        seeded.add(name)
    return seeded


def publish(own, shared, skip, prefix=sys.prefix):
    """Add to `shared` the payloads of `own` not in `skip` that were built from `prefix` only;
    returns the names looked at (shared or not), for the caller to skip next time."""
    looked = set()
    new = entries(own) - skip
    if not new:
        return looked
    shared.mkdir(parents=True, exist_ok=True)
    present = entries(shared)
    for name in new:
        looked.add(name)
        if name in present or not built_from(own / name, prefix):
            continue
        fd, tmp = tempfile.mkstemp(prefix=name + PART, dir=shared)
        try:
            with os.fdopen(fd, "wb") as out:
                out.write((own / name).read_bytes())
            os.replace(tmp, shared / name)
        except OSError:
            Path(tmp).unlink(missing_ok=True)
    return looked


def connection_names(play):
    """The connection plugins the play's hosts are reached through, as far as the inventory says
    it without templating: the play's `connection`, then each host's ansible_connection (its own
    variable, else its groups'). Templated values are left to the workers."""
    names = set()
    if isinstance(play.connection, str) and "{{" not in play.connection:
        names.add(play.connection)
    inventory = getattr(getattr(play, "_variable_manager", None), "_inventory", None)
    if inventory is None:
        return names
    for host in inventory.get_hosts(play.hosts):
        # Ansible's own precedence: group variables combined by depth and ansible_group_priority.
        value = combine_vars(get_group_vars(host.get_groups()), host.get_vars()).get("ansible_connection")
        if isinstance(value, str) and "{{" not in value:
            names.add(value)
    return names


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "ddapm_prefork"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self):
        super().__init__()
        root = os.environ.get("DDAPM_ANSIBALLZ_CACHE")
        self._shared = shared_dir(root) if root else None
        self._own = Path(C.DEFAULT_LOCAL_TMP) / "ansiballz_cache"
        self._done = set()
        if self._shared is not None:
            self._done |= seed(self._shared, self._own)

    def _publish(self):
        if self._shared is not None:
            self._done |= publish(self._own, self._shared, self._done)

    def v2_playbook_on_play_start(self, play):
        for loader in (filter_loader, test_loader):
            for _plugin in loader.all():
                pass
        try:
            names = connection_names(play)
        except Exception:  # pylint: disable=broad-except  # a hosts pattern the inventory cannot resolve yet
            names = set()
        for name in names:
            try:
                connection_loader.get(name, class_only=True)
            except Exception:  # pylint: disable=broad-except  # the worker then reports it, as without this callback
                pass
        self._publish()

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._publish()

    def v2_playbook_on_handler_task_start(self, task):
        self._publish()

    def v2_playbook_on_stats(self, stats):
        self._publish()
