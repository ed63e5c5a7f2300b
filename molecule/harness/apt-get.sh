#!/usr/bin/env bash
# apt-get, one at a time. `make setup` runs its independent stages side by side (make -j), and
# several of them may install a missing tool: two apt-get at once fail on dpkg's lock. Every
# harness script calls apt-get through this, which waits (up to 10 minutes) for the others.
#   apt-get.sh <apt-get arguments>
set -euo pipefail
exec flock -w 600 /var/lock/ddapm-harness-apt.lock apt-get "$@"
