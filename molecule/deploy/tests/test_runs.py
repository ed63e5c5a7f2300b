"""Nested runs of the real playbooks against the converged host, in this order (the last one
removes the agent): check mode of site.yml and deploy.yml (nothing to change), a rolling deploy of
a broken release stopped by the health gate of its first batch, a rollback to a known SHA, the host
deployed as a worker-only host and back, then remove.yml (check mode first). Every log is kept
under runs/ and grepped for the secrets.
"""

import os
from pathlib import Path

import yaml

from deployhelpers import (AGENT_UNITS, APP, ENV, UNITS, WORK, assert_no_secret, dotenv, head_sha, hostname, http_get,
                           records, remote_sha, run_playbook, runs_dir, tail)


def test_site_check_mode_on_the_converged_host_changes_nothing(host):
    rc, log, recap = run_playbook(host, "check-converged-site", "site", "--check", "--diff")
    assert rc == 0 and recap["changed"] == 0 and recap["failed"] == 0, tail(log)
    assert_no_secret(log, "site.yml --check --diff")


def test_deploy_check_mode_on_the_deployed_release_changes_nothing(host):
    rc, log, recap = run_playbook(host, "check-converged-deploy", "deploy", "--check", "--diff")
    assert rc == 0 and recap["changed"] == 0 and recap["failed"] == 0, tail(log)
    assert_no_secret(log, "deploy.yml --check --diff")


def test_a_failed_health_gate_stops_the_rolling_deploy(host, tmp_path):
    """Two inventory hosts on the same container, one per batch (serial 1): the first deploys a
    release whose /health/ answers 500, fails its gate, and the second is never touched."""
    good = head_sha(host)
    broken = host.run(
        f"cd {WORK} && sed -i 's/return HttpResponse(\"ok\", content_type=\"text\\/plain\")/"
        f"return HttpResponse(\"broken\", status=500)/' patients/views.py && git diff --quiet && exit 3; "
        f"git -c user.name=t -c user.email=t@example.invalid commit -qam 'A broken release' "
        f"&& git push -q /srv/git/upstream.git HEAD:main && git rev-parse HEAD")
    assert broken.rc == 0, broken.stdout + broken.stderr
    broken_sha = broken.stdout.strip()
    assert remote_sha(host) == broken_sha != good

    container = hostname(host)
    alias = {"ansible_host": container, "ansible_connection": "community.docker.docker"}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump({"all": {"children": {
        "agent_hosts": {"children": {"app": {}}},
        "app": {"children": {"worker": {}}},
        "worker": {"hosts": {"canary": alias, "second": alias}}}}}))
    # The same group_vars as the scenario's inventory: the staging ones.
    (tmp_path / "group_vars").symlink_to(Path(os.environ["MOLECULE_INVENTORY_FILE"]).parent / "group_vars")

    rc, log, _ = run_playbook(host, "rollout-broken", "deploy", "-e", "deploy_serial=1",
                              inventory=tmp_path, limit=False)
    assert rc != 0, tail(log)
    assert "Health gate FAILED on canary" in log, tail(log)
    assert "the app did not answer 200" in log, tail(log)
    assert "[second]" not in log, "the second batch must not have started\n" + tail(log)
    assert "NO MORE HOSTS LEFT" in log
    assert_no_secret(log, "a failed rolling deploy")
    # The canary runs the broken release (nothing rolled back by itself): the message says how.
    assert dotenv(host)["DD_VERSION"] == broken_sha
    assert f"-e deploy_version={good}" in log, tail(log)


def test_a_rollback_to_a_known_sha_passes_the_gate(host):
    good = records(host)["release2"]["sha"]
    rc, log, recap = run_playbook(host, "rollback", "deploy", "-e", f"deploy_version={good}")
    assert rc == 0 and recap["failed"] == 0, tail(log)
    assert "passed: http://127.0.0.1:8000/health/ answered 200" in log, tail(log)
    assert head_sha(host) == good and dotenv(host)["DD_VERSION"] == good
    assert http_get(host, "http://127.0.0.1:8000/health/")[0] == 200
    assert_no_secret(log, "a rollback deploy")

    # The same SHA again: nothing to do.
    rc, log, recap = run_playbook(host, "rollback-again", "deploy", "-e", f"deploy_version={good}")
    assert rc == 0 and recap["changed"] == 0, tail(log)


def test_a_worker_only_host_drops_gunicorn_and_its_gate_checks_the_units(host):
    """The same host deployed as a worker-only host (django_apm_gunicorn_enabled false): gunicorn
    stopped, disabled and removed, the worker untouched, the gate made on the units' version
    (there is no web server to ask); then gunicorn again."""
    good = records(host)["release2"]["sha"]
    gunicorn, celery = UNITS
    celery_pid = host.run(f"systemctl show -p MainPID --value {celery}").stdout.strip()
    rc, log, recap = run_playbook(host, "worker-only", "deploy", "-e", f"deploy_version={good}",
                                  "-e", '{"django_apm_gunicorn_enabled": false}')
    assert rc == 0 and recap["failed"] == 0 and recap["changed"] >= 1, tail(log)
    flat = " ".join(log.split())  # the callback folds long messages over lines
    assert "passed: no web server here; serves no web requests" in flat, tail(log)
    assert f"{celery} run with DD_VERSION={good} DD_ENV={ENV}" in flat, tail(log)
    assert not host.file(f"/etc/systemd/system/{gunicorn}").exists
    assert host.run(f"systemctl show -p ActiveState --value {gunicorn}").stdout.strip() == "inactive"
    assert host.run(f"systemctl show -p MainPID --value {celery}").stdout.strip() == celery_pid, "the worker restarted"
    assert_no_secret(log, "a worker-only deploy")

    rc, log, recap = run_playbook(host, "web-again", "deploy", "-e", f"deploy_version={good}")
    assert rc == 0 and recap["failed"] == 0, tail(log)
    assert "passed: http://127.0.0.1:8000/health/ answered 200" in log, tail(log)
    assert host.service(gunicorn).is_running and host.service(gunicorn).is_enabled
    assert host.run(f"systemctl show -p MainPID --value {celery}").stdout.strip() == celery_pid, "the worker restarted"


def test_remove_check_mode_then_remove(host):
    rc, log, recap = run_playbook(host, "check-remove", "remove", "--check")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
    assert host.service("datadog-agent").is_running, "check mode must not stop the agent"

    rc, log, recap = run_playbook(host, "remove", "remove")
    assert rc == 0 and recap["changed"] >= 1, tail(log)
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
