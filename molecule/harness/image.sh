#!/usr/bin/env bash
# Build a systemd Debian host image for Molecule from debootstrap + docker import (no registry here).
#   image.sh rootfs bookworm|trixie   the root file system, when the image is missing or stale
#   image.sh import bookworm|trixie   the image, from that root file system (built here if absent)
#   image.sh bookworm|trixie          both, one after the other
# The image is tagged ddapm-host:<suite> and labelled with a hash of this recipe; it is rebuilt
# only when the recipe (this file) changes. The host is offline on purpose: its apt sources are
# emptied, so the only repository it will ever see is the one a test gives it.
# Two phases because debootstrap needs no Docker engine: `make` builds the root file systems
# beside the Docker engine's installation, then imports them. (A new machine, 2026-12-02, in one
# phase: the images' 136 s began only once the engine's stage, 33 s of apt-get and start-up, ended.)
set -euo pipefail
case "${1:-}" in rootfs|import) phase=$1; shift ;; *) phase=both ;; esac
suite=${1:?usage: image.sh [rootfs|import] bookworm|trixie}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,python3-debian,python3-venv,ca-certificates,gpg,iproute2,procps,git,redis-server,postgresql,sudo,less
recipe=$( (cat "$0" "$here/zipimport_cache.py"; echo "$packages") | sha256sum | cut -c1-16)
tag=ddapm-host:$suite
# The root file system between the two phases: outside the checkout (device nodes, root-owned
# files), named by the recipe, complete only with its .done file (a killed build starts again).
# (DDAPM_ROOTFS_DIR: another folder for them, e.g. the fast tests' own.)
base=${DDAPM_ROOTFS_DIR:-/var/tmp}
root=$base/ddapm-rootfs-$suite-$recipe

answers() { timeout 10 docker info >/dev/null 2>&1; }
current() { [ "$(docker image inspect -f '{{ index .Config.Labels "ddapm.recipe" }}' "$tag" 2>/dev/null || true)" = "$recipe" ]; }

# Whether the image is current. Without a docker command (a new machine, docker.io not installed
# yet) there is no image; with one, the engine may be starting beside this (the docker stage):
# it is given DDAPM_DOCKER_WAIT seconds (120).
image_current() {
  command -v docker >/dev/null 2>&1 || return 1
  for _ in $(seq 1 "${DDAPM_DOCKER_WAIT:-120}"); do answers && break; sleep 1; done
  answers || { echo "image $tag: no Docker engine answers (make docker)" >&2; exit 1; }
  current
}

rootfs() {
  [ -f "$root.done" ] && return 0
  # A build killed half-way, or one of an older recipe: nothing to keep.
  rm -rf "$base"/ddapm-rootfs-"$suite"-*
  command -v debootstrap >/dev/null || { export DEBIAN_FRONTEND=noninteractive; "$here"/apt-get.sh update -qq; "$here"/apt-get.sh install -y -qq debootstrap >/dev/null; }
  # 0700 during debootstrap, as mktemp made it before the two phases: postgresql's postinst then
  # leaves the cluster to the pg_createcluster below (it would create one itself in a 0755 root).
  mkdir -p -m 0700 "$root"
  echo "image $tag: debootstrap $suite (recipe $recipe)"
  debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
    || { tail -n 30 "$root.log" >&2; rm -rf "$root"; exit 1; }
  rm -f "$root.log"
  # Debian's postgresql creates its cluster in its postinst, which debootstrap's chroot skips: create
  # it here as the package would (started by systemd's postgresql@<version>-main at boot, local only).
  chmod 0755 "$root"  # the postgres user must reach its files
  chroot "$root" sh -c 'pg_createcluster "$(ls /usr/lib/postgresql | sort -n | tail -n1)" main' >/dev/null

  # A container host: no console, no udev/kernel jobs, journal kept in memory, offline apt.
  ln -sf /lib/systemd/system/multi-user.target "$root/etc/systemd/system/default.target"
  for u in getty.target console-getty.service systemd-udevd.service systemd-udev-trigger.service \
           systemd-remount-fs.service sys-kernel-debug.mount sys-kernel-tracing.mount \
           systemd-firstboot.service systemd-modules-load.service apt-daily.timer apt-daily-upgrade.timer \
           e2scrub_all.timer fstrim.timer; do
    ln -sf /dev/null "$root/etc/systemd/system/$u"
  done
  # User namespaces are not available inside these containers: Redis's PrivateUsers= would fail.
  mkdir -p "$root/etc/systemd/system/redis-server.service.d"
  printf '[Service]\nPrivateUsers=false\n' >"$root/etc/systemd/system/redis-server.service.d/harness.conf"
  # Ansible's module payloads are zips, and zipimport compiles their module_utils from source on every
  # task: cache that bytecode for the system's Python 3 (zipimport_cache.py says how, and what not).
  site=$(chroot "$root" python3 -c 'import sys; print("/usr/local/lib/python%d.%d/dist-packages" % sys.version_info[:2])')
  install -d -m 0755 "$root$site" "$root/var/cache/ddapm-harness"
  install -d -m 0700 "$root/var/cache/ddapm-harness/zipimport"
  install -m 0644 "$here/zipimport_cache.py" "$root$site/ddapm_zipimport_cache.py"
  echo 'import ddapm_zipimport_cache; ddapm_zipimport_cache.install()' >"$root$site/ddapm-zipimport-cache.pth"
  rm -f "$root"/etc/apt/sources.list "$root"/etc/apt/sources.list.d/*
  : >"$root/etc/machine-id"
  rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
  printf 'APT::Install-Recommends "false";\n' >"$root/etc/apt/apt.conf.d/90harness"
  touch "$root.done"
}

import_image() {
  if current; then echo "image $tag: current (recipe $recipe)"; else
    rootfs
    tar -C "$root" -c . | docker import \
      --change 'CMD ["/lib/systemd/systemd"]' \
      --change 'ENV container=docker' \
      --change "LABEL ddapm.recipe=$recipe" \
      - "$tag" >/dev/null
    echo "image $tag: built"
  fi
  rm -rf "$root" "$root.done"
}

case $phase in
  rootfs) if image_current; then echo "image $tag: current (recipe $recipe)"; else rootfs; echo "image $tag: root file system ready"; fi ;;
  import) image_current >/dev/null || true; import_image ;;
  both) image_current >/dev/null || true; import_image ;;
esac
