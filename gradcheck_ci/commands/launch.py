"""The `gradcheck-ci` command as the installed script, `python -m gradcheck_ci` and the action start
it: the working directory (the repository) is taken off sys.path before anything else is imported.
With `PYTHONPATH=.` (common in CI) a file at the repository's root named like a standard module
(platform.py, json.py, copy.py) would otherwise replace that module in gradcheck-ci's own imports.
The command runs none of the repository's code itself; its workers do, with the repository put on
sys.path by the importer."""

from __future__ import annotations

import os
import sys


def main() -> int:
    here = os.path.realpath(os.getcwd())
    sys.path[:] = [entry for entry in sys.path if os.path.realpath(entry or ".") != here]
    from .cli import main as cli_main

    return cli_main()
