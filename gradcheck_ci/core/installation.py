"""Where gradcheck-ci itself is installed: child processes (workers, trials, the float64 settle) put
the package's parent on PYTHONPATH so that they import this same copy, and `docker` looks for the
source tree beside it."""

from __future__ import annotations

import os


def package_parent() -> str:
    """The directory that holds the gradcheck_ci package."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# A worker's Lasagne stack directory (platform/lasagne_stacks.py sets it): first on PYTHONPATH,
# before the package's parent, which in a plain install is site-packages, where Lasagne 0.1 would
# win.
STACK_PATH_ENV = "GRADCHECK_STACK_PATH"


def with_package_on_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with this package's parent first on PYTHONPATH, after the worker's Lasagne stack
    directory if it has one (changed in place, and returned)."""
    first = [env.get(STACK_PATH_ENV) or "", package_parent()]
    rest = [p for p in (env.get("PYTHONPATH") or "").split(os.pathsep) if p and p not in first]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, first + rest))
    return env
