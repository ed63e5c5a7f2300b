"""requirements.yml is satisfied offline by the collections requirements.txt installed."""

import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_requirements_yml_needs_nothing_from_galaxy():
    # A Galaxy server on a closed loopback port: any attempt to download would fail loudly.
    proc = subprocess.run(
        ["ansible-galaxy", "collection", "install", "-r", "requirements.yml",
         "-s", "http://127.0.0.1:9/api/"],
        cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Nothing to do" in proc.stdout, proc.stdout + proc.stderr


def test_requirements_yml_lists_versioned_collections():
    data = yaml.safe_load((ROOT / "requirements.yml").read_text())
    assert data["collections"], "no collections listed"
    for item in data["collections"]:
        assert "." in item["name"] and item.get("version"), item
