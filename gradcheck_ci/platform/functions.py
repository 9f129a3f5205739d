"""theano.function for the check's graphs, served by the function cache (fncache.py) when an
unchanged graph was compiled before."""

from __future__ import annotations

from typing import Any

from . import fncache


def compile_function(
    inputs: list[Any], outputs: Any, givens: list[Any], freeze: bool = False
) -> Any:
    """theano.function, served by the function cache (fncache) when an unchanged graph was compiled
    before."""

    def compile() -> Any:
        return _compile_function(inputs, outputs, givens, freeze)

    return fncache.function(
        compile, inputs, outputs, givens, on_unused_input="ignore", no_default_updates=freeze
    )


def _compile_function(inputs: list[Any], outputs: Any, givens: list[Any], freeze: bool) -> Any:
    import theano

    kwargs = {"givens": givens, "on_unused_input": "ignore", "no_default_updates": freeze}
    try:
        return theano.function(inputs, outputs, **kwargs)
    except ValueError as exc:
        if "not aligned" not in str(exc):
            raise
    # Theano issue 4652: truncated scan with a dot pushed out of the loop; compile without that
    # rewrite.
    mode = theano.compile.get_default_mode().excluding("scanOp_pushout_output")
    return theano.function(inputs, outputs, mode=mode, **kwargs)
