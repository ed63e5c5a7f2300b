"""The app's logs (django_apm_logs), proved on the host after traffic.

The stand-in agent is not the Datadog Agent: it collects and ships no logs anywhere. So these tests
read the real journal of the app's units and apply the log_processing_rules the role rendered for the
agent, exactly as the agent documents them (exclude_at_match, include_at_match, mask_sequences, in
order; RE2 through google-re2: molecule/resources/tests/logrules.py). What survives is what the
Datadog Agent would send: no needle may be in it, and each request's lines carry the trace id of a
trace the intake received, with the trace's env, service and version.
"""

import json
import time

import pytest
import yaml

import logrules
from logrules import trace_id_int
from test_django import CLIENT, EMAIL, PASSWORD, USER, head_sha, root, run_py, traces, agent
from apmtest import wait_for

LOGS_FILE = "/etc/datadog-agent/conf.d/upstream.d/django_apm_logs.yaml"
# The journald input reads the role's units and the app's own (django_apm_services), sorted.
UNITS = ["upstream-celery.service", "upstream-clock.service", "upstream-gunicorn.service"]
PATIENT = "24680"  # this module's own patient id: not in the earlier tests' traffic
NEEDLES = [PATIENT, USER, EMAIL, "alice", "example.org"]
APP_LOGGERS = ("upstream.request", "upstream.task", "upstream.audit")


def rendered(host):
    return yaml.safe_load(host.file(LOGS_FILE).content_string)


@pytest.fixture(scope="module")
def traffic(host):
    """A logged-in visit, then the journal of the app's units since just before it, and the traces."""
    since = host.check_output("date +%s.%N").strip()
    agent(host, "/test/session/clear")
    # The login's password hashing alone can take over 10 s on a loaded 2-core machine: more patience.
    res = run_py(host, CLIENT.replace("timeout=10", "timeout=60"), USER, PASSWORD, PATIENT)
    assert res.rc == 0, res.stderr

    def complete(ts):
        for t in ts:
            if root(t)["resource"] == "GET patients/" and "celery.run" in {s["name"] for s in t}:
                return ts
        return None

    got = wait_for(lambda: traces(host), complete, "the patients trace with its Celery task")

    def journal(_=None):
        out = host.check_output(f"journalctl --no-pager -o json --since @{since} " + " ".join(f"-u {u}" for u in UNITS))
        entries = [json.loads(line) for line in out.splitlines() if line.strip()]
        return [(e.get("_SYSTEMD_UNIT", ""), e["MESSAGE"]) for e in entries if isinstance(e.get("MESSAGE"), str)]

    def app_lines(entries):
        lines = [json.loads(m) for _, m in entries if m.startswith("{")]
        found = [x for x in lines if x.get("logger") in APP_LOGGERS]
        loggers = {x["logger"] for x in found}
        return entries if set(APP_LOGGERS) <= loggers and any("patients" in x["message"] for x in found) else None

    time.sleep(1)  # the Celery worker logs after the request returned
    entries = wait_for(journal, app_lines, "the app's request, task and audit lines in the journal", deadline=30)
    return {"entries": entries, "traces": got}


def test_the_agent_gets_the_apps_logs_configuration(host):
    f = host.file(LOGS_FILE)
    assert (f.user, f.group, f.mode) == ("root", "dd-agent", 0o640)
    assert f.content_string.startswith("#")  # ansible_managed first
    cfg = rendered(host)
    assert len(cfg["logs"]) == 1
    entry = cfg["logs"][0]
    assert entry["type"] == "journald" and entry["include_units"] == UNITS
    assert (entry["service"], entry["source"], entry["tags"]) == ("upstream", "python", ["env:staging"])
    names = [r["name"] for r in entry["log_processing_rules"]]
    assert names == ["mask_url_query_strings", "mask_email_addresses", "mask_patient_ids_json_numbers", "mask_patient_ids",
                     "mask_user_names", "mask_task_arguments", "drop_health_checks"]
    assert "DD_LOGS_INJECTION='true'" in host.file("/srv/upstream/.env").content_string


def test_dd_agent_reads_the_journal_of_the_app_units(host, traffic):
    assert "systemd-journal" in host.check_output("id -nG dd-agent").split()
    out = host.run("runuser -u dd-agent -- journalctl --no-pager -o cat -n 20 -u upstream-gunicorn.service")
    assert out.rc == 0 and "upstream.request" in out.stdout, out.stdout + out.stderr


def test_the_raw_journal_holds_the_needles(traffic):
    """Without the rules the PHI would ship: the test sees what it must mask (else it proves nothing)."""
    raw = "\n".join(m for _, m in traffic["entries"])
    for needle in NEEDLES:
        assert needle in raw, needle
    assert f"patient_id={PATIENT}" in raw and f"args=['{PATIENT}']" in raw and f"user={USER}" in raw


def test_no_needle_survives_the_agents_processing_rules(host, traffic):
    rules = rendered(host)["logs"][0]["log_processing_rules"]
    sent = [logrules.apply(rules, m) for _, m in traffic["entries"]]
    sent = [line for line in sent if line is not None]
    assert sent, "every line was dropped"
    for line in sent:
        for needle in NEEDLES:
            assert needle not in line, (needle, line)
    masked = "\n".join(sent)
    assert "/patients/?[query_redacted]" in masked and "user=[phi_redacted]" in masked and "email=[email_redacted]" in masked
    assert "args=[phi_redacted]" in masked
    assert not [line for line in sent if '"GET /health/ ' in line], "exclude_at_match dropped the health checks"


def _spans_by_trace(ts):
    spans = {}  # low 64 bits of the trace id -> span ids
    for t in ts:
        for s in t:
            spans.setdefault(s["trace_id"], set()).add(s["span_id"])
    return spans


def test_each_request_line_carries_the_trace_the_intake_got(host, traffic):
    sha = head_sha(host)
    lines = [json.loads(m) for _, m in traffic["entries"] if m.startswith("{")]
    lines = [x for x in lines if x.get("logger") in APP_LOGGERS]
    assert lines
    # Each gunicorn worker flushes its own traces: the login's may reach the intake after the
    # patients trace the fixture waited for. Wait (bounded) until every line's trace is there.
    wanted = {trace_id_int(x["dd.trace_id"]) for x in lines
              if not (x["logger"] == "upstream.request" and x["message"].startswith("GET /health/ "))}
    spans = wait_for(lambda: _spans_by_trace(traces(host)), lambda found: found if wanted <= set(found) else None,
                     "the trace of every app log line at the intake", deadline=30)
    for x in lines:
        assert (x["dd.service"], x["dd.env"], x["dd.version"]) == ("upstream", "staging", sha), x
        if x["logger"] == "upstream.request" and x["message"].startswith("GET /health/ "):
            continue  # the health checks of other tests may fall in the window
        tid = trace_id_int(x["dd.trace_id"])
        assert tid in spans, f"no trace {x['dd.trace_id']} at the intake for {x['logger']}: {x['message'][:60]}"
        assert int(x["dd.span_id"]) in spans[tid], x
    patients = next(x for x in lines if x["logger"] == "upstream.request" and x["message"].startswith("GET /patients/"))
    task = next(x for x in lines if x["logger"] == "upstream.task" and "record_visit" in x["message"])
    assert trace_id_int(task["dd.trace_id"]) == trace_id_int(patients["dd.trace_id"]), "the task line is in the request's trace"
    login = next(x for x in lines if x["logger"] == "upstream.request" and x["message"].startswith("POST /accounts/login/"))
    audit = next(x for x in lines if x["logger"] == "upstream.audit")
    assert trace_id_int(audit["dd.trace_id"]) == trace_id_int(login["dd.trace_id"]), "the login audit line is in the login's trace"
