"""The stand-in's secrets backend (molecule/harness/standin/src/standin_common.py), called directly:
ENC[...] handles resolved through secret_backend_command with Datadog's protocol (JSON on stdin,
{handle: {value, error}} on stdout), its rights rule and its failures, never showing a value."""

import importlib.util
import json
import sys
import types
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "molecule" / "harness" / "standin" / "src"
SECRET = "0123456789abcdef0123456789abcdef"  # made-up


@pytest.fixture(scope="module")
def common():
    # build.sh writes standin_version.py into the package; a stand-in of it for the import.
    sys.modules.setdefault("standin_version", types.SimpleNamespace(
        AGENT_VERSION="7.61.0", PACKAGE_VERSION="1:7.61.0-1", TEST_AGENT_VERSION="0"))
    spec = importlib.util.spec_from_file_location("standin_common_under_test", SRC / "standin_common.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _helper(tmp_path, body, mode=0o700):
    """An executable secret backend: reads the agent's payload, logs it, answers with body(payload)."""
    script = tmp_path / "helper"
    script.write_text(f"#!{sys.executable}\nimport json, sys, time\npayload = json.load(sys.stdin)\n"
                      f"open({str(tmp_path / 'payload.json')!r}, 'w').write(json.dumps(payload))\n{body}\n")
    script.chmod(mode)
    return str(script)


STORE = ("store = {'datadog_api_key': '%s', 'empty': ''}\n"
         "out = {h: ({'value': store[h], 'error': None} if h in store else {'value': None, 'error': 'no such secret: ' + h})"
         " for h in payload['secrets'] if h != 'forgotten'}\nprint(json.dumps(out))" % SECRET)


def test_handles_resolved_with_the_documented_protocol(common, tmp_path):
    cmd = _helper(tmp_path, STORE)
    config = {"api_key": "ENC[datadog_api_key]", "secret_backend_command": cmd, "secret_backend_arguments": ["a", "b"],
              "proxy": {"https": "http://proxy:3128"}, "instances": [{"password": " ENC[datadog_api_key] "}]}
    resolved, handles = common.resolve_secrets(config)
    assert resolved["api_key"] == SECRET and resolved["instances"][0]["password"] == SECRET
    assert handles == [("datadog_api_key", "api_key"), ("datadog_api_key", "instances[0].password")]
    assert json.loads((tmp_path / "payload.json").read_text()) == {"version": "1.0", "secrets": ["datadog_api_key"]}
    assert config["api_key"] == "ENC[datadog_api_key]"  # the loaded file is not changed


def test_no_handle_no_command_needed(common):
    config = {"api_key": SECRET, "tags": ["a:ENC[b]"]}
    assert common.resolve_secrets(config) == (config, [])


@pytest.mark.parametrize("handle,needle", [
    ("missing", "an error occurred while resolving 'missing': no such secret: missing"),
    ("forgotten", "secret handle 'forgotten' was not resolved by the secret_backend_command"),
    ("empty", "resolved secret for 'empty' is empty"),
])
def test_a_handle_that_does_not_resolve_fails(common, tmp_path, handle, needle):
    cmd = _helper(tmp_path, STORE)
    with pytest.raises(common.SecretError, match=needle.replace("(", r"\(")) as err:
        common.resolve_secrets({"api_key": f"ENC[{handle}]", "secret_backend_command": cmd})
    assert SECRET not in str(err.value)


@pytest.mark.parametrize("mode,needle", [(0o750, "'group' or 'others' have rights on it"),
                                         (0o701, "'group' or 'others' have rights on it"),
                                         (0o600, "can't access it")])
def test_executable_rights_like_check_rights_nix(common, tmp_path, mode, needle):
    cmd = _helper(tmp_path, STORE, mode=mode)
    with pytest.raises(common.SecretError, match=needle):
        common.resolve_secrets({"api_key": "ENC[datadog_api_key]", "secret_backend_command": cmd})
    assert not (tmp_path / "payload.json").exists(), "the command ran although its rights are refused"


def test_timeout_exit_status_bad_output_and_no_command(common, tmp_path):
    slow = _helper(tmp_path, "time.sleep(5)")
    with pytest.raises(common.SecretError, match="command timeout"):
        common.resolve_secrets({"api_key": "ENC[a]", "secret_backend_command": slow, "secret_backend_timeout": 1})
    failing = _helper(tmp_path, "sys.exit(3)")
    with pytest.raises(common.SecretError, match="exit status 3"):
        common.resolve_secrets({"api_key": "ENC[a]", "secret_backend_command": failing})
    garbage = _helper(tmp_path, "print('not json')")
    with pytest.raises(common.SecretError, match="could not unmarshal"):
        common.resolve_secrets({"api_key": "ENC[a]", "secret_backend_command": garbage})
    with pytest.raises(common.SecretError, match="secret_backend_command is not set"):
        common.resolve_secrets({"api_key": "ENC[a]"})


def test_config_types_of_the_new_settings(common):
    assert common.config_type_error({"secret_backend_timeout": "soon"}) is not None
    assert common.config_type_error({"proxy": {"no_proxy": [1]}}) is not None
    assert common.config_type_error({"proxy": "http://p:1"}) == "proxy must be a mapping, not str"
    assert common.config_type_error({"secret_backend_command": "/x", "secret_backend_arguments": ["a"],
                                     "secret_backend_timeout": 5, "proxy": {"http": "http://p:1", "no_proxy": ["h"]}}) is None
