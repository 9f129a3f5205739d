"""Where the user's code built a Theano variable: the innermost frame of the creation trace Theano
keeps in `variable.tag.trace` (theano.config.traceback.limit frames) that lies in the repository."""

from __future__ import annotations

import os
import traceback
from typing import Any

from .sites import user_frame


def creation_site(variable: Any, root: str) -> tuple[str, int] | None:
    """(file relative to `root`, line) of the user's line that built `variable`, else None."""
    return trace_site(getattr(getattr(variable, "tag", None), "trace", None) or [], root)


def trace_site(trace: Any, root: str) -> tuple[str, int] | None:
    """The innermost frame in the repository of a creation trace as Theano keeps it (a stack of
    (file, line, function, text) tuples, or a list of such stacks), else None."""
    stacks = trace if trace and isinstance(trace[0], list) else [trace]
    for stack in stacks:
        frames = [
            traceback.FrameSummary(f[0], f[1], f[2], line=f[3] if len(f) > 3 else None)
            for f in stack
            if isinstance(f, (tuple, list)) and len(f) >= 3
        ]
        site = user_frame(frames, os.path.realpath(root))
        if site:
            return site.file, site.line
    return None
