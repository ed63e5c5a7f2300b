#!/usr/bin/env bash
# Install the Debian packages listed in host-packages.txt that are not installed yet (idempotent:
# nothing is fetched or installed when all are there).
#   hostpkgs.sh            install what is missing
#   hostpkgs.sh --missing  print what is missing, exit 1 if anything is
set -euo pipefail
list=$(dirname "$0")/host-packages.txt
mapfile -t wanted < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$list")
missing=()
for pkg in "${wanted[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
  [ "$status" = installed ] || missing+=("$pkg")
done
if [ "${1:-}" = --missing ]; then
  [ ${#missing[@]} -eq 0 ] && exit 0
  printf '%s\n' "${missing[@]}"; exit 1
fi
if [ ${#missing[@]} -eq 0 ]; then
  echo "host packages: all installed (${wanted[*]})"; exit 0
fi
echo "host packages: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
"$(dirname "$0")"/apt-get.sh update -qq
"$(dirname "$0")"/apt-get.sh install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "host packages: installed ${missing[*]}"
