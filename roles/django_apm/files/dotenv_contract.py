"""The .env contract of the django_apm role: ONE source for the filter plugin and the host.

The role's filter plugin (filter_plugins/django_apm.py) imports this file for the value rules and
the quoting; the .env template task runs it on the host, as its ``validate:`` command, to check
the rendered file line by line before it lands:

    python dotenv_contract.py FILE     # exit 0, or a message naming a line number (never a value)

The contract (python-decouple 3.8 and systemd's EnvironmentFile= read the file back alike)
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
Standard library only: it runs under the app's virtualenv Python on the host.
"""

import re
import sys

# One line of a file the role writes: NAME='value' or NAME="value" (see quote()).
LINE = re.compile(r"""[A-Za-z_][A-Za-z0-9_]*=('[^'\r\n\x00]*'|"[^"\\\r\n\x00]*")""")


def text(value):
    """The text a value stands for in the .env: booleans as true/false, None as ''."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def problem(value):
    """Why ``value`` cannot be written to the .env under the contract ('' when it can)."""
    value = text(value)
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


def quote(value):
    """``value`` quoted for the .env; raises ValueError with the reason for a refused value."""
    value = text(value)
    why = problem(value)
    if why:
        raise ValueError("the value " + why)
    return "'" + value + "'" if "'" not in value else '"' + value + '"'


def file_problem(data):
    """Why the file content ``data`` breaks the contract ('' when it does not): line numbers only."""
    if "\r" in data or "\x00" in data:
        return "the .env holds a CR or NUL character"
    seen = set()
    for number, line in enumerate(data.split("\n"), 1):
        if line == "" or (line.startswith("#") and not line.endswith("\\")):
            continue
        if not LINE.fullmatch(line):
            return f"line {number}: not NAME='value' or NAME=\"value\" under the role's .env contract"
        name = line.split("=", 1)[0]
        if name in seen:
            return f"line {number}: {name} is set twice"
        seen.add(name)
    return ""


def main(argv):
    with open(argv[1], encoding="utf-8", newline="") as handle:
        why = file_problem(handle.read())
    return why or 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
