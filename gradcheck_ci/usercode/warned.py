"""Warnings raised while the model is built and checked, shown at the user's line.

A library warns at the line that called it (`stacklevel`), which is Lasagne's or gradcheck-ci's own
when the user's layer runs under them (a deprecated `consider_constant` in a `get_output_for` that
the diagnosis calls again): the warning then named an installation path, twice. Shown here at the
innermost frame of the repository on the stack, once per warning and place; a warning with no such
frame keeps its own place, its installation path cut as messages cut it."""

from __future__ import annotations

import linecache
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import TextIO

from .messages import clean_message
from .sites import is_inside, is_library, relative


def _user_place(root: str) -> tuple[str, int] | None:
    """The innermost frame of the stack in the repository (not a library's): its file and line."""
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        path = frame.f_code.co_filename
        if is_inside(path, root) and not is_library(path):
            return path, frame.f_lineno
        frame = frame.f_back
    return None


@contextmanager
def at_user_lines(root: str) -> Iterator[None]:
    """While it lasts, warnings are shown at the user's line (see the module docstring)."""
    real_root = os.path.realpath(root)
    shown: set[tuple[str, str, str, int]] = set()
    previous = warnings.showwarning

    def show(
        message: Warning | str,
        category: type[Warning],
        filename: str,
        lineno: int,
        file: TextIO | None = None,
        line: str | None = None,
    ) -> None:
        place = _user_place(real_root)
        if place is not None:
            filename, lineno = place
            where = relative(filename, real_root)
        else:
            where = clean_message(filename, real_root)
        key = (category.__name__, str(message), where, lineno)
        if key in shown:
            return
        shown.add(key)
        source = linecache.getline(filename, lineno).strip()
        text = f"{where}:{lineno}: {category.__name__}: {clean_message(str(message), real_root)}\n"
        if source:
            text += f"  {source}\n"
        try:
            (file or sys.stderr).write(text)
        except (OSError, ValueError):  # a closed stderr: the warning is lost, not the check
            pass

    warnings.showwarning = show
    try:
        yield
    finally:
        warnings.showwarning = previous
