#!/usr/bin/env bash
# Make sure a Docker engine answers; start Debian's docker.io in the background when none does.
#   dockerd.sh up      install docker.io if missing, start dockerd if no engine answers
#   dockerd.sh down    stop the dockerd this script started (by the PID it recorded), nothing else
#   dockerd.sh status  say whether an engine answers and who started it
# The PID of the dockerd we start is kept in $HARNESS_STATE/dockerd.pid; we never kill by name.
set -euo pipefail
state=${HARNESS_STATE:-$(cd "$(dirname "$0")/../.." && pwd)/.cache/harness}
pidfile=$state/dockerd.pid
logfile=$state/dockerd.log
mkdir -p "$state"

answers() { timeout 10 docker info >/dev/null 2>&1; }

ours() {
  [ -s "$pidfile" ] || return 1
  local pid; pid=$(cat "$pidfile")
  [ -d "/proc/$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = dockerd ]
}

up() {
  if answers; then echo "dockerd: an engine already answers"; return 0; fi
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "dockerd: installing Debian's docker.io"
    export DEBIAN_FRONTEND=noninteractive
    "$(dirname "$0")"/apt-get.sh update -qq
    "$(dirname "$0")"/apt-get.sh install -y -qq docker.io >/dev/null
  fi
  if ! answers; then
    echo "dockerd: starting (log: $logfile)"
    # setsid + closed stdio: the daemon must not hold the caller's (CI's) output open.
    setsid dockerd --host unix:///var/run/docker.sock </dev/null >>"$logfile" 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 1 60); do answers && break; sleep 1; done
  fi
  answers || { echo "dockerd: the engine did not answer within 60 s; last log lines:" >&2; tail -n 20 "$logfile" >&2; exit 1; }
  echo "dockerd: up (pid $(cat "$pidfile"))"
}

down() {
  if ours; then
    local pid; pid=$(cat "$pidfile")
    echo "dockerd: stopping pid $pid (started by this harness)"
    kill "$pid"
    for _ in $(seq 1 30); do [ -d "/proc/$pid" ] || break; sleep 1; done
    [ -d "/proc/$pid" ] && kill -9 "$pid"
  else
    echo "dockerd: nothing of ours to stop"
  fi
  rm -f "$pidfile"
}

status() {
  if answers; then echo "engine answers"; else echo "no engine answers"; fi
  if ours; then echo "started by this harness: pid $(cat "$pidfile")"; fi
}

case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
