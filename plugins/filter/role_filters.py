"""The filters of every role of this collection, under the collection's name.

ansible-core loads a role's own ``filter_plugins/`` only for a role used from a roles path, never
for a role inside an installed collection (ansible/playbook/role/__init__.py: plugin dirs are added
for "legacy" roles only), and Jinja filters are never looked up through the ``collections:``
keyword. So the roles call their filters by their fully qualified names,
``ddapm.django_datadog.<filter>``, and this file publishes them there: it imports each
``roles/<role>/filter_plugins/*.py`` of the collection it sits in (the files stay with their role;
nothing is copied) and offers the union of their filters. The same names resolve in a checkout
through collections/ (a link to the repository root, on the collections path of ansible.cfg and of
the Molecule base config). tests/unit/test_collection.py proves that every filter a role uses
resolves in the installed collection.
"""

import functools
import importlib.util
from pathlib import Path

from ansible.errors import AnsibleError

# plugins/filter/role_filters.py -> the collection's root
_ROOT = Path(__file__).resolve().parents[2]


def _role_filter_files(root):
    """Every role's filter plugin file, in a stable order."""
    return sorted(root.glob("roles/*/filter_plugins/*.py"))


def _load(path):
    """Import one role's filter file under a name of its own and return its filters."""
    name = f"{__name__}._{path.parent.parent.name}_{path.stem}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.FilterModule().filters()


@functools.cache
def role_filters(root=_ROOT):
    """The filters of every role under ``root``; two roles may not offer the same name. Loaded once
    per process: Jinja asks for ``filters()`` at each lookup of one of them (a run's workers did it
    five times each, re-importing the three role files every time)."""
    found, origin = {}, {}
    for path in _role_filter_files(root):
        for name, func in _load(path).items():
            if name in found:
                raise AnsibleError(f"filter {name} is defined by both {origin[name]} and {path.relative_to(root)}")
            found[name], origin[name] = func, path.relative_to(root)
    return found


class FilterModule:
    """The roles' filters, as ddapm.django_datadog.<name>."""

    def filters(self):
        return dict(role_filters())
