"""The error a model's check stops with when the model cannot be checked, located where its cause
is, and GRADCHECK_CI_DEBUG: the traceback behind any one-line error, for whoever has to find out
more.

Foundation layer: imports nothing from the package, so every layer above can raise it.
"""

from __future__ import annotations

from typing import TextIO


class UsageError(Exception):
    """gradcheck-ci was called in a way it cannot follow: one line on stderr and exit 2."""


class ModelLoadError(Exception):
    """A model that cannot be checked: the message, and the file and line to blame (the user's code
    for things their code did, gradcheck.yml for things the config did). `kind` is
    ErrorInfo.kind."""

    def __init__(
        self, message: str, file: str | None = None, line: int | None = None, kind: str = "load"
    ):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.kind = kind
        # What the code used that only Lasagne master has, when that is why
        # (usercode/legacy.master_api)
        self.master_api: str | None = None
        # an error Theano's C code would raise too (a shape mismatch): no check again with C
        self.same_with_c = False


DEBUG_ENV = "GRADCHECK_CI_DEBUG"


def debug_enabled() -> bool:
    """GRADCHECK_CI_DEBUG set (to anything but "", "0" or "false"): show the traceback behind each
    one-line error."""
    import os

    return os.environ.get(DEBUG_ENV, "").strip().lower() not in ("", "0", "false", "no")


def exception_chain(exc: BaseException, through_reason: bool = False) -> list[BaseException]:
    """`exc` and every exception behind it, newest first: what it was raised from or during (also
    what `raise ... from None` hides); `through_reason`: an exception held in a `reason` attribute
    (urllib's URLError) comes before those."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and all(current is not seen for seen in chain):
        chain.append(current)
        reason = getattr(current, "reason", None) if through_reason else None
        current = (
            reason
            if isinstance(reason, BaseException)
            else (current.__cause__ or current.__context__)
        )
    return chain


def debug_traceback(exc: BaseException) -> str:
    """Every traceback behind `exc`, oldest first: also the ones `raise ... from None` hides from
    Python's own printout, because the hidden one is usually the user's (the import error behind
    "cannot import ...")."""
    import traceback

    parts = [
        "".join(traceback.format_exception(type(e), e, e.__traceback__, chain=False))
        for e in reversed(exception_chain(exc))
    ]
    return "\nwhich led to:\n\n".join(parts)


def print_debug_traceback(exc: BaseException, stream: TextIO | None = None) -> None:
    """Print debug_traceback(exc) to `stream` (stderr) when GRADCHECK_CI_DEBUG is set; nothing
    otherwise."""
    import sys

    if debug_enabled():
        out = stream if stream is not None else sys.stderr
        print(
            f"[{DEBUG_ENV}] the traceback behind the error:\n" + debug_traceback(exc).rstrip(),
            file=out,
            flush=True,
        )
