"""The ddapm_prefork callback (tests/callback_plugins/ddapm_prefork.py), against localhost: runs
share the AnsiballZ payloads built from this virtualenv's files and nothing else, a later run uses
them instead of building them again, the modules still do their work, and a filter of a role that
comes into the play after the callback loaded the filter plugins still resolves."""

import base64
import importlib.util
import io
import json
import os
import pickle
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from ansible.executor.module_common import _CachedModule  # what Ansible pickles into its payload cache
from prefork import CALLBACK_DIR as CALLBACKS, prefork_env

ROOT = Path(__file__).resolve().parents[2]
_SPEC = importlib.util.spec_from_file_location("ddapm_prefork", CALLBACKS / "ddapm_prefork.py")
ddapm_prefork = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(ddapm_prefork)

PROBE = "ansible_collections.ddapm.django_datadog.plugins.modules.django_apm_probe"
PLAYBOOK = """
- name: Modules from ansible-core and from this project's collection
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: Stat a file
      ansible.builtin.stat:
        path: "{{ target }}"
      register: stat_result
    - name: Write a file
      ansible.builtin.copy:
        content: "{{ run_name }}\\n"
        dest: "{{ target }}"
        mode: "0644"
    - name: This project's module (built from a file outside the virtualenv)
      ddapm.django_datadog.django_apm_probe:
        packages: []
      failed_when: false
    - name: Show what stat saw
      ansible.builtin.debug:
        msg: "exists={{ stat_result.stat.exists }}"
"""
ROLE_FILTER = '''
class FilterModule:
    def filters(self):
        return {"late_role_shout": lambda value: str(value).upper() + "!"}
'''
LATE_PLAYBOOK = """
- name: A role with its own filter_plugins comes in after the play started
  hosts: localhost
  connection: local
  gather_facts: false
  tasks:
    - name: A core filter first (the callback loaded the filter plugins at play start)
      ansible.builtin.debug:
        msg: "{{ 'a,b' | split(',') | join('-') }}"
    - name: Include the role
      ansible.builtin.include_role:
        name: late
"""


def _env(cache, **extra):
    """The fast tests' environment for the callback (prefork.prefork_env), with `cache` as the shared
    folder, or none at all."""
    env = prefork_env(dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_CALLBACKS_ENABLED="", ANSIBLE_CALLBACK_PLUGINS="", **extra))
    if cache is None:
        del env["DDAPM_ANSIBALLZ_CACHE"]
    else:
        env["DDAPM_ANSIBALLZ_CACHE"] = str(cache)
    return env


def _playbook(tmp_path, text, env, *args):
    book = tmp_path / "play.yml"
    book.write_text(text)
    cmd = [str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", str(book),
           "-e", f"ansible_python_interpreter={sys.executable}", *args]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False, timeout=300, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def _run(tmp_path, cache, name):
    return _playbook(tmp_path, PLAYBOOK, _env(cache, ANSIBLE_DEBUG="1"),
                     "-e", f"target={tmp_path / 'file.txt'}", "-e", f"run_name={name}")


def _names(log, marker):
    found = set()
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if marker in line:
            # "Creating module" follows "Acquiring lock" / "Lock acquired: <path>.lock" of the same payload
            for back in range(i - 1, max(i - 4, -1), -1):
                if "Lock acquired: " in lines[back]:
                    found.add(lines[back].rsplit("/", 1)[-1].removesuffix(".lock"))
                    break
    return found


def _used(log):
    return {line.rsplit("/", 1)[-1].strip() for line in log.splitlines() if "ANSIBALLZ: using cached module: " in line}


def test_a_later_run_uses_the_payloads_an_earlier_run_built_from_the_virtualenv_and_only_with_the_variable(tmp_path):
    cache = tmp_path / "ansiballz"
    first = _run(tmp_path, cache, "first")
    shared = ddapm_prefork.shared_dir(cache)
    names = ddapm_prefork.entries(shared)
    assert {"ansible.modules.stat-ZIP_DEFLATED-none", "ansible.modules.copy-ZIP_DEFLATED-none"} <= names, names
    assert not any(name.startswith(PROBE) for name in names), "a payload with this project's module was shared"
    assert {"ansible.modules.stat-ZIP_DEFLATED-none", "ansible.modules.copy-ZIP_DEFLATED-none"} <= _names(first, "Creating module")

    second = _run(tmp_path, cache, "second")
    built = _names(second, "Creating module")
    assert not any(name.startswith("ansible.modules.") for name in built), f"built again: {built}"
    assert any(name.startswith(PROBE) for name in built), "this project's module is built in every run"
    assert "exists=True" in second and (tmp_path / "file.txt").read_text() == "second\n", "the modules did their work"
    assert {"ansible.modules.stat-ZIP_DEFLATED-none", "ansible.modules.copy-ZIP_DEFLATED-none"} <= _used(second)

    alone = _names(_run(tmp_path, None, "alone"), "Creating module")
    assert {"ansible.modules.stat-ZIP_DEFLATED-none", "ansible.modules.copy-ZIP_DEFLATED-none"} <= alone, \
        f"without DDAPM_ANSIBALLZ_CACHE a run builds its own payloads: {alone}"


def _payload(tmp_path, files, name="entry"):
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w") as archive:
        for member in files:
            archive.writestr(member, "# test\n")
    cached = _CachedModule(zip_data=base64.b64encode(data.getvalue()), metadata=None, source_mapping={})
    path = tmp_path / name
    path.write_bytes(pickle.dumps(cached))
    return path


CHECK = """
import json, sys
from ansible.plugins.loader import init_plugin_loader
init_plugin_loader([sys.argv[1]])
sys.path.insert(0, sys.argv[2])
import ddapm_prefork
if sys.argv[3] == "built_from":
    print(json.dumps([ddapm_prefork.built_from(path) for path in sys.argv[4:]]))
else:
    own, shared, skip = sys.argv[4:7]
    print(json.dumps(sorted(ddapm_prefork.publish(__import__("pathlib").Path(own), __import__("pathlib").Path(shared), {skip}))))
"""


def _in_ansible(*args):
    """Run the callback's functions in a new interpreter whose collection loader finds this project's
    collection, as in ansible-playbook (the loader stays out of the test process)."""
    proc = subprocess.run([sys.executable, "-c", CHECK, str(ROOT / "collections"), str(CALLBACKS), *map(str, args)],
                          capture_output=True, text=True, check=True, timeout=120)
    return json.loads(proc.stdout)


PAYLOADS = [
    (["ansible/__init__.py", "ansible/module_utils/basic.py"], True),
    (["ansible/__init__.py", "ansible_collections/community/docker/plugins/module_utils/common.py"], True),
    (["ansible/__init__.py", "ansible_collections/ddapm/django_datadog/plugins/modules/django_apm_probe.py"], False),
    (["ansible/__init__.py", "ansible_collections/no_such/collection/plugins/modules/x.py"], False),
    ([], False),
]


def test_only_payloads_wholly_from_the_virtualenv_are_shared(tmp_path):
    paths = []
    for i, (files, _shared) in enumerate(PAYLOADS):
        paths.append(_payload(tmp_path, files, f"entry{i}"))
    assert _in_ansible("built_from", *paths) == [shared for _files, shared in PAYLOADS]


def test_an_unreadable_entry_is_not_shared(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(b"not a pickle")
    assert ddapm_prefork.built_from(bad) is False


def test_the_shared_folder_is_named_by_what_is_installed(tmp_path):
    assert ddapm_prefork.shared_dir(tmp_path) == ddapm_prefork.shared_dir(tmp_path)
    assert ddapm_prefork.shared_dir(tmp_path) != ddapm_prefork.shared_dir(tmp_path, prefix="/opt/other-venv")


def test_seed_and_publish_skip_partial_files_and_keep_what_is_there(tmp_path):
    shared, own = tmp_path / "shared", tmp_path / "own"
    shared.mkdir()
    (shared / "ansible.modules.ping-ZIP_DEFLATED-none").write_bytes(b"ping")
    (shared / "ansible.modules.stat-ZIP_DEFLATED-none-part").write_bytes(b"half")
    (shared / "ansible.modules.x-ZIP_DEFLATED-none.lock").write_bytes(b"")
    assert ddapm_prefork.seed(shared, own) == {"ansible.modules.ping-ZIP_DEFLATED-none"}
    assert (own / "ansible.modules.ping-ZIP_DEFLATED-none").read_bytes() == b"ping"
    assert ddapm_prefork.seed(shared, own) == set(), "a second seed adds nothing"
    assert ddapm_prefork.publish(own, shared, skip={"ansible.modules.ping-ZIP_DEFLATED-none"}) == set()

    core = _payload(tmp_path, ["ansible/__init__.py", "ansible/module_utils/basic.py"])
    core.rename(own / "ansible.modules.file-ZIP_DEFLATED-none")
    ours = _payload(tmp_path, ["ansible/__init__.py", "ansible_collections/ddapm/django_datadog/plugins/modules/django_apm_probe.py"])
    ours.rename(own / f"{PROBE}-ZIP_DEFLATED-none")
    looked = _in_ansible("publish", own, shared, "ansible.modules.ping-ZIP_DEFLATED-none")
    assert looked == sorted(["ansible.modules.file-ZIP_DEFLATED-none", f"{PROBE}-ZIP_DEFLATED-none"])
    assert ddapm_prefork.entries(shared) == {"ansible.modules.ping-ZIP_DEFLATED-none", "ansible.modules.file-ZIP_DEFLATED-none"}
    assert (shared / "ansible.modules.file-ZIP_DEFLATED-none").read_bytes() == (own / "ansible.modules.file-ZIP_DEFLATED-none").read_bytes()


def test_a_filter_of_a_role_included_after_the_play_started_still_resolves(tmp_path):
    role = tmp_path / "roles" / "late"
    (role / "filter_plugins").mkdir(parents=True)
    (role / "filter_plugins" / "late.py").write_text(ROLE_FILTER)
    (role / "tasks").mkdir()
    (role / "tasks" / "main.yml").write_text(
        "- name: Use the role's own filter\n  ansible.builtin.debug:\n    msg: \"{{ 'late' | late_role_shout }}\"\n")
    log = _playbook(tmp_path, LATE_PLAYBOOK, _env(None, ANSIBLE_ROLES_PATH=str(tmp_path / "roles")))
    assert "a-b" in log and "LATE!" in log, log[-3000:]


RECORDER = '''
import os
from ansible.plugins.connection.local import Connection as _Local

DOCUMENTATION = """
name: recorder
short_description: the local connection, noting each process that imports it
description: [the local connection; each import appends the importing process's PID to $RECORDER_FILE]
author: ddapm tests
options: {}
"""

with open(os.environ["RECORDER_FILE"], "a", encoding="utf-8") as _out:
    _out.write(f"{os.getpid()}\\n")


class Connection(_Local):
    transport = "recorder"
'''
RECORDER_PLAYBOOK = """
- name: Three tasks through the recorder connection
  hosts: all
  gather_facts: false
  tasks:
    - name: Ping 1
      ansible.builtin.ping:
    - name: Ping 2
      ansible.builtin.ping:
    - name: Ping 3
      ansible.builtin.ping:
"""


@pytest.mark.parametrize("where", ["host", "group"])
def test_the_workers_inherit_the_connection_plugin_the_inventory_names(tmp_path, where):
    """ansible-playbook loads the connection plugins of its own folders before the first fork, not
    those of collections: each worker then loads such a plugin from source (community.docker's
    docker: about 0.02 CPU s per task). The callback loads the collection connection plugins the
    inventory names (a host's or its group's ansible_connection) at play start: the plugin is then
    imported by ansible-playbook alone; without the callback, by each task's worker."""
    plugins = tmp_path / "ansible_collections" / "ddapmtest" / "rec" / "plugins" / "connection"
    plugins.mkdir(parents=True)
    (plugins.parents[1] / "galaxy.yml").write_text("namespace: ddapmtest\nname: rec\nversion: 1.0.0\n")
    (plugins / "recorder.py").write_text(RECORDER)
    conn = {"ansible_connection": "ddapmtest.rec.recorder", "ansible_python_interpreter": sys.executable}
    host = {"h1": conn if where == "host" else {"ansible_python_interpreter": sys.executable}}
    inventory = {"all": {"children": {"g": {"hosts": host, **({"vars": conn} if where == "group" else {})}}}}
    (tmp_path / "hosts.yml").write_text(json.dumps(inventory))
    (tmp_path / "play.yml").write_text(RECORDER_PLAYBOOK)
    pids = {}
    for mode in ("callback", "none"):
        record = tmp_path / f"imports-{mode}.txt"
        env = _env(None, RECORDER_FILE=str(record), ANSIBLE_COLLECTIONS_PATH=str(tmp_path))
        if mode == "none":
            del env["ANSIBLE_CALLBACKS_ENABLED"]
        proc = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(tmp_path / "hosts.yml"),
                               str(tmp_path / "play.yml")], capture_output=True, text=True, env=env, check=False,
                              timeout=300, cwd=tmp_path)
        assert proc.returncode == 0 and "ok=3" in proc.stdout, proc.stdout[-3000:] + proc.stderr[-3000:]
        pids[mode] = record.read_text().split()
    assert len(pids["callback"]) == 1, f"imported by {len(pids['callback'])} processes with the callback"
    assert len(set(pids["none"])) == 3, f"without the callback each worker imports it: {pids['none']}"
