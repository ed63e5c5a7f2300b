"""The repository as the collection ddapm.django_datadog (galaxy.yml), built and installed offline.

One build (`ansible-galaxy collection build`) and one offline install of the tarball into an
empty collections path, in a temporary folder, then:

* the tarball holds every role with all of its files, meta/runtime.yml and the filter plugin, and
  none of the test harness, caches, inventories or the checkout's link in collections/;
* every filter any role uses resolves in the INSTALLED collection, with no roles path and no
  collections path into this checkout (ansible-core never loads a collection role's own
  filter_plugins/, so a role filter called by its short name would fail there);
* ansible-doc renders every role under its collection name.

The Molecule scenario `collection` converges a host with the installed roles.
"""

import json
import os
import re
import shlex
import subprocess
import sys
import tarfile
import warnings
from pathlib import Path

import jinja2
import jinja2.nodes
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
GALAXY = yaml.safe_load((ROOT / "galaxy.yml").read_text())
FQCN = f"{GALAXY['namespace']}.{GALAXY['name']}"
ROLES = sorted(p.name for p in (ROOT / "roles").iterdir() if (p / "tasks" / "main.yml").is_file())
# What must never ship: the harness, caches, inventories, tests, local tooling, the checkout link.
NOT_SHIPPED = {".cache", ".ci", ".config", ".git", ".venv", ".ansible", ".hypothesis", ".pytest_cache", "bench",
               "collections", "dist", "inventory", "molecule", "tests", "tools", "ansible.cfg", "Makefile",
               "requirements.txt", "requirements.yml", "pytest.ini"}
# Keys whose values Ansible evaluates as bare Jinja expressions.
CONDITIONALS = {"when", "changed_when", "failed_when", "until", "that"}


def _clean_env(config, **extra):
    """Ansible pointed away from this checkout: an empty ansible.cfg, no roles or collections of ours."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANSIBLE_")}
    env.update(ANSIBLE_CONFIG=str(config), ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1", **extra)
    return env


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(tarball, collections path) after building and installing the collection offline."""
    tmp = tmp_path_factory.mktemp("collection")
    empty_roles = tmp / "no-roles"
    empty_roles.mkdir()
    config = tmp / "ansible.cfg"
    config.write_text("[defaults]\n")
    build = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--output-path", str(tmp / "dist")],
                           cwd=ROOT, env=_clean_env(config), capture_output=True, text=True, check=False)
    assert build.returncode == 0, build.stdout + build.stderr
    tarball = tmp / "dist" / f"{GALAXY['namespace']}-{GALAXY['name']}-{GALAXY['version']}.tar.gz"
    assert tarball.is_file(), build.stdout
    collections = tmp / "collections"
    install = subprocess.run([str(BIN / "ansible-galaxy"), "collection", "install", str(tarball), "-p", str(collections),
                              "--offline"], cwd=tmp, env=_clean_env(config, ANSIBLE_COLLECTIONS_PATH=str(collections)),
                             capture_output=True, text=True, check=False)
    assert install.returncode == 0, install.stdout + install.stderr
    env = _clean_env(config, ANSIBLE_COLLECTIONS_PATH=str(collections), ANSIBLE_ROLES_PATH=str(empty_roles))
    return tarball, collections, env


def _tracked_role_files():
    out = subprocess.run(["git", "ls-files", "roles"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return {line for line in out.splitlines() if line}


def test_tarball_holds_every_role_and_no_harness(installed):
    tarball, _, _ = installed
    with tarfile.open(tarball) as tar:
        names = {m.name for m in tar.getmembers() if m.isfile()}
        manifest = json.load(tar.extractfile("MANIFEST.json"))
    assert manifest["collection_info"]["version"] == GALAXY["version"]
    assert {"meta/runtime.yml", "plugins/filter/role_filters.py", "README.md", "CHANGELOG.md",
            "changelogs/changelog.yaml"} <= names
    for role in ROLES:
        assert f"roles/{role}/tasks/main.yml" in names, f"role {role} is not in the tarball"
    missing = _tracked_role_files() - names
    assert not missing, f"role files left out of the tarball: {sorted(missing)}"
    shipped_tops = {name.split("/", 1)[0] for name in names}
    assert not shipped_tops & NOT_SHIPPED, f"the tarball ships {sorted(shipped_tops & NOT_SHIPPED)}"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def _expressions(node, key=None):
    """Every Jinja source in a loaded YAML document: templated strings, and bare conditionals."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _expressions(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from _expressions(v, key)
    elif isinstance(node, str):
        if "{{" in node or "{%" in node:
            yield node
        elif key in CONDITIONALS:
            yield "{{ " + node + " }}"


def _filters_in(source):
    """Filter names a Jinja source calls, including filters named as map()'s first argument."""
    found = set()
    with warnings.catch_warnings():  # regex escapes in Jinja string literals are not our concern here
        warnings.simplefilter("ignore", DeprecationWarning)
        tree = jinja2.Environment().parse(source)
    for node in tree.find_all((jinja2.nodes.Filter, jinja2.nodes.Call)):
        if isinstance(node, jinja2.nodes.Filter):
            found.add(node.name)
            if node.name == "map" and node.args and isinstance(node.args[0], jinja2.nodes.Const):
                found.add(node.args[0].value)
    return found


def role_filter_uses():
    """{filter name: [files of roles/ that use it]} over every role's YAML and templates."""
    uses = {}
    for path in sorted((ROOT / "roles").rglob("*")):
        if path.suffix in (".yml", ".yaml"):
            sources = list(_expressions(yaml.safe_load(path.read_text())))
        elif path.suffix == ".j2":
            sources = [path.read_text()]
        else:
            continue
        for source in sources:
            for name in _filters_in(source):
                uses.setdefault(name, []).append(str(path.relative_to(ROOT)))
    return uses


def test_the_scan_finds_the_role_filters():
    # The scan itself must see the roles' own filters (else the resolution test proves nothing).
    uses = role_filter_uses()
    assert f"{FQCN}.django_apm_pyliteral" in uses
    assert "default" in uses


_RESOLVE = """
import json, sys
import jinja2
from ansible.plugins.loader import filter_loader, init_plugin_loader
init_plugin_loader([sys.argv[1]])
result = {}
for name in json.loads(sys.stdin.read()):
    try:
        plugin = filter_loader.get(name)
    except Exception as ex:  # a broken plugin file: report it as the reason
        result[name] = "error: %r" % (ex,)
        continue
    if plugin is not None:
        result[name] = plugin._original_path or "builtin"
    elif name in jinja2.Environment().filters:
        result[name] = "jinja2"
    else:
        result[name] = None
print(json.dumps(result))
"""


def test_every_filter_a_role_uses_resolves_in_the_installed_collection(installed):
    _, collections, env = installed
    uses = role_filter_uses()
    proc = subprocess.run([sys.executable, "-c", _RESOLVE, str(collections)], input=json.dumps(sorted(uses)),
                          cwd=collections, env=env, capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    resolved = json.loads(proc.stdout)
    broken = {name: uses[name] for name, where in resolved.items() if where is None or where.startswith("error")}
    assert not broken, (f"filters that do not resolve when the roles run from the installed collection "
                        f"(call a role's own filter as {FQCN}.<name>): {broken} {resolved}")
    for name, where in resolved.items():
        if name.startswith(FQCN + "."):
            assert where.startswith(str(collections)), f"{name} came from {where}, not the installed collection"


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_the_installed_role(installed, role):
    _, collections, env = installed
    proc = subprocess.run([str(BIN / "ansible-doc"), "-t", "role", f"{FQCN}.{role}"], cwd=collections, env=env,
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{FQCN}.{role}" in proc.stdout
    assert re.search(r"ENTRY POINT: \W*main\W* - \w", proc.stdout), proc.stdout
    assert str(collections) in proc.stdout, "ansible-doc did not read the installed collection"


def readme_blocks():
    """{name: text} of the README's fenced blocks marked `<!-- readme-check: name -->`."""
    text = (ROOT / "README.md").read_text()
    blocks = dict(re.findall(r"<!-- readme-check: ([\w-]+) -->\n```\w*\n(.*?)```", text, re.S))
    assert set(blocks) == {"requirements-git", "requirements-tarball", "playbook", "commands"}, sorted(blocks)
    return blocks


def _upstream_at_tag(tmp, version):
    """A git repository of this working tree's files (tracked and new, not ignored), tagged ``version``."""
    upstream = tmp / "upstream"
    upstream.mkdir()
    files = subprocess.run(["git", "ls-files", "-z", "-co", "--exclude-standard"], cwd=ROOT, capture_output=True,
                           check=True).stdout.split(b"\0")
    for rel in filter(None, (f.decode() for f in files)):
        src, dst = ROOT / rel, upstream / rel
        if not src.exists() and not src.is_symlink():
            continue  # deleted in the working tree
        dst.parent.mkdir(parents=True, exist_ok=True)
        if src.is_symlink():
            dst.symlink_to(os.readlink(src))
        else:
            dst.write_bytes(src.read_bytes())
    git = ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", "-C", str(upstream)]
    for args in (["init", "-q"], ["add", "-A"], ["commit", "-q", "-m", "the working tree"], ["tag", version]):
        subprocess.run(git + args, check=True, capture_output=True)
    return upstream


@pytest.mark.parametrize("form", ["requirements-git", "requirements-tarball"])
def test_the_readme_lines_work_from_an_empty_folder(installed, tmp_path, form):
    tarball, _, _ = installed
    blocks = readme_blocks()
    requirements = yaml.safe_load(blocks[form])["collections"][0]
    assert GALAXY["version"] in blocks[form], "the README's requirements.yml should name the current version"
    project = tmp_path / "project"
    project.mkdir()
    text = blocks[form]
    if form == "requirements-git":
        # A file:// clone of this repository at a tag stands in for the real URL.
        upstream = _upstream_at_tag(tmp_path, str(requirements["version"]))
        text = text.replace(requirements["name"], upstream.as_uri())
    else:
        (project / Path(requirements["name"]).name).write_bytes(tarball.read_bytes())
    (project / "requirements.yml").write_text(text)
    (project / "site.yml").write_text(blocks["playbook"])
    (project / "inventory.yml").write_text("---\napp:\n  hosts: {}\n")
    config = tmp_path / "ansible.cfg"
    config.write_text("[defaults]\n")
    env = _clean_env(config)  # no collections path: only the playbook's own collections/ folder
    for line in blocks["commands"].splitlines():
        argv = shlex.split(line, comments=True)
        if not argv or "--ask-vault-pass" in argv:
            continue
        res = subprocess.run([str(BIN / argv[0]), *argv[1:]], cwd=project, env=env, capture_output=True, text=True,
                             check=False)
        assert res.returncode == 0, f"{line}\n{res.stdout}\n{res.stderr}"
    manifest = json.loads((project / "collections/ansible_collections/ddapm/django_datadog/MANIFEST.json").read_text())
    assert manifest["collection_info"]["version"] == GALAXY["version"]
    for role in ROLES:
        assert (project / f"collections/ansible_collections/ddapm/django_datadog/roles/{role}/tasks/main.yml").is_file()


def _release(repo, *args):
    return subprocess.run([sys.executable, "tools/release.py", *args], cwd=repo, capture_output=True, text=True,
                          check=False, env=dict(os.environ, ANSIBLE_CONFIG=str(repo / "ansible.cfg"),
                                               GIT_AUTHOR_NAME="test", GIT_AUTHOR_EMAIL="test@example.invalid",
                                               GIT_COMMITTER_NAME="test", GIT_COMMITTER_EMAIL="test@example.invalid"))


def test_make_release_tags_a_changelogged_version_and_refuses_dirty_trees_and_existing_tags(tmp_path):
    repo = _upstream_at_tag(tmp_path, GALAXY["version"])
    major, minor, patch = (int(x) for x in GALAXY["version"].split("."))
    nxt = f"{major}.{minor}.{patch + 1}"
    (repo / "changelogs/fragments/1-fix.yml").write_text("---\nbugfixes:\n  - The test's fix.\n")
    dirty = _release(repo, nxt)
    assert dirty.returncode != 0 and "not clean" in dirty.stderr, dirty.stderr
    subprocess.run(["git", "-C", str(repo), "add", "-A"], check=True)
    subprocess.run(["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm",
                    "fragment"], check=True)
    for bad in ("1.2", "v1.2.3", "0.0.1"):
        res = _release(repo, bad)
        assert res.returncode != 0 and "refused" in res.stderr, (bad, res.stderr)
    assert _release(repo, GALAXY["version"]).returncode != 0, "an existing tag must be refused"
    head = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True).stdout

    res = _release(repo, nxt)
    assert res.returncode == 0, res.stdout + res.stderr
    git = ["git", "-C", str(repo)]
    assert subprocess.run(git + ["rev-parse", f"{nxt}^{{commit}}"], capture_output=True, text=True).stdout == \
        subprocess.run(git + ["rev-parse", "HEAD"], capture_output=True, text=True).stdout != head
    assert not subprocess.run(git + ["status", "--porcelain"], capture_output=True, text=True).stdout.strip()
    assert yaml.safe_load((repo / "galaxy.yml").read_text())["version"] == nxt
    assert (repo / "galaxy.yml").read_text().count("#") == (ROOT / "galaxy.yml").read_text().count("#"), "comments lost"
    changes = yaml.safe_load((repo / "changelogs/changelog.yaml").read_text())["releases"][nxt]["changes"]
    # The test's fragment, next to those the checkout itself holds (changelogs/fragments/*.yml).
    assert "The test's fix." in changes["bugfixes"], changes
    shipped = [yaml.safe_load(p.read_text()) for p in sorted((ROOT / "changelogs/fragments").glob("*.yml"))]
    assert sum(len(v) for f in shipped for v in f.values()) + 1 == sum(len(v) for v in changes.values()), changes
    assert f"v{nxt}" in (repo / "CHANGELOG.md").read_text().replace("\\", "")
    assert not (repo / "changelogs/fragments/1-fix.yml").exists()
    with tarfile.open(repo / "dist" / f"{GALAXY['namespace']}-{GALAXY['name']}-{nxt}.tar.gz") as tar:
        assert json.load(tar.extractfile("MANIFEST.json"))["collection_info"]["version"] == nxt

    again = _release(repo, nxt)
    assert again.returncode != 0 and f"tag {nxt} exists" in again.stderr, again.stderr
