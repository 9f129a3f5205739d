"""The factory's own Theano functions, compiled only when called.

Research code often builds the network and compiles its training and validation functions in one
factory (`train_fn = theano.function([x, y], cost, updates=adam(...))`). The check needs the layers,
never those functions, yet compiling them (a scan's gradient with an optimiser's updates) costs more
g++ and graph optimisation than the check itself on a cold cache. While the factory's module is
imported and the factory runs, `theano.function` returns a stand-in that compiles the real function
on its first use (a call or any attribute), so a factory that calls its own function still gets its
result.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ..core.results import Notice
from .sites import CallSite, is_inside, is_library, relative

NOTICE_CODE = "deferred-compile"


@dataclass
class DeferredCompile:
    """One `theano.function(...)` call of the user's code, and whether anything used its
    function."""

    site: CallSite | None
    compiled: bool = False


class DeferredFunction:
    """Stands in for a compiled Theano function: compiles it (with the arguments first given) on
    first use."""

    def __init__(
        self,
        compile: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        record: DeferredCompile,
    ) -> None:
        self.__dict__.update(
            _compile=compile, _args=args, _kwargs=kwargs, _record=record, _function=None
        )

    def _compiled(self) -> Any:
        # not self.x = ...: setting an attribute sets it on the compiled function
        state = self.__dict__
        if state["_function"] is None:
            self._record.compiled = True
            state["_function"] = self._compile(*self._args, **self._kwargs)
            state["_args"], state["_kwargs"] = (), {}  # the graph is the compiled function's now
        return state["_function"]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._compiled()(*args, **kwargs)

    # only for what this object lacks: the function's own attributes
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self._compiled(), name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._compiled(), name, value)


@contextmanager
def deferring_theano_functions(root: str) -> Iterator[list[DeferredCompile]]:
    """While active, `theano.function` called from the repository's code returns a DeferredFunction;
    the list says where each was called and whether it was compiled. Calls from libraries compile at
    once."""
    import theano
    import theano.compile

    original = theano.function
    records: list[DeferredCompile] = []

    def function(*args: Any, **kwargs: Any) -> Any:
        site = _user_caller(sys._getframe(1), root)
        # a library's own compile (its result is used straight away): leave it alone
        if site is None:
            return original(*args, **kwargs)
        record = DeferredCompile(site)
        records.append(record)
        return DeferredFunction(original, args, kwargs, record)

    theano.function = theano.compile.function = function
    try:
        yield records
    finally:
        theano.function = theano.compile.function = original


def _user_caller(frame: FrameType | None, root: str) -> CallSite | None:
    """The repository's line that called theano.function directly, or None when a library called
    it."""
    if (
        frame is None
        or is_library(frame.f_code.co_filename)
        or not is_inside(frame.f_code.co_filename, root)
    ):
        return None
    return CallSite(relative(frame.f_code.co_filename, root), frame.f_lineno)


def deferred_notice(records: list[DeferredCompile]) -> Notice | None:
    """What the user should know: the factory's functions the check did not compile (None: there
    were none)."""
    skipped = [record for record in records if not record.compiled]
    if not skipped:
        return None
    where = ", ".join(f"{r.site.file}:{r.site.line}" for r in skipped[:4] if r.site) + (
        " ..." if len(skipped) > 4 else ""
    )
    count = f"{len(skipped)} Theano function{'s' if len(skipped) > 1 else ''}"
    first = skipped[0].site
    return Notice(
        f"the factory compiles {count} of its own ({where}) that the check does not use: "
        f"{'they were' if len(skipped) > 1 else 'it was'} not compiled, which saves "
        f"their compile time",
        NOTICE_CODE,
        first.file if first else None,
        first.line if first else None,
    )
