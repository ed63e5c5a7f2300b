"""The state the real playbooks left (converge: site.yml + deploy.yml of release 1; side_effect:
deploy.yml --check then deploy.yml of release 2), and the tags that reach the agent.

env and site come from inventory/staging/group_vars/all/main.yml, the service from there too
(through group_vars/app.yml), the version is the SHA deploy.yml checked out: none of them is set by
the scenario itself (vars/scenario.yml only replaces the repository, git remote, PyPI and vault).
"""

import yaml

from deployhelpers import (API_KEY, APP, AGENT_UNITS, ENV, SERVICE, SITE, STAGING_ALL, STAGING_APP, UNITS,
                           dotenv, head_sha, host_time_ns, http_get, records, remote_sha, runs_dir, traces,
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
