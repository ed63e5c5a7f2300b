"""The scenario driver's checks (tests/molecule/scenario_checks.py) on crafted junit reports, test
folders, vault files and logs: a scenario with no tests, a test that did not run on a platform, a
skip, and a secret in a log each fail the run."""

from pathlib import Path

import pytest
import scenario_checks as checks
from ansible.parsing.vault import VaultLib, VaultSecret

ROOT = Path(__file__).resolve().parents[2]
PLATFORMS = ["s-debian12", "s-debian13"]

TESTS = '''
import pytest

def helper(host):
    pass

def test_package(host):
    pass

@pytest.mark.parametrize("unit", ["a", "b"])
def test_units(host, unit):
    pass

def test_logs():
    pass

class TestGroup:
    def test_in_class(self, host):
        pass
'''


def case(name, classname="molecule.s.tests.test_s", inner=""):
    return f'<testcase classname="{classname}" name="{name}" time="0.1">{inner}</testcase>'


def junit(tmp_path, *cases):
    path = tmp_path / "junit.xml"
    path.write_text('<?xml version="1.0" encoding="utf-8"?><testsuites><testsuite name="pytest">'
                    + "".join(cases) + "</testsuite></testsuites>")
    return path


def all_cases():
    out = [case("test_logs")]
    for p in PLATFORMS:
        out += [case(f"test_package[ansible://{p}]"), case(f"test_units[ansible://{p}-a]"),
                case(f"test_units[ansible://{p}-b]"),
                case(f"test_in_class[ansible://{p}]", classname="molecule.s.tests.test_s.TestGroup")]
    return out


@pytest.fixture
def tests_dir(tmp_path):
    d = tmp_path / "tests"
    d.mkdir()
    (d / "test_s.py").write_text(TESTS)
    (d / "helpers.py").write_text("def test_not_collected():\n    pass\n")
    return d


def test_expected_tests_are_the_functions_pytest_collects(tests_dir):
    assert checks.expected_tests(tests_dir) == {
        ("test_s", "test_package"): True, ("test_s", "test_units"): True,
        ("test_s", "test_logs"): False, ("test_s", "test_in_class"): True}


def test_a_full_report_passes(tmp_path, tests_dir):
    assert checks.verifier_problems(junit(tmp_path, *all_cases()), tests_dir, PLATFORMS) == []


def test_a_scenario_with_no_tests_fails(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    problems = checks.verifier_problems(junit(tmp_path), empty, PLATFORMS)
    assert problems and "no test functions" in problems[0]


def test_no_report_fails(tmp_path, tests_dir):
    problems = checks.verifier_problems(tmp_path / "missing.xml", tests_dir, PLATFORMS)
    assert problems and "no junit report" in problems[0]


def test_an_empty_report_fails_for_every_test(tmp_path, tests_dir):
    problems = checks.verifier_problems(junit(tmp_path), tests_dir, PLATFORMS)
    assert sorted(problems) == sorted(f"test_s::{f} did not run"
                                      for f in ("test_package", "test_units", "test_logs", "test_in_class"))


def test_a_test_missing_on_one_platform_fails(tmp_path, tests_dir):
    cases = [c for c in all_cases() if "test_package[ansible://s-debian13]" not in c]
    assert checks.verifier_problems(junit(tmp_path, *cases), tests_dir, PLATFORMS) == [
        "test_s::test_package did not run on s-debian13"]


@pytest.mark.parametrize("tag", ["skipped", "failure", "error"])
def test_a_skipped_failed_or_errored_test_fails(tmp_path, tests_dir, tag):
    cases = all_cases()
    cases[1] = cases[1].replace('time="0.1">', f'time="0.1"><{tag} message="x"/>')
    problems = checks.verifier_problems(junit(tmp_path, *cases), tests_dir, PLATFORMS)
    assert problems == [f"molecule.s.tests.test_s::test_package[ansible://s-debian12]: {tag}"]


def test_platforms_of_a_run():
    assert checks.scenario_platforms(ROOT, "smoke", None) == ["smoke-debian12", "smoke-debian13"]
    assert checks.scenario_platforms(ROOT, "smoke", "smoke-debian12") == ["smoke-debian12"]


def test_every_scenario_has_tests_the_driver_can_count():
    for scenario in (p.parent.name for p in (ROOT / "molecule").glob("*/molecule.yml")):
        assert checks.expected_tests(ROOT / "molecule" / scenario / "tests"), scenario


# --- secrets -----------------------------------------------------------------------------------

def test_the_vaulted_secrets_of_the_scenarios_are_decrypted():
    values = {s.value for s in checks.secret_values(ROOT)}
    # The clear values the scenarios' own tests know (molecule/*/tests/*helpers.py).
    for known in ("3f9a1c7e5b2d4f6a8c0e1b3d5f7a9c2e", "5ca1ab1e0ddba11deadbeefcafef00d0",
                  "molecule-deploy-Django-s3cret-not-real", "molecule-redis-S3cret",
                  "0123456789abcdef0123456789abcdef"):
        assert known in values
    assert not any(v.startswith("$ANSIBLE_VAULT") or "{{" in v for v in values)


def _crafted_tree(tmp_path, password="pw-for-tests"):
    root = tmp_path / "root"
    (root / "molecule" / "x" / "vars").mkdir(parents=True)
    (root / "inventory" / "local").mkdir(parents=True)
    (root / "molecule" / "x" / "vault-password.txt").write_text(password + "\n")
    vault = VaultLib([("default", VaultSecret(password.encode()))])
    inline = vault.encrypt("inline-secret-value").decode()
    (root / "molecule" / "x" / "vars" / "inline.yml").write_text(
        "---\nkey: !vault |\n" + "".join(f"  {line}\n" for line in inline.splitlines()) + "plain: not-a-secret-at-all\n")
    (root / "molecule" / "x" / "vars" / "whole.yml").write_bytes(
        vault.encrypt("---\nnested:\n  token: whole-file-secret\n"))
    return root


def test_inline_and_whole_file_vaults_are_decrypted(tmp_path):
    found = {s.value: s.origin for s in checks.secret_values(_crafted_tree(tmp_path))}
    assert found == {"inline-secret-value": "molecule/x/vars/inline.yml (key)",
                     "whole-file-secret": "molecule/x/vars/whole.yml (nested.token)"}


def test_a_vault_no_password_opens_is_an_error(tmp_path):
    root = _crafted_tree(tmp_path)
    (root / "molecule" / "x" / "vault-password.txt").write_text("another password\n")
    with pytest.raises(Exception, match="(?i)decrypt"):
        checks.secret_values(root)


def test_a_secret_in_a_log_is_found_with_file_and_line_but_not_shown(tmp_path):
    secrets = checks.secret_values(_crafted_tree(tmp_path))
    runs = tmp_path / "ephemeral" / "runs"
    runs.mkdir(parents=True)
    (runs / "a.log").write_text("ok\nok\nTASK [x] => {'api_key': 'inline-secret-value'}\n")
    clean = tmp_path / "clean.log"
    clean.write_text("nothing here\n")
    findings = checks.secret_findings([clean, tmp_path / "ephemeral", tmp_path / "absent.log"], secrets)
    assert findings == [f"{runs / 'a.log'}:3: the secret of molecule/x/vars/inline.yml (key)"]
    assert not any("inline-secret-value" in f for f in findings)
    assert checks.mask("x inline-secret-value y", secrets) == "x ******** y"


def test_only_logs_written_during_the_run_and_not_another_run_s(tmp_path):
    old, new, other = (tmp_path / n for n in ("old.log", "new.log", "molecule-other.log"))
    for f in (old, new, other):
        f.write_text("x")
    import os
    os.utime(old, (1000, 1000))
    assert checks.logs_written_since(tmp_path, 2000, {"molecule-other.log"}) == [new]
