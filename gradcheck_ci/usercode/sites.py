"""Where in the user's repository something comes from: the file and line that constructed a layer,
a factory's `def`, the innermost traceback frame in the repository, and the statement quoted from
there.

Paths are relative to the repository root with '/' separators."""

from __future__ import annotations

import inspect
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any


@dataclass
class CallSite:
    file: str  # relative to the repository root
    line: int
    # A layer built by a helper (`conv_block(...)` called twice): the repository's calls that led
    # to `line`, outermost first, as 'file:line' (empty when the factory built it itself).
    via: tuple[str, ...] = ()


# ---------------------------------------------------------------- which files are the user's


def is_inside(path: str, root: str) -> bool:
    """Whether `path` (symlinks resolved) lies in the folder `root` (already resolved)."""
    # "<string>", "<__array_function__ internals>", "<frozen ...>"
    if not path or path.startswith("<"):
        return False
    # a compiled extension's frame ('_common.pyx'): no file of the repository
    if not os.path.isabs(path):
        return False
    path = os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def is_library(path: str) -> bool:
    """Installed packages and gradcheck-ci itself: never the user's code, even inside the
    repository."""
    return (
        "site-packages" in path
        or "dist-packages" in path
        or f"{os.sep}gradcheck_ci{os.sep}" in path
    )


def repository_modules(root: str) -> list[tuple[Any, str]]:
    """The modules imported so far from the repository's own files (not a library inside it), each
    with its file, once per file: what the check ran of the user's code."""
    real_root = os.path.realpath(root)
    found: dict[str, Any] = {}
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if isinstance(path, str) and is_inside(path, real_root) and not is_library(path):
            found.setdefault(path, module)
    return [(module, path) for path, module in found.items()]


def relative(path: str, root: str) -> str:
    """`path` relative to the repository root, with '/' separators (as reports show it)."""
    return os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")


def user_frame(tb_frames: list[traceback.FrameSummary], root: str) -> CallSite | None:
    """The innermost frame of a traceback that lies in the user's repository: a file there. A
    compiled module's frame names a bare source file ("_mt19937.pyx") that would resolve against the
    worker's directory, the root."""
    for frame in reversed(tb_frames):
        if (
            frame.filename
            and is_inside(frame.filename, root)
            and not is_library(frame.filename)
            and os.path.isfile(frame.filename)
        ):
            return CallSite(relative(frame.filename, root), frame.lineno or 1)
    return None


def definition_site(fn: Callable[..., Any], root: str) -> tuple[str, int] | None:
    """(file, line) of the `def` of a function in the repository, else None."""
    try:
        path = inspect.getsourcefile(fn)
        _, line = inspect.getsourcelines(fn)
    # SyntaxError: a class of a file that no longer parses (inspect parses the whole file)
    except (TypeError, OSError, SyntaxError):
        return None
    if path and is_inside(path, root):
        return relative(path, root), line
    return None


def call_noting_return(
    fn: Callable[..., Any], kwargs: dict[str, Any], args: tuple[Any, ...] = ()
) -> tuple[Any, int | None]:
    """fn(*args, **kwargs), and the line of fn's own `return` (a profile hook watches only fn's code
    object)."""
    code = getattr(fn, "__code__", None)
    # not a plain function, or a profiler is running
    if code is None or sys.getprofile() is not None:
        return fn(*args, **kwargs), None
    returned: list[int | None] = [None]

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            returned[0] = frame.f_lineno

    sys.setprofile(profile)
    try:
        value = fn(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return value, returned[0]


@contextmanager
def recording_call_sites(root: str) -> Iterator[dict[int, CallSite]]:
    """While active, remember the user's file and line that constructed each Lasagne layer."""
    from lasagne.layers import base
    from lasagne.layers import input as input_layers

    sites: dict[int, CallSite] = {}
    keep_alive: list[Any] = []  # ids are only unique while the objects live
    # InputLayer.__init__ does not call Layer.__init__ in Lasagne 0.1: wrap it too, or inputs have
    # no site.
    originals = {
        cls: cls.__init__ for cls in (base.Layer, base.MergeLayer, input_layers.InputLayer)
    }

    def wrap(original: Callable[..., None]) -> Callable[..., None]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if id(self) not in sites:
                site = _construction_site(self, root)
                if site:
                    sites[id(self)] = site
                    keep_alive.append(self)
            original(self, *args, **kwargs)

        return __init__

    for cls, original in originals.items():
        cls.__init__ = wrap(original)
    try:
        yield sites
    finally:
        for cls, original in originals.items():
            cls.__init__ = original


# calls kept of a deeper chain of helpers: the outermost one, "...", and the innermost ones
MAX_VIA = 4


def _construction_site(layer: Any, root: str) -> CallSite | None:
    """The repository's line that constructed `layer` (not the layer's own __init__), and the
    repository's calls that led there, up to gradcheck-ci's call of the factory."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside_own_init = frame.f_locals.get("self") is layer
        if not inside_own_init and is_inside(filename, root) and not is_library(filename):
            file = relative(filename, root)
            return CallSite(
                file, frame.f_lineno, _callers(frame.f_back, root, f"{file}:{frame.f_lineno}")
            )
        frame = frame.f_back
    return None


def _callers(frame: FrameType | None, root: str, site: str) -> tuple[str, ...]:
    """'file:line' of the repository's frames from `frame` outward, outermost first, until
    gradcheck-ci's own (which called the factory or imported the script)."""
    calls: list[str] = [site]  # (dropped below: a comprehension's caller is on its line)
    while frame is not None:
        filename = frame.f_code.co_filename
        if f"{os.sep}gradcheck_ci{os.sep}" in filename:
            break
        if is_inside(filename, root) and not is_library(filename):
            call = f"{relative(filename, root)}:{frame.f_lineno}"
            # a comprehension runs in a frame of its own, on the line of the frame around it
            if call not in calls[-1:]:
                calls.append(call)
        frame = frame.f_back
    calls = calls[1:]
    calls.reverse()
    if len(calls) > MAX_VIA:
        calls = [calls[0], "...", *calls[-(MAX_VIA - 1) :]]
    return tuple(calls)


# ---------------------------------------------------------------- quoting the user's code

MAX_QUOTED_LINES = 8  # a layer's constructor call spread over many lines is quoted up to this many
_OPENING, _CLOSING = "([{", ")]}"


def quote_source(root: str, file: str, line: int) -> dict[str, str]:
    """The statement at `line` of the repository file `file` ({line number: text}): the line itself
    and, while its brackets are open, the lines that continue it. Empty when the file is not the
    repository's or is gone.
    """
    root = os.path.realpath(root)
    path = os.path.join(root, *file.split("/"))
    if line < 1 or not is_inside(path, root) or not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    quoted: dict[str, str] = {}
    depth = 0
    for number in range(line, min(line + MAX_QUOTED_LINES, len(lines) + 1)):
        text = lines[number - 1]
        quoted[str(number)] = text[:300]
        code = text.split("#", 1)[0]
        depth += sum(code.count(c) for c in _OPENING) - sum(code.count(c) for c in _CLOSING)
        if depth <= 0:
            break
    return quoted


def is_users(path: str, root: str) -> bool:
    return is_inside(path, root) and not is_library(path)
