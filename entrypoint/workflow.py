"""The GitHub Actions runner's files, as the adapter finds them in its environment: step outputs and
the job summary. The workflow commands themselves (and their escaping) come from
gradcheck_ci.report.github, the one place that writes them.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TextIO

from gradcheck_ci.report import github


def error(message: str, out: TextIO, **properties: object) -> None:
    print(github.command("error", message, **properties), file=out, flush=True)


def write_outputs(outputs: Mapping[str, str], environ: Mapping[str, str] | None = None) -> bool:
    """Append the outputs to $GITHUB_OUTPUT; False (and nothing written) when the runner gave no
    file."""
    environ = os.environ if environ is None else environ
    path = environ.get("GITHUB_OUTPUT")
    if not path:
        return False
    github.write_outputs(path, outputs)
    return True


def append_summary(markdown: str, environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    path = environ.get("GITHUB_STEP_SUMMARY")
    if not path:
        return False
    with open(path, "a", encoding="utf-8") as handle:
        handle.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return True


def file_size(path: str | None) -> int:
    try:
        return os.path.getsize(path) if path else -1
    except OSError:
        return -1
