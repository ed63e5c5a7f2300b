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


# --- Which files a run that changes nothing skips (the probe's file states) -------------------------
BEGIN, END = "# BEGIN django_apm", "# END django_apm"
BLOCK = "import os\nX = 1"
# Settings files, each with the block or not, in every shape blockinfile may meet.
SETTINGS = {
    "current-middle": f"A = 1\n\n{BEGIN}\n{BLOCK}\n{END}\n\nB = 2\n",
    "current-end": f"A = 1\n\n{BEGIN}\n{BLOCK}\n{END}\n",
    "current-start": f"{BEGIN}\n{BLOCK}\n{END}\n\nB = 2\n",
    "old-block": f"A = 1\n\n{BEGIN}\nimport os\nX = 0\n{END}\n\nB = 2\n",
    "no-blank-before": f"A = 1\n{BEGIN}\n{BLOCK}\n{END}\n\nB = 2\n",
    "no-blank-after": f"A = 1\n\n{BEGIN}\n{BLOCK}\n{END}\nB = 2\n",
    "no-block": "A = 1\nB = 2\n",
    "begin-only": f"A = 1\n\n{BEGIN}\n{BLOCK}\n",
    "end-last-line-no-newline": f"A = 1\n\n{BEGIN}\n{BLOCK}\n{END}",
    "two-blocks": f"{BEGIN}\n{BLOCK}\n{END}\n\nA = 1\n\n{BEGIN}\n{BLOCK}\n{END}\n",
    "reversed": f"A = 1\n\n{END}\n{BLOCK}\n{BEGIN}\n\nB = 2\n",
    "empty": "",
}


def test_block_current_agrees_with_blockinfile_itself(tmp_path, local_tasks):
    """block_current says "nothing to do" exactly when ansible.builtin.blockinfile, run in check
    mode with the role's arguments, reports no change: every shape of SETTINGS, one playbook run."""
    for name, text in SETTINGS.items():
        (tmp_path / f"{name}.py").write_text(text)
    changed = local_tasks([
        {"name": "blockinfile as django_apm runs it", "check_mode": True, "register": "r", "loop": sorted(SETTINGS),
         "ansible.builtin.blockinfile": {"path": str(tmp_path) + "/{{ item }}.py", "marker": "# {mark} django_apm",
                                         "block": BLOCK, "insertafter": "EOF", "prepend_newline": True,
                                         "append_newline": True, "create": False}},
        {"name": "out", "ansible.builtin.debug": {"msg": "{{ dict(r.results | map(attribute='item') | zip(r.results | map(attribute='changed'))) }}"}}])
    current = {name: F["django_apm_block_current"](text, BEGIN, END, BLOCK) for name, text in SETTINGS.items()}
    assert current == {name: not changed[name] for name in SETTINGS}
    # blockinfile rewrites the last pair of markers only: a second, identical block is left alone.
    assert [n for n, c in current.items() if c] == ["current-middle", "current-end", "current-start", "two-blocks"]


def test_file_current_needs_the_content_mode_owner_and_group():
    import hashlib
    files = {"/e/.env": {"exists": True, "isdir": False, "checksum": hashlib.sha1("A='1'\n".encode()).hexdigest(),
                         "mode": "0600", "owner": "app", "group": "app"},
             "/e/d": {"exists": True, "isdir": True, "checksum": "", "mode": "0755", "owner": "root", "group": "dd-agent"}}
    fc, dc = F["django_apm_file_current"], F["django_apm_dir_current"]
    assert fc(files, "/e/.env", "A='1'\n", "0600", "app", "app")
    assert not fc(files, "/e/.env", "A='2'\n", "0600", "app", "app")
    assert not fc(files, "/e/.env", "A='1'\n", "0640", "app", "app")
    assert not fc(files, "/e/.env", "A='1'\n", "0600", "root", "app")
    assert not fc(files, "/e/.env", "A='1'\n", "0600", "app", "root")
    assert not fc(files, "/e/other", "", "0600", "app", "app")  # not seen: the task runs
    assert not fc(files, "/e/d", "", "0755", "root", "dd-agent")  # a directory is no file
    assert dc(files, "/e/d", "0755", "root", "dd-agent")
    assert not dc(files, "/e/d", "0750", "root", "dd-agent") and not dc(files, "/e/.env", "0600", "app", "app")
    assert not dc({}, "/e/d", "0755", "root", "dd-agent")


def test_written_files_names_every_file_the_role_writes():
    plan = F["django_apm_units_plan"]("app", True, True, False, ["own.service"])
    assert F["django_apm_written_files"]("/srv/app/.env", plan, ["own.service"], ["/c", "/c/x.d", "/c/x.d/l.yaml"]) == [
        "/srv/app/.env", "/c", "/c/x.d", "/c/x.d/l.yaml", "/etc/systemd/system/app-gunicorn.service",
        "/etc/systemd/system/own.service.d", "/etc/systemd/system/own.service.d/django-apm.conf"]
    assert F["django_apm_written_files"]("/e", {"templates": []}, [], []) == ["/e"]
