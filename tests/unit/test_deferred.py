"""The stand-in for the factory's own theano.function calls (usercode/deferred.py): it compiles on
first use only, once, with the arguments first given; the notice lists the functions nothing used.
(The stand-in in a real factory, with Theano, is tests/integration/test_real_repositories.py's
argument-mining rows.)"""

from __future__ import annotations

from typing import Any

from gradcheck_ci.usercode.deferred import (
    NOTICE_CODE,
    DeferredCompile,
    DeferredFunction,
    deferred_notice,
)
from gradcheck_ci.usercode.sites import CallSite


class Compiled:
    """What a compiled function offers: a call, and attributes (`maker`, `trust_input`...)."""

    def __init__(self, inputs: list[str], outputs: str) -> None:
        self.inputs, self.outputs, self.trust_input = inputs, outputs, False

    def __call__(self, *values: Any) -> tuple[str, tuple[Any, ...]]:
        return self.outputs, values


def standin(compiles: list[tuple[Any, ...]]) -> tuple[DeferredFunction, DeferredCompile]:
    def compile(*args: Any, **kwargs: Any) -> Compiled:
        compiles.append((args, kwargs))
        return Compiled(*args, **kwargs)

    record = DeferredCompile(CallSite("model.py", 35))
    return DeferredFunction(compile, (["x", "y"],), {"outputs": "cost"}, record), record


def test_nothing_is_compiled_until_the_function_is_used():
    compiles: list[tuple[Any, ...]] = []
    function, record = standin(compiles)
    assert compiles == [] and record.compiled is False
    assert function(1, 2) == ("cost", (1, 2))
    assert function(3, 4) == ("cost", (3, 4))
    assert compiles == [((["x", "y"],), {"outputs": "cost"})] and record.compiled is True


def test_an_attribute_of_the_function_compiles_it_too():
    compiles: list[tuple[Any, ...]] = []
    function, record = standin(compiles)
    assert function.inputs == ["x", "y"] and record.compiled is True
    function.trust_input = True
    assert function.trust_input is True and len(compiles) == 1


def test_the_notice_lists_the_functions_nothing_used_at_the_first_ones_line():
    used = DeferredCompile(CallSite("argmin/network.py", 57), compiled=True)
    unused = [DeferredCompile(CallSite("argmin/network.py", line)) for line in (50, 51, 52)]
    notice = deferred_notice([*unused, used])
    assert notice is not None
    assert (notice.code, notice.file, notice.line) == (NOTICE_CODE, "argmin/network.py", 50)
    assert notice.message == (
        "the factory compiles 3 Theano functions of its own "
        "(argmin/network.py:50, argmin/network.py:51, argmin/network.py:52) "
        "that the check does not use: they were not compiled, which saves "
        "their compile time"
    )
    one = deferred_notice(unused[:1])
    assert (
        one is not None
        and "compiles 1 Theano function of its own (argmin/network.py:50)" in one.message
    )
    assert "it was not compiled" in one.message


def test_no_notice_when_every_function_was_used_or_there_were_none():
    assert deferred_notice([]) is None
    assert deferred_notice([DeferredCompile(CallSite("net.py", 3), compiled=True)]) is None
