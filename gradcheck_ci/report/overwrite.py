"""Whether the files a command writes (reports, replay's arrays) may replace what their paths hold.

A run rewrites the reports of the last run at the same paths: that is the common case, and CI
caches rely on it. It never replaces anything else: a file the run reads (gradcheck.yml, the report
replayed), the file another output of the same run writes, a Python source, or an existing file
that is not one of gradcheck-ci's own outputs of that kind. Recognising our own is cheap: each
format carries a marker that its first few KB always hold (jsonreport, junit, sarif and html write
it; formats.py names it), so a large file is never read whole. An empty file holds nothing to lose,
and a path that is not a regular file (`-`, a device, a FIFO: atomic.is_stream) is written in place,
never replaced; a directory or an unwritable folder fails when the file is written, with its own
message.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable
from dataclasses import dataclass

from .atomic import is_stream

HEAD_BYTES = 4096  # where every marker lies, whatever the report holds
SOURCE_SUFFIXES = (".py", ".pyw", ".pyi")


@dataclass(frozen=True)
class Output:
    """One file a command is asked to write."""

    option: str  # the flag that names it: --json
    path: str
    kind: str  # what our file of that kind is called: "JSON report"
    ours: Callable[[str], bool]  # whether an existing, non-empty file is one of ours (may raise)


def head_matches(marker: str) -> Callable[[str], bool]:
    """A test for `ours`: the file's first HEAD_BYTES match the regular expression `marker`."""
    pattern = re.compile(marker, re.DOTALL)

    def ours(path: str) -> bool:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
        return pattern.search(head.decode("utf-8", errors="replace")) is not None

    return ours


def output_clash(outputs: list[Output], inputs: list[str]) -> str | None:
    """Why one of `outputs` cannot be written as given (one line, naming its flag and path), or
    None when all can. `inputs` are the files the command reads."""
    read = {os.path.realpath(path) for path in inputs}
    seen: dict[str, str] = {}
    for output in outputs:
        if not output.path or output.path == "-":
            continue
        real = os.path.realpath(output.path)
        why: str | None
        if real in read:
            why = "this run reads that file; the report would replace it"
        elif real in seen:
            why = f"{seen[real]} writes its report to the same file"
        else:
            why = _foreign(output)
        if why:
            return f"{output.option} {output.path}: {why}"
        seen[real] = output.option
    return None


def _foreign(output: Output) -> str | None:
    """Why what `output.path` holds is not ours to replace, or None."""
    path = output.path
    if any(p.lower().endswith(SOURCE_SUFFIXES) for p in (path, os.path.realpath(path))):
        return "it is a Python source file, which gradcheck-ci never writes over"
    if is_stream(path):
        return None
    try:
        status = os.stat(path)
    except OSError:  # not there yet: a new file
        return None
    if not stat.S_ISREG(status.st_mode) or status.st_size == 0:
        return None
    try:
        if output.ours(path):
            return None
    except OSError as exc:
        return (
            f"the file exists and cannot be read to tell whether gradcheck-ci wrote it "
            f"({exc.strerror or exc}); writing there would replace it"
        )
    return (
        f"the file exists and is not gradcheck-ci's own {output.kind}; writing there would "
        "replace it (choose another path, or delete the file if it can go)"
    )
