"""datadog_agent's one read of the host (roles/datadog_agent/files/host_state.py), run here as the
role runs it (`python3 -c "<the file>" JSON`): its file listing must be ansible.builtin.find's
answer for the role's own arguments (the filter datadog_agent_probe reads it), and its other
answers must be what dpkg, APT, the group database and systemd say."""

import grp
import hashlib
import json
import os
import pwd
import re
import subprocess
from pathlib import Path

import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "datadog_agent"
PATTERNS = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())["_datadog_agent_probe_patterns"]


def host_state(args):
    res = subprocess.run(["/usr/bin/python3", "-c", (ROLE / "files" / "host_state.py").read_text(), json.dumps(args)],
                         capture_output=True, text=True, timeout=60)  # the host's Python, as the role runs it
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


def _tree(root):
    """A keyring, sources and /etc/datadog-agent in the shapes the role meets, 4 levels deep."""
    files = {"keys/DATADOG_APT_KEY_CURRENT.asc": "k", "sources/datadog.sources": "s", "sources/datadog.list": "l",
             "sources/other.list": "o", "etc/datadog.yaml": "api_key: x\n", "etc/.restart-pending": "",
             "etc/datadog.yaml.1234.2026-12-01@10:00:00~": "old", "etc/conf.d/redisdb.d/conf.yaml": "c",
             "etc/conf.d/redisdb.d/auto_conf.yaml": "a", "etc/conf.d/redisdb.d/deep/too/far.yaml": "f",
             "etc/checks.d/queue_depth.py": "p", "etc/checks.d/queue_depth.py.1.x~": "b", "etc/notes.txt": "n"}
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    (root / "etc/datadog.yaml").chmod(0o640)
    (root / "etc/link.yaml").symlink_to(root / "etc/datadog.yaml")
    return [str(root / d) for d in ("keys", "sources", "etc", "missing")]


def test_the_listing_is_what_ansible_find_answers(tmp_path, local_tasks):
    paths = _tree(tmp_path)
    theirs = local_tasks([
        {"name": "find as the role ran it", "register": "found",
         "ansible.builtin.find": {"paths": paths, "patterns": PATTERNS, "file_type": "any", "recurse": True, "depth": 3,
                                  "hidden": True, "get_checksum": True}},
        {"name": "out", "ansible.builtin.debug": {"msg": "{{ found }}"}}])
    mine = host_state({"find": {"paths": paths, "patterns": PATTERNS, "depth": 3}})["found"]
    keys = ("path", "isdir", "isreg", "islnk", "mode", "pw_name", "gr_name", "checksum")

    def view(found):
        return sorted(tuple(f.get(k) for k in keys) for f in found["files"])
    assert view(mine) == view(theirs)
    assert set(mine["skipped_paths"]) == set(theirs["skipped_paths"]) == {paths[3]}
    listed = {Path(f["path"]).relative_to(tmp_path).as_posix() for f in mine["files"]}
    assert {"etc/.restart-pending", "etc/conf.d/redisdb.d/conf.yaml", "etc/link.yaml", "sources/datadog.list"} <= listed
    assert not {"etc/notes.txt", "sources/other.list", "etc/conf.d/redisdb.d/deep/too/far.yaml"} & listed
    yaml_file = next(f for f in mine["files"] if f["path"].endswith("etc/datadog.yaml"))
    assert (yaml_file["mode"], yaml_file["checksum"]) == ("0640", hashlib.sha1(b"api_key: x\n").hexdigest())


def test_packages_groups_unit_and_paths(tmp_path):
    me = pwd.getpwuid(os.getuid())[0]
    primary = grp.getgrgid(os.getgid())[0]
    other = next(g.gr_name for g in grp.getgrall() if g.gr_gid != os.getgid() and me not in g.gr_mem)
    dpkg = subprocess.run(["dpkg-query", "-W", "-f", "${Version}", "bash"], capture_output=True, text=True, check=True).stdout
    seen = host_state({"packages": ["bash", "no-such-package-x"], "candidate": "bash", "user": me,
                       "groups": [primary, other, "no-such-group-x"], "service": "", "paths": [str(tmp_path), str(tmp_path / "x")]})
    assert seen["packages"] == {"bash": dpkg, "no-such-package-x": ""}
    policy = subprocess.run(["apt-cache", "policy", "bash"], capture_output=True, text=True, check=True).stdout
    candidate = re.search(r"^\s*Candidate: (\S+)", policy, re.M)
    assert seen["candidate"] == ("" if candidate is None or candidate.group(1) == "(none)" else candidate.group(1))
    assert seen["groups"] == {primary: {"exists": True, "member": True}, other: {"exists": True, "member": False},
                              "no-such-group-x": {"exists": False, "member": False}}
    assert seen["paths"] == {str(tmp_path): True, str(tmp_path / "x"): False}
    assert seen["service"] == {"ActiveState": "", "UnitFileState": ""}
    assert seen["apt_cache_age"] >= 0
    assert host_state({"candidate": "no-such-package-x"})["candidate"] == ""
