"""make demo: three of the app's log lines as the Datadog Agent would send them, next to their trace.

Runs on the controller: python3 demo_logs.py HOST SERVICE. Sends one request with a patient id to the
demo host's app, reads the journal of the app's units (docker exec), applies the log_processing_rules
django_apm rendered for the agent (conf.d/<service>.d/django_apm_logs.yaml) as the agent documents
them (molecule/resources/tests/logrules.py, RE2), and prints the request line, the Celery task line
and the lab call's line, masked, each with its dd.trace_id and the trace of that id the stand-in's
trace intake received. The stand-in agent collects and ships no logs: the masking shown is the
rules applied here, to show what the Datadog Agent would send.
"""

import json
import subprocess
import sys
import time

import logrules  # the tests' model of the agent's rules (demo.sh puts molecule/resources/tests on PYTHONPATH)
import yaml

PATIENT = "12345"
GET = ("import sys, urllib.request as u\n"
       "print(u.urlopen(sys.argv[1], timeout=30).read().decode())")


def on_host(host, *argv, stdin=None):
    return subprocess.run(["docker", "exec", "-i", host, *argv], input=stdin, capture_output=True, text=True, check=True).stdout


def main(host, service):
    since = on_host(host, "date", "+%s.%N").strip()
    on_host(host, "python3", "-c", GET, f"http://127.0.0.1:8000/patients/?patient_id={PATIENT}")
    rules = yaml.safe_load(on_host(host, "cat", f"/etc/datadog-agent/conf.d/{service}.d/django_apm_logs.yaml"))
    rules = rules["logs"][0]["log_processing_rules"]
    wanted = {"request": None, "task": None, "lab": None}
    for _ in range(30):
        out = on_host(host, "journalctl", "--no-pager", "-o", "json", "--since", f"@{since}",
                      "-u", f"{service}-gunicorn.service", "-u", f"{service}-celery.service")
        for entry in (json.loads(line) for line in out.splitlines() if line.strip()):
            message = entry.get("MESSAGE")
            if not isinstance(message, str) or not message.startswith("{"):
                continue
            record = json.loads(message)
            text = record.get("message", "")
            kind = ("request" if text.startswith("GET /patients/") else "lab" if text.startswith("GET /health/?")
                    else "task" if record.get("logger") == "upstream.task" else None)
            if kind and wanted[kind] is None:
                wanted[kind] = (message, record)
        if all(wanted.values()):
            break
        time.sleep(1)
    # Each gunicorn worker and the Celery worker flush their own traces: wait (bounded) for the lines'.
    tids = {logrules.trace_id_int(record.get("dd.trace_id", "0")) for _, record in filter(None, wanted.values())}
    roots = {}
    for _ in range(15):
        traces = json.loads(on_host(host, "python3", "-c", GET, "http://127.0.0.1:8126/test/session/traces"))
        roots = {span["trace_id"]: f"{span['service']} {span['name']} {span['resource']}"
                 for trace in traces for span in trace if not span.get("parent_id")}
        if tids <= set(roots):
            break
        time.sleep(1)
    print(f"    (the stand-in agent ships NO logs: the rules of the agent's logs configuration are applied here, with RE2,"
          f" to show what the Datadog Agent would send; {len(rules)} rules)")
    for kind, found in wanted.items():
        if found is None:
            print(f"    {kind}: no line found in the journal")
            continue
        message, record = found
        tid = record.get("dd.trace_id", "0")
        print(f"    {kind}: {logrules.apply(rules, message)}")
        print(f"      -> trace {tid}: {roots.get(logrules.trace_id_int(tid), 'not (yet) at the intake')}")
    return 0 if all(wanted.values()) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
