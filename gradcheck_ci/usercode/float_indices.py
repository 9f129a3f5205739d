"""Float indices while the factory runs: a builder given no input_var (`build(input_var=None)`, its
training script passes T.imatrix) whose own code calls get_output (for the train and validation
functions it returns beside the network) stops in Theano's 'index must be integers' at its
EmbeddingLayer. While the factory runs, an EmbeddingLayer given floats indexes with them cast to
int32, so the factory returns; the check's own graph is built after it, unpatched, with the input
made int32 (model/shapes.index_inputs, notice `integer-input`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def casting_float_indices() -> Iterator[None]:
    from lasagne.layers import EmbeddingLayer

    original = EmbeddingLayer.__dict__["get_output_for"]

    def get_output_for(self: Any, input: Any, **kwargs: Any) -> Any:
        if str(getattr(input, "dtype", "")).startswith("float"):
            import theano.tensor as T

            input = T.cast(input, "int32")
        return original(self, input, **kwargs)

    EmbeddingLayer.get_output_for = get_output_for
    try:
        yield
    finally:
        EmbeddingLayer.get_output_for = original
