"""One host for the verifier tests that prove a role's own logic, not a difference of platforms.

A verifier test decorated with ``@pytest.mark.one_host("debian13")`` runs on ONE host of its
scenario: the host of that platform (its name is the platform or ends with "-debian13") when the
run has one, else the first host by name (a run with `-p` has one host: the test runs there). Its
copies for the other hosts are deselected, not skipped.

- molecule/conftest.py selects (every verifier).
- The scenario driver (tests/molecule/scenario_checks.py) expects the test on that host and on no
  other, from the decorator it reads in the test file.

Mark a test only when every step of it is the role's own logic (a restart counted, a rollback, the
changes of check mode against the real run) and it takes long. What depends on the platform (APT
and its messages, keyrings and their verifiers, the packages) stays on every host.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

MARK = "one_host"
DOC = (f"{MARK}(platform): run this test on one host only, the platform's if the run has it "
       "(molecule/resources/tests/onehost.py)")


def chosen(platform: str, hosts: Iterable[str]) -> str | None:
    """The host a test marked one_host(platform) runs on, among the run's hosts."""
    hosts = sorted(hosts)
    for host in hosts:
        if host == platform or host.endswith("-" + platform):
            return host
    return hosts[0] if hosts else None


def marked_platform(function: ast.FunctionDef) -> str | None:
    """The platform named by a function's one_host decorator (its source's AST), None without one."""
    for decorator in function.decorator_list:
        if (isinstance(decorator, ast.Call) and isinstance(decorator.func, ast.Attribute)
                and decorator.func.attr == MARK and decorator.args
                and isinstance(decorator.args[0], ast.Constant) and isinstance(decorator.args[0].value, str)):
            return decorator.args[0].value
    return None
