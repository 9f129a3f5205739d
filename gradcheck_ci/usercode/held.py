"""Settings a model's code changes for the whole process, held while its module is imported and
its factory runs.

A training script sets `theano.config.floatX = 'float32'` (at import or in the function that builds
the network) and, now and then, `sys.setrecursionlimit(...)`. Once the factory has returned, both
would act on the check itself: layers built at the script's floatX and checked at the config's
precision, or Theano's own recursion cut short. So an assignment to floatX is recorded with its line
and not made (the config's `precision` says what the check runs at), and the recursion limit is put
back when the factory has returned.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .sites import CallSite, user_frame


@dataclass
class Held:
    """What the model's code tried to set: each floatX it assigned, and where (None: a line
    outside the repository)."""

    floatx: list[tuple[str, CallSite | None]] = field(default_factory=list)


class _HeldFloatX:
    """Stands in for Theano's floatX setting: reads the real one, records assignments."""

    def __init__(self, setting: Any, root: str, held: Held) -> None:
        self.setting, self.root, self.held = setting, root, held

    def __get__(self, config: Any, owner: Any = None) -> Any:
        return self.setting.__get__(config, owner)

    def __set__(self, config: Any, value: Any) -> None:
        site = user_frame(traceback.extract_stack()[:-1], self.root)
        self.held.floatx.append((str(value), site))


@contextmanager
def holding_settings(root: str) -> Iterator[Held]:
    import theano

    held = Held()
    owner = type(theano.config)
    setting = owner.__dict__.get("floatX")
    limit = sys.getrecursionlimit()
    if setting is not None:
        owner.floatX = _HeldFloatX(setting, root, held)
    try:
        yield held
    finally:
        if setting is not None:
            owner.floatX = setting
        sys.setrecursionlimit(limit)
