"""datadog_agent: defaults/main.yml, meta/argument_specs.yml and README.md agree (no containers)."""

import re
from pathlib import Path

import pytest
import yaml

ROLE = Path(__file__).resolve().parents[2] / "roles" / "datadog_agent"


def _load(rel):
    return yaml.safe_load((ROLE / rel).read_text())


@pytest.fixture(scope="module")
def defaults():
    return _load("defaults/main.yml")


@pytest.fixture(scope="module")
def options():
    return _load("meta/argument_specs.yml")["argument_specs"]["main"]["options"]


def test_every_default_is_declared_with_the_same_default(defaults, options):
    for name, value in defaults.items():
        assert name in options, f"{name} is in defaults/main.yml but not in argument_specs"
        assert "default" in options[name], f"{name}: argument_specs has no default"
        assert options[name]["default"] == value, f"{name}: {options[name]['default']!r} != {value!r}"


def test_every_option_is_in_defaults_or_required(defaults, options):
    for name, spec in options.items():
        assert name in defaults or spec.get("required"), f"{name}: neither in defaults nor required"
        assert not (spec.get("required") and "default" in spec), f"{name}: required and defaulted"


def test_every_option_is_typed_described_and_public(options):
    for name, spec in options.items():
        assert name.startswith("datadog_agent_"), name
        assert spec.get("type") in {"str", "int", "bool", "list", "dict", "raw"}, name
        assert spec.get("description"), f"{name}: no description"
        if spec["type"] == "list":
            assert spec.get("elements"), f"{name}: list without elements"


def test_the_api_key_is_no_log(options):
    assert options["datadog_agent_api_key"].get("no_log") is True


def test_internal_and_registered_names(options):
    vars_main = _load("vars/main.yml")
    assert all(name.startswith("_datadog_agent_") for name in vars_main), \
        [n for n in vars_main if not n.startswith("_datadog_agent_")]
    for path in (ROLE / "tasks").glob("*.yml"):
        for reg in re.findall(r"^\s*register:\s*(\S+)", path.read_text(), re.M):
            assert reg.startswith("__datadog_agent_"), f"{path.name}: register {reg}"


def test_meta_platforms_and_identity():
    meta = _load("meta/main.yml")["galaxy_info"]
    assert meta["role_name"] == "datadog_agent" and meta["namespace"]
    platforms = {p["name"]: set(p["versions"]) for p in meta["platforms"]}
    # Exactly what the Molecule scenarios test (their platforms: the base config's two images).
    assert platforms == {"Debian": {"bookworm", "trixie"}}


def test_stages_are_tagged_includes():
    main = _load("tasks/main.yml")
    files = {}
    for task in main:
        inc = task["ansible.builtin.include_tasks"]
        stage = inc["file"].removesuffix(".yml")
        # The install stage is two files: repository.yml (source, keys, plan) and install.yml (the package).
        tag = {"repository": "datadog_agent_install"}.get(stage, f"datadog_agent_{stage}")
        assert tag in task["tags"] and tag in inc["apply"]["tags"], task["name"]
        files[stage] = task
    assert {"preflight", "repository", "install", "configure", "service", "verify", "remove"} <= set(files)
    assert "always" in files["preflight"]["tags"] and "always" in files["preflight"]["ansible.builtin.include_tasks"]["apply"]["tags"]


def test_secret_tasks_are_no_log_and_no_diff():
    for rel in ("tasks/configure.yml", "tasks/verify.yml"):
        text = (ROLE / rel).read_text()
        for block in re.split(r"\n(?=\s*- name: )", text):
            if re.search(r"ansible\.builtin\.(template|copy):", block):
                assert "no_log: true" in block and "diff: false" in block, f"{rel}: {block.strip()[:120]}"
