"""Each role's README variable table, its argument specs and its defaults agree; ansible-doc
renders the specs; the top README points at both tables. No containers."""

import json
import re
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLES = ["datadog_agent", "django_apm", "app_deploy"]
# | `name` | `type` | `default` (or words, for a non-empty list or mapping) | meaning |
CELL = r"((?:\\\||[^|])+?)"  # a table cell: anything but an unescaped |
ROW = re.compile(r"^\|\s*`(\w+)`\s*\|\s*`([^`]+)`\s*\|\s*" + CELL + r"\s*\|\s*" + CELL + r"\s*\|$", re.M)


def _options(role):
    specs = yaml.safe_load((ROOT / "roles" / role / "meta" / "argument_specs.yml").read_text())
    return specs["argument_specs"]["main"]["options"]


def _readme_rows(role):
    readme = (ROOT / "roles" / role / "README.md").read_text()
    assert "\n## Variables\n" in readme, f"roles/{role}/README.md has no '## Variables' section"
    section = readme.split("\n## Variables\n", 1)[1].split("\n## ", 1)[0]
    return {name: (typ, default) for name, typ, default, _ in ROW.findall(section)}


def _shown(value):
    """How a default is written in a README table."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return str(value).lower()
    if value == "":
        return '""'
    if isinstance(value, (list, dict)) and not value:
        return json.dumps(value)
    return str(value)


@pytest.mark.parametrize("role", ROLES)
def test_readme_lists_every_option_with_its_type_and_default(role):
    options, rows = _options(role), _readme_rows(role)
    assert set(rows) == set(options), (
        f"roles/{role}/README.md misses {sorted(set(options) - set(rows))}, "
        f"lists unknown {sorted(set(rows) - set(options))}")
    for name, (typ, default) in rows.items():
        assert typ == options[name]["type"], f"{role} README type of {name}: {typ}"
        if not isinstance(options[name].get("default"), (list, dict)) or not options[name]["default"]:
            assert default.strip("`").replace("\\|", "|") == _shown(options[name].get("default", "")), \
                f"{role} README default of {name}: {default!r} vs {options[name].get('default')!r}"


@pytest.mark.parametrize("role", ROLES)
def test_defaults_equal_the_specs(role):
    defaults = yaml.safe_load((ROOT / "roles" / role / "defaults" / "main.yml").read_text())
    options = _options(role)
    assert set(defaults) <= set(options), sorted(set(defaults) - set(options))
    for name, value in defaults.items():
        assert options[name].get("default") == value, f"{role}: {name}"


@pytest.mark.parametrize("role", ROLES)
def test_ansible_doc_renders_every_option(role):
    out = subprocess.run(["ansible-doc", "-t", "role", "-r", str(ROOT / "roles"), "--json", role],
                         capture_output=True, text=True, check=True, cwd=ROOT).stdout
    rendered = json.loads(out)[role]["entry_points"]["main"]["options"]
    assert set(rendered) == set(_options(role))


def test_top_readme_points_at_both_variable_tables():
    readme = (ROOT / "README.md").read_text()
    for role in ROLES:
        assert f"roles/{role}/README.md#variables" in readme, role
