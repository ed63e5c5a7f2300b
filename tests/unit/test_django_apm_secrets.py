"""The django_apm role's secret rule and its .env change summary (names only, never a secret value)."""

import importlib.util
from pathlib import Path

import pytest
from decouple import RepositoryEnv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROLE = Path(__file__).resolve().parents[2] / "roles" / "django_apm"
_spec = importlib.util.spec_from_file_location("django_apm_filters", ROLE / "filter_plugins" / "django_apm.py")
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)


def render(pairs):
    return "#\n# Ansible managed\n#\n" + "".join(f"{k}={F.dotenv_quote(v)}\n" for k, v in pairs.items())


def items(pairs):
    return [{"name": k, "value": v, "var": "x"} for k, v in pairs.items()]


@pytest.mark.parametrize("name", ["DD_API_KEY", "SECRET_KEY", "db_password", "DB_PASSWD", "SMTP_PASS", "GITHUB_TOKEN",
                                  "SENTRY_DSN", "AWS_CREDENTIALS", "JWT_PRIVATE_PEM", "BASIC_AUTH", "SESSION_COOKIE_SALT"])
def test_names_the_rule_marks_secret(name):
    assert F.is_secret(name, "plain")


@pytest.mark.parametrize("name", ["DD_ENV", "DD_VERSION", "ALLOWED_HOSTS", "LAB_URL", "DEBUG", "DD_TRACE_AGENT_URL"])
def test_names_the_rule_leaves_visible(name):
    assert not F.is_secret(name, "http://127.0.0.1:8126")


@pytest.mark.parametrize("value", ["postgres://app:s3cret@db:5432/app", "redis://:pw@127.0.0.1:6379/0",
                                   "amqp://u:p@h//"])
def test_urls_with_a_password_are_secret_whatever_the_name(value):
    assert F.is_secret("DATABASE_URL", value) and F.is_secret("BROKER", value)


@pytest.mark.parametrize("value", ["postgres://app@db/app", "http://127.0.0.1:8000/health/", "unix:///run/x.sock"])
def test_urls_without_a_password_are_not(value):
    assert not F.is_secret("BROKER", value)


def test_extra_names_are_case_insensitive_globs():
    assert not F.is_secret("HOSPITAL_ID", "1")
    assert F.is_secret("hospital_id", "1", ["HOSPITAL_*"])
    assert F.is_secret("LICENCE", "1", ["licence"])


def test_changes_name_added_changed_removed_and_hide_secret_values():
    old = render({"DD_ENV": "staging", "DD_API_KEY": "a" * 32, "SECRET_KEY": "old-secret", "GONE": "bye", "SAME": "x"})
    new = items({"DD_ENV": "production", "SECRET_KEY": "new-secret", "SAME": "x", "DB_URL": "postgres://u:pw9@h/d",
                 "DEBUG": "false"})
    out = F.dotenv_changes(old, new)
    assert out["added"] == ["DB_URL", "DEBUG"]
    assert out["changed"] == ["DD_ENV", "SECRET_KEY"]
    assert out["removed"] == ["DD_API_KEY", "GONE"]
    text = "\n".join(out["lines"])
    for value in ("a" * 32, "old-secret", "new-secret", "pw9"):
        assert value not in text
    assert "~ DD_ENV 'staging' -> 'production'" in out["lines"]
    assert "- DD_API_KEY (secret, value hidden)" in out["lines"]
    assert "- GONE" in out["lines"]
    assert "+ DEBUG 'false'" in out["lines"]


def test_a_value_that_was_a_secret_url_stays_hidden_when_it_changes_to_a_plain_one():
    out = F.dotenv_changes(render({"BROKER": "redis://:hunter2@h/0"}), items({"BROKER": "redis://h/0"}))
    assert out["changed"] == ["BROKER"] and "hunter2" not in str(out)


def test_no_old_file_everything_is_added_and_nothing_changes_on_equal_input():
    pairs = {"A": "1", "SECRET_KEY": "s"}
    assert F.dotenv_changes("", items(pairs))["added"] == ["A", "SECRET_KEY"]
    assert F.dotenv_changes(render(pairs), items(pairs)) == {"added": [], "changed": [], "removed": [], "lines": []}


names = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
values = st.text(st.characters(exclude_characters="\x00\r\n", codec="utf-8"), max_size=30).filter(
    lambda v: not F.dotenv_problem(v))


@settings(max_examples=300, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.dictionaries(names, values, max_size=8))
def test_the_summary_reads_the_old_file_as_python_decouple_does(tmp_path, pairs):
    """dotenv_parse (the summary's reader) agrees with python-decouple on every file the role writes."""
    path = tmp_path / "env"
    path.write_text(render(pairs), encoding="utf-8", newline="")
    assert F.dotenv_parse(path.read_text(encoding="utf-8")) == RepositoryEnv(str(path)).data == pairs
