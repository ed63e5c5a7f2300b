"""The plan filters of django_apm (filter_plugins/django_apm.py): DD_VERSION, the .env items, the
units, what the probe saw and what a run changed. The role's own run (test_django_apm_role.py)
proves them end to end; these pin each rule on its own."""

import importlib.util
import json
from pathlib import Path

import pytest

_spec = importlib.util.spec_from_file_location(
    "django_apm_filters", Path(__file__).resolve().parents[2] / "roles/django_apm/filter_plugins/django_apm.py")
_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_module)
F = _module.FilterModule().filters()

SHA = "ab" * 20
PRIVACY = {"DD_HTTP_SERVER_TAG_QUERY_STRING": "false"}
INPUTS = {
    "trace_enabled": True, "service": "svc", "env": "prod", "version": "v1", "site": "datadoghq.eu", "agent_url": "",
    "agent_host": "::1", "agent_port": 8126, "keep_redis_only_traces": False, "sample_rate": 0.5, "trace_rate_limit": 100,
    "redis_service": "svc-redis", "postgres_service": "svc-pg", "remote_configuration_enabled": False,
    "tracer_env": {"DD_LOGS_INJECTION": True}, "write_api_key": True, "api_key": "k" * 32, "dotenv_extra": {"SECRET_KEY": "s"},
}


@pytest.mark.parametrize("explicit, git_result, sha, length, expected", [
    ("1.2.3", {"after": SHA}, "c" * 40, 7, {"source": "django_apm_version", "version": "1.2.3", "git_after": SHA}),
    (" ", {"after": SHA}, "c" * 40, 7, {"source": "django_apm_git_result", "version": SHA[:7], "git_after": SHA}),
    ("", {}, "c" * 40, 0, {"source": "checkout", "version": "c" * 40, "git_after": ""}),
    ("", None, "", 0, {"source": "checkout", "version": "", "git_after": ""}),  # before the probe
])
def test_version_precedence(explicit, git_result, sha, length, expected):
    assert F["django_apm_version_info"](explicit, git_result, sha, length) == expected


def test_dotenv_items_in_file_order_with_the_variable_to_blame():
    items = F["django_apm_dotenv_items"](INPUTS, PRIVACY)
    names = [i["name"] for i in items]
    assert names[:3] == ["DD_TRACE_ENABLED", "DD_SERVICE", "DD_ENV"]
    assert names[-4:] == ["DD_HTTP_SERVER_TAG_QUERY_STRING", "DD_LOGS_INJECTION", "DD_API_KEY", "SECRET_KEY"]
    by = {i["name"]: i for i in items}
    assert by["DD_TRACE_AGENT_URL"]["value"] == "http://[::1]:8126"
    assert json.loads(by["DD_TRACE_SAMPLING_RULES"]["value"]) == [
        {"service": "svc-redis", "name": "redis.command", "sample_rate": 0.0}, {"sample_rate": 0.5}]
    assert by["DD_TRACE_ENABLED"]["value"] == "true" and by["DD_REMOTE_CONFIGURATION_ENABLED"]["value"] == "false"
    assert (by["DD_LOGS_INJECTION"]["var"], by["SECRET_KEY"]["var"]) == ("django_apm_tracer_env", "django_apm_dotenv_extra")
    assert F["django_apm_dotenv_group_names"](items, "block") == [n for n in names if n not in ("DD_API_KEY", "SECRET_KEY")]
    assert "DD_API_KEY" in F["django_apm_dotenv_group_names"](items, "managed")
    assert "DD_LOGS_INJECTION" not in F["django_apm_dotenv_group_names"](items, "managed")


def test_dotenv_items_url_keep_redis_and_no_api_key():
    items = F["django_apm_dotenv_items"](dict(INPUTS, agent_url="unix:///x.sock", keep_redis_only_traces=True,
                                              write_api_key=False), PRIVACY)
    by = {i["name"]: i["value"] for i in items}
    assert by["DD_TRACE_AGENT_URL"] == "unix:///x.sock" and "DD_API_KEY" not in by
    assert json.loads(by["DD_TRACE_SAMPLING_RULES"]) == [{"sample_rate": 0.5}]


@pytest.mark.parametrize("manage, gunicorn, celery, managed, retired", [
    (True, True, True, ["p-gunicorn.service", "p-celery.service"], []),
    (True, False, True, ["p-celery.service"], ["p-gunicorn.service"]),
    (False, False, True, [], []),
])
def test_units_plan(manage, gunicorn, celery, managed, retired):
    plan = F["django_apm_units_plan"]("p", manage, gunicorn, celery, ["web.service"])
    assert (plan["managed"], plan["retired"], plan["all"]) == (managed, retired, managed + ["web.service"])
    assert [t["unit"] for t in plan["templates"]] == managed


PROBE = {"app_dir": True, "settings_exists": True, "settings": "import ddtrace\n# --- Sentry ---\n", "dotenv_exists": True,
         "dotenv": "SECRET_KEY='hush'\nOTHER='1'\n", "python": True, "ddtrace": "4.16.0", "pipmodule": True, "systemd": True,
         "user": True, "group": True, "git": {"rc": 0, "sha": SHA, "error": ""}, "services": {"web.service": "not-found"},
         "units": {}, "retired": []}
HOST_INPUTS = {"app_dir": "/a", "settings_file": "/a/p.py", "venv": "/a/.venv", "app_user": "u", "app_group": "g",
               "dotenv_path": "/a/.env", "version_source": "checkout", "units": ["web.service"], "dotenv_names": ["SECRET_KEY"]}


def test_host_view_keeps_no_content_and_problems_name_the_variable():
    view = F["django_apm_host_view"](PROBE, "# BEGIN", "# END", r"^#\s*-{2,}\s*Sentry\b", r"^#\s*-{2,}")
    assert "hush" not in json.dumps(view) and "settings" not in view and "dotenv" not in view
    assert view["settings_plan"]["foreign_lines"] == [1] and view["dotenv_names"] == ["SECRET_KEY", "OTHER"]
    problems = F["django_apm_host_problems"](view, HOST_INPUTS, "h1")
    assert len(problems) == 3
    assert problems[0].startswith("django_apm_settings_file (/a/p.py) imports or patches ddtrace outside the managed block (lines 1)")
    assert "django_apm_dotenv_path (/a/.env) exists, was not written by this role and sets OTHER" in problems[1]
    assert problems[2] == "django_apm_services lists units that systemd does not know: ['web.service']"


def test_host_problems_of_a_bare_host():
    view = F["django_apm_host_view"](dict(PROBE, app_dir=False, settings_exists=False, settings="", python=False, pipmodule=False,
                                          user=False, group=False, systemd=False, services={}, dotenv="", dotenv_exists=False,
                                          git={"rc": 128, "sha": "", "error": "not a git repository"}),
                                     "# BEGIN", "# END", "Sentry", "^#")
    problems = F["django_apm_host_problems"](view, HOST_INPUTS, "h1")
    assert [p.split(" ", 1)[0] for p in problems] == [
        "django_apm_app_dir", "django_apm_settings_file", "django_apm_venv", "django_apm_app_user", "django_apm_app_group",
        "django_apm_app_dir", "django_apm_manage_units"]
    assert "(not a git repository)" in problems[5] and "h1" in problems[0]
    # a given version needs no commit; a virtualenv without packaging is named
    ok = dict(view, app_dir=True, settings_exists=True, python=True, pipmodule=True, user=True, group=True, systemd=True)
    assert F["django_apm_host_problems"](ok, dict(HOST_INPUTS, version_source="django_apm_version"), "h1") == []
    assert "lacks the 'packaging' module" in F["django_apm_host_problems"](dict(ok, pipmodule=False), HOST_INPUTS, "h1")[0]


def _outcome(verify_always=False, **results):
    return F["django_apm_run_outcome"](results, ["a.service", "b.service"], "/a/.env", "/a/p.py",
                                       {"added": ["DD_ENV"], "changed": [], "removed": []},
                                       [{"name": "DD_ENV", "value": "x", "var": "django_apm_env"}], "4.15.0", "4.16.0", verify_always)


def test_a_run_that_changed_nothing_restarts_nothing_and_verifies_nothing():
    out = _outcome(dotenv={"changed": False}, block={"changed": False}, pip={"skipped": True, "changed": False},
                   unit_files=[{"item": {"unit": "a.service"}, "changed": False}], dropins=[], started=[])
    assert out == {"app_changed": False, "restart_units": [], "health_units": [], "rollback": {"restore": [], "remove": []},
                   "changed_inputs": [], "verify_needed": False}
    assert _outcome(verify_always=True)["verify_needed"] is True


def test_a_dotenv_change_restarts_every_unit_and_rolls_back_from_its_backup():
    out = _outcome(dotenv={"changed": True, "backup_file": "/a/.env.bak"}, pip={"changed": True})
    assert out["app_changed"] and out["verify_needed"] and out["restart_units"] == ["a.service", "b.service"]
    assert out["rollback"] == {"restore": [{"path": "/a/.env", "backup": "/a/.env.bak"}], "remove": []}
    assert out["changed_inputs"] == ["django_apm_env", "ddtrace 4.15.0 -> 4.16.0 (django_apm_ddtrace_version)"]


def test_a_unit_change_restarts_that_unit_only_and_a_started_unit_is_health_checked():
    out = _outcome(unit_files=[{"item": {"unit": "a.service"}, "changed": True}, {"item": {"unit": "b.service"}, "changed": False}],
                   dropins=[{"item": "web.service", "changed": True, "backup_file": "/x.bak"}],
                   started=[{"item": "b.service", "changed": True}, {"item": "a.service", "skipped": True}])
    assert out["restart_units"] == ["a.service", "web.service"]
    assert out["health_units"] == ["a.service", "web.service", "b.service"]
    assert out["rollback"] == {"restore": [{"path": "/etc/systemd/system/web.service.d/django-apm.conf", "backup": "/x.bak"}],
                               "remove": ["/etc/systemd/system/a.service"]}
    assert out["changed_inputs"] == ["the unit a.service (django_apm_gunicorn_*, django_apm_celery_*, django_apm_wsgi_app)"]
