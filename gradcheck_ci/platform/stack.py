"""The legacy stack `check` needs, and why it cannot run in this interpreter (`stack_problem`).

Asks the installed distributions' metadata, which imports nothing: the light install (validate,
merge) imports this module too."""

from __future__ import annotations

import sys
from typing import Any

# The legacy stack `check` needs: (distribution, what to call it). The light install (validate,
# merge) has none.
STACK = (
    ("Theano", "Theano 1.0.5"),
    ("Lasagne", "Lasagne 0.1"),
    ("numpy", "numpy 1.23.5"),
    ("scipy", "scipy"),
)
CHECK_EXTRA = "pip install 'gradcheck-ci[check]' (from a clone: pip install '.[check]')"


def stack_problem(
    version: tuple[int, ...] | None = None, installed: Any = None, command: str = "check"
) -> str | None:
    """Why `gradcheck-ci <command>` (check, and init and replay, which check models too) cannot
    run in this interpreter, in one line; None when it can.

    Asks the installed distributions' metadata, which imports nothing. `version` and `installed` (a
    function from a distribution name to its version, "none" when missing) let tests ask about other
    interpreters.
    """
    version = tuple(sys.version_info[:2]) if version is None else tuple(version[:2])
    installed = distribution_version if installed is None else installed
    if version != (3, 11):
        return (
            f"`{command}` needs Python 3.11 (Theano 1.0.5 and Lasagne 0.1 run on it, not on Python "
            f"{'.'.join(map(str, version))}): in a Python 3.11 environment, {CHECK_EXTRA}; or "
            f"run the "
            "container image (docs/action.md). `validate` and `merge` work on this Python as "
            "installed."
        )
    missing = [label for name, label in STACK if installed(name) == "none"]
    if missing:
        return (
            f"`{command}` needs the legacy stack, and {', '.join(missing)} "
            f"{'is' if len(missing) == 1 else 'are'} not installed: {CHECK_EXTRA}. `validate` "
            f"and `merge` work without it."
        )
    return None


def distribution_version(name: str) -> str:
    from importlib import metadata

    try:
        return str(metadata.version(name))
    except metadata.PackageNotFoundError:
        return "none"
