"""Exit 0 when this Python can run Ansible's pip module (it needs packaging or setuptools' pkg_resources), else 3."""

import importlib.util
import sys


def usable():
    return bool(importlib.util.find_spec("packaging") or importlib.util.find_spec("pkg_resources"))


if __name__ == "__main__":
    sys.exit(0 if usable() else 3)
