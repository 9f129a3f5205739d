"""The two Lasagne stacks a model can be checked on: Lasagne 0.1 (the release on the package index,
installed with the `check` extra) and Lasagne master (0.2.dev1 at one pinned commit, which most
Lasagne code written after 2015 needs: batch_norm, TransposedConv2DLayer, only_return_final...).

Master is installed beside 0.1, in a directory of its own (`pip install --target`), never over it: a
worker that checks a model on master has that directory first on its PYTHONPATH, so one run mixes
models of both, each in its worker's own interpreter. Where it lives: GRADCHECK_LASAGNE_MASTER, else
<prefix>/share/gradcheck-ci/lasagne-master of the interpreter running gradcheck-ci (the venv, the
image's venv).

No Theano, Lasagne or numpy here: the runner decides a worker's stack before anything is imported.
"""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Mapping

from ..core.installation import STACK_PATH_ENV

RELEASE = "0.1"
MASTER = "master"
AUTO = "auto"
CHOICES = (RELEASE, MASTER, AUTO)  # the `lasagne:` key
LABELS = {RELEASE: "Lasagne 0.1", MASTER: "Lasagne master"}

MASTER_COMMIT = "5d3c63cb315c50b1cbd27a6bc8664b406f34dd99"
MASTER_VERSION = "0.2.dev1"
MASTER_ARCHIVE = f"https://github.com/Lasagne/Lasagne/archive/{MASTER_COMMIT}.zip"
MASTER_ENV = "GRADCHECK_LASAGNE_MASTER"  # where master is installed, when not in the default place
# Set in a worker's environment to the stack directory that must come first on PYTHONPATH, before
# the directory holding gradcheck_ci (which in a plain install is site-packages, where Lasagne 0.1
# is).
PATH_ENV = STACK_PATH_ENV
INSTALL_HINT = (
    "install it with `pip install --no-deps --target <dir> " + MASTER_ARCHIVE + "` and "
    "point "
    f"{MASTER_ENV} at <dir>, or run `make lasagne-master` in a clone (docs/config.md, "
    f"'Lasagne master')"
)


def default_master_dir() -> str:
    return os.path.join(sys.prefix, "share", "gradcheck-ci", "lasagne-master")


def master_dir(environ: Mapping[str, str] | None = None) -> str:
    """Where Lasagne master is (or would be) installed (absolute)."""
    env = os.environ if environ is None else environ
    return os.path.abspath(env.get(MASTER_ENV) or default_master_dir())


def master_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """Why no model can be checked on Lasagne master here, in one sentence; None when it can."""
    where = master_dir(environ)
    if not os.path.isfile(os.path.join(where, "lasagne", "__init__.py")):
        env = os.environ if environ is None else environ
        if env.get(MASTER_ENV):  # set: the default place is not looked at
            return (
                f"Lasagne master is not installed where {MASTER_ENV} says (no lasagne package "
                f"there; the default place is not used while it is set): {INSTALL_HINT}"
            )
        return (
            f"Lasagne master is not installed (no lasagne package in the environment's "
            f"share/gradcheck-ci/lasagne-master, nor {MASTER_ENV} set): {INSTALL_HINT}"
        )
    found = [
        os.path.basename(p)[len("lasagne-") : -len(".dist-info")]
        for p in glob.glob(os.path.join(where, "[Ll]asagne-*.dist-info"))
    ]
    if found and MASTER_VERSION not in found:
        return (
            f"the Lasagne in the master stack's directory is version {found[0]}, not "
            f"{MASTER_VERSION} (commit {MASTER_COMMIT[:12]}): {INSTALL_HINT}"
        )
    return None


def worker_env(stack: str, env: dict[str, str]) -> dict[str, str]:
    """`env` (changed in place, and returned) for a worker that runs `stack`: master's directory in
    PATH_ENV (core.installation.with_package_on_path puts it first on PYTHONPATH), none for 0.1."""
    env.pop(PATH_ENV, None)
    if stack == MASTER:
        env[PATH_ENV] = master_dir(env)
    return env


def current(environ: Mapping[str, str] | None = None) -> str:
    """The stack this worker runs (the runner chose it through worker_env)."""
    return MASTER if (os.environ if environ is None else environ).get(PATH_ENV) else RELEASE


def repository_copy(root: str, imported: str) -> str | None:
    """A Lasagne package in the repository's root (`lasagne/__init__.py`: a copy, or a fork) that
    the check does not use (`imported`: the file of the lasagne it imported), or None."""
    copy = os.path.join(root, "lasagne", "__init__.py")
    if not os.path.isfile(copy):
        return None
    if os.path.realpath(imported) == os.path.realpath(copy):
        return None
    return "lasagne/__init__.py"


def label(stack: str | None) -> str:
    """'Lasagne 0.1', 'Lasagne master'."""
    return LABELS.get(stack or RELEASE, f"Lasagne {stack}")
