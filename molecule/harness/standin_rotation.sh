#!/usr/bin/env bash
# A signing-key rotation of the stand-in repository, the way Datadog rolls one out (for the
# datadog_agent_key_rotation scenario). Needs the stand-in repository (standin/build.sh) first.
#
#   molecule/harness/standin_rotation.sh
#
# Produces <project>/.cache/harness/rotation/ (mounted read-only into that scenario's hosts):
#   keys-update/  step 1: the packages of repo/ plus datadog-signing-keys 1:1.5.0-1, whose keyring
#                 holds the OLD key (standin-archive-key) AND the NEW one; signed by the OLD key.
#   rotated/      step 2: the same plus datadog-agent 1:7.62.0-1 (a stand-in release published
#                 after the rotation); signed ONLY by the NEW key.
#   keys/standin-next-key.{asc,fingerprint}  the NEW public key (for the tests; no input names it).
# The packages are test doubles, not Datadog's (standin/README.md). Idempotent: a no-op while the
# stand-in repository, this script and the keys are those of the last build (stamp).
set -euo pipefail
umask 022
export LC_ALL=C

KEYS_PACKAGE_VERSION=1:1.5.0-1   # newer than the stand-in repository's 1:1.4.0-1
NEXT_AGENT=7.62.0                # repacked from the newest agent of the stand-in repository
FROM_AGENT=7.61.0

cache=$(cd "$(dirname "$0")/../.." && pwd)/.cache/harness
repo=$cache/repo
out=$cache/rotation
gnupg=$cache/gnupg
stamp=$cache/standin-rotation.stamp
log=$cache/standin-rotation.log
say() { printf 'stand-in rotation: %s\n' "$*"; }

[ -s "$repo/dists/stable/InRelease" ] && [ -s "$gnupg/standin-archive-key.fpr" ] \
  || { echo "stand-in rotation: build the stand-in repository first (molecule/harness/standin/build.sh)" >&2; exit 1; }
mkdir -p "$out"
exec 9>"$cache/standin-build.lock"   # the stand-in build's lock: never while it rewrites repo/
flock 9

inputs_hash() {
  { sha256sum "$0"; cat "$cache/standin-repo.stamp" "$gnupg/standin-archive-key.fpr" "$gnupg/standin-next-key.fpr" 2>/dev/null; } \
    | sha256sum | cut -c1-32
}
if [ -s "$stamp" ] && [ "$(cat "$stamp")" = "$(inputs_hash)" ] && [ -s "$out/rotated/dists/stable/InRelease" ]; then
  echo "stand-in rotation: current ($out)"
  exit 0
fi
: >"$log"
export GNUPGHOME=$gnupg
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true' EXIT
old=$(cat "$gnupg/standin-archive-key.fpr")
new=$(cat "$gnupg/standin-next-key.fpr" 2>/dev/null || true)
if [ -z "$new" ] || ! gpg --batch --list-secret-keys "$new" >/dev/null 2>&1; then
  say "generating the throwaway NEXT key (kept in $gnupg)"
  new=$(gpg --batch --yes --passphrase '' --status-fd 1 --quick-gen-key \
          "Datadog stand-in NEXT archive key (throwaway, tests only) <standin-archive@invalid.example>" ed25519 sign never \
          2>>"$log" | awk '$2 == "KEY_CREATED" { print $4 }')
  [[ $new =~ ^[0-9A-F]{40}$ ]] || { echo "stand-in rotation: key generation failed, see $log" >&2; exit 1; }
  echo "$new" >"$gnupg/standin-next-key.fpr"
fi

work=$cache/standin-rotation-build
rm -rf "$work" && mkdir -p "$work/debs"

say "datadog-signing-keys $KEYS_PACKAGE_VERSION: the keyring with the old and the next key"
dpkg-deb -R "$repo/pool/d/da/datadog-signing-keys_1.4.0-1_all.deb" "$work/keyspkg"
gpg --batch --export "$old" "$new" >"$work/keyspkg/usr/share/keyrings/datadog-archive-keyring.gpg"
sed -i "s/^Version: .*/Version: $KEYS_PACKAGE_VERSION/" "$work/keyspkg/DEBIAN/control"

say "datadog-agent 1:$NEXT_AGENT-1: the stand-in $FROM_AGENT repacked under the next version"
dpkg-deb -R "$repo/pool/d/da/datadog-agent_${FROM_AGENT}-1_amd64.deb" "$work/agent"
sed -i "s/^Version: .*/Version: 1:$NEXT_AGENT-1/" "$work/agent/DEBIAN/control"
sed -i "s/$FROM_AGENT/$NEXT_AGENT/g" "$work/agent/opt/datadog-agent/embedded/lib/standin/standin_version.py" \
  "$work/agent/opt/datadog-agent/version-manifest.txt"

for pkg in keyspkg agent; do
  (cd "$work/$pkg" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's| \./| |') \
    >"$work/$pkg/DEBIAN/md5sums"
done
dpkg-deb --root-owner-group -Zzstd -z9 --build "$work/keyspkg" "$work/debs/datadog-signing-keys_${KEYS_PACKAGE_VERSION#*:}_all.deb" >>"$log"
dpkg-deb --root-owner-group -Zzstd -z9 --build "$work/agent" "$work/debs/datadog-agent_${NEXT_AGENT}-1_amd64.deb" >>"$log"

write_repo() {  # name, signing key fingerprint, extra .deb files...
  local name=$1 key=$2 dir=$work/$1; shift 2
  say "$name: writing the repository, signed by $key only"
  mkdir -p "$dir/pool/d/da" "$dir/dists/stable/7/binary-amd64"
  cp "$repo"/pool/d/da/*.deb "$@" "$dir/pool/d/da/"
  (
    cd "$dir"
    apt-ftparchive packages pool >dists/stable/7/binary-amd64/Packages 2>>"$log"
    gzip -9n -k dists/stable/7/binary-amd64/Packages
    apt-ftparchive -o APT::FTPArchive::Release::Suite=stable -o APT::FTPArchive::Release::Codename=stable \
      -o APT::FTPArchive::Release::Components=7 -o APT::FTPArchive::Release::Architectures=amd64 \
      -o "APT::FTPArchive::Release::Origin=Datadog stand-in" -o "APT::FTPArchive::Release::Label=Datadog stand-in" \
      -o "APT::FTPArchive::Release::Description=Stand-in Datadog Agent repository for tests (not Datadog's)" \
      release dists/stable >"$work/Release" 2>>"$log"
    mv "$work/Release" dists/stable/Release
    gpg --batch --yes --local-user "$key!" --digest-algo SHA512 --clearsign -o dists/stable/InRelease dists/stable/Release
    gpg --batch --yes --local-user "$key!" --digest-algo SHA512 --armor --detach-sign -o dists/stable/Release.gpg dists/stable/Release
    gpg --batch --export "$key" >"$work/$name.gpg"
    gpgv --keyring "$work/$name.gpg" dists/stable/InRelease >>"$log" 2>&1
  ) || { echo "stand-in rotation: writing $name failed, see $log" >&2; exit 1; }
}
write_repo keys-update "$old" "$work/debs/datadog-signing-keys_${KEYS_PACKAGE_VERSION#*:}_all.deb"
write_repo rotated "$new" "$work/debs"/*.deb
# The rotated repository must NOT verify with the old key alone (else the scenario proves nothing).
if gpgv --keyring "$work/keys-update.gpg" "$work/rotated/dists/stable/InRelease" >>"$log" 2>&1; then
  echo "stand-in rotation: rotated/ verifies with the old key: not a rotation" >&2; exit 1
fi
mkdir -p "$work/newkey"
gpg --batch --armor --export "$new" >"$work/newkey/standin-next-key.asc"
echo "$new" >"$work/newkey/standin-next-key.fingerprint"

# Swap the contents in place: the rotation directory may be bind-mounted into containers.
find "$out" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
mv "$work/keys-update" "$work/rotated" "$out/"
mkdir -p "$out/keys" && mv "$work/newkey"/standin-next-key.* "$out/keys/"
chmod -R u+rwX,go+rX,go-w "$out"
rm -rf "$work"
inputs_hash >"$stamp"
echo "stand-in rotation: built ($out)"
