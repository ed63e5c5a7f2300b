#!/usr/bin/env bash
# `make demo` / `make demo-clean`: the whole flow on one local host, with no account anywhere.
#   demo.sh start    start the local host: container ddapm-local (systemd, Debian 12, no network)
#   demo.sh sample   Redis, and the sample app as a git repository on the host (its deploy remote)
#   demo.sh site     playbooks/site.yml against inventory/local (the agent; the app is not there yet)
#   demo.sh deploy   playbooks/deploy.yml against inventory/local (the app at main, APM, health gate)
#   demo.sh show     what a person wants to see: agent status, the prod.py block, the .env (secrets
#                    masked), the tags of a trace the app just sent, three of the app's log lines
#                    masked by the agent's rules (applied by demo_logs.py: the stand-in ships no logs)
#   demo.sh down     remove the container `make demo` started (by name and label), nothing else
# The agent on the local host is the harness's STAND-IN (molecule/harness/standin), not the
# Datadog Agent: it collects nothing and sends nothing anywhere.
set -eEuo pipefail  # -E: the ERR trap (what to do next) fires inside the functions too
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
name=ddapm-local
label=owner=ddapm-demo
image=ddapm-host:bookworm
app=/srv/upstream   # django_apm_app_dir in inventory/local/group_vars/app.yml
export ANSIBLE_CONFIG=$root/ansible.cfg ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-1}

hint() { printf '\n*** %s\n' "$1" >&2; shift; [ $# -eq 0 ] || printf '    %s\n' "$@" >&2; }
on_error() {
  local rc=$?
  case "${step:-}" in
    start)  hint "The local host did not start. Check that Docker answers (docker info), that the image exists" \
                 "(make images), then run: make demo-clean && make demo" ;;
    sample) hint "Preparing the sample app's repository on ddapm-local failed (output above)." \
                 "Start over with: make demo-clean && make demo" ;;
    site|deploy)
            hint "playbooks/$step.yml failed on ddapm-local: the failed task and its message are above." \
                 "Look inside the host:  docker exec -it $name bash   (journalctl -u datadog-agent -u patient-portal-gunicorn)" \
                 "Re-run this step:      ansible-playbook playbooks/$step.yml      Start over: make demo-clean && make demo" ;;
    show)   hint "No fresh trace with the expected tags was read back (the report above says what was seen)." \
                 "Are the app and the agent up?  docker exec $name systemctl status 'patient-portal-*' datadog-agent-trace" \
                 "Re-run: make demo   (it reuses the host and deploys only what changed)" ;;
  esac
  exit $rc
}
trap on_error ERR

exists() { docker container inspect "$name" >/dev/null 2>&1; }
ours() { [ "$(docker container inspect -f '{{ index .Config.Labels "owner" }}' "$name" 2>/dev/null)" = ddapm-demo ]; }
running() { [ "$(docker container inspect -f '{{ .State.Running }}' "$name" 2>/dev/null)" = true ]; }
in_host() { docker exec "$name" "$@"; }

start() {
  step=start
  if exists && ! ours; then
    hint "A container named $name exists and was not started by make demo (no label $label): not touching it." \
         "Remove or rename it yourself, then run make demo again."
    exit 1
  fi
  for dir in .cache/harness/repo .cache/harness/wheels; do
    [ -d "$dir" ] || { hint "$dir is missing: run make setup (make demo runs it first)"; exit 1; }
  done
  if exists && running; then
    echo "$name: already running (started by make demo), reusing it"
  elif exists; then
    echo "$name: starting the stopped container"
    docker start "$name" >/dev/null
  else
    echo "$name: starting from $image (systemd as PID 1, no network but loopback)"
    # The run flags of the Molecule base config (.config/molecule/config.yml).
    docker run -d --name "$name" --hostname "$name" --label "$label" \
      --cap-add SYS_ADMIN --security-opt seccomp=unconfined --security-opt apparmor=unconfined \
      --cgroupns host -v /sys/fs/cgroup:/sys/fs/cgroup:rw \
      --tmpfs /run --tmpfs /run/lock --tmpfs /tmp \
      --network none \
      -v "$root/.cache/harness/repo:/srv/datadog-standin-repo:ro" \
      -v "$root/.cache/harness/wheels:/srv/wheels:ro" \
      "$image" >/dev/null
  fi
  echo "$name: waiting for systemd to finish booting"
  local state="" tries=0
  # PID 1 needs a moment before systemctl can reach it; then --wait blocks until boot is over.
  until state=$(timeout 120 docker exec "$name" systemctl is-system-running --wait 2>/dev/null) \
        || [ "$state" = degraded ] || [ $((tries += 1)) -ge 30 ]; do
    sleep 1
  done
  case "$state" in
    running|degraded) echo "$name: systemd is $state" ;;
    *) hint "systemd in $name did not come up (state: ${state:-no answer})." \
            "See: docker logs $name"; false ;;
  esac
}

sample() {
  step=sample
  ansible-playbook molecule/resources/sample_app_host.yml
}

playbook() {
  step=$1
  ansible-playbook "playbooks/$1.yml"
}

show() {
  step=show
  local sha env service
  sha=$(in_host git -c safe.directory="$app" -C "$app" rev-parse HEAD)
  # What the inventory says (ddapm_env, ddapm_service), to compare with what reached the stand-in agent.
  read -r env service < <(ansible-inventory --host "$name" \
    | python3 -c 'import json, sys; v = json.load(sys.stdin); print(v["ddapm_env"], v["ddapm_service"])')
  printf '\n=== The agent on %s: %s\n' "$name" "$(in_host datadog-agent version)"
  echo "    (the harness's STAND-IN agent, not the Datadog Agent: it sends nothing anywhere)"
  in_host datadog-agent status | sed -n '1,40p' | sed 's/^/    /'

  printf '\n=== The Datadog APM block django_apm rendered into %s/upstream/settings/prod.py\n' "$app"
  in_host sed -n '/^# BEGIN django_apm/,/^# END django_apm/p' "$app/upstream/settings/prod.py" | sed 's/^/    /'

  printf '\n=== %s/.env (secrets masked)\n' "$app"
  in_host cat "$app/.env" \
    | sed -E "s/^(DD_API_KEY|[A-Z0-9_]*(SECRET|PASSWORD|TOKEN|DSN|_KEY)[A-Z0-9_]*)=('[^']+'|\"[^\"]+\")$/\1='********'/" \
    | sed 's/^/    /'

  printf '\n=== A trace the app just sent (GET /health/), as the stand-in agent received it\n'
  local report
  report=$(docker exec -i "$name" python3 - --agent standin --url http://127.0.0.1:8000/health/ \
             --service "$service" --env "$env" --version "$sha" --timeout 30 \
             --unit "$service-gunicorn.service" --unit "$service-celery.service" \
             < roles/app_deploy/files/trace_gate.py) || { echo "    $report"; false; }
  python3 - "$report" "$sha" <<'PY'
import json, sys
r, sha = json.loads(sys.argv[1]), sys.argv[2]
t = r["trace"]
print(f"    resource: {t['resource']}   ({t['spans']} spans, trace id {t['trace_id']})")
print(f"    service:  {t['service']}      <- ddapm_service, inventory/local/group_vars/all/main.yml")
print(f"    env:      {t['env']}               <- ddapm_env, same file")
print(f"    version:  {t['version']}  <- the commit deploy.yml checked out")
print(f"    deployed: {sha}  ({'same' if t['version'] == sha else 'DIFFERENT'})")
for u in r["units"]:
    print(f"    {u['unit']}: pid {u['pid']}, DD_VERSION={u.get('DD_VERSION')}")
PY
  printf '\n=== Three of the app log lines (a request with ?patient_id=12345), masked by the rules django_apm wrote for the agent\n'
  PYTHONPATH=molecule/resources/tests python3 molecule/harness/demo_logs.py "$name" "$service"

  printf '\nThe demo host keeps running: docker exec -it %s bash   (curl is not installed; python3 is).\n' "$name"
  echo "Deploy again after a change:  ansible-playbook playbooks/deploy.yml     Remove it all: make demo-clean"
}

down() {
  if ! exists; then echo "$name: not there, nothing to remove"; return 0; fi
  if ! ours; then
    hint "A container named $name exists but was not started by make demo (no label $label): left alone."
    return 1
  fi
  docker rm -f "$name" >/dev/null
  echo "$name: removed"
}

case "${1:-}" in
  start) start ;;
  sample) sample ;;
  site|deploy) playbook "$1" ;;
  show) show ;;
  down) down ;;
  *) echo "usage: $0 start|sample|site|deploy|show|down" >&2; exit 2 ;;
esac
