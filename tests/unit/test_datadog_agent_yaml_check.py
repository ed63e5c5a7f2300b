"""datadog_agent: files/yaml_check.py, the validator `validate:` runs on the host before datadog.yaml,
a check's conf.yaml or a custom check's Python lands (run here with python3 -c and the file's text, as the role runs it)."""

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = (Path(__file__).resolve().parents[2] / "roles" / "datadog_agent" / "files" / "yaml_check.py").read_text()
KEY = "0123456789abcdef0123456789abcdef"  # made-up


def _run(tmp_path, text, kind, no_yaml=False):
    path = tmp_path / "f.yaml"
    path.write_text(text)
    code = ("import sys; sys.modules['yaml'] = None\n" if no_yaml else "") + SCRIPT
    return subprocess.run([sys.executable, "-c", code, str(path), kind], capture_output=True, text=True, check=False)


@pytest.mark.parametrize("no_yaml", [False, True], ids=["pyyaml", "structural"])
@pytest.mark.parametrize("text,kind,reason", [
    (f"# managed\napi_key: {KEY}\nsite: datadoghq.com\n", "main", ""),
    (f"api_key: '{KEY}'\n", "main", ""),
    ("init_config: {}\ninstances:\n- host: h\n", "check", ""),
    ("site: datadoghq.com\n", "main", "api_key missing or malformed"),
    (f"api_key: {KEY[:-1]}\n", "main", "api_key missing or malformed"),
    ("api_key: ENC[datadog_api_key]\nsecret_backend_command: /usr/local/bin/backend\n", "main", ""),
    ("api_key: ENC[datadog_api_key]\nsite: datadoghq.com\n", "main", "api_key missing or malformed"),
    ("api_key: ENC[]\nsecret_backend_command: /usr/local/bin/backend\n", "main", "api_key missing or malformed"),
    ("# only a comment\n", "check", "no content"),
    ("a:\n\tb: 1\n", "check", "tab in indentation"),
    ("- a\n- b\n", "check", "top level is not a mapping"),
])
def test_yaml_check(tmp_path, text, kind, reason, no_yaml):
    proc = _run(tmp_path, text, kind, no_yaml)
    assert (proc.returncode == 0) == (reason == ""), proc.stderr
    assert reason in proc.stderr
    assert KEY not in proc.stderr + proc.stdout


def test_invalid_yaml_is_refused_without_showing_the_content(tmp_path):
    proc = _run(tmp_path, f"api_key: {KEY}\nbad: [unclosed\n", "main")
    assert proc.returncode == 1 and "not valid YAML" in proc.stderr
    assert KEY not in proc.stderr


@pytest.mark.parametrize("text,reason", [
    ("from datadog_checks.base import AgentCheck\n\n\nclass C(AgentCheck):\n    def check(self, instance):\n        pass\n", ""),
    (f"TOKEN = '{KEY}'\ndef check(:\n", "not valid Python (line 2: "),
    ("x = 1\n  y = 2\n", "not valid Python (line 2: unexpected indent)"),
    ("x = '\0'\n", "not valid Python ("),
])
def test_custom_check_must_compile_and_the_reason_hides_the_source(tmp_path, text, reason):
    proc = _run(tmp_path, text, "python")
    assert (proc.returncode == 0) == (reason == ""), proc.stderr
    assert reason in proc.stderr
    assert KEY not in proc.stderr + proc.stdout
