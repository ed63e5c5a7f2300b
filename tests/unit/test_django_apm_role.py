"""The django_apm role run for real against this machine (no containers), on sample-app checkouts.

One ansible-playbook run, one inventory host per case (all `connection: local`), so the role's
real defaults, vars, filters, templates, validators and blockinfile do the work:
  * good inputs (defaults, edge values): the .env and the block land, read back exactly, the
    settings import and `manage.py check` passes with tracing on and off; a second run changes
    nothing; ddtrace is never installed because the pinned version is already there;
  * bad inputs: preflight fails BEFORE ANY CHANGE, with a message naming the variable.
Units and restarts need systemd: the Molecule scenario covers them (django_apm_verify is off here:
it runs as the app user).
"""

import grp
import json
import os
import pwd
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from decouple import RepositoryEnv
from prefork import local_python, prefork_env
from test_django_apm_dotenv import systemd_parse

ROOT = Path(__file__).resolve().parents[2]
USER, GROUP = "nobody", "nogroup"
BEGIN = "# BEGIN django_apm: Datadog APM, managed by Ansible (role django_apm)"
END = "# END django_apm: Datadog APM, managed by Ansible (role django_apm)"
SHA_LIKE = "0" * 7 + "deadbeef" * 4 + "0"  # 40 hex digits, leading zeros (stays a string)

TRICKY = {
    "SECRET_KEY": 'x "dq" #hash $HOME `cmd` \\n tail ',
    "QUOTE": "it's $5",
    "EMPTY": "",
    "SPACES": "  both ends  ",
    "UNICODE": "Zoë 東京 \u2028 \x0b \x85",
}

GOOD = {
    "defaults": {},
    "edge": {
        "django_apm_service": "svc-x", "django_apm_version_length": 7,
        "django_apm_agent_url": "unix:///var/run/datadog/apm.socket", "django_apm_trace_filter": False,
        "django_apm_write_api_key": True, "django_apm_api_key": "0123456789abcdef0123456789abcdef",
        "django_apm_sample_rate": 0.25, "django_apm_keep_redis_only_traces": True,
        "django_apm_tracer_env": {"DD_LOGS_INJECTION": True, "DD_TRACE_WRITER_INTERVAL_SECONDS": 0.5},
        "django_apm_dotenv_extra": TRICKY,
    },
    "off": {"django_apm_trace_enabled": False, "django_apm_agent_host": "::1", "django_apm_agent_port": 18126},
    "explicit": {"django_apm_version": "1.2.3+build.7", "_no_git": True, "_no_sentry": True},
    "gitresult": {"django_apm_git_result": {"before": None, "after": SHA_LIKE, "changed": True}, "_no_git": True},
    # A project in a subdirectory of its checkout (<checkout>/src/manage.py), django_apm_project_dir set to it.
    "srclayout": {"_src_layout": "project_dir"},
}
BAD = {
    "bad_env": ({"django_apm_env": ""}, "django_apm_env is empty"),
    "bad_notgit": ({"_no_git": True}, "django_apm_app_dir"),
    "bad_length": ({"django_apm_version_length": 5}, "django_apm_version_length (5) is out of range"),
    "bad_service": ({"django_apm_service": "Upstream App"}, "django_apm_service (Upstream App) is not a valid"),
    "bad_port": ({"django_apm_agent_port": 70000}, "django_apm_agent_port (70000) is out of range"),
    "bad_settings": ({"django_apm_settings_module": "upstream.settings.missing"}, "django_apm_settings_file"),
    "bad_newline": ({"django_apm_dotenv_extra": {"X": "a\nb"}}, "django_apm_dotenv_extra[X] (X in the .env) contains a line break"),
    "bad_mix": ({"django_apm_tracer_env": {"DD_X": "it's \"q\""}}, "django_apm_tracer_env[DD_X]"),
    "bad_override": ({"django_apm_tracer_env": {"DD_ENV": "prod"}}, "django_apm_tracer_env sets ['DD_ENV']"),
    # The README's claim: DD_ENV, DD_SERVICE and DD_VERSION come from the role only, never from the app's own variables
    # (one name per case: with several, the message lists them in no fixed order).
    **{f"bad_extra_{name[3:].lower()}": ({"django_apm_dotenv_extra": {name: "x"}}, f"django_apm_dotenv_extra sets ['{name}']")
       for name in ("DD_ENV", "DD_SERVICE", "DD_VERSION")},
    "bad_api_key": ({"django_apm_write_api_key": True}, "django_apm_api_key must be a 32-character"),
    "bad_seed_block": ({"_seed_block": True}, "imports or patches ddtrace outside the managed block"),
    "bad_foreign_dotenv": ({"_foreign_dotenv": "SECRET_KEY=kept-by-hand\n"}, "sets SECRET_KEY"),
    "bad_venv": ({"django_apm_venv": "/nonexistent/venv"}, "django_apm_venv (/nonexistent/venv) has no bin/python"),
    "bad_user": ({"django_apm_app_user": "no-such-user-x"}, "django_apm_app_user (no-such-user-x) does not exist"),
    "bad_bind_port": ({"django_apm_manage_units": True, "django_apm_gunicorn_bind": "127.0.0.1:99999"},
                      "django_apm_gunicorn_bind (127.0.0.1:99999) has a port outside 1-65535"),
    "bad_agent_host_port": ({"django_apm_agent_host": "127.0.0.1:8126"}, "django_apm_agent_host (127.0.0.1:8126) has a port"),
    "bad_health_url": ({"django_apm_health_url": "127.0.0.1:8000/health/"}, "django_apm_health_url (127.0.0.1:8000/health/) must be"),
    # A trailing line break (a folded YAML scalar) in a value that never reaches the .env.
    "bad_ddtrace_newline": ({"django_apm_ddtrace_version": "4.16.0\n"}, "django_apm_ddtrace_version (4.16.0\\n) is not an exact"),
    "bad_health_newline": ({"django_apm_health_url": "http://127.0.0.1:8000/\n"}, "django_apm_health_url (http://127.0.0.1:8000/\\n) must be"),
    "bad_secret_names": ({"django_apm_secret_names": ["*TOKEN*\n", "*_CREDS"]},
                         "django_apm_secret_names has entries that are not name patterns (letters, digits, _ - and the glob characters"),
    "bad_src_layout": ({"_src_layout": "unset", "django_apm_verify": True},
                       "has no manage.py: set it to the directory of the app's manage.py"),
    "bad_no_unit": ({"django_apm_manage_units": True, "django_apm_gunicorn_enabled": False, "django_apm_celery_enabled": False},
                    "django_apm_gunicorn_enabled and django_apm_celery_enabled are both false"),
}
SEED_BLOCK = """
# --- Datadog APM ---
from ddtrace import config, patch_all, tracer
if config("DD_API_KEY", default=None):
    patch_all(django=True, celery=True, redis=True, psycopg=True)
"""


def _run(tmp_path, hosts, tag, *args, **env_extra):
    """ansible-playbook running the role on ``hosts`` (extra options in args, settings in env_extra)."""
    inventory = tmp_path / f"inventory-{tag}.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}, allow_unicode=True))
    playbook = tmp_path / "site.yml"
    playbook.write_text("- name: The role on sample checkouts\n  hosts: all\n  gather_facts: false\n"
                        "  roles:\n    - role: django_apm\n")
    env = prefork_env(dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
                           ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_FORCE_COLOR="0", ANSIBLE_NOCOLOR="1",
                           GIT_CONFIG_GLOBAL="/dev/null", **env_extra))
    return subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", str(inventory), str(playbook), *args],
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=900)


def _playbook(tmp_path, hosts, tag):
    proc = _run(tmp_path, hosts, tag, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
    try:
        return json.loads(proc.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"ansible-playbook output is not JSON (rc {proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")


def _results(report):
    """host -> list of (task name, result) in run order."""
    out = {}
    for play in report["plays"]:
        for task in play["tasks"]:
            for host, res in task["hosts"].items():
                out.setdefault(host, []).append((task["task"]["name"], res))
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, django_apm_sample_checkout):
    # Every Debian has them (base-passwd): a machine without them fails here rather than skipping.
    assert _exists(pwd.getpwnam, USER) and _exists(grp.getgrnam, GROUP), f"needs the {USER} user and the {GROUP} group"
    tmp = tmp_path_factory.mktemp("role")
    hosts, cases = {}, {}
    for name, case in {**GOOD, **{k: v[0] for k, v in BAD.items()}}.items():
        app, venv, sha = django_apm_sample_checkout(name)
        public = {k: v for k, v in case.items() if not k.startswith("_")}
        if case.get("_no_git"):
            subprocess.run(["rm", "-rf", str(app / ".git")], check=True)
        project = app
        if case.get("_src_layout"):
            project = app / "src"
            project.mkdir()
            for path in list(app.iterdir()):
                if path.name not in (".git", "src"):
                    path.rename(project / path.name)
            if case["_src_layout"] == "project_dir":
                public["django_apm_project_dir"] = str(project)
        prod = project / "upstream" / "settings" / "prod.py"
        if case.get("_no_sentry"):
            text = prod.read_text()
            prod.write_text(text[:text.index("# --- Sentry ---")] + text[text.index("# --- Logging ---"):])
        if case.get("_seed_block"):
            prod.write_text(prod.read_text() + SEED_BLOCK)
        if "_foreign_dotenv" in case:
            (app / ".env").write_text(case["_foreign_dotenv"])
        hosts[name] = {
            "ansible_connection": "local", "ansible_python_interpreter": local_python(),
            "django_apm_app_dir": str(app), "django_apm_venv": str(venv),
            "django_apm_app_user": USER, "django_apm_app_group": GROUP,
            "django_apm_env": "staging", "django_apm_verify": False, **public,
        }
        cases[name] = {"app": app, "project": project, "sha": sha, "vars": hosts[name],
                       "prod_before": prod.read_text() if prod.exists() else None,
                       "dotenv_before": (app / ".env").read_text() if (app / ".env").exists() else None}
    first = _results(_playbook(tmp, hosts, "first"))
    second = _results(_playbook(tmp, {k: v for k, v in hosts.items() if k in GOOD}, "second"))
    return {"cases": cases, "first": first, "second": second}


def _exists(lookup, name):
    try:
        lookup(name)
        return True
    except KeyError:
        return False


def _failure(results):
    return next(((name, res) for name, res in results if res.get("failed")), None)


def expected_dotenv(case):
    v = case["vars"]
    version = v.get("django_apm_version") or (v.get("django_apm_git_result") or {}).get("after") or case["sha"]
    if v.get("django_apm_version_length") and not v.get("django_apm_version"):
        version = version[:v["django_apm_version_length"]]
    service = v.get("django_apm_service", "upstream")
    rules = ([] if v.get("django_apm_keep_redis_only_traces") else
             [{"service": f"{service}-redis", "name": "redis.command", "sample_rate": 0.0}])
    rules.append({"sample_rate": float(v.get("django_apm_sample_rate", 1.0))})
    host = v.get("django_apm_agent_host", "127.0.0.1")
    url = v.get("django_apm_agent_url") or f"http://{'[' + host + ']' if ':' in host else host}:{v.get('django_apm_agent_port', 8126)}"
    values = {
        "DD_TRACE_ENABLED": "false" if v.get("django_apm_trace_enabled") is False else "true",
        "DD_SERVICE": service, "DD_ENV": "staging", "DD_VERSION": version,
        "DD_SITE": "datadoghq.com", "DD_TRACE_AGENT_URL": url,
        "DD_TRACE_SAMPLING_RULES": json.dumps(rules), "DD_TRACE_RATE_LIMIT": "10000",
        "DD_REDIS_SERVICE": f"{service}-redis", "DD_CELERY_DISTRIBUTED_TRACING": "true",
        "DD_PSYCOPG_SERVICE": v.get("django_apm_postgres_service", f"{service}-postgres"),
        "DD_REMOTE_CONFIGURATION_ENABLED": "true" if v.get("django_apm_remote_configuration_enabled") else "false",
        "DD_HTTP_SERVER_TAG_QUERY_STRING": "false", "DD_TRACE_HTTP_CLIENT_TAG_QUERY_STRING": "false",
        "DD_DJANGO_INCLUDE_USER_NAME": "false", "DD_DJANGO_INCLUDE_USER_EMAIL": "false",
        "DD_DJANGO_INCLUDE_USER_LOGIN": "false", "DD_DJANGO_INCLUDE_USER_REALNAME": "false",
    }
    values.update({k: ("true" if x is True else "false" if x is False else str(x))
                   for k, x in v.get("django_apm_tracer_env", {}).items()})
    if v.get("django_apm_write_api_key"):
        values["DD_API_KEY"] = v["django_apm_api_key"]
    values.update(v.get("django_apm_dotenv_extra", {}))
    return values


# --- good inputs ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(GOOD))
def test_role_converges(runs, name):
    results = runs["first"][name]
    assert _failure(results) is None, _failure(results)
    changed = {task for task, res in results if res.get("changed")}
    assert any("the .env" in t for t in changed) and any("APM block" in t for t in changed), changed
    assert not any("Install | ddtrace" in t for t in changed), "ddtrace 4.16.0 is already there"


@pytest.mark.parametrize("name", sorted(GOOD))
def test_second_run_changes_nothing(runs, name):
    results = runs["second"][name]
    assert _failure(results) is None, _failure(results)
    assert [t for t, res in results if res.get("changed")] == []


@pytest.mark.parametrize("name", sorted(GOOD))
def test_dotenv_reads_back_exactly(runs, name):
    case = runs["cases"][name]
    path = case["app"] / ".env"
    st = path.stat()
    assert oct(st.st_mode & 0o777) == "0o600"
    assert pwd.getpwuid(st.st_uid).pw_name == USER and grp.getgrgid(st.st_gid).gr_name == GROUP
    text = path.read_text()
    assert text.startswith("#\n# Ansible managed\n#\n")
    expected = expected_dotenv(case)
    assert RepositoryEnv(str(path)).data == expected
    assert systemd_parse(path.read_bytes()) == expected
    assert ("DD_API_KEY" in text) == bool(case["vars"].get("django_apm_write_api_key"))


@pytest.mark.parametrize("name", sorted(GOOD))
def test_block_lands_after_sentry_and_leaves_the_rest_alone(runs, name):
    case = runs["cases"][name]
    text = (case["project"] / "upstream" / "settings" / "prod.py").read_text()
    assert text.count(BEGIN) == 1 and text.count(END) == 1
    begin, end = text.index(BEGIN), text.index(END)
    if "# --- Sentry ---" in text:
        assert text.index("# --- Sentry ---") < begin and end < text.index("# --- Logging ---")
    else:
        assert text[end:].strip() == END, "no Sentry section: the block goes at the end"
    outside = text[:begin] + text[end + len(END):]
    assert outside.split() == case["prod_before"].split()
    block = text[begin:end]
    assert "DD_API_KEY" not in block, "the block never exports the API key to ddtrace"
    assert ("class Scrub(TraceFilter)" in block) == case["vars"].get("django_apm_trace_filter", True)
    compile(text, "prod.py", "exec")


def _django(case, *args, enabled, extra_env=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DD_", "DJANGO_"))}
    env.update(DD_TRACE_ENABLED=enabled, PYTHONDONTWRITEBYTECODE="1", **(extra_env or {}))
    return subprocess.run([sys.executable, *args], cwd=case["project"], env=env, capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("enabled", ["true", "false"])
@pytest.mark.parametrize("name", ["defaults", "edge", "srclayout"])
def test_manage_check_passes_with_tracing_on_and_off(runs, name, enabled):
    case = runs["cases"][name]
    res = _django(case, "manage.py", "check", "--settings=upstream.settings.prod", enabled=enabled,
                  extra_env={"DD_TRACE_AGENT_URL": "http://127.0.0.1:9"})
    assert res.returncode == 0, res.stdout + res.stderr
    assert "System check identified no issues" in res.stdout


@pytest.mark.parametrize("name", ["defaults", "off"])
def test_the_switch_in_the_dotenv_decides_whether_ddtrace_loads(runs, name):
    """No DD_* in the environment: the block reads the .env itself (a process started by hand)."""
    case = runs["cases"][name]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DD_")}
    code = ("import os, sys, upstream.settings.prod as s\n"
            "print(int('ddtrace' in sys.modules), os.environ.get('DD_VERSION'), os.environ.get('DD_API_KEY'))")
    res = subprocess.run([sys.executable, "-c", code], cwd=case["app"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    loaded, version, key = res.stdout.split()
    assert loaded == ("0" if name == "off" else "1")
    assert version == case["sha"] and key == "None"


def test_tracer_reads_the_settings_the_block_exported(runs):
    """ddtrace's own view of the settings after the block ran (edge case: custom values)."""
    case = runs["cases"]["edge"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("DD_")}
    code = ("import upstream.settings.prod\n"
            "from ddtrace import config\n"
            "from ddtrace.trace import tracer\n"
            "print(config.service, config.env, config.version, config._trace_rate_limit,\n"
            "      config.django.include_user_name, config.celery['distributed_tracing'],\n"
            "      config.django.http_tag_query_string, tracer._sampler.rules[-1].sample_rate)")
    res = subprocess.run([sys.executable, "-c", code], cwd=case["app"], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert res.stdout.split() == ["svc-x", "staging", case["sha"][:7], "10000", "False", "True", "False", "0.25"]


# --- bad inputs ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BAD))
def test_preflight_fails_before_any_change_naming_the_variable(runs, name):
    case, expected = runs["cases"][name], BAD[name][1]
    results = runs["first"][name]
    failure = _failure(results)
    assert failure is not None, f"{name}: the role did not fail"
    task, res = failure
    assert task.split(" : ", 1)[-1].startswith(("Preflight |", "Validating arguments")), task
    assert expected in json.dumps(res.get("msg")), res.get("msg")
    assert [t for t, r in results if r.get("changed")] == []
    app, prod = case["app"], case["project"] / "upstream" / "settings" / "prod.py"
    assert (prod.read_text() if prod.exists() else None) == case["prod_before"]
    assert ((app / ".env").read_text() if (app / ".env").exists() else None) == case["dotenv_before"]


def test_the_api_key_never_shows_in_the_output(runs):
    """Compatibility mode writes DD_API_KEY: the .env task hides its result and diff."""
    key = "0123456789abcdef0123456789abcdef"
    assert key in (runs["cases"]["edge"]["app"] / ".env").read_text()
    for name in [*GOOD, *BAD]:
        assert key not in json.dumps(runs["first"][name]), name
        assert key not in json.dumps(runs["second"].get(name, [])), name


# --- secrets: added, changed, removed; never a value in --diff, --check --diff or -vvv ---------

KEY_A, KEY_B = "a1" * 16, "b2" * 16
SECRET_1, SECRET_2 = "appsecretONE1x9", "appsecretTWO2y8"
# case -> (inputs of the first run, inputs of the second, {name: sign in the change summary})
SECRET_CASES = {
    "key_on": ({}, {"django_apm_write_api_key": True, "django_apm_api_key": KEY_A}, {"DD_API_KEY": "+"}),
    "key_off": ({"django_apm_write_api_key": True, "django_apm_api_key": KEY_A}, {"django_apm_api_key": KEY_A}, {"DD_API_KEY": "-"}),
    "key_change": ({"django_apm_write_api_key": True, "django_apm_api_key": KEY_A},
                   {"django_apm_write_api_key": True, "django_apm_api_key": KEY_B}, {"DD_API_KEY": "~"}),
    "extra_add": ({}, {"django_apm_dotenv_extra": {"SECRET_KEY": SECRET_1}}, {"SECRET_KEY": "+"}),
    "extra_change": ({"django_apm_dotenv_extra": {"SECRET_KEY": SECRET_1}},
                     {"django_apm_dotenv_extra": {"SECRET_KEY": SECRET_2}}, {"SECRET_KEY": "~"}),
    "extra_remove": ({"django_apm_dotenv_extra": {"SECRET_KEY": SECRET_1, "DEBUG_LEVEL": "3"}},
                     {"django_apm_dotenv_extra": {"DEBUG_LEVEL": "4"}}, {"SECRET_KEY": "-", "DEBUG_LEVEL": "~"}),
    "extra_named": ({"django_apm_dotenv_extra": {"HOSPITAL_ID": SECRET_1}, "django_apm_secret_names": ["hospital_*"]},
                    {"django_apm_dotenv_extra": {"HOSPITAL_ID": SECRET_2}, "django_apm_secret_names": ["hospital_*"]},
                    {"HOSPITAL_ID": "~"}),
}
SECRET_VALUES = (KEY_A, KEY_B, SECRET_1, SECRET_2)


def _playbook_text(tmp_path, hosts, tag, *args):
    """ansible-playbook with the default callback and extra options: rc and everything it printed."""
    proc = _run(tmp_path, hosts, tag, *args, ANSIBLE_CALLBACK_RESULT_FORMAT="json")
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def secret_runs(tmp_path_factory, django_apm_sample_checkout):
    tmp = tmp_path_factory.mktemp("secrets")
    first, second, apps = {}, {}, {}
    for name, (before, after, _) in SECRET_CASES.items():
        app, venv, _sha = django_apm_sample_checkout(name)
        base = {"ansible_connection": "local", "ansible_python_interpreter": local_python(),
                "django_apm_app_dir": str(app), "django_apm_venv": str(venv),
                "django_apm_app_user": USER, "django_apm_app_group": GROUP,
                "django_apm_env": "staging", "django_apm_verify": False}
        first[name], second[name], apps[name] = {**base, **before}, {**base, **after}, app
    runs = {"first": _playbook_text(tmp, first, "first", "--diff", "-vvv")}
    dotenv_before = {name: (apps[name] / ".env").read_text() for name in SECRET_CASES}
    runs["check"] = _playbook_text(tmp, second, "check", "--check", "--diff", "-vvv")
    dotenv_after_check = {name: (apps[name] / ".env").read_text() for name in SECRET_CASES}
    runs["real"] = _playbook_text(tmp, second, "real", "--diff", "-vvv")
    return {"runs": runs, "apps": apps, "before": dotenv_before, "after_check": dotenv_after_check}


@pytest.mark.parametrize("run", ["first", "check", "real"])
def test_no_secret_value_in_diff_check_or_vvv_output(secret_runs, run):
    rc, out = secret_runs["runs"][run]
    for value in SECRET_VALUES:
        assert value not in out, f"a secret value is in the output of the {run} run"
    assert rc == 0, out[-4000:]
    if run != "first":
        assert "(secret, value hidden)" in out and "changed=0" not in out, "the run changed nothing: it would prove nothing"


@pytest.mark.parametrize("run", ["check", "real"])
@pytest.mark.parametrize("name", sorted(SECRET_CASES))
def test_the_change_summary_names_what_changed(secret_runs, run, name):
    _rc, out = secret_runs["runs"][run]
    summary = _summary(out, name)
    for var, sign in SECRET_CASES[name][2].items():
        hidden = var != "DEBUG_LEVEL"
        assert (f"{sign} {var} (secret, value hidden)" in summary if hidden
                else any(line.startswith(f"{sign} {var} ") for line in summary)), (var, sign, summary)
    if name == "extra_remove":
        assert "~ DEBUG_LEVEL '3' -> '4'" in summary, "a non-secret value is shown"


def _summary(out, host):
    """The change summary's lines for one host (JSON result format: one quoted line per change)."""
    section = out.split("TASK [django_apm : Configure | what the .env changes", 1)[1].split("\nTASK [", 1)[0]
    part = section.split(f"ok: [{host}] =>", 1)[1]
    return json.loads(part[:part.index("\n}") + 2])["msg"]


@pytest.mark.parametrize("name", sorted(SECRET_CASES))
def test_check_changes_nothing_and_the_real_run_lands_the_new_values(secret_runs, name):
    assert secret_runs["after_check"][name] == secret_runs["before"][name]
    data = RepositoryEnv(str(secret_runs["apps"][name] / ".env")).data
    after = {**{"django_apm_write_api_key": False, "django_apm_dotenv_extra": {}}, **SECRET_CASES[name][1]}
    assert (data.get("DD_API_KEY") == after.get("django_apm_api_key")) if after["django_apm_write_api_key"] else "DD_API_KEY" not in data
    for var, value in after["django_apm_dotenv_extra"].items():
        assert data[var] == value
    assert "SECRET_KEY" not in data or "SECRET_KEY" in after["django_apm_dotenv_extra"]
