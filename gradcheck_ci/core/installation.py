"""Where gradcheck-ci itself is installed: child processes (workers, trials, the float64 settle) put the package's
parent on PYTHONPATH so that they import this same copy, and `docker` looks for the source tree beside it."""
from __future__ import annotations

import os


def package_parent() -> str:
    """The directory that holds the gradcheck_ci package."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def with_package_on_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with this package's parent first on PYTHONPATH (changed in place, and returned)."""
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_parent(), env.get("PYTHONPATH")]))
    return env
