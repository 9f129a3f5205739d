"""Error text fit for a report: no array dumps, no installation paths, bounded length, one first
line."""

from __future__ import annotations

import os
import re

from .legacy import exception_text
from .sites import is_inside, is_library, relative


def without_library_paths(text: str) -> str:
    """'cannot import name X from Y (/venv/.../site-packages/y/__init__.py)' -> without the
    installed path."""
    return re.sub(r" \((?:/|[A-Za-z]:\\)[^()]*(?:site|dist)-packages[^()]*\)", "", text)


# ---------------------------------------------------------------- messages

_ARRAY = re.compile(r"\barray\(")
_NUMBERS_IN_BRACKETS = re.compile(r"\[[\s\[\]0-9eE.+\-,naif]{40,}\]")
_ABSOLUTE_PATH = re.compile(r"(?:(?<=[\s'\"(\[=:,])|^)(/[^\s'\",()\[\]:]+)")
# Theano's "Backtrace when the node is created(...):" (or "when that variable is created:") with the
# indented stack under it: a Python traceback in a message, gradcheck-ci's own frames included
_THEANO_BACKTRACE = re.compile(r"\n?[ \t]*Backtrace when [^\n]*:[ \t]*(?:\n[ \t]+[^\n]*)*")
MAX_MESSAGE = 1500
_ARRAYS_LIMIT = 100_000  # characters of a message searched for array dumps (linear)
_CLEAN_LIMIT = 4 * MAX_MESSAGE  # characters of it, arrays removed, that the other patterns read


_INSTALLED_PACKAGES = ("lasagne", "theano", "numpy", "scipy")


def clean_message(text: str, root: str | None = None) -> str:
    """Error text fit for a report: no array dumps (Theano's messages embed the arrays they were
    given), no path inside gradcheck-ci's installation or the installed packages, paths in the
    repository relative to it, and at most MAX_MESSAGE characters."""
    # Bounded before any pattern: a message can be megabytes, and _NUMBERS_IN_BRACKETS is quadratic
    # in a run of '[' (0.4 s at 8,000 characters). Array dumps go first, as they would take the room
    # of the message.
    text = _without_arrays(text[:_ARRAYS_LIMIT])[:_CLEAN_LIMIT]
    text = _THEANO_BACKTRACE.sub("", text)
    text = _NUMBERS_IN_BRACKETS.sub("[...]", text)
    real_root = os.path.realpath(root) if root else None

    def path(match: re.Match[str]) -> str:
        found = match.group(1)
        if real_root and is_inside(found, real_root) and not is_library(found):
            return relative(found, real_root)
        for marker in ("site-packages/", "dist-packages/"):
            if marker in found:
                return found.split(marker, 1)[1]
        if f"{os.sep}gradcheck_ci{os.sep}" in found or found.endswith(f"{os.sep}gradcheck_ci"):
            return "gradcheck_ci/" + found.rsplit(f"{os.sep}gradcheck_ci{os.sep}", 1)[-1]
        if "compiledir_" in found:
            return "<theano compile cache>/" + os.path.basename(found)
        # a stack installed outside site-packages (Lasagne master beside 0.1: share/gradcheck-ci/
        # lasagne-master, or wherever GRADCHECK_LASAGNE_MASTER says): from the package on
        for package in _INSTALLED_PACKAGES:
            marker = f"{os.sep}{package}{os.sep}"
            if marker in found:
                return package + "/" + found.split(marker, 1)[1]
        return found

    text = _ABSOLUTE_PATH.sub(path, text)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def error_summary(exc: BaseException, limit: int = 240) -> str:
    """'ValueError: shapes (4,3) and (18,4) not aligned: ...': the exception's first line, without
    the tuple repr Theano's messages often are ("('message', (4, 3), (18, 4))"), cut on a word to
    about `limit` characters."""
    lines = exception_text(exc).splitlines()
    text = " ".join(lines[0].split()) if lines else ""
    quoted = re.match(r"""^\((['"])(.+?)\1(?:,|\)$)""", text)
    if quoted:
        text = quoted.group(2)
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return f"{type(exc).__name__}: {clean_message(text)}" if text else type(exc).__name__


def _without_arrays(text: str) -> str:
    """`array([[1., 2.], ...])` -> `array(...)`, parentheses balanced however long the dump."""
    out = []
    position = 0
    for match in _ARRAY.finditer(text):
        if match.start() < position:
            continue
        depth, end = 0, len(text)
        for i in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
        out.append(text[position : match.start()] + "array(...)")
        position = end
    return "".join(out) + text[position:]
