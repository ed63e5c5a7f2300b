"""Makes the agent scenario's helpers (ddhelpers) importable."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "agent" / "tests"))
