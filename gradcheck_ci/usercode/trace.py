"""Where the user's code built a Theano variable: the innermost frame of the creation trace Theano
keeps in `variable.tag.trace` (theano.config.traceback.limit frames) that lies in the repository."""

from __future__ import annotations

import linecache
import os
import traceback
from typing import Any

from .sites import is_inside, is_library, user_frame


def creation_site(variable: Any, root: str) -> tuple[str, int] | None:
    """(file relative to `root`, line) of the user's line that built `variable`, else None."""
    return trace_site(getattr(getattr(variable, "tag", None), "trace", None) or [], root)


def trace_site(trace: Any, root: str) -> tuple[str, int] | None:
    """The innermost frame in the repository of a creation trace as Theano keeps it (a stack of
    (file, line, function, text) tuples, or a list of such stacks), else None."""
    root = os.path.realpath(root)
    stacks = trace if trace and isinstance(trace[0], list) else [trace]
    for stack in stacks:
        frames = [
            traceback.FrameSummary(*where, f[2], line=f[3] if len(f) > 3 else None)
            for f in stack
            if isinstance(f, (tuple, list)) and len(f) >= 3
            for where in [_as_it_is_now(f, root)]
            if where is not None
        ]
        site = user_frame(frames, root)
        if site:
            return site.file, site.line
    return None


def _as_it_is_now(frame: Any, root: str) -> tuple[str, int] | None:
    """(file, line) of a trace's frame in the repository as it is now, else None (when its recorded
    text is no longer there). A function loaded from the function cache keeps the traces of the run
    that compiled it: from a checkout elsewhere (the same file under `root`, found by the longest
    tail of its path), or from before a change (the text, found once in the file, is its line)."""
    path, line = frame[0], frame[1]
    text = frame[3].strip() if len(frame) > 3 and isinstance(frame[3], str) else ""
    if not text or not isinstance(path, str) or not isinstance(line, int):
        return path, line
    if is_inside(path, root):
        candidates = [path]
    elif os.path.isabs(path) and not is_library(path):
        parts = path.replace("\\", "/").split("/")
        candidates = [os.path.join(root, *parts[i:]) for i in range(1, len(parts))]
    else:
        return path, line  # not the user's code: user_frame passes over it
    for candidate in candidates:
        if not os.path.isfile(candidate):
            continue
        if linecache.getline(candidate, line).strip() == text:
            return candidate, line
        found = [n for n, t in enumerate(linecache.getlines(candidate), 1) if t.strip() == text]
        if len(found) == 1:
            return candidate, found[0]
    return None
