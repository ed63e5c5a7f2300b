"""End-to-end proof of the django_apm role on the deployed sample app (runs after side_effect).

Traces are read back from the stand-in agent's test-agent API on the host
(http://127.0.0.1:8126/test/session/traces). ddtrace flushes asynchronously: every read polls
with a bounded deadline.
"""

import base64
import json
import os
import re
import time
from pathlib import Path

import pytest
import yaml

from apmtest import http_get, quote as _q, span_contents, wait_for
from changes import assert_check_tells_the_truth, nested_check_then_real

HERE = Path(__file__).resolve().parent
SCENARIO_VARS = yaml.safe_load((HERE.parent / "vars/django.yml").read_text())
SAMPLE_PROD = (HERE.parents[1] / "resources" / "sampleapp" / "upstream" / "settings" / "prod.py").read_text()
APP = SCENARIO_VARS["django_apm_app_dir"]
DOTENV = f"{APP}/.env"
PROD = f"{APP}/upstream/settings/prod.py"
VENV_PY = f"{APP}/.venv/bin/python"
UNITS = ["upstream-gunicorn.service", "upstream-celery.service"]
OWN_UNITS = SCENARIO_VARS["django_apm_services"]  # the app's own units (prepare.yml), not the role's
AGENT_UNITS = ["datadog-agent.service", "datadog-agent-trace.service"]
BEGIN = "# BEGIN django_apm: Datadog APM, managed by Ansible (role django_apm)"
END = "# END django_apm: Datadog APM, managed by Ansible (role django_apm)"
PATIENT = "12345"
USER, EMAIL, PASSWORD = "alice.patientcare", "alice.patientcare@example.org", "correct-horse-battery-staple"
# Everything that identifies the patient or the user, as it could show up in a span (the view's
# raw queries also inline the id, the next two ids of an IN (...) list and the email as SQL literals).
NEEDLES = [PATIENT, "12346", "12347", USER, EMAIL, "Patientcare", "alice", "example.org"]

CLIENT = r'''
import http.cookiejar, json, sys, urllib.parse, urllib.request
base = "http://127.0.0.1:8000"
out = {}
cj = http.cookiejar.CookieJar()
op = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(cj))
op.open(base + "/accounts/login/", timeout=10).read()
token = next(c.value for c in cj if c.name == "csrftoken")
body = urllib.parse.urlencode({"username": sys.argv[1], "password": sys.argv[2], "csrfmiddlewaretoken": token}).encode()
r = op.open(urllib.request.Request(base + "/accounts/login/", data=body, headers={"Referer": base + "/"}), timeout=10)
out["login"] = r.geturl()
r = op.open(base + "/patients/?patient_id=" + sys.argv[3], timeout=10)
out["patients"] = [r.status, json.loads(r.read())]
r = op.open(base + "/me/", timeout=10)
out["me"] = [r.status, json.loads(r.read())]
print(json.dumps(out))
'''


def run_py(host, code, *args, user=None):
    quoted = " ".join(["python3", "-c", _q(code), *(_q(a) for a in args)])
    if user:
        quoted = f"runuser -u {user} -- {quoted}"
    return host.run(quoted)


def agent(host, path):
    return http_get(host, "http://127.0.0.1:8126" + path)[1]


def traces(host):
    return json.loads(agent(host, "/test/session/traces"))


def root(trace):
    return next((s for s in trace if not s.get("parent_id")), trace[0])



def head_sha(host):
    return host.check_output(f"git -c safe.directory={APP} -C {APP} rev-parse HEAD").strip()


def b64_forms(needle):
    """Substrings every base64 encoding of a text containing needle must contain (3 alignments)."""
    forms = set()
    for pad in range(3):
        enc = base64.b64encode(b"\0" * pad + needle.encode()).decode()
        start = (pad * 4 + 2) // 3 + 1  # skip characters mixed with the padding bytes
        stop = len(enc.rstrip("=")) - 2
        if stop - start >= 4:
            forms.add(enc[start:stop])
    return forms


def expected_dotenv(host):
    """name -> value the .env must read back as (the scenario's inputs, the role's fixed settings)."""
    values = {k: ("true" if v is True else "false" if v is False else str(v))
              for k, v in SCENARIO_VARS["django_apm_dotenv_extra"].items()}
    values.update(SCENARIO_VARS["django_apm_tracer_env"])
    values.update({
        "DD_TRACE_ENABLED": "true",
        "DD_SERVICE": "upstream",
        "DD_ENV": "staging",
        "DD_VERSION": head_sha(host),
        "DD_SITE": "datadoghq.eu",
        "DD_TRACE_AGENT_URL": "http://127.0.0.1:8126",
        "DD_REDIS_SERVICE": "upstream-redis",
        "DD_CELERY_DISTRIBUTED_TRACING": "true",
        "DD_PSYCOPG_SERVICE": "upstream-postgres",
        "DD_REMOTE_CONFIGURATION_ENABLED": "false",
        "DD_HTTP_SERVER_TAG_QUERY_STRING": "false",
        "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING": "false",
        "DD_DJANGO_INCLUDE_USER_NAME": "false",
        "DD_LOGS_INJECTION": "true",  # django_apm_logs
    })
    return values


# --- files, units ----------------------------------------------------------------------------

def test_dotenv_is_private_to_the_app_user(host):
    f = host.file(DOTENV)
    assert f.user == "upstream" and f.group == "upstream"
    assert f.mode == 0o600
    assert "DD_API_KEY" not in f.content_string, "the API key stays with the agent"


def test_python_decouple_reads_every_value_back_exactly(host):
    code = _q("import json, sys; from decouple import RepositoryEnv; print(json.dumps(RepositoryEnv(sys.argv[1]).data))")
    res = host.run(f"{VENV_PY} -c {code} {DOTENV}")
    assert res.rc == 0, res.stderr
    read = json.loads(res.stdout)
    for name, value in expected_dotenv(host).items():
        assert read.get(name) == value, name


@pytest.mark.parametrize("unit", UNITS + OWN_UNITS)
def test_systemd_gives_the_app_every_value_exactly(host, unit):
    """EnvironmentFile= as systemd parses it: the running process's environment."""
    pid = host.check_output(f"systemctl show -p MainPID --value {unit}").strip()
    assert pid not in ("", "0"), f"{unit} is not running"
    res = run_py(host, "import json, sys\nraw = open(f'/proc/{sys.argv[1]}/environ', 'rb').read()\n"
                       "print(json.dumps(dict(e.decode().split('=', 1) for e in raw.split(b'\\0') if e)))", pid)
    assert res.rc == 0, res.stderr
    env = json.loads(res.stdout)
    for name, value in expected_dotenv(host).items():
        assert env.get(name) == value, name
    assert "DD_API_KEY" not in env


@pytest.mark.parametrize("unit", OWN_UNITS)
def test_the_apps_own_unit_gets_a_dropin_loading_the_dotenv(host, unit):
    """django_apm_services: the role leaves the unit file alone and adds one drop-in."""
    dropin = host.file(f"/etc/systemd/system/{unit}.d/django-apm.conf")
    assert (dropin.user, dropin.group, dropin.mode) == ("root", "root", 0o644)
    assert dropin.content_string.startswith("#") and f"EnvironmentFile={DOTENV}" in dropin.content_string.splitlines()
    assert "Ansible" not in host.file(f"/etc/systemd/system/{unit}").content_string, "the role wrote the unit itself"
    props = host.check_output(f"systemctl show -p DropInPaths,EnvironmentFiles,ActiveState {unit}")
    assert dropin.path in props and DOTENV in props and "ActiveState=active" in props, props


@pytest.mark.parametrize("unit", UNITS)
def test_units_run_as_the_app_user_without_depending_on_the_agent(host, unit):
    svc = host.service(unit)
    assert svc.is_running and svc.is_enabled
    props = host.check_output(f"systemctl show -p User,EnvironmentFiles,ExecStart {unit}")
    assert "User=upstream" in props
    assert DOTENV in props
    assert "ddtrace-run" not in props, "one mechanism only: import ddtrace.auto in the settings"
    deps = host.check_output(f"systemctl show -p Requires,Requisite,BindsTo,PartOf,Wants {unit}")
    assert "datadog" not in deps, deps


def test_settings_file_has_the_block_after_sentry_and_nothing_else_changed(host):
    text = host.file(PROD).content_string
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    begin, end = text.index(BEGIN), text.index(END)
    assert text.index("# --- Sentry ---") < begin < end < text.index("# --- Logging ---")
    outside = text[:begin] + text[end + len(END):]
    assert re.sub(r"\n+", "\n", outside).strip() == re.sub(r"\n+", "\n", SAMPLE_PROD).strip()


@pytest.mark.parametrize("enabled", ["true", "false"])
def test_settings_import_and_manage_check_pass_with_tracing(host, enabled):
    res = host.run(f"cd {APP} && DD_TRACE_ENABLED={enabled} PYTHONDONTWRITEBYTECODE=1 "
                   f"runuser -u upstream -- {VENV_PY} manage.py check --settings=upstream.settings.prod")
    assert res.rc == 0, res.stdout + res.stderr
    probe = _q("import sys, upstream.settings.prod; print('ddtrace' in sys.modules)")
    res = host.run(f"cd {APP} && DD_TRACE_ENABLED={enabled} PYTHONDONTWRITEBYTECODE=1 runuser -u upstream -- "
                   f"{VENV_PY} -c {probe}")
    assert res.rc == 0, res.stderr
    assert res.stdout.strip() == ("True" if enabled == "true" else "False")


def test_ddtrace_pinned_in_the_virtualenv_not_in_the_system_python(host):
    assert host.check_output(f"{VENV_PY} -c 'import importlib.metadata as m; print(m.version(\"ddtrace\"))'") == "4.16.0"
    assert host.run("python3 -c 'import ddtrace'").rc != 0


# --- traces ----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def session(host):
    """One logged-in visit: login, /patients/?patient_id=12345 (cache, DB, lab call, Celery task), /me/."""
    agent(host, "/test/session/clear")
    res = run_py(host, CLIENT, USER, PASSWORD, PATIENT)
    assert res.rc == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["patients"][0] == 200 and out["me"] == [200, {"username": USER, "email": EMAIL}]

    def complete(ts):
        for t in ts:
            names = {s["name"] for s in t}
            if root(t)["resource"] == "GET patients/" and {"celery.run", "requests.request"} <= names:
                return ts
        return None

    return wait_for(lambda: traces(host), complete, "the patients trace with its Celery task")


def test_app_traces_carry_service_env_and_the_deployed_sha(host, session):
    sha = head_sha(host)
    roots = [root(t) for t in session if root(t)["name"] == "django.request"]
    assert {r["resource"] for r in roots} >= {"GET accounts/login/", "POST accounts/login/", "GET patients/", "GET me/"}
    for span in (s for t in session for s in t if s["service"] == "upstream"):
        assert span["meta"].get("env") == "staging", span
        assert span["meta"].get("version") == sha, span
    for r in roots:
        assert r["service"] == "upstream"


def test_every_request_is_sampled_by_the_rule_at_100_percent(host, session):
    for r in (root(t) for t in session if root(t)["name"] == "django.request"):
        assert r["metrics"].get("_sampling_priority_v1") == 2, r["metrics"]
        assert r["metrics"].get("_dd.rule_psr") == 1.0, r["metrics"]
        assert r["meta"].get("_dd.p.dm") == "-3", r["meta"]


def test_celery_task_lands_in_the_request_trace(host, session):
    t = next(t for t in session if root(t)["resource"] == "GET patients/")
    run = next(s for s in t if s["name"] == "celery.run")
    apply = next(s for s in t if s["name"] == "celery.apply")
    assert run["trace_id"] == apply["trace_id"] == root(t)["trace_id"]
    assert run["service"] == "upstream" and run["meta"].get("version") == head_sha(host)
    spans = {s["span_id"]: s for s in t}
    assert run["parent_id"] in spans, "the worker span hangs off the producer's"


def test_integrations_and_redis_naming(host, session):
    t = next(t for t in session if root(t)["resource"] == "GET patients/")
    services = {s["service"] for s in t}
    assert {"upstream", "upstream-redis", "upstream-postgres"} <= services, services
    names = {s["name"] for s in t}
    assert {"django.request", "redis.command", "celery.apply", "celery.run", "requests.request", "postgres.query"} <= names, names
    for span in (s for s in t if s["name"] == "postgres.query"):
        assert (span["service"], span["meta"]["db.system"], span["meta"]["env"]) == ("upstream-postgres", "postgresql", "staging")
    client = next(s for s in t if s["name"] == "requests.request")
    assert client["meta"]["http.url"] == "http://127.0.0.1:8000/health/"


def test_no_phi_in_any_span(host, session):
    text, numbers = span_contents(session)  # every key and value but the tracer's own ids and clock
    assert "patient_id" not in text  # the view's query parameter
    for needle in NEEDLES:
        assert needle not in text, needle
        assert not needle.isdigit() or int(needle) not in numbers, needle
        for form in b64_forms(needle):
            assert form not in text, f"{needle} base64-encoded"
    for span in (s for t in session for s in t):
        for key, value in span["meta"].items():
            assert not key.startswith("usr.") and key != "django.user.name", (key, value)
            if key.endswith(".url"):
                assert "?" not in value, (key, value)
            if key.endswith("raw_command"):
                assert " " not in value, (key, value)


def test_sql_literals_are_replaced_in_the_postgres_spans(session):
    t = next(t for t in session if root(t)["resource"] == "GET patients/")
    resources = {s["resource"] for s in t if s["name"] == "postgres.query"}
    for shape in ("SELECT COUNT(*) FROM patients_patient WHERE external_id = ? OR id = ?",
                  "SELECT COUNT(*) FROM patients_patient WHERE id IN (?)",
                  "SELECT COUNT(*) FROM auth_user WHERE email = ?",
                  "SELECT COUNT(*) FROM patients_patient WHERE id = ? "):  # the -- comment dropped
        assert shape in resources, (shape, sorted(resources))


def test_postgres_listens_on_loopback_only(host):
    res = host.run("runuser -u postgres -- psql -X -tAc 'SHOW listen_addresses'")
    assert res.rc == 0 and res.stdout.strip() == "localhost", res.stdout + res.stderr
    listening = host.run("ss -Hltn 'sport = :5432'")
    if listening.rc == 0:  # ss (iproute2) where the image has it
        for line in listening.stdout.splitlines():
            assert line.split()[3].rsplit(":", 1)[0] in ("127.0.0.1", "[::1]"), line


def _app_python(host, code):
    """The app's python as an operator runs it by hand: the app user, no DD_* in the environment."""
    res = host.run(f"cd {APP} && runuser -u upstream -- env -i PATH=/usr/bin:/bin {VENV_PY} {code}")
    assert res.rc == 0, res.stderr
    return res.stdout


def test_remote_configuration_is_off_in_the_app(host):
    code = ("from ddtrace import config; from ddtrace.internal.remoteconfig.worker import remoteconfig_poller as p; "
            "print(config._remote_config_enabled, p.status.value)")
    out = _app_python(host, f"manage.py shell --settings=upstream.settings.prod -c {_q(code)}").split()
    assert out[-2:] == ["False", "stopped"], out


def test_a_management_command_by_hand_is_one_trace_of_the_app(host):
    agent(host, "/test/session/clear")
    _app_python(host, "manage.py patient_report 12345 --settings=upstream.settings.prod")
    ts = wait_for(lambda: traces(host), lambda ts: [t for t in ts if root(t)["name"] == "django.command"] or None,
                  "the patient_report command's trace")
    sha = head_sha(host)
    for t in ts:
        r = root(t)
        assert (r["service"], r["resource"], r["meta"].get("env"), r["meta"].get("version")) == ("upstream", "patient_report", "staging", sha)
        assert any(s["name"] == "postgres.query" for s in t)
        text, _ = span_contents([t])
        assert PATIENT not in text and EMAIL not in text


def test_redis_only_traces_are_dropped_by_the_sampling_rule(host):
    def redis_roots(ts):
        found = [root(t) for t in ts if root(t)["name"] == "redis.command"]
        return found or None

    found = wait_for(lambda: traces(host), redis_roots, "the Celery worker's broker traffic", deadline=60)
    assert all(r["metrics"].get("_sampling_priority_v1") == -1 for r in found), [r["metrics"] for r in found]


# --- the new commit (side_effect.yml) ----------------------------------------------------------

@pytest.fixture(scope="module")
def side_effect(host):
    return json.loads(host.file("/root/ddapm_record.json").content_string)


def test_check_mode_changed_and_restarted_nothing(side_effect):
    before, after_check = side_effect["before"], side_effect["after_check"]
    assert after_check["sha"] != before["sha"], "a new commit was deployed before the check run"
    assert after_check["dotenv_sha256"] == before["dotenv_sha256"]
    assert after_check["units"] == before["units"]


def test_check_mode_with_diff_and_vvv_named_the_new_version_and_no_value(side_effect):
    # side_effect.yml's apm.yml --check --diff -vvv, in a process of its own as a user runs it.
    log = (Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"]) / "runs" / "check-new-commit-apm.log").read_text()
    assert "ESTABLISH" in log and "PLAYBOOK: apm.yml" in log, "not a -vvv run of apm.yml"
    assert re.search(r"changed=[1-9]\d*\s+unreachable=0\s+failed=0", log), log[-3000:]
    before, after = side_effect["before"], side_effect["after"]
    assert f"~ DD_VERSION {before['sha']!r} -> {after['sha']!r}" in log, "the .env summary should name the new version"
    for name in ("SECRET_KEY", "DB_PASSWORD"):
        value = SCENARIO_VARS["django_apm_dotenv_extra"][name]
        assert value not in log and repr(value) not in log, f"the value of {name} is in the log"


# apm.yml --check with a new commit and its real run: the differences, seen 2026-12-01 (each with
# its reason; any other fails, and so does one of these that goes away).
NEW_COMMIT_KNOWN = {
    "real only: django_apm : Service | the backups of this run's changes removed (the app is healthy)":
        "check mode restarts nothing, so the health check and the clean-up that follows it do not run",
}


def test_check_mode_with_a_new_commit_told_the_truth(host):
    """side_effect.yml's apm.yml --check (its own run, recorded apart) reported the tasks and
    handlers that side_effect.yml's real apm.yml run then changed (changes.py)."""
    runs = Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"])
    name = host.ansible.get_variables()["inventory_hostname"]
    check, real = nested_check_then_real(runs / "runs" / "check-new-commit-apm.changes.jsonl", runs / "changes.jsonl",
                                         "side_effect.yml", name)
    assert_check_tells_the_truth(check, real, "apm.yml with a new commit", NEW_COMMIT_KNOWN)


def test_new_commit_changes_the_version_and_restarts_the_app_only(host, side_effect):
    before, after = side_effect["before"], side_effect["after"]
    assert after["sha"] == head_sha(host) != before["sha"]
    assert f"DD_VERSION='{after['sha']}'" in host.file(DOTENV).content_string
    for unit in UNITS + OWN_UNITS:
        assert after["units"][unit]["pid"] not in ("", "0"), f"{unit} is not running"
        assert after["units"][unit]["pid"] != before["units"][unit]["pid"], f"{unit} was not restarted"
    for unit in AGENT_UNITS:
        assert after["units"][unit] == before["units"][unit], f"{unit} was restarted"


def test_a_unit_change_restarts_that_unit_only(side_effect):
    after, celery = side_effect["after"], side_effect["after_celery_change"]
    assert celery["dotenv_sha256"] == after["dotenv_sha256"]
    assert celery["units"]["upstream-celery.service"]["pid"] != after["units"]["upstream-celery.service"]["pid"]
    assert celery["units"]["upstream-gunicorn.service"] == after["units"]["upstream-gunicorn.service"]
    for unit in AGENT_UNITS:
        assert celery["units"][unit] == after["units"][unit]


def test_a_unit_switched_off_is_stopped_disabled_and_removed_alone(host, side_effect):
    celery, worker_only = side_effect["after_celery_change"], side_effect["worker_only"]
    gunicorn = worker_only["units"]["upstream-gunicorn.service"]
    assert (gunicorn["load"], gunicorn["active"], gunicorn["pid"]) == ("not-found", "inactive", "0"), gunicorn
    assert worker_only["dotenv_sha256"] == celery["dotenv_sha256"]
    for unit in ["upstream-celery.service", *OWN_UNITS, *AGENT_UNITS]:
        assert worker_only["units"][unit] == celery["units"][unit], f"{unit} was touched"


def test_a_unit_switched_back_on_is_started_and_enabled_alone(host, side_effect):
    worker_only, again = side_effect["worker_only"], side_effect["web_again"]
    gunicorn = again["units"]["upstream-gunicorn.service"]
    assert (gunicorn["load"], gunicorn["active"], gunicorn["enabled"]) == ("loaded", "active", "enabled"), gunicorn
    assert gunicorn["pid"] != "0"
    for unit in ["upstream-celery.service", *OWN_UNITS, *AGENT_UNITS]:
        assert again["units"][unit] == worker_only["units"][unit], f"{unit} was touched"


def test_a_block_only_change_restarts_the_app_units_not_the_agent(host, side_effect):
    """A hand edit inside the managed block is put back, and every app unit restarts on it."""
    again, fixed = side_effect["web_again"], side_effect["block_fixed"]
    assert "DDAPM_HAND_EDIT" not in host.file(PROD).content_string
    assert fixed["dotenv_sha256"] == again["dotenv_sha256"], "only the block changed"
    for unit in UNITS + OWN_UNITS:
        assert fixed["units"][unit]["active"] == "active" and fixed["units"][unit]["pid"] not in ("", "0"), unit
        assert fixed["units"][unit]["pid"] != again["units"][unit]["pid"], f"{unit} still runs the hand-edited settings"
    for unit in AGENT_UNITS:
        assert fixed["units"][unit] == again["units"][unit], f"{unit} was restarted"


def test_a_ddtrace_only_change_restarts_the_app_units_not_the_agent(host, side_effect):
    """ddtrace removed from the virtualenv by hand: the run installs the pinned version again and
    every app unit restarts on it (a ddtrace version change takes the same path)."""
    fixed, again = side_effect["block_fixed"], side_effect["ddtrace_fixed"]
    assert again["dotenv_sha256"] == fixed["dotenv_sha256"] and again["sha"] == fixed["sha"], "only ddtrace changed"
    version = host.run(f"{VENV_PY} -c 'import importlib.metadata as m; print(m.version(\"ddtrace\"))'")
    assert version.rc == 0 and version.stdout.strip() == "4.16.0", version.stdout + version.stderr
    for unit in UNITS + OWN_UNITS:
        assert again["units"][unit]["active"] == "active" and again["units"][unit]["pid"] not in ("", "0"), unit
        assert again["units"][unit]["pid"] != fixed["units"][unit]["pid"], f"{unit} was not restarted on the new ddtrace"
    for unit in AGENT_UNITS:
        assert again["units"][unit] == fixed["units"][unit], f"{unit} was restarted"


# --- last: the agent goes away -----------------------------------------------------------------

def test_app_answers_with_the_agent_stopped(host):
    host.run_expect([0], "systemctl stop datadog-agent.service datadog-agent-trace.service")
    try:
        assert not host.socket("tcp://127.0.0.1:8126").is_listening
        for path in ("/health/", f"/patients/?patient_id={PATIENT}"):
            status, _ = http_get(host, "http://127.0.0.1:8000" + path)
            assert status == 200, path
        time.sleep(2)  # flushes fail in the background
        status, _ = http_get(host, "http://127.0.0.1:8000/health/")
        assert status == 200
        for unit in UNITS:
            assert host.service(unit).is_running
    finally:
        host.run_expect([0], "systemctl start datadog-agent.service")


# --- rollback: inputs that pass every check but fail at start ------------------------------------

@pytest.mark.parametrize("case,cause,changed", [
    ("bind", "upstream-gunicorn.service", "the unit upstream-gunicorn.service"),
    # gunicorn's restart itself fails, or its workers (and the Celery worker) die right after it
    ("tracer", "upstream-", "django_apm_tracer_env[DD_TRACE_PARTIAL_FLUSH_MIN_SPANS]"),
])
def test_a_change_that_fails_at_start_is_rolled_back(host, side_effect, case, cause, changed):
    failure = json.loads(host.file(f"/root/ddapm_rollback_{case}.json").content_string)
    msg = failure["msg"]
    assert failure["task"].endswith("roll back - fail, naming the cause and what changed"), failure
    assert "the app was not healthy after this run's change" in msg and cause in msg, msg
    assert "the app is healthy again on the previous config" in msg, msg
    assert f"What changed: {changed}" in msg, msg
    before, after = side_effect["web_again"], side_effect[f"rollback_{case}"]
    assert after["dotenv_sha256"] == before["dotenv_sha256"], "the previous .env is back"
    for unit in UNITS + OWN_UNITS:
        assert after["units"][unit]["active"] == "active", (unit, after["units"][unit])
    for unit in AGENT_UNITS:
        assert after["units"][unit] == before["units"][unit], f"{unit} was touched"
    assert "--bind 127.0.0.1:8000 " in host.file("/etc/systemd/system/upstream-gunicorn.service").content_string
    assert "DD_TRACE_PARTIAL_FLUSH_MIN_SPANS" not in host.file(DOTENV).content_string
    status, _ = http_get(host, "http://127.0.0.1:8000/health/")
    assert status == 200
    leftovers = host.run(f"ls -a {APP} {APP}/upstream/settings /etc/systemd/system | grep -E '[.][0-9]+[.].*~$'")
    assert leftovers.stdout == "", "backups left behind: " + leftovers.stdout
