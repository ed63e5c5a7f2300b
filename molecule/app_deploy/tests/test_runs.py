"""Nested runs of the real playbooks against the converged host, in this order (the last one
removes the agent): check mode of site.yml and deploy.yml (nothing to change), a rolling deploy of
a broken release stopped by the health gate of its first batch, a rollback to a known SHA, the host
deployed as a worker-only host and back, then remove.yml (check mode first). Every log is kept
under runs/ and grepped for the secrets.
"""

import base64
import json
import os
from pathlib import Path

import yaml

from deployhelpers import (AGENT_UNITS, APP, ENV, RECORD, SCENARIO, SECRETS, STAGING_APP, UNITS, assert_no_secret, dotenv,
                           head_sha, hostname, http_get, push_commit, records, remote_sha, run_playbook, runs_dir, tail)


def test_site_check_mode_on_the_converged_host_changes_nothing(host):
    rc, log, recap = run_playbook(host, "check-converged-site", "site", "--check", "--diff", "-vvv")
    assert rc == 0 and recap["changed"] == 0 and recap["failed"] == 0, tail(log)
    assert "ESTABLISH" in log, "not a -vvv run"
    assert_no_secret(log, "site.yml --check --diff -vvv")


def test_deploy_check_mode_on_the_deployed_release_changes_nothing(host):
    rc, log, recap = run_playbook(host, "check-converged-deploy", "deploy", "--check", "--diff")
    assert rc == 0 and recap["changed"] == 0 and recap["failed"] == 0, tail(log)
    assert_no_secret(log, "deploy.yml --check --diff")


def test_a_failed_health_gate_stops_the_rolling_deploy(host, tmp_path):
    """Two inventory hosts on the same container, one per batch (serial 1): the first deploys a
    release whose /health/ answers 500, fails its gate, and the second is never touched."""
    good = head_sha(host)
    broken_sha = push_commit(host, "sed -i 's/return HttpResponse(\"ok\", content_type=\"text\\/plain\")/"
                                   "return HttpResponse(\"broken\", status=500)/' patients/views.py", "A broken release")
    assert remote_sha(host) == broken_sha != good

    container = hostname(host)
    alias = {"ansible_host": container, "ansible_connection": "community.docker.docker"}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "agent_hosts": {"children": {"app": {}}},
        "app": {"children": {"worker": {}}},
        "worker": {"hosts": {"canary": alias, "second": alias}}}}}))
    # The same group_vars as the scenario's inventory: the staging ones.
    (tmp_path / "group_vars").symlink_to(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / "group_vars")

    # The gate waits 15 s, not the 60 s it gives the stand-in by default: a release that answers
    # 500 fails it whatever the wait, and the run's other tests do not depend on how long it waited.
    rc, log, _ = run_playbook(host, "rollout-broken", "deploy", "-e", "app_deploy_serial=1",
                              "-e", "app_deploy_gate_timeout=15", inventory=tmp_path, limit=False)
    assert rc != 0, tail(log)
    assert "Health gate FAILED on canary" in log, tail(log)
    assert "the app did not answer 200" in log, tail(log)
    assert "[second]" not in log, "the second batch must not have started\n" + tail(log)
    assert "NO MORE HOSTS LEFT" in log
    assert_no_secret(log, "a failed rolling deploy")
    # The canary runs the broken release (nothing rolled back by itself): the message says how.
    assert dotenv(host)["DD_VERSION"] == broken_sha
    assert f"-e app_deploy_version={good}" in log, tail(log)


def test_a_rollback_to_a_known_sha_passes_the_gate(host):
    good = records(host)["release2"]["sha"]
    rc, log, recap = run_playbook(host, "rollback", "deploy", "-e", f"app_deploy_version={good}")
    assert rc == 0 and recap["failed"] == 0, tail(log)
    assert "passed: http://127.0.0.1:8000/health/ answered 200" in log, tail(log)
    assert head_sha(host) == good and dotenv(host)["DD_VERSION"] == good
    assert http_get(host, "http://127.0.0.1:8000/health/")[0] == 200
    assert_no_secret(log, "a rollback deploy")

    # The same SHA again: nothing to do.
    rc, log, recap = run_playbook(host, "rollback-again", "deploy", "-e", f"app_deploy_version={good}")
    assert rc == 0 and recap["changed"] == 0, tail(log)


def test_a_worker_only_host_drops_gunicorn_and_its_gate_checks_the_units(host):
    """The same host deployed as a worker-only host (django_apm_gunicorn_enabled false): gunicorn
    stopped, disabled and removed, the worker untouched, the gate made on the units' version
    (there is no web server to ask); then gunicorn again."""
    good = records(host)["release2"]["sha"]
    gunicorn, celery = UNITS
    celery_pid = host.run(f"systemctl show -p MainPID --value {celery}").stdout.strip()
    rc, log, recap = run_playbook(host, "worker-only", "deploy", "-e", f"app_deploy_version={good}",
                                  "-e", '{"django_apm_gunicorn_enabled": false}')
    assert rc == 0 and recap["failed"] == 0 and recap["changed"] >= 1, tail(log)
    flat = " ".join(log.split())  # the callback folds long messages over lines
    assert "passed: no web server here; serves no web requests" in flat, tail(log)
    assert f"{celery} run with DD_VERSION={good} DD_ENV={ENV}" in flat, tail(log)
    assert not host.file(f"/etc/systemd/system/{gunicorn}").exists
    assert host.run(f"systemctl show -p ActiveState --value {gunicorn}").stdout.strip() == "inactive"
    assert host.run(f"systemctl show -p MainPID --value {celery}").stdout.strip() == celery_pid, "the worker restarted"
    assert_no_secret(log, "a worker-only deploy")

    rc, log, recap = run_playbook(host, "web-again", "deploy", "-e", f"app_deploy_version={good}")
    assert rc == 0 and recap["failed"] == 0, tail(log)
    assert "passed: http://127.0.0.1:8000/health/ answered 200" in log, tail(log)
    assert host.service(gunicorn).is_running and host.service(gunicorn).is_enabled
    assert host.run(f"systemctl show -p MainPID --value {celery}").stdout.strip() == celery_pid, "the worker restarted"


def task_output(log, name):
    """What the log printed under the first task whose header contains NAME (up to the next task)."""
    assert f"{name}" in log, f"no task {name!r} in the log"
    return log.split(name, 1)[1].split("\nTASK [", 1)[0]


def record(host):
    return json.loads(host.check_output(f"cat {RECORD}"))


def unit_pids(host):
    return {unit: host.check_output(f"systemctl show -p MainPID --value {unit}").strip() for unit in UNITS}


def test_a_deploy_of_the_running_commit_does_nothing(host):
    """The commit the host runs (by SHA: the remote's main is the broken release by now), recorded
    with the same inputs: the two preflight probes, then
    nothing (no checkout, pip, migrate, django_apm or gate), nothing changed or restarted."""
    pids, sha = unit_pids(host), head_sha(host)
    rc, log, recap = run_playbook(host, "noop", "deploy", "-e", f"app_deploy_version={sha}")
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert "with the same inputs: nothing to do" in " ".join(log.split()), tail(log)
    assert "TASK [django_apm : Preflight" not in log, tail(log)
    for task in ("app_deploy : Checkout | the app's user", "app_deploy : Install | the app's virtualenv",
                 "TASK [Instrument | Datadog APM", "app_deploy : Gate | the verdict", "app_deploy : Record | the completed deploy"):
        assert "skipping: [" in task_output(log, task), task
    assert unit_pids(host) == pids
    assert record(host)["sha"] == head_sha(host) == sha


def test_an_interrupted_deploy_is_finished_by_the_next_run(host):
    """A new commit that changes the requirements and adds a migration; its deploy fails after the
    checkout (pip refuses an argument). The next run of the same commit (-vvv --diff, its log
    grepped for every secret) runs pip and the migration, django_apm moves DD_VERSION and restarts
    the app, the gate passes, the record moves; a third run does nothing."""
    good = records(host)["release2"]["sha"]
    before = record(host)
    assert before["sha"] == head_sha(host) == good
    migration = base64.b64encode(b"from django.db import migrations\n\n\nclass Migration(migrations.Migration):\n"
                                 b"    dependencies = [('patients', '0001_initial')]\n    operations = []\n").decode()
    sha = push_commit(host, f"git reset -q --hard {good} && echo '# pinned again' >> requirements.txt "
                            f"&& echo {migration} | base64 -d > patients/migrations/0002_noop.py",
                      "Requirements and a migration")
    pids = unit_pids(host)

    rc, log, _ = run_playbook(host, "interrupted", "deploy", "-e", "app_deploy_pip_extra_args=--no-such-option")
    assert rc != 0, tail(log)
    assert "no such option" in task_output(log, "app_deploy : Install | the app's requirements"), tail(log)
    assert head_sha(host) == sha, "the checkout moved before the failure"
    assert record(host)["sha"] == good and dotenv(host)["DD_VERSION"] == good
    assert unit_pids(host) == pids
    assert_no_secret(log, "a deploy that failed at pip")

    rc, log, recap = run_playbook(host, "finished", "deploy", "-vvv", "--diff")
    assert rc == 0 and recap["failed"] == 0, tail(log)
    assert "skipping" not in task_output(log, "app_deploy : Install | the app's requirements"), "pip did not run"
    assert "Applying patients.0002_noop" in task_output(log, "app_deploy : Migrate | database migrations"), tail(log)
    assert "skipping: [" in task_output(log, "app_deploy : Checkout | app_deploy_version"), "fetched again"
    assert dotenv(host)["DD_VERSION"] == sha and record(host)["sha"] == sha
    assert all(unit_pids(host)[unit] != pids[unit] for unit in UNITS), "the app was not restarted"
    assert "passed: http://127.0.0.1:8000/health/ answered 200" in log, tail(log)
    assert_no_secret(log, "deploy.yml -vvv --diff")

    rc, log, recap = run_playbook(host, "finished-again", "deploy")
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert "TASK [django_apm : Preflight" not in log


def test_a_code_only_commit_skips_pip_and_migrate(host):
    """The rollback earlier deployed a commit that differs from the one before only in code: pip
    and migrate were skipped; the first release's deploy ran both."""
    log = (runs_dir() / f"{hostname(host)}-rollback.log").read_text()
    for task in ("app_deploy : Install | the app's requirements", "app_deploy : Migrate | database migrations"):
        assert "skipping: [" in task_output(log, task), task


DIFF_SECRETS = yaml.safe_load((SCENARIO / "vars" / "dotenv_diff.yml").read_text())
DOTENV_SUMMARY = "django_apm : Configure | what the .env changes"


def test_dotenv_secrets_show_names_never_values(host, tmp_path):
    """The .env holds or held secrets: the API key (django_apm_write_api_key false -> true -> false)
    and PARTNER_API_SECRET of django_apm_dotenv_extra (a name under the *SECRET* rule), added by a
    deploy.yml --diff run, changed by a --check --diff run (which writes nothing), removed by a
    --diff run. Every run says which names it adds, changes or removes (secret, value hidden), no
    log holds a value (the new ones, the old ones, the vaulted ones), and the .env ends as the
    inventory writes it. (Each change in both modes, on every shape of .env, is proven on the role
    itself by the fast tests: tests/unit/test_django_apm_role.py, SECRET_CASES.) The values go in
    an extra-vars file (0600), as a user passes secrets: an inline -e would put them on the
    command line, in the process list and in the first line of the run's log."""
    base = STAGING_APP["django_apm_dotenv_extra"]
    first = (DIFF_SECRETS["diff_api_key_first"], DIFF_SECRETS["diff_partner_secret_first"])
    second = (DIFF_SECRETS["diff_api_key_second"], DIFF_SECRETS["diff_partner_secret_second"])
    # (step, sign in the summary, the values given, the values the .env holds after it, options)
    steps = [("added", "+", first, first, ["--diff"]),
             ("changed", "~", second, first, ["--check", "--diff"]),  # check mode: the file keeps the first
             ("removed", "-", None, None, ["--diff"])]
    values = [*SECRETS, *DIFF_SECRETS.values()]
    version = records(host)["release2"]["sha"]  # a known good commit, whatever the remote's main is by now
    for step, sign, given, kept, mode in steps:
        inputs = {"app_deploy_version": version}
        if given is not None:
            inputs.update(django_apm_write_api_key=True, django_apm_api_key=given[0],
                          django_apm_dotenv_extra={**base, "PARTNER_API_SECRET": given[1]})
        name = f"dotenv-{step}{'-check' if '--check' in mode else ''}"
        inputs_file = tmp_path / f"{name}.json"
        inputs_file.touch(mode=0o600)
        inputs_file.write_text(json.dumps(inputs))
        rc, log, recap = run_playbook(host, name, "deploy", "-e", f"@{inputs_file}", *mode)
        assert rc == 0 and recap["failed"] == 0, tail(log)
        summary = task_output(log, DOTENV_SUMMARY)
        for var in ("DD_API_KEY", "PARTNER_API_SECRET"):
            assert f"{sign} {var} (secret, value hidden)" in summary, (name, summary)
        for value in values:
            assert value not in log, f"a secret value ({value[:4]}...) is in the log of {name}"
        env = dotenv(host)
        assert ("DD_API_KEY" in env, "PARTNER_API_SECRET" in env) == (kept is not None, kept is not None), step
        if kept is not None:
            same = (env["DD_API_KEY"], env["PARTNER_API_SECRET"]) == kept  # out of the assert: never printed
            assert same, f"after the {step} run the .env does not hold the values it should"
    assert dotenv(host)["DB_PASSWORD"] and "DD_API_KEY" not in dotenv(host)


def test_remove_check_mode_then_remove(host):
    rc, log, recap = run_playbook(host, "check-remove", "remove", "--check", "--diff", "-vvv")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert "ESTABLISH" in log, "not a -vvv run"
    assert_no_secret(log, "remove.yml --check --diff -vvv")
    assert host.service("datadog-agent").is_running, "check mode must not stop the agent"

    rc, log, recap = run_playbook(host, "remove", "remove", "--diff", "-vvv")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert_no_secret(log, "remove.yml --diff -vvv")
    assert not host.package("datadog-agent").is_installed
    assert not host.file("/etc/apt/sources.list.d/datadog.sources").exists
    for unit in AGENT_UNITS:
        assert not host.service(unit).is_running, unit
    # The app does not depend on the agent: it keeps answering (its traces are dropped).
    assert http_get(host, "http://127.0.0.1:8000/health/")[0] == 200
    for unit in UNITS:
        assert host.service(unit).is_running, unit
    assert host.file(f"{APP}/.env").exists

    rc, log, recap = run_playbook(host, "remove-again", "remove")
    assert rc == 0 and recap["changed"] == 0, tail(log)
    assert (runs_dir() / f"{hostname(host)}-remove.log").exists()
