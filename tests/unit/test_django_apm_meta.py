"""The django_apm role's contract with its users: documented inputs, tags, rendering filters."""

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
ROLE = ROOT / "roles" / "django_apm"
DEFAULTS = yaml.safe_load((ROLE / "defaults" / "main.yml").read_text())
SPECS = yaml.safe_load((ROLE / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]["options"]
_spec = importlib.util.spec_from_file_location("django_apm_filters", ROLE / "filter_plugins" / "django_apm.py")
F = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(F)


def test_every_input_is_documented_with_the_default_of_defaults_main():
    assert set(SPECS) == set(DEFAULTS)
    for name, spec in SPECS.items():
        assert spec.get("default") == DEFAULTS[name], name
        assert spec.get("type") and spec.get("description"), name


def test_public_names_and_internal_names_follow_the_conventions():
    assert all(name.startswith("django_apm_") for name in DEFAULTS)
    internal = yaml.safe_load((ROLE / "vars" / "main.yml").read_text())
    assert all(name.startswith("_django_apm_") for name in internal)
    registered = set()
    for tasks in (ROLE / "tasks").glob("*.yml"):
        for line in tasks.read_text().splitlines():
            if line.strip().startswith("register:"):
                registered.add(line.split(":", 1)[1].strip())
    assert registered and all(name.startswith("__django_apm_") for name in registered), registered


def test_meta_platforms():
    meta = yaml.safe_load((ROLE / "meta" / "main.yml").read_text())["galaxy_info"]
    assert meta["role_name"] == "django_apm" and meta["namespace"]
    platforms = {p["name"]: set(p["versions"]) for p in meta["platforms"]}
    # Exactly what the Molecule scenarios test (their platforms: the base config's two images).
    assert platforms == {"Debian": {"bookworm", "trixie"}}


def _list_tasks(tmp_path, *args):
    (tmp_path / "site.yml").write_text("- name: List\n  hosts: localhost\n  gather_facts: false\n  roles: [django_apm]\n")
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_ROLES_PATH=str(ROOT / "roles"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0")
    res = subprocess.run([str(Path(sys.executable).parent / "ansible-playbook"), "-i", "localhost,", "--list-tasks",
                          *args, str(tmp_path / "site.yml")], env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout + res.stderr
    return [line.strip() for line in res.stdout.splitlines()
            if "django_apm :" in line and "Validating arguments" not in line]


@pytest.mark.parametrize("stage", ["install", "configure", "service", "verify"])
def test_stage_tags_select_the_stage_and_preflight(tmp_path, stage):
    tasks = _list_tasks(tmp_path, "--tags", f"django_apm_{stage}")
    stages = {t.split(" : ", 1)[1].split(" |", 1)[0] for t in tasks}
    assert stages == {"Preflight", stage.capitalize()}, tasks


def test_all_stages_are_tagged(tmp_path):
    tasks = _list_tasks(tmp_path)
    assert {t.split(" : ", 1)[1].split(" |", 1)[0] for t in tasks} == {"Preflight", "Install", "Configure", "Service", "Verify"}
    for t in tasks:
        stage = t.split(" : ", 1)[1].split(" |", 1)[0].lower()
        assert f"django_apm_{stage}" in t and "django_apm," in t.replace("django_apm]", "django_apm,"), t


@pytest.mark.parametrize("value", ["plain", "it's", 'dq "x"', "back\\slash", "line\nbreak", "\u2028\x00\U0001F600",
                                   1, 0.25, True, None, ["a", 1], {"k": [None, False]}])
def test_python_literals_evaluate_to_the_value(value):
    import ast
    text = F.pyliteral(value)
    assert "\n" not in text
    assert ast.literal_eval(text) == value


SENTRY_AND_LOGGING = "A = 1\n# --- Sentry ---\nS = 1\n\n# --- Logging ---\nL = 1\n"


@pytest.mark.parametrize("content,before,sentry", [
    (SENTRY_AND_LOGGING, "# --- Logging ---", 2),
    ("A = 1\n# --- Sentry ---\nS = 1\n", "", 2),                                           # Sentry last: end of file
    ("A = 1\n# --- Logging ---\nL = 1\n", "", 0),                                          # no Sentry: end of file
    ("# --- Logging ---\n# --- Sentry ---\nS = 1\n# --- Logging ---\n", "", 2),            # ambiguous header: end
    ("# --- Sentry ---\nS = 1\n#BEGIN x\n# --- Inside ---\n#END x\n# --- Cache ---\n", "# --- Cache ---", 1),
])
def test_the_block_goes_right_after_the_sentry_section(content, before, sentry):
    plan = F.settings_plan(content, "#BEGIN x", "#END x", r"^#\s*-{2,}\s*Sentry\b", r"^#\s*-{2,}\s*\S.*-{2,}\s*$")
    import re
    assert plan["sentry_line"] == sentry
    assert plan["insertbefore"] == ("^" + re.escape(before) + "$" if before else "")
    assert plan["foreign_lines"] == []


def test_old_ddtrace_code_outside_the_block_is_found_and_the_block_itself_ignored():
    content = ("from decouple import config\n#BEGIN x\nimport ddtrace.auto\n#END x\n"
               "# --- Datadog APM ---\nfrom ddtrace import config, patch_all, tracer\n    patch_all(django=True)\n")
    plan = F.settings_plan(content, "#BEGIN x", "#END x", "Sentry", "^# ---")
    assert plan["has_block"] and plan["foreign_lines"] == [6, 7]


def test_dotenv_names_of_a_foreign_file():
    assert F.dotenv_names("# c\nA=1\n export B = 2\nnot a line\nA=3\n") == ["A", "B"]
