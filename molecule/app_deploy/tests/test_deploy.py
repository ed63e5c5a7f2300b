"""The state the real playbooks left (converge: site.yml + deploy.yml of release 1; side_effect:
deploy.yml --check then deploy.yml of release 2), and the tags that reach the agent.

env and site come from inventory/staging/group_vars/all/main.yml, the service from there too
(through group_vars/app.yml), the version is the SHA deploy.yml checked out: none of them is set by
the scenario itself (vars/scenario.yml only replaces the repository, git remote, PyPI and vault).
"""

import json

import yaml

import logrules
from apmtest import span_contents
from changes import assert_check_tells_the_truth, nested_check_then_real
from deployhelpers import (API_KEY, APP, AGENT_UNITS, DB_PASSWORD, ENV, SERVICE, SITE, STAGING_ALL, STAGING_APP, UNITS,
                           dotenv, head_sha, host_time_ns, hostname, http_get, records, remote_sha, runs_dir, traces,
                           wait_for, assert_no_secret, tail)


def test_the_scenario_takes_env_service_and_site_from_the_staging_inventory():
    # The chain under test: one variable per fact in group_vars/all/main.yml, wired to both roles.
    assert (ENV, SITE) == ("staging", "datadoghq.com")
    assert STAGING_ALL["datadog_agent_env"] == "{{ ddapm_env }}"
    assert STAGING_APP["django_apm_env"] == "{{ ddapm_env }}"
    assert STAGING_APP["django_apm_service"] == "{{ ddapm_service }}"
    assert STAGING_APP["django_apm_dotenv_extra"]["SENTRY_ENVIRONMENT"] == "{{ ddapm_env }}"
    assert SERVICE != "upstream", "the role's default would hide where the service name comes from"


def test_the_app_runs_the_release_on_the_remote_main(host):
    sha = head_sha(host)
    assert sha == remote_sha(host)
    assert host.file(f"{APP}/RELEASE").content_string.strip() == "2"
    assert host.file(APP).user == "upstream"


def test_dotenv_tags_come_from_the_inventory_and_the_deployed_commit(host):
    env = dotenv(host)
    assert env["DD_ENV"] == ENV
    assert env["DD_SERVICE"] == SERVICE
    assert env["DD_SITE"] == SITE
    assert env["DD_VERSION"] == head_sha(host)
    assert env["DD_REDIS_SERVICE"] == f"{SERVICE}-redis"
    # One variable feeds both: the app hands DD_ENV to sentry_sdk.init, and SENTRY_ENVIRONMENT is the same.
    assert env["SENTRY_ENVIRONMENT"] == env["DD_ENV"]
    assert "DD_API_KEY" not in env, "the API key stays with the agent"
    assert host.file(f"{APP}/.env").mode == 0o600


def test_the_agent_reports_the_inventory_env(host):
    conf = yaml.safe_load(host.file("/etc/datadog-agent/datadog.yaml").content_string)
    assert conf["env"] == ENV and conf["site"] == SITE
    assert conf["api_key"] == API_KEY  # the made-up key from the scenario's vault reached the agent only
    status = host.check_output("datadog-agent status")
    assert "stand-in for tests, not the Datadog Agent" in status
    assert f"env: {ENV}" in status


def test_units_run_with_the_deployed_version(host):
    sha = head_sha(host)
    for unit in UNITS:
        pid = host.check_output(f"systemctl show -p MainPID --value {unit}").strip()
        assert pid not in ("", "0"), f"{unit} is not running"
        environ = host.file(f"/proc/{pid}/environ").content.split(b"\0")
        assert f"DD_VERSION={sha}".encode() in environ, unit
        assert f"DD_ENV={ENV}".encode() in environ, unit


def test_traces_reaching_the_agent_carry_env_service_and_the_deployed_sha(host):
    sha, release1 = head_sha(host), records(host)["release1"]["sha"]
    start = host_time_ns(host)
    for path in ("/health/", "/patients/?patient_id=4242"):
        status, _ = http_get(host, "http://127.0.0.1:8000" + path)
        assert status == 200, path

    def fresh_app_spans(ts):
        spans = [s for t in ts for s in t if s["service"] == SERVICE and s["start"] >= start]
        names = {s["name"] for s in spans}
        # the request (gunicorn) and the Celery task it queued (worker group: the worker runs here)
        return spans if {"django.request", "celery.run"} <= names else None

    spans = wait_for(lambda: traces(host), fresh_app_spans, "fresh spans of the web request and its Celery task")
    for span in spans:
        assert span["meta"].get("env") == ENV, span
        assert span["meta"].get("version") == sha, span
        assert span["meta"].get("version") != release1
    roots = [s for s in spans if s["name"] == "django.request"]
    assert {r["resource"] for r in roots} >= {"GET health/", "GET patients/"}


# The PHI of the PostgreSQL test: a patient id the app inlines into raw SQL (and the next two ids of
# its IN list), and the email of the anonymous visitor it puts in a string literal.
PATIENT = "730519"
EMAIL = "alice.patientcare@example.org"


def test_the_app_runs_on_postgresql_with_the_vaulted_password(host):
    """The .env holds the staging inventory's database settings, the password from the vault; the
    database the deploy migrated is PostgreSQL's (the app's tables are there), reached with it."""
    env = dotenv(host)
    expected = {k: v for k, v in STAGING_APP["django_apm_dotenv_extra"].items() if k.startswith("DB_")}
    assert {k: env[k] for k in expected if k != "DB_PASSWORD"} == {k: str(v) for k, v in expected.items() if k != "DB_PASSWORD"}
    same = env["DB_PASSWORD"] == DB_PASSWORD  # compared out of the assert: a failure must not print it
    assert same, "DB_PASSWORD in the .env is not the vaulted password"
    tables = host.run(f"runuser -u postgres -- psql -X -tAd {env['DB_NAME']} -c "
                      "\"SELECT tableowner FROM pg_tables WHERE tablename = 'patients_patient'\"")
    assert tables.rc == 0 and tables.stdout.strip() == env["DB_USER"], tables.stdout + tables.stderr
    assert not host.file(f"{APP}/db.sqlite3").exists, "the app fell back to SQLite"


def test_postgres_spans_carry_env_the_naming_scheme_and_no_query_literal(host):
    """A request that reaches PostgreSQL five ways with the patient id and an email in the SQL: its
    postgres.query spans carry the app's env (the version is on the request's root), the service <service>-postgres (ddtrace
    4.x names psycopg's spans postgres.query; django_apm sets DD_PSYCOPG_SERVICE), the queries with
    every literal replaced by ?, and no span of the trace holds the id, the other ids or the email."""
    sha, start = head_sha(host), host_time_ns(host)
    status, _ = http_get(host, f"http://127.0.0.1:8000/patients/?patient_id={PATIENT}")
    assert status == 200

    def fresh_request(ts):
        found = [t for t in ts if any(s["name"] == "django.request" and s["start"] >= start and s["resource"] == "GET patients/"
                                      for s in t) and any(s["name"] == "postgres.query" for s in t)]
        return found or None

    trace = wait_for(lambda: traces(host), fresh_request, "the request's trace with its postgres spans")[0]
    root = next(s for s in trace if s["name"] == "django.request")
    assert (root["service"], root["meta"].get("env"), root["meta"].get("version")) == (SERVICE, ENV, sha)
    pg = [s for s in trace if s["name"] == "postgres.query"]
    for span in pg:
        assert (span["service"], span["meta"].get("env"), span["meta"].get("db.system")) == \
            (f"{SERVICE}-postgres", ENV, "postgresql"), span
    resources = {s["resource"] for s in pg}
    for shape in ("SELECT COUNT(*) FROM patients_patient WHERE external_id = ? OR id = ?",
                  "SELECT COUNT(*) FROM patients_patient WHERE id IN (?)",
                  "SELECT COUNT(*) FROM auth_user WHERE email = ?",
                  "SELECT COUNT(*) FROM patients_patient WHERE id = ? "):  # the -- comment dropped
        assert shape in resources, (shape, sorted(resources))
    text, numbers = span_contents([trace])
    for needle in (PATIENT, str(int(PATIENT) + 1), str(int(PATIENT) + 2), EMAIL):
        assert needle not in text, f"{needle} in a span"
        if needle.isdigit():
            assert int(needle) not in numbers, f"{needle} as a number in a span"


def test_app_logs_leave_the_host_masked_and_linked_to_their_trace(host):
    """django_apm_logs from the staging inventory (molecule/django_apm proves the same with more
    needles on Debian 13). The stand-in agent ships no logs: the test applies the rendered
    log_processing_rules to the app units' real journal, as the agent documents them (logrules.py).
    The PostgreSQL test's request logged the patient id in its URL and in its Celery task's
    arguments: none may survive the rules, and the request's line carries a trace the intake got."""
    conf = yaml.safe_load(host.file(f"/etc/datadog-agent/conf.d/{SERVICE}.d/django_apm_logs.yaml").content_string)
    [entry] = conf["logs"]
    assert (entry["type"], sorted(entry["include_units"])) == ("journald", sorted(UNITS))
    assert (entry["service"], entry["source"], entry["tags"]) == (SERVICE, "python", [f"env:{ENV}"])
    assert "systemd-journal" in host.check_output("id -nG dd-agent").split()
    journal = host.check_output("journalctl --no-pager -o cat " + " ".join(f"-u {u}" for u in UNITS)).splitlines()
    raw = [line for line in journal if PATIENT in line]
    # Without the rules the id would ship: the raw lines hold it in the URL and in the task's arguments.
    assert any(f"patient_id={PATIENT}" in line for line in raw) and any(f"args=['{PATIENT}']" in line for line in raw), raw
    sent = [logrules.apply(entry["log_processing_rules"], line) for line in journal]
    assert not [line for line in sent if line is not None and PATIENT in line]
    request = next(json.loads(line) for line in raw if line.startswith("{") and f"/patients/?patient_id={PATIENT}" in line)
    assert (request["dd.service"], request["dd.env"], request["dd.version"]) == (SERVICE, ENV, head_sha(host)), request
    ids = {span["trace_id"] for trace in traces(host) for span in trace}
    assert logrules.trace_id_int(request["dd.trace_id"]) in ids, request


def test_check_mode_with_a_pending_release_reported_it_and_changed_nothing(host):
    rec = records(host)
    before, after_check = rec["release1"], rec["release2_check"]
    assert after_check["remote_main"] != before["remote_main"], "release 2 was on the remote before the check run"
    assert after_check["sha"] == before["sha"]
    assert after_check["dotenv_sha256"] == before["dotenv_sha256"]
    assert after_check["units"] == before["units"]
    log = (runs_dir() / "check-release2-deploy.log").read_text()
    assert_no_secret(log, "deploy.yml --check --diff")
    assert "changed: [" in log.split("Checkout | app_deploy_version, as the app user, into", 1)[1].split("TASK [", 1)[0], tail(log)
    assert "changed: [" in log.split("the .env read by python-decouple", 1)[1].split("TASK [", 1)[0], tail(log)


# deploy.yml --check with a new commit pending and its real run: the differences, seen 2026-12-01
# (each with its reason; any other fails, and so does one of these that goes away).
RELEASE2_KNOWN = {
    "real only: django_apm : Configure | the Datadog APM block in upstream.settings.prod":
        "check mode checks nothing out: the real run's checkout brings the commit's prod.py, without the "
        "block, and django_apm puts the block back (the file ends as it was)",
    "real only: django_apm : Service | the backups of this run's changes removed (the app is healthy)":
        "check mode restarts nothing, so the health check and the clean-up that follows it do not run",
}


def test_check_mode_with_a_pending_release_told_the_truth(host):
    """side_effect.yml's deploy.yml --check (its own run, recorded apart) reported the tasks and
    handlers that side_effect.yml's real deploy.yml run then changed (changes.py)."""
    check, real = nested_check_then_real(runs_dir() / "check-release2-deploy.changes.jsonl",
                                         runs_dir().parent / "changes.jsonl", "side_effect.yml", hostname(host))
    assert_check_tells_the_truth(check, real, "deploy.yml of release 2", RELEASE2_KNOWN)


def test_the_second_release_moved_dd_version_and_restarted_the_app_not_the_agent(host):
    rec = records(host)
    before, after = rec["release1"], rec["release2"]
    assert after["sha"] == after["remote_main"] == head_sha(host) != before["sha"]
    assert (before["dd_version"], after["dd_version"]) == (before["sha"], after["sha"])
    for unit in UNITS:
        assert after["units"][unit]["pid"] != before["units"][unit]["pid"], f"{unit} was not restarted"
    for unit in AGENT_UNITS:
        assert after["units"][unit] == before["units"][unit], f"{unit} was restarted"


def test_fresh_host_check_mode_logs_hold_no_secret():
    for name in ("site", "deploy"):
        assert_no_secret((runs_dir() / f"check-fresh-{name}.log").read_text(), f"{name}.yml --check on the fresh hosts")
