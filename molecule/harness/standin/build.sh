#!/usr/bin/env bash
# Build the STAND-IN Datadog packages and a signed local APT repository laid out like Datadog's.
#
#   molecule/harness/standin/build.sh
#
# Produces <project>/.cache/harness/repo/ (bind-mounted read-only into test containers at
# /srv/datadog-standin-repo, used there as `file:/srv/datadog-standin-repo stable 7`):
#   dists/stable/{Release,InRelease,Release.gpg}, dists/stable/7/binary-amd64/Packages{,.gz}
#   pool/d/da/datadog-agent_7.60.0-1_amd64.deb, ..._7.61.0-1_amd64.deb  (the stand-in agent)
#   pool/d/da/datadog-signing-keys_1.4.0-1_all.deb                       (the stand-in keyring)
#   keys/standin-archive-key.{asc,fingerprint}   public key that signs the repository
#   keys/wrong-key.{asc,fingerprint}             an unrelated public key, for negative tests
# The packages are a test double, not the Datadog Agent: see README.md beside this script.
#
# Idempotent: a no-op ("stand-in repo: current") while the hash of its inputs (every file
# under molecule/harness/standin/ + the pinned ddapm-test-agent version + the signing key)
# matches the stamp. The signing keys live in .cache/harness/gnupg and are generated once.
# Needs root on a Debian 12 host only to apt-get install missing tools.
set -euo pipefail
umask 022
export LC_ALL=C

DDAPM_TEST_AGENT_VERSION=${DDAPM_TEST_AGENT_VERSION:-1.69.1}  # the pinned APM test agent (PyPI)
AGENT_VERSIONS=(7.60.0 7.61.0)        # upstream versions the stand-in impersonates
AGENT_EPOCH=1 AGENT_REVISION=1        # -> 1:7.60.0-1, 1:7.61.0-1 like Datadog's packages
KEYS_PACKAGE_VERSION=1:1.4.0-1        # datadog-signing-keys
PYTHONS=(3.11 3.13)                   # Debian 12 and Debian 13 interpreters
# Every manylinux tag whose glibc Debian 12 (2.36) satisfies; pip picks the best available.
PLATFORMS=(manylinux_2_34_x86_64 manylinux_2_28_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64
           manylinux_2_5_x86_64 manylinux1_x86_64)

here=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$(dirname "$0")/../../../.cache/harness/repo"
repo=$(cd "$(dirname "$0")/../../../.cache/harness/repo" && pwd)
cache=$(dirname "$repo")
gnupg=$cache/gnupg
wheels=$cache/standin-wheels
stamp=$cache/standin-repo.stamp
log=$cache/standin-build.log

say() { printf 'stand-in: %s\n' "$*"; }

# One build at a time (several Molecule scenarios may call this script concurrently).
exec 9>"$cache/standin-build.lock"
flock 9

# ---------------------------------------------------------------- up to date?
key_fpr() { cat "$gnupg/$1.fpr" 2>/dev/null || true; }
inputs_hash() {
  {
    (cd "$here" && find . -type f ! -name '*.pyc' ! -path '*/__pycache__/*' -print0 | sort -z | xargs -0 sha256sum)
    echo "ddapm-test-agent==$DDAPM_TEST_AGENT_VERSION"
    echo "signing-key=$(key_fpr standin-archive-key) wrong-key=$(key_fpr wrong-key)"
  } | sha256sum | cut -c1-32
}
outputs_present() {
  local f
  for f in dists/stable/InRelease dists/stable/Release.gpg dists/stable/7/binary-amd64/Packages.gz \
           keys/standin-archive-key.asc keys/standin-archive-key.fingerprint keys/wrong-key.asc; do
    [ -s "$repo/$f" ] || return 1
  done
  [ "$(cat "$repo/keys/standin-archive-key.fingerprint")" = "$(key_fpr standin-archive-key)" ]
}
hash=$(inputs_hash)
if [ -s "$stamp" ] && [ "$(cat "$stamp")" = "$hash" ] && outputs_present; then
  echo "stand-in repo: current ($repo)"
  exit 0
fi
start=$(date +%s)
say "building the stand-in repository (inputs $hash) into $repo"
: >"$log"

# ---------------------------------------------------------------- host tools
need=()
command -v apt-ftparchive >/dev/null || need+=(apt-utils)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v gpg >/dev/null || need+=(gpg)
command -v gpg-agent >/dev/null || need+=(gpg-agent)
command -v gpgv >/dev/null || need+=(gpgv)
command -v python3 >/dev/null || need+=(python3)
python3 -m pip --version >/dev/null 2>&1 || need+=(python3-pip)
if [ ${#need[@]} -gt 0 ]; then
  say "installing host tools: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "$here"/../apt-get.sh update -qq
  "$here"/../apt-get.sh install -y -qq "${need[@]}" >/dev/null
fi

# ---------------------------------------------------------------- signing keys (generated once)
mkdir -p "$gnupg" && chmod 700 "$gnupg"
export GNUPGHOME=$gnupg
# gpg starts an agent for key generation and signing: stop that agent (ours, for this homedir).
trap 'gpgconf --kill gpg-agent >/dev/null 2>&1 || true' EXIT

ensure_key() {  # name, user id
  local name=$1 uid=$2 fpr
  fpr=$(key_fpr "$name")
  if [ -n "$fpr" ] && gpg --batch --list-secret-keys "$fpr" >/dev/null 2>&1; then return 0; fi
  say "generating throwaway key '$name' (kept in $gnupg)"
  fpr=$(gpg --batch --status-fd 1 --gen-key 2>>"$log" <<EOF | awk '$2 == "KEY_CREATED" { print $4 }'
%no-protection
Key-Type: eddsa
Key-Curve: ed25519
Key-Usage: sign
Name-Real: $uid
Name-Email: standin-archive@invalid.example
Expire-Date: 0
%commit
EOF
  )
  [[ $fpr =~ ^[0-9A-F]{40}$ ]] || { echo "stand-in: key generation failed, see $log" >&2; exit 1; }
  echo "$fpr" >"$gnupg/$name.fpr"
}
ensure_key standin-archive-key "Datadog stand-in archive key (throwaway, tests only)"
ensure_key wrong-key "Unrelated throwaway key (stand-in negative tests only)"
signing_fpr=$(key_fpr standin-archive-key)
hash=$(inputs_hash)  # the fingerprints are inputs too (they are new if the keys just got generated)

# ---------------------------------------------------------------- embedded Python libraries
work=$cache/standin-build
rm -rf "$work" && mkdir -p "$work"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_ROOT_USER_ACTION=ignore
requirements=("ddapm-test-agent==$DDAPM_TEST_AGENT_VERSION" pyyaml)

embed_python() {  # X.Y -> $work/site/pythonX.Y/site-packages, from wheels cached per version
  local ver=$1 tag=${1/./} target=$work/site/python$1/site-packages dl=$wheels/py${1/./}
  local args=(--only-binary=:all: --python-version "$ver" --implementation cp --abi "cp$tag")
  local p; for p in "${PLATFORMS[@]}"; do args+=(--platform "$p"); done
  mkdir -p "$dl"
  echo "== Python $ver: pip install from the wheel cache $dl (offline; a miss falls back to a download)" >>"$log"
  if ! { compgen -G "$dl/*.whl" >/dev/null && python3 -m pip install -q --no-compile --no-index --find-links "$dl" \
           "${args[@]}" --target "$target" "${requirements[@]}" >>"$log" 2>&1; }; then
    say "downloading wheels for Python $ver into $dl"
    echo "== Python $ver: pip download into $dl" >>"$log"
    python3 -m pip download -q "${args[@]}" -d "$dl" "${requirements[@]}" >>"$log" 2>&1 \
      || { echo "stand-in: pip download failed (Python $ver), see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
    rm -rf "$target"
    python3 -m pip install -q --no-compile --no-index --find-links "$dl" "${args[@]}" \
      --target "$target" "${requirements[@]}" >>"$log" 2>&1 \
      || { echo "stand-in: pip install failed (Python $ver), see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
  fi
  # Smaller package: no console scripts (host shebangs), caches or bundled test suites.
  rm -rf "$target/bin"
  find "$target" -depth -type d \( -name __pycache__ -o -name tests \) -exec rm -rf {} +
  find "$target" -type f -name '*.pyc' -delete
}
for ver in "${PYTHONS[@]}"; do
  say "embedding ddapm-test-agent $DDAPM_TEST_AGENT_VERSION + PyYAML for Python $ver"
  embed_python "$ver"
done

# ---------------------------------------------------------------- packages
debs=$work/debs
mkdir -p "$debs"

finish_deb() {  # staging dir, control template, package version, output
  local stage=$1 template=$2 version=$3 out=$4 size
  size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
  sed -e "s/@PACKAGE_VERSION@/$version/" -e "s/@INSTALLED_SIZE@/$size/" \
      -e "s/@TEST_AGENT_VERSION@/$DDAPM_TEST_AGENT_VERSION/" "$template" >"$stage/DEBIAN/control"
  (cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum \
     | sed 's| \./| |') >"$stage/DEBIAN/md5sums"
  chmod -R u+rwX,go+rX,go-w "$stage"
  dpkg-deb --root-owner-group -Zzstd -z9 --build "$stage" "$out" >>"$log"
}

build_agent() {  # upstream version, e.g. 7.61.0
  local upstream=$1 version="$AGENT_EPOCH:$1-$AGENT_REVISION" stage=$work/datadog-agent_$1
  local opt=$stage/opt/datadog-agent
  say "packaging datadog-agent $version (stand-in)"
  mkdir -p "$stage/DEBIAN" "$opt/bin/agent" "$opt/embedded/bin" "$opt/embedded/lib/standin" "$opt/run" \
           "$stage/etc/datadog-agent/conf.d/redisdb.d" "$stage/etc/datadog-agent/checks.d" "$stage/var/log/datadog" "$stage/lib/systemd/system" \
           "$stage/usr/bin" "$stage/usr/share/doc/datadog-agent"
  install -m 0755 "$here/src/agent.py" "$opt/bin/agent/agent"
  install -m 0755 "$here/src/trace_agent.py" "$opt/embedded/bin/trace-agent"
  install -m 0644 "$here/src/standin_common.py" "$opt/embedded/lib/standin/"
  cat >"$opt/embedded/lib/standin/standin_version.py" <<EOF
"""Baked in by molecule/harness/standin/build.sh: what this stand-in package impersonates."""
AGENT_VERSION = "$upstream"
PACKAGE_VERSION = "$version"
TEST_AGENT_VERSION = "$DDAPM_TEST_AGENT_VERSION"
EOF
  cp -al "$work/site/." "$opt/embedded/lib/"  # hard links: both versions share the same files
  ln -s /opt/datadog-agent/bin/agent/agent "$stage/usr/bin/datadog-agent"
  install -m 0644 "$here/etc/datadog.yaml.example" "$stage/etc/datadog-agent/datadog.yaml.example"
  install -m 0644 "$here/etc/redisdb.conf.yaml.example" "$stage/etc/datadog-agent/conf.d/redisdb.d/conf.yaml.example"
  install -m 0644 "$here"/systemd/*.service "$stage/lib/systemd/system/"
  install -m 0644 "$here/README.md" "$stage/usr/share/doc/datadog-agent/README.stand-in.md"
  {
    echo "datadog-agent $version: STAND-IN for tests, not the Datadog Agent (built by molecule/harness/standin/build.sh)"
    for ver in "${PYTHONS[@]}"; do
      echo "embedded for Python $ver:"
      (cd "$work/site/python$ver/site-packages" && ls -d ./*.dist-info | sed 's|^\./\(.*\)\.dist-info$|  \1|')
    done
  } >"$opt/version-manifest.txt"
  install -m 0755 "$here/debian/datadog-agent/postinst" "$here/debian/datadog-agent/prerm" \
    "$here/debian/datadog-agent/postrm" "$stage/DEBIAN/"

  # Smoke test on this host when its /usr/bin/python3 is one the package embeds.
  local hostpy; hostpy=$(/usr/bin/python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null || true)
  if [ -d "$work/site/python$hostpy" ]; then
    "$opt/bin/agent/agent" version | grep -q "^Agent $upstream " \
      || { echo "stand-in: 'agent version' smoke test failed" >&2; exit 1; }
    "$opt/embedded/bin/trace-agent" --selftest >>"$log" 2>&1 \
      || { echo "stand-in: trace-agent selftest failed, see $log" >&2; tail -n 20 "$log" >&2; exit 1; }
    find "$opt" -depth -type d -name __pycache__ -exec rm -rf {} +  # the smoke test compiled some
  fi
  finish_deb "$stage" "$here/debian/datadog-agent/control" "$version" "$debs/datadog-agent_$1-${AGENT_REVISION}_amd64.deb"
}
for upstream in "${AGENT_VERSIONS[@]}"; do build_agent "$upstream"; done

say "packaging datadog-signing-keys $KEYS_PACKAGE_VERSION (stand-in keyring)"
stage=$work/datadog-signing-keys
mkdir -p "$stage/DEBIAN" "$stage/usr/share/keyrings"
gpg --batch --export "$signing_fpr" >"$stage/usr/share/keyrings/datadog-archive-keyring.gpg"  # binary (dearmored)
finish_deb "$stage" "$here/debian/datadog-signing-keys/control" "$KEYS_PACKAGE_VERSION" \
  "$debs/datadog-signing-keys_${KEYS_PACKAGE_VERSION#*:}_all.deb"

# ---------------------------------------------------------------- repository
say "writing and signing the repository (suite stable, component 7, key $signing_fpr)"
new=$work/repo
mkdir -p "$new/pool/d/da" "$new/dists/stable/7/binary-amd64" "$new/keys"
cp "$debs"/*.deb "$new/pool/d/da/"
gpg --batch --armor --export "$signing_fpr" >"$new/keys/standin-archive-key.asc"
echo "$signing_fpr" >"$new/keys/standin-archive-key.fingerprint"
gpg --batch --armor --export "$(key_fpr wrong-key)" >"$new/keys/wrong-key.asc"
key_fpr wrong-key >"$new/keys/wrong-key.fingerprint"
cat >"$new/README.txt" <<EOF
STAND-IN Datadog APT repository for tests, built by molecule/harness/standin/build.sh.
The packages are test doubles, not Datadog's. Signed by the throwaway key $signing_fpr
(keys/standin-archive-key.asc). keys/wrong-key.asc is an unrelated key for negative tests.
EOF
cat >"$work/ftparchive.conf" <<EOF
APT::FTPArchive::Release {
  Origin "Datadog stand-in";
  Label "Datadog stand-in";
  Suite "stable";
  Codename "stable";
  Architectures "amd64";
  Components "7";
  Description "Stand-in Datadog Agent repository for tests (not Datadog's)";
};
EOF
(
  cd "$new"
  apt-ftparchive packages pool >dists/stable/7/binary-amd64/Packages 2>>"$log"
  gzip -9n -k dists/stable/7/binary-amd64/Packages
  apt-ftparchive -c "$work/ftparchive.conf" release dists/stable >"$work/Release" 2>>"$log"
  mv "$work/Release" dists/stable/Release
  gpg --batch --yes --local-user "$signing_fpr" --digest-algo SHA512 --clearsign \
    -o dists/stable/InRelease dists/stable/Release
  gpg --batch --yes --local-user "$signing_fpr" --digest-algo SHA512 --armor --detach-sign \
    -o dists/stable/Release.gpg dists/stable/Release
  # Check the signatures the way apt will: against the exported public key only.
  gpg --batch --dearmor <keys/standin-archive-key.asc >"$work/check.gpg"
  gpgv --keyring "$work/check.gpg" dists/stable/InRelease >>"$log" 2>&1
  gpgv --keyring "$work/check.gpg" dists/stable/Release.gpg dists/stable/Release >>"$log" 2>&1
) || { echo "stand-in: writing or verifying the repository failed, see $log" >&2; exit 1; }
chmod -R u+rwX,go+rX,go-w "$new"

# Swap the contents in place: the repo directory itself may be bind-mounted into containers.
find "$repo" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
mv "$new"/* "$repo/"
chmod 0755 "$repo"
rm -rf "$work"
echo "$hash" >"$stamp"
say "built in $(( $(date +%s) - start ))s: $(find "$repo/pool" -name '*.deb' | wc -l) packages, $(du -sh "$repo" | cut -f1)"
echo "stand-in repo: built ($repo)"
