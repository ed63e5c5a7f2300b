"""The host images' two phases (molecule/harness/image.sh): the root file system (debootstrap, no
Docker engine needed) and its import. `make` runs the first beside the Docker engine's set-up.

The commands image.sh calls outside the shell's own tools (docker, debootstrap, chroot) are fakes
here that log their calls: what is proven is the script's decisions, not Debian's tools.
"""

import os
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IMAGE_SH = ROOT / "molecule" / "harness" / "image.sh"

FAKE_DOCKER = """#!/bin/sh
# A Docker engine that answers when $FAKES/up exists; an image's label is kept in $FAKES/label.
echo "docker $*" >>"$FAKES/calls"
case "$1" in
  info) [ -e "$FAKES/up" ] ;;
  image) [ -e "$FAKES/label" ] && cat "$FAKES/label" ;;
  import) cat >/dev/null; for a in "$@"; do case "$a" in LABEL\\ ddapm.recipe=*) echo "${a#LABEL ddapm.recipe=}" >"$FAKES/label" ;; esac; done ;;
esac
"""
FAKE_DEBOOTSTRAP = """#!/bin/sh
echo "debootstrap $*" >>"$FAKES/calls"
root=$(echo "$@" | awk '{print $(NF-1)}')
mkdir -p "$root/etc/apt/sources.list.d" "$root/etc/apt/apt.conf.d" "$root/etc/systemd/system" "$root/var/lib/apt/lists"
"""
FAKE_CHROOT = """#!/bin/sh
echo "chroot $*" >>"$FAKES/calls"
case "$*" in *python3*) echo /usr/local/lib/python3.11/dist-packages ;; esac
"""


@pytest.fixture
def fakes(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, text in (("docker", FAKE_DOCKER), ("debootstrap", FAKE_DEBOOTSTRAP), ("chroot", FAKE_CHROOT)):
        (bin_dir / name).write_text(text)
        (bin_dir / name).chmod(0o755)
    (tmp_path / "calls").touch()
    return tmp_path


def image(fakes, *args, docker=True):
    path = f"{fakes / 'bin'}:{os.environ['PATH']}"
    if not docker:  # a new machine: no docker command at all
        (fakes / "bin" / "docker").unlink(missing_ok=True)
    env = {**os.environ, "PATH": path, "FAKES": str(fakes), "DDAPM_ROOTFS_DIR": str(fakes / "var"),
           "DDAPM_DOCKER_WAIT": "2"}
    (fakes / "var").mkdir(exist_ok=True)
    (fakes / "calls").write_text("")
    res = subprocess.run(["bash", str(IMAGE_SH), *args, "faketrixie"], env=env, capture_output=True, text=True,
                         timeout=60, check=False)
    return res, (fakes / "calls").read_text()


def rootfs_dirs(fakes):
    return sorted(p.name for p in (fakes / "var").iterdir())


def test_a_new_machine_builds_the_root_file_system_without_docker_then_imports_it(fakes):
    res, calls = image(fakes, "rootfs", docker=False)
    assert res.returncode == 0, res.stderr
    assert "debootstrap --variant=minbase" in calls and "docker" not in calls
    assert "root file system ready" in res.stdout
    done = [n for n in rootfs_dirs(fakes) if n.endswith(".done")]
    assert len(done) == 1, rootfs_dirs(fakes)

    # The engine is there now (the docker stage): the import uses that root file system, no second
    # debootstrap, and removes it once imported.
    (fakes / "bin" / "docker").write_text(FAKE_DOCKER)
    (fakes / "bin" / "docker").chmod(0o755)
    (fakes / "up").touch()
    res, calls = image(fakes, "import")
    assert res.returncode == 0, res.stderr
    assert "docker import" in calls and "debootstrap" not in calls, calls
    assert "image ddapm-host:faketrixie: built" in res.stdout
    assert rootfs_dirs(fakes) == []

    # Current now: neither phase does anything again.
    for phase in ("rootfs", "import"):
        res, calls = image(fakes, phase)
        assert res.returncode == 0 and "current" in res.stdout, res.stdout + res.stderr
        assert "debootstrap" not in calls and "docker import" not in calls, calls


def test_a_current_image_needs_no_root_file_system(fakes):
    (fakes / "up").touch()
    res, _ = image(fakes)  # both phases: builds the image
    assert res.returncode == 0 and "built" in res.stdout, res.stderr
    res, calls = image(fakes, "rootfs")
    assert "current" in res.stdout and "debootstrap" not in calls
    assert rootfs_dirs(fakes) == []


def test_a_root_file_system_killed_half_way_or_of_an_older_recipe_is_built_again(fakes):
    var = fakes / "var"
    var.mkdir()
    (var / "ddapm-rootfs-faketrixie-0123456789abcdef").mkdir()  # an older recipe's
    (var / "ddapm-rootfs-faketrixie-0123456789abcdef.done").touch()
    res, calls = image(fakes, "rootfs", docker=False)
    assert res.returncode == 0, res.stderr
    assert "debootstrap" in calls
    names = rootfs_dirs(fakes)
    assert not any("0123456789abcdef" in n for n in names), names
    current = next(n for n in names if n.endswith(".done"))[: -len(".done")]

    (var / f"{current}.done").unlink()  # as if killed before the end
    res, calls = image(fakes, "rootfs", docker=False)
    assert res.returncode == 0 and "debootstrap" in calls, res.stderr


def test_no_engine_answering_is_named(fakes):
    res, calls = image(fakes, "rootfs")  # a docker command, no engine: it waits, then says so
    assert res.returncode != 0
    assert "no Docker engine answers (make docker)" in res.stderr
    assert "debootstrap" not in calls
