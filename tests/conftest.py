"""Shared test set-up: the tools of the interpreter running pytest (the venv) come first on PATH."""

import os
import sys
from pathlib import Path

os.environ["PATH"] = str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", "")
os.environ.setdefault("ANSIBLE_CONFIG", str(Path(__file__).resolve().parents[1] / "ansible.cfg"))
