"""The .env contract of the django_apm role, proved with hypothesis over hundreds of values.

Contract (roles/django_apm/files/dotenv_contract.py, imported by the filter plugin and run as the validator): a value without NUL, CR and LF, and
without a single quote next to a double quote or a backslash, is written 'value' (or "value"
when it holds a single quote), and then reads back EXACTLY through
  * python-decouple 3.8 (RepositoryEnv, the library the app's settings use), and
  * systemd's EnvironmentFile= parser, ported below from src/basic/env-file.c (v254+, Debian 13);
    Debian 12's v252 differs only in comment lines ending with a backslash and in the state after
    a closing quote, neither of which the role's files can produce (the validator refuses them).
Every other value is refused with a reason. The Molecule scenario checks a sample of tricky values
against the real systemd of Debian 12 and 13 (the running gunicorn's /proc/PID/environ).
"""

import importlib.util
import re
import string
from pathlib import Path

import pytest
from ansible.errors import AnsibleFilterError
from decouple import RepositoryEnv
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROLE = Path(__file__).resolve().parents[2] / "roles" / "django_apm"
_spec = importlib.util.spec_from_file_location("django_apm_filters", ROLE / "filter_plugins" / "django_apm.py")
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)
# The validator the .env task runs on the host: the same file the filters import (one contract).
VALIDATOR = (ROLE / "files" / "dotenv_contract.py").read_text()

# --- systemd's env-file parser (parse_env_file_internal + load_env_file_push), ported ----------
NEWLINE, WHITESPACE, COMMENTS, SHELL_NEED_ESCAPE = "\n\r", " \t\n\r", "#;", '"\\`$'


def systemd_parse(data: bytes) -> dict:
    """name -> value as systemd's EnvironmentFile= hands it to the service (UTF-8 checked)."""
    data = data.split(b"\0", 1)[0]  # C string: the parser stops at the first NUL
    text = data.decode("utf-8", errors="surrogateescape")
    env = {}
    state = "PRE_KEY"
    key, value = [], None
    last_key_ws = last_value_ws = None

    def push():
        k = "".join(key[:last_key_ws] if last_key_ws is not None else key)
        v = "".join(value) if value is not None else ""
        try:
            k.encode("utf-8"), v.encode("utf-8")
        except UnicodeEncodeError:
            return  # "invalid UTF-8 ..., ignoring"
        if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", k):  # strv_env_clean: invalid names dropped
            env[k] = v

    for c in text:
        if state == "PRE_KEY":
            if c in COMMENTS:
                state = "COMMENT"
            elif c not in WHITESPACE:
                state, key, last_key_ws = "KEY", [c], None
        elif state == "KEY":
            if c in NEWLINE:
                state, key = "PRE_KEY", []
            elif c == "=":
                state, last_value_ws, value = "PRE_VALUE", None, None
            else:
                if c not in WHITESPACE:
                    last_key_ws = None
                elif last_key_ws is None:
                    last_key_ws = len(key)
                key.append(c)
        elif state == "PRE_VALUE":
            if c in NEWLINE:
                push()
                state, key, value = "PRE_KEY", [], None
            elif c == "'":
                state, value = "SINGLE_QUOTE_VALUE", value if value is not None else []
            elif c == '"':
                state, value = "DOUBLE_QUOTE_VALUE", value if value is not None else []
            elif c == "\\":
                state, value = "VALUE_ESCAPE", value if value is not None else []
            elif c not in WHITESPACE:
                state = "VALUE"
                value = (value or []) + [c]
        elif state == "VALUE":
            if c in NEWLINE:
                if last_value_ws is not None:
                    del value[last_value_ws:]
                push()
                state, key, value = "PRE_KEY", [], None
            elif c == "\\":
                state, last_value_ws = "VALUE_ESCAPE", None
            else:
                if c not in WHITESPACE:
                    last_value_ws = None
                elif last_value_ws is None:
                    last_value_ws = len(value)
                value.append(c)
        elif state == "VALUE_ESCAPE":
            state = "VALUE"
            if c not in NEWLINE:
                value.append(c)
        elif state == "SINGLE_QUOTE_VALUE":
            if c == "'":
                state = "PRE_VALUE"
            else:
                value.append(c)
        elif state == "DOUBLE_QUOTE_VALUE":
            if c == '"':
                state = "PRE_VALUE"
            elif c == "\\":
                state = "DOUBLE_QUOTE_VALUE_ESCAPE"
            else:
                value.append(c)
        elif state == "DOUBLE_QUOTE_VALUE_ESCAPE":
            state = "DOUBLE_QUOTE_VALUE"
            if c in SHELL_NEED_ESCAPE:
                value.append(c)
            elif c != "\n":
                value += ["\\", c]
        elif state == "COMMENT":
            if c == "\\":
                state = "COMMENT_ESCAPE"
            elif c in NEWLINE:
                state = "PRE_KEY"
        elif state == "COMMENT_ESCAPE":
            state = "PRE_KEY" if c in NEWLINE else "COMMENT"
    if state in ("PRE_VALUE", "VALUE", "VALUE_ESCAPE", "SINGLE_QUOTE_VALUE", "DOUBLE_QUOTE_VALUE",
                 "DOUBLE_QUOTE_VALUE_ESCAPE"):
        if state == "VALUE" and last_value_ws is not None:
            del value[last_value_ws:]
        push()
    return env


def test_systemd_port_follows_the_documented_examples():
    """systemd.exec(5) / env-file.c behaviour the port must reproduce."""
    data = (b"# comment\n; also a comment\n A = 1 \nB='single $x \\n'\nC=\"dq \\\" \\\\ \\$ \\a\"\n"
            b"D=unquoted\\\n continued\nE=a\"b\"'c'\nF=\"multi\nline\"\n")
    assert systemd_parse(data) == {
        "A": "1", "B": "single $x \\n", "C": 'dq " \\ $ \\a', "D": "unquoted continued",
        "E": "a\"b\"'c'",  # quotes open a quoted part only where the value starts
        "F": "multi\nline",
    }


# --- the generated values -----------------------------------------------------------------------
TRICKY = "'\"\\#$`= ;\t\n\r\x00\x0b\x0c\x1c\x85\u2028\u00a0é😀"
values = st.one_of(
    st.text(alphabet=TRICKY + "ab", max_size=12),
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=40),
    st.sampled_from(["", " ", "#", "$HOME", "${X}", "a#b", "'", '"', "\\", "it's", 'say "hi"', "C:\\temp",
                     "trailing ", " leading", "x=y", "`cmd`", "\t"]),
)
names = st.from_regex(r"\A[A-Z_][A-Z0-9_]{0,15}\Z")


def write(tmp_path, pairs):
    body = "".join(f"{n}={F.dotenv_quote(v)}\n" for n, v in pairs.items())
    path = tmp_path / "env"
    path.write_bytes(("# Ansible managed\n" + body).encode("utf-8"))
    return path


def validate(path):
    ns = {"__name__": "__main__"}
    import sys
    argv = sys.argv
    sys.argv = ["validator", str(path)]
    try:
        exec(compile(VALIDATOR, "validator", "exec"), ns)
    except SystemExit as exc:
        return exc.code or 0
    finally:
        sys.argv = argv
    return 0


@settings(max_examples=600, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=values)
def test_every_accepted_value_reads_back_exactly_through_decouple_and_systemd(tmp_path, value):
    problem = F.dotenv_problem(value)
    if problem:
        with pytest.raises(AnsibleFilterError):
            F.dotenv_quote(value)
        return
    path = write(tmp_path, {"VALUE": value})
    assert validate(path) == 0
    assert RepositoryEnv(str(path)).data == {"VALUE": value}
    assert systemd_parse(path.read_bytes()) == {"VALUE": value}


@settings(max_examples=300, database=None, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(pairs=st.dictionaries(names, values.filter(lambda v: not F.dotenv_problem(v)), max_size=8))
def test_whole_files_read_back_exactly(tmp_path, pairs):
    path = write(tmp_path, pairs)
    assert validate(path) == 0
    assert RepositoryEnv(str(path)).data == pairs
    assert systemd_parse(path.read_bytes()) == pairs


@settings(max_examples=400, database=None, deadline=None)
@given(value=values)
def test_refusals_are_exactly_the_documented_ones(value):
    expected = ("\x00" in value or "\r" in value or "\n" in value
                or ("'" in value and ('"' in value or "\\" in value)))
    assert bool(F.dotenv_problem(value)) == expected, repr(value)


@settings(max_examples=300, database=None, deadline=None)
@given(value=values.filter(lambda v: not F.dotenv_problem(v)))
def test_quoting_is_single_unless_the_value_has_a_single_quote(value):
    quoted = F.dotenv_quote(value)
    assert quoted == (f'"{value}"' if "'" in value else f"'{value}'")


@pytest.mark.parametrize("value", ["a\nb", "a\rb", "nul\x00", "it's \"x\"", "it's \\x"])
def test_refused_values_say_why(value):
    assert F.dotenv_problem(value)
    with pytest.raises(AnsibleFilterError, match="django_apm_dotenv_quote"):
        F.dotenv_quote(value)


@pytest.mark.parametrize("value,text", [(True, "true"), (False, "false"), (None, ""), (8126, "8126"), (0.5, "0.5")])
def test_non_strings_are_written_as_their_dotenv_text(value, text):
    assert F.dotenv_str(value) == text
    assert F.dotenv_quote(value) == f"'{text}'"


@pytest.mark.parametrize("line", [
    "A='unterminated", "A=\"x\"y\"", "A=bare", "1A='x'", "A='x' ", " A='x'", "A='x'\r",
    "# comment ending in a backslash \\",
])
def test_validator_refuses_lines_outside_the_contract(tmp_path, line):
    path = tmp_path / "env"
    path.write_bytes((line + "\n").encode())
    assert validate(path) != 0


def test_validator_refuses_a_name_set_twice(tmp_path):
    path = tmp_path / "env"
    path.write_text("A='1'\nA='2'\n")
    assert validate(path) != 0


def test_decouple_is_the_pinned_3_8():
    import importlib.metadata as m
    assert m.version("python-decouple") == "3.8"


def test_values_with_every_printable_ascii_character_but_the_refused_mix():
    for ch in string.printable:
        if ch in "\r\n":
            continue
        assert F.dotenv_problem(ch) == "", repr(ch)


def test_one_contract_the_filters_use_the_validator_file():
    """The filter plugin's rules ARE files/dotenv_contract.py (the file the host runs as validator)."""
    assert Path(F.CONTRACT.__file__).resolve() == (ROLE / "files" / "dotenv_contract.py").resolve()
    assert F.dotenv_problem is F.CONTRACT.problem and F.dotenv_str is F.CONTRACT.text
    assert "_django_apm_dotenv_validator: \"{{ lookup('ansible.builtin.file', 'dotenv_contract.py') }}\"" in (
        ROLE / "vars" / "main.yml").read_text()
