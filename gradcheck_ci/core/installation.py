"""Where gradcheck-ci itself is installed: child processes (workers, trials, the float64 settle) put
the package's parent on PYTHONPATH so that they import this same copy, and `docker` looks for the
source tree beside it."""

from __future__ import annotations

import os
import sys


def package_parent() -> str:
    """The directory that holds the gradcheck_ci package."""
    return os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


# A worker's Lasagne stack directory (platform/lasagne_stacks.py sets it): first on PYTHONPATH,
# before the package's parent, which in a plain install is site-packages, where Lasagne 0.1 would
# win.
STACK_PATH_ENV = "GRADCHECK_STACK_PATH"


def child_command(module: str, *args: str) -> list[str]:
    """The command of a Python child of gradcheck-ci's own (worker, trial, background compile),
    started in the repository: -P keeps the repository off the front of sys.path while the child
    imports gradcheck-ci, numpy and Theano, or a repository file named like a standard module
    (tokenize.py, queue.py, platform.py) would replace that module in their imports. The importer
    puts the repository on sys.path before the model's code runs."""
    return [sys.executable, "-P", "-m", module, *args]


# Python's own settings of the CI environment that the child must not take: with
# PYTHONWARNINGS=error a DeprecationWarning of numpy's or Theano's import would end every check, and
# PYTHONOPTIMIZE=2 strips the docstrings Theano builds its optimizer from (=1, the model's asserts).
_PYTHON_SETTINGS = ("PYTHONWARNINGS", "PYTHONDEVMODE", "PYTHONOPTIMIZE")


def child_environment(env: dict[str, str], root: str) -> dict[str, str]:
    """`env` for a child_command started in `root`: the package on PYTHONPATH
    (with_package_on_path), Python's warnings and optimisation settings left out, and a PYTHONPATH
    entry that names the repository itself (`PYTHONPATH=.`, common in CI) too: -P would be in vain
    with it, and the importer puts the repository on sys.path anyway (changed in place, and
    returned)."""
    for name in _PYTHON_SETTINGS:
        env.pop(name, None)
    if env.get("PYTHONPATH"):
        here = os.path.realpath(root)
        env["PYTHONPATH"] = os.pathsep.join(
            entry
            for entry in env["PYTHONPATH"].split(os.pathsep)
            if entry and os.path.realpath(os.path.join(root, entry)) != here
        )
    return with_package_on_path(env)


def with_package_on_path(env: dict[str, str]) -> dict[str, str]:
    """`env` with this package's parent first on PYTHONPATH, after the worker's Lasagne stack
    directory if it has one (changed in place, and returned)."""
    first = [env.get(STACK_PATH_ENV) or "", package_parent()]
    rest = [p for p in (env.get("PYTHONPATH") or "").split(os.pathsep) if p and p not in first]
    env["PYTHONPATH"] = os.pathsep.join(filter(None, first + rest))
    return env
