"""The README's claims table (between <!-- claims-table --> markers): every `file::test` it names
exists, as a test function (or a test method of a Test* class) of that file, so the table
cannot point at a test that was renamed or removed."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
REF = re.compile(r"`([\w./-]+\.py)::(\w+)`")


def table(text):
    match = re.search(r"<!-- claims-table -->\n(.*?)<!-- /claims-table -->", text, re.S)
    assert match, "README.md has no claims table between <!-- claims-table --> markers"
    rows = [line for line in match.group(1).splitlines() if line.startswith("| ") and not line.startswith("| ---")]
    return rows[1:]  # the header row is not a claim


def _test_functions(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    names = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    for cls in (n for n in tree.body if isinstance(n, ast.ClassDef) and n.name.startswith("Test")):
        names |= {n.name for n in cls.body if isinstance(n, ast.FunctionDef)}
    return {n for n in names if n.startswith("test_")}


def missing(text, root):
    """The `file::test` references of the table that name no test; and the claims that name none."""
    problems = []
    for row in table(text):
        refs = REF.findall(row)
        if not refs:
            problems.append(f"a claim names no test: {row[:100]}")
        for file, func in refs:
            path = root / file
            if not path.is_file():
                problems.append(f"{file}::{func}: no such file")
            elif func not in _test_functions(path):
                problems.append(f"{file}::{func}: no such test function")
    return problems


def test_every_test_the_claims_table_names_exists():
    text = (ROOT / "README.md").read_text()
    assert len(table(text)) >= 20
    assert missing(text, ROOT) == []


@pytest.mark.parametrize("row,why", [
    ("| a claim | `tests/unit/test_readme_claims.py::test_that_was_renamed` |", "no such test function"),
    ("| a claim | `tests/unit/nothing_here.py::test_x` |", "no such file"),
    ("| a claim | a sentence but no test |", "a claim names no test"),
])
def test_a_stale_or_missing_reference_fails(row, why):
    text = f"<!-- claims-table -->\n| claim | proved by |\n| --- | --- |\n{row}\n<!-- /claims-table -->\n"
    problems = missing(text, ROOT)
    assert len(problems) == 1 and why in problems[0], problems
