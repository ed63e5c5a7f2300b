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


ONE_HOST_TESTS = '''
import pytest

@pytest.mark.one_host("debian13")
def test_logic(host):
    pass

@pytest.mark.one_host("debian14")
def test_elsewhere(host):
    pass

def test_everywhere(host):
    pass
'''


@pytest.fixture
def one_host_dir(tmp_path):
    d = tmp_path / "one"
    d.mkdir()
    (d / "test_o.py").write_text(ONE_HOST_TESTS)
    return d


def one_host_case(name, platform):
    return case(f"{name}[ansible://{platform}]", classname="molecule.s.tests.test_o")


def test_a_one_host_test_is_expected_on_its_platform_or_the_first_host_only(tmp_path, one_host_dir):
    assert checks.one_host_tests(one_host_dir) == {("test_o", "test_logic"): "debian13",
                                                   ("test_o", "test_elsewhere"): "debian14"}
    cases = [one_host_case("test_logic", "s-debian13"), one_host_case("test_elsewhere", "s-debian12"),
             *(one_host_case("test_everywhere", p) for p in PLATFORMS)]
    assert checks.verifier_problems(junit(tmp_path, *cases), one_host_dir, PLATFORMS) == []
    # A run of one platform (-p): the test runs on that host.
    cases = [one_host_case(t, "s-debian12") for t in ("test_logic", "test_elsewhere", "test_everywhere")]
    assert checks.verifier_problems(junit(tmp_path, *cases), one_host_dir, ["s-debian12"]) == []


def test_a_one_host_test_on_the_wrong_host_or_on_every_host_fails(tmp_path, one_host_dir):
    cases = [one_host_case("test_logic", "s-debian12"), one_host_case("test_elsewhere", "s-debian12"),
             *(one_host_case("test_everywhere", p) for p in PLATFORMS)]
    assert checks.verifier_problems(junit(tmp_path, *cases), one_host_dir, PLATFORMS) == [
        "test_o::test_logic (one_host) did not run on s-debian13",
        "test_o::test_logic (one_host) ran on s-debian12 too"]
    cases = [*(one_host_case(t, p) for t in ("test_logic", "test_elsewhere", "test_everywhere") for p in PLATFORMS)]
    assert checks.verifier_problems(junit(tmp_path, *cases), one_host_dir, PLATFORMS) == [
        "test_o::test_logic (one_host) ran on s-debian12 too",
        "test_o::test_elsewhere (one_host) ran on s-debian13 too"]


def test_platforms_of_a_run():
    assert checks.scenario_platforms(ROOT, "harness_smoke", None) == ["harness_smoke-debian12", "harness_smoke-debian13"]
    assert checks.scenario_platforms(ROOT, "harness_smoke", "harness_smoke-debian12") == ["harness_smoke-debian12"]


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


# --- units around Molecule's idempotence step ---------------------------------------------------

SHOW = """Id=datadog-agent.service
ActiveState=active
MainPID=101
NRestarts=0
ActiveEnterTimestampMonotonic=5000

Id=datadog-agent-trace.service
ActiveState=active
MainPID=102
NRestarts=0
ActiveEnterTimestampMonotonic=5100
"""
UNITS = ("datadog-agent.service", "datadog-agent-trace.service")


def _states(text):
    return {"s-debian12": checks.parse_systemctl_show(text)}


def test_units_running_and_untouched_pass():
    assert checks.unit_problems(_states(SHOW), _states(SHOW), UNITS, "idempotence") == []


@pytest.mark.parametrize("old,new,why", [
    ("MainPID=102", "MainPID=202", "restarted datadog-agent-trace.service"),  # a restart of the trace unit alone
    ("NRestarts=0\nActiveEnterTimestampMonotonic=5100", "NRestarts=1\nActiveEnterTimestampMonotonic=5100",
     "restarted datadog-agent-trace.service"),  # systemd's Restart= brought it back, same PID value
    ("ActiveEnterTimestampMonotonic=5000", "ActiveEnterTimestampMonotonic=9000", "restarted datadog-agent.service"),
])
def test_a_unit_restarted_by_the_step_fails(old, new, why):
    problems = checks.unit_problems(_states(SHOW), _states(SHOW.replace(old, new)), UNITS, "idempotence")
    assert len(problems) == 1 and why in problems[0], problems


def test_a_unit_down_on_both_sides_fails_although_nothing_changed():
    down = SHOW.replace("ActiveState=active\nMainPID=102", "ActiveState=failed\nMainPID=0")
    problems = checks.unit_problems(_states(down), _states(down), UNITS, "idempotence")
    assert [p for p in problems if "datadog-agent-trace.service is not active" in p] and len(problems) == 2, problems


def test_a_host_that_did_not_answer_fails():
    problems = checks.unit_problems(_states(SHOW), {"s-debian12": {}}, UNITS, "idempotence")
    assert len(problems) == 2 and all("no answer" in p for p in problems), problems


def test_sequences_of_the_scenarios():
    assert checks.test_sequence(ROOT, "django_apm")[4:6] == ["idempotence", "side_effect"]
    assert "idempotence" not in checks.test_sequence(ROOT, "datadog_agent_bad_input")
    assert checks.test_sequence(ROOT, "harness_smoke")[3:5] == ["converge", "idempotence"]
    # Its own no-op test (test_runs.py::test_noop_run_changes_and_restarts_nothing) replaces the step.
    assert checks.test_sequence(ROOT, "datadog_agent")[3:5] == ["converge", "verify"]


def test_an_ephemeral_directory_pruned_before_the_secret_scan_fails(tmp_path):
    """Until 2026-12-02 the driver's closing `molecule destroy` pruned the ephemeral directory before
    the secret scan, and the runs/ logs were never searched: a directory without the run's
    changes.jsonl now fails the scenario."""
    ephemeral = tmp_path / "scenario"
    (ephemeral / "runs").mkdir(parents=True)
    problems = checks.ephemeral_problems(ephemeral)
    assert len(problems) == 1 and "changes.jsonl is missing" in problems[0]
    (ephemeral / "changes.jsonl").write_text('{"task": "x"}\n')
    assert checks.ephemeral_problems(ephemeral) == []
