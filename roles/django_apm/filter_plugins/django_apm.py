"""Filters of the django_apm role: quoting for the .env and for Python, and the settings-file plan.

The .env contract (python-decouple 3.8 and systemd's EnvironmentFile= read the file back alike)
------------------------------------------------------------------------------------------------
python-decouple reads the file line by line (universal newlines: LF, CR and CRLF end a line),
strips the line, splits it at the first ``=`` and removes ONE pair of matching outer quotes,
without unescaping anything. systemd (src/basic/env-file.c) reads ``'...'`` literally up to the
next single quote, reads ``"..."`` with backslash escapes (``\\"``, ``\\\\``, ``\\```, ``\\$`` and
line continuations), and stops reading the whole file at a NUL byte. So a value is written

* ``NAME='value'`` when it has no single quote: both read every other character literally;
* ``NAME="value"`` when it has a single quote but neither a double quote nor a backslash;

and a value is refused (the role fails in preflight, naming the variable) when it holds a NUL, a
CR or an LF (python-decouple cannot read a value across lines), or a single quote together with
a double quote or a backslash (no quoting reads back the same through both parsers). Everything
else -- ``#``, ``$``, backticks, spaces at either end, tabs, other control characters, any
Unicode -- reads back exactly. tests/unit/test_django_apm_dotenv.py proves it with hypothesis.
"""

import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_LINE_BREAKS = ("\x00", "\r", "\n")


def dotenv_problem(value):
    """Why ``value`` cannot be written to the .env under the contract above ('' when it can)."""
    value = dotenv_str(value)
    if "\x00" in value:
        return "contains a NUL character (systemd stops reading the file there)"
    if "\r" in value or "\n" in value:
        return "contains a line break (python-decouple reads one line per variable)"
    if "'" in value and ('"' in value or "\\" in value):
        return ("contains a single quote together with a double quote or a backslash "
                "(no quoting reads back the same through python-decouple and systemd)")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text (lone surrogate)"
    return ""


def dotenv_str(value):
    """The text a value stands for in the .env: booleans as true/false, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def dotenv_quote(value):
    """``value`` quoted for the .env (see the contract above); refuses what it cannot carry."""
    text = dotenv_str(value)
    problem = dotenv_problem(text)
    if problem:
        raise AnsibleFilterError("django_apm_dotenv_quote: the value " + problem)
    if "'" not in text:
        return "'" + text + "'"
    return '"' + text + '"'


def _plain(value):
    """Ansible's tagged/lazy containers turned into plain Python values (for repr)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    if isinstance(value, bytes):
        return bytes(value)
    if isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    raise AnsibleFilterError("django_apm_pyliteral: cannot write a %s as a Python literal" % type(value).__name__)


def pyliteral(value):
    """A Python literal that evaluates to ``value`` (str, int, float, bool, None, list, dict)."""
    text = repr(_plain(value))
    if "\n" in text or "\r" in text:  # repr never emits raw line breaks; keep the promise explicit
        raise AnsibleFilterError("django_apm_pyliteral: unexpected line break")
    return text


def settings_plan(content, marker_begin, marker_end, sentry_regex, header_regex):
    """Where the APM block goes in the settings file, and what in the file stands in the way.

    Returns a dict:
      has_block:      the managed markers are there (blockinfile then replaces the block in place)
      insertbefore:   a regex for blockinfile (with firstmatch) to put a new block right after the
                      Sentry section, i.e. before the next section header; '' = at the end
      sentry_line:    1-based line of the Sentry header, 0 when there is none
      foreign_lines:  1-based lines outside the managed block that import or patch ddtrace
    """
    lines = str(content).split("\n")
    begin, end = str(marker_begin), str(marker_end)
    inside, has_block, foreign = False, False, []
    outside = []  # (index, line) outside the managed block
    for i, line in enumerate(lines):
        stripped = line.strip()
        if stripped == begin:
            inside, has_block = True, True
            continue
        if stripped == end:
            inside = False
            continue
        if inside:
            continue
        outside.append((i, line))
        if re.match(r"\s*(from\s+ddtrace[\s.]|import\s+ddtrace\b)", line) or re.search(r"\bpatch_all\s*\(", line):
            foreign.append(i + 1)
    sentry_re, header_re = re.compile(str(sentry_regex)), re.compile(str(header_regex))
    sentry = next((i for i, line in outside if sentry_re.search(line)), None)
    insertbefore = ""
    if sentry is not None:
        nxt = next((line for i, line in outside if i > sentry and header_re.search(line)
                    and line.strip() not in (begin, end)), None)
        # blockinfile inserts before the LAST line matching the regex: use the next
        # header only when that line occurs once, else the end of the file (still after Sentry).
        if nxt is not None and sum(1 for _, line in outside if line == nxt) == 1:
            insertbefore = "^" + re.escape(nxt) + "$"
    return {
        "has_block": has_block,
        "insertbefore": insertbefore,
        "sentry_line": 0 if sentry is None else sentry + 1,
        "foreign_lines": foreign,
    }


def dotenv_names(content):
    """The variable names a .env file sets (the lines python-decouple would read)."""
    names = []
    for line in str(content).splitlines():
        line = line.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name = line.split("=", 1)[0].strip()
        if name.startswith("export "):
            name = name[len("export "):].strip()
        if name not in names:
            names.append(name)
    return names


def dotenv_errors(items, skip=()):
    """One message per .env item (dicts with name, value, var) whose value breaks the contract."""
    errors = []
    for item in items:
        if item["name"] in skip:
            continue
        problem = dotenv_problem(item["value"])
        if problem:
            where = item.get("var") or "the role"
            if where in ("django_apm_tracer_env", "django_apm_dotenv_extra"):
                where = "%s[%s]" % (where, item["name"])
            errors.append("%s (%s in the .env) %s" % (where, item["name"], problem))
    return errors


def dotenv_expected(items):
    """name -> the exact text python-decouple and systemd must read back for it."""
    return {str(item["name"]): dotenv_str(item["value"]) for item in items}


class FilterModule:
    def filters(self):
        return {
            "django_apm_dotenv_quote": dotenv_quote,
            "django_apm_dotenv_problem": dotenv_problem,
            "django_apm_dotenv_str": dotenv_str,
            "django_apm_pyliteral": pyliteral,
            "django_apm_settings_plan": settings_plan,
            "django_apm_dotenv_names": dotenv_names,
            "django_apm_dotenv_errors": dotenv_errors,
            "django_apm_dotenv_expected": dotenv_expected,
        }
