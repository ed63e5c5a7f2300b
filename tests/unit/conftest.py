"""Shared fixtures of the fast tests (no containers)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SAMPLEAPP = ROOT / "molecule" / "resources" / "sampleapp"


@pytest.fixture(scope="session")
def django_apm_sample_checkout(tmp_path_factory):
    """A factory of sample-app git checkouts (the state a deploy leaves) in temporary dirs."""
    import shutil

    def make(name):
        app = tmp_path_factory.mktemp(name) / "app"
        shutil.copytree(SAMPLEAPP, app)
        env = dict(os.environ, GIT_CONFIG_GLOBAL="/dev/null", GIT_CONFIG_SYSTEM="/dev/null")
        for cmd in (["git", "init", "-q", "-b", "main"], ["git", "add", "-A"],
                    ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-q", "-m", "deploy"]):
            subprocess.run(cmd, cwd=app, env=env, check=True)
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=app, env=env, check=True,
                             capture_output=True, text=True).stdout.strip()
        # The app's virtualenv: the tools venv has Django, celery, redis, decouple and ddtrace 4.16.0.
        venv = app.parent / "venv"
        (venv / "bin").mkdir(parents=True)
        for tool, target in (("python", sys.executable), ("pip", Path(sys.executable).parent / "pip")):
            wrapper = venv / "bin" / tool
            wrapper.write_text(f"#!/bin/sh\nexec {target} \"$@\"\n")
            wrapper.chmod(0o755)
        return app, venv, sha

    return make
