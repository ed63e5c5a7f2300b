"""`make release VERSION=x.y.z`: cut a release of the collection ddapm.django_datadog.

1. refuses a version that is not semantic (x.y.z), a dirty working tree, an existing tag of that
   name, a version below galaxy.yml's, and changelog fragments antsibull-changelog finds wrong --
   all before changing anything;
2. writes the version into galaxy.yml (comments kept), and has antsibull-changelog turn the
   fragments of changelogs/fragments/ into the release's entry of changelogs/changelog.yaml and
   CHANGELOG.md;
3. commits that ("Release x.y.z") and tags it (annotated tag `x.y.z`);
4. builds dist/<namespace>-<name>-x.y.z.tar.gz from the tagged tree (`git archive`, so the
   tarball holds exactly what the tag holds, like an install from the git URL).

If step 2 or 3 fails, the files it changed are put back. `python tools/release.py --build-only`
builds the tarball of the working tree's galaxy.yml version into dist/ (`make collection`).
"""

import argparse
import re
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

from ruamel.yaml import YAML

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
SEMVER = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
RELEASE_FILES = ["galaxy.yml", "changelogs", "CHANGELOG.md"]


class Refused(Exception):
    """The release cannot be made; nothing was changed."""


def git(*args, check=True):
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=check).stdout


def parse_version(text):
    match = SEMVER.fullmatch(text or "")
    if not match:
        raise Refused(f"VERSION={text!r} is not a semantic version x.y.z (e.g. make release VERSION=1.2.0)")
    return tuple(int(part) for part in match.groups())


def _yaml():
    yaml = YAML()  # round trip: galaxy.yml keeps its comments and layout
    yaml.preserve_quotes = True
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def galaxy():
    return _yaml().load(ROOT / "galaxy.yml")


def set_galaxy_version(version):
    data = galaxy()
    data["version"] = version
    _yaml().dump(data, ROOT / "galaxy.yml")


def tarball_name(data, version):
    return f"{data['namespace']}-{data['name']}-{version}.tar.gz"


def check(version):
    """Every reason to refuse, before anything changes."""
    wanted = parse_version(version)
    dirty = git("status", "--porcelain", "--untracked-files=all")
    if dirty.strip():
        raise Refused("the working tree is not clean; commit or stash first:\n" + dirty)
    if git("rev-parse", "-q", "--verify", f"refs/tags/{version}", check=False).strip():
        raise Refused(f"the tag {version} exists already: pick the next version (see CHANGELOG.md)")
    current = str(galaxy()["version"])
    if wanted < parse_version(current):
        raise Refused(f"VERSION={version} is below galaxy.yml's version {current}")
    lint = subprocess.run([str(BIN / "antsibull-changelog"), "lint"], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    if lint.returncode != 0 or lint.stdout.strip():
        raise Refused("antsibull-changelog lint finds the fragments wrong:\n" + lint.stdout + lint.stderr)


def build(ref, version, dist):
    """The tarball of the tree at ``ref`` (git archive), into ``dist``; returns its path."""
    dist.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = Path(tmp) / "tree.tar"
        git("archive", "--format=tar", "-o", str(archive), ref)
        tree = Path(tmp) / "tree"
        with tarfile.open(archive) as tar:
            # git's own archive of this repository; the "tar" filter where Python has extraction
            # filters (3.11.4 and later: Debian 12's 3.11.2, which `make` prefers, has none)
            tar.extractall(tree, **({"filter": "tar"} if hasattr(tarfile, "tar_filter") else {}))
        subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(dist),
                        str(tree)], cwd=ROOT, check=True, capture_output=True, text=True)
    return dist / tarball_name(galaxy(), version)


def build_working_tree(dist):
    """`make collection`: the working tree as it is (build_ignore leaves out the rest)."""
    dist.mkdir(exist_ok=True)
    subprocess.run([str(BIN / "ansible-galaxy"), "collection", "build", "--force", "--output-path", str(dist)],
                   cwd=ROOT, check=True)
    return dist / tarball_name(galaxy(), galaxy()["version"])


def release(version, dist):
    check(version)
    head = git("rev-parse", "HEAD").strip()
    try:
        if str(galaxy()["version"]) != version:
            set_galaxy_version(version)
        subprocess.run([str(BIN / "antsibull-changelog"), "release", "--version", version], cwd=ROOT, check=True)
        git("add", "-A", "--", *RELEASE_FILES)
        if git("diff", "--cached", "--name-only").strip():
            git("commit", "-q", "-m", f"Release {version}")
        git("tag", "-a", version, "-m", f"{galaxy()['namespace']}.{galaxy()['name']} {version}")
    except (subprocess.CalledProcessError, OSError) as ex:
        # Put back what this run changed: the commit (if made) and the release files.
        git("reset", "-q", "--hard", head, check=False)
        raise SystemExit(f"release {version} failed, nothing kept: {ex}\n{getattr(ex, 'stderr', '') or ''}") from ex
    tarball = build(version, version, dist)
    print(f"released {version}: commit {git('rev-parse', '--short', 'HEAD').strip()}, tag {version}, {tarball}")
    print(f"publish: git push origin HEAD {version}   (users: requirements.yml, version: {version})")
    return tarball


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("version", nargs="?", help="x.y.z")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist", help="where the tarball goes (default dist/)")
    parser.add_argument("--build-only", action="store_true", help="only build the working tree's tarball")
    args = parser.parse_args(argv)
    try:
        if args.build_only:
            print(build_working_tree(args.dist))
        else:
            release(args.version, args.dist)
    except Refused as ex:
        raise SystemExit(f"make release: refused: {ex}") from None


if __name__ == "__main__":
    main()
