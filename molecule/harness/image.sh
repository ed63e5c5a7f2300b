#!/usr/bin/env bash
# Build a systemd Debian host image for Molecule from debootstrap + docker import (no registry here).
#   image.sh bookworm|trixie
# The image is tagged ddapm-host:<suite> and labelled with a hash of this recipe; it is rebuilt
# only when the recipe (this file) changes. The host is offline on purpose: its apt sources are
# emptied, so the only repository it will ever see is the one a test gives it.
set -euo pipefail
suite=${1:?usage: image.sh bookworm|trixie}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
packages=systemd,systemd-sysv,dbus,python3,python3-apt,python3-debian,python3-venv,ca-certificates,gpg,iproute2,procps,git,redis-server,postgresql,sudo,less
recipe=$( (cat "$0" "$here/zipimport_cache.py"; echo "$packages") | sha256sum | cut -c1-16)
tag=ddapm-host:$suite

have=$(docker image inspect -f '{{ index .Config.Labels "ddapm.recipe" }}' "$tag" 2>/dev/null || true)
if [ "$have" = "$recipe" ]; then echo "image $tag: current (recipe $recipe)"; exit 0; fi

command -v debootstrap >/dev/null || { export DEBIAN_FRONTEND=noninteractive; apt-get update -qq; apt-get install -y -qq debootstrap >/dev/null; }
root=$(mktemp -d /var/tmp/ddapm-rootfs-XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "image $tag: debootstrap $suite (recipe $recipe)"
debootstrap --variant=minbase --include="$packages" "$suite" "$root" "$mirror" >"$root.log" 2>&1 \
  || { tail -n 30 "$root.log" >&2; exit 1; }
rm -f "$root.log"

# Debian's postgresql creates its cluster in its postinst, which debootstrap's chroot skips: create
# it here as the package would (started by systemd's postgresql@<version>-main at boot, local only).
chmod 0755 "$root"  # mktemp made it 0700: the postgres user must reach its files
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

tar -C "$root" -c . | docker import \
  --change 'CMD ["/lib/systemd/systemd"]' \
  --change 'ENV container=docker' \
  --change "LABEL ddapm.recipe=$recipe" \
  - "$tag" >/dev/null
echo "image $tag: built"
