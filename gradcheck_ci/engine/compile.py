"""The Theano side of a check: the loss's symbolic gradient with respect to every selected
parameter, compiled into one function that returns the loss and every gradient and a second,
forward-only one that serves the probes, on the check's synthetic data. Parameters are function
inputs (`givens`), so a probe never calls set_value.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..config import ModelSpec
from ..core.errors import ModelLoadError
from ..model.built import BuiltModel
from ..model.data import check_data
from ..model.objective import Objective
from ..platform import ccode, fncache
from ..platform.functions import compile_function
from ..platform.givens import param_inputs
from ..usercode.blame import user_code_error
from . import differentiable
from .evaluation import CompiledCheck

Progress = Callable[[str], None]


def compile_check(
    model: BuiltModel,
    objective: Objective,
    spec: ModelSpec,
    progress: Progress,
    root: str,
    config_file: str,
) -> CompiledCheck:
    try:
        # Theano's other "cannot differentiate" errors: blame.py
        graph = gradient_graph(model, objective)
    except Exception as exc:
        error = differentiable.cannot_differentiate(
            exc,
            objective.loss,
            [p.variable for p in model.params],
            spec.name,
            root,
            (config_file, spec.line),
        )
        if error is None:
            raise
        raise error from exc
    # without C, an op that has no Python code on this stack: an error before compiling (in `auto`
    # the runner checks again with C; no attempt, no Theano traceback)
    unevaluable = ccode.python_code_problem([graph.loss, *graph.grads])
    if unevaluable:
        raise ModelLoadError(unevaluable, config_file, spec.line)
    progress("compiling loss and gradient (Theano)")
    compiles = len(fncache.EVENTS)
    try:
        grad_fn, loss_fn, compile_seconds = compile_functions(graph)
    except Exception as exc:  # noqa: BLE001 - a custom op's C code or make_node fails here: blamed on the user's line
        raise user_code_error(
            exc, root, f"compiling {spec.name!r}", fallback=(config_file, spec.line)
        ) from None
    progress(f"loss and gradient {_served(fncache.EVENTS[compiles:])} in {compile_seconds:.1f}s")

    # the data's shape can need one more small compile (data.prediction_shape)
    started = time.perf_counter()
    data = check_data(model, objective.prediction, objective.target_kind, spec, config_file)
    compile_seconds += time.perf_counter() - started
    base = [np.asarray(p.variable.get_value()) for p in model.params]
    return CompiledCheck(
        grad_fn, loss_fn, data, base, spec.precision, seconds={"compile": compile_seconds}
    )


def _served(events: list[fncache.Event]) -> str:
    outcomes = {e.outcome for e in events}
    if outcomes == {"hit"}:
        return "loaded from the function cache"
    misses = [e for e in events if e.outcome == "miss"]
    if misses and all(e.stored for e in misses):
        if any(e.temporary for e in misses):
            return "compiled (not kept for the next run: this run's cache directory is temporary)"
        return "compiled (kept in the function cache for the next run)"
    return "compiled"


@dataclass
class GradientGraph:
    """The symbolic side of a check: inputs (*data inputs, target, *params), the loss and its
    gradients; the parameters' shared variables are replaced by the inputs (`givens`)."""

    inputs: list[Any]
    loss: Any
    grads: list[Any]
    givens: list[Any]


def gradient_graph(model: BuiltModel, objective: Objective) -> GradientGraph:
    import theano

    params = [p.variable for p in model.params]
    grads = theano.grad(objective.loss, params, disconnected_inputs="ignore")
    symbolic, givens = param_inputs(params)
    inputs = [info.layer.input_var for info in model.inputs] + [objective.target_var] + symbolic
    return GradientGraph(inputs, objective.loss, grads, givens)


def compile_functions(
    graph: GradientGraph, freeze: bool = False, loss_fn: Any = None
) -> tuple[Any, Any, float]:
    """(grad_fn, loss_fn, seconds): the loss with every gradient, and the loss alone. Also used by
    the diagnosis for rebuilt (ablated) objectives; `freeze` keeps random streams from advancing
    between calls. A `loss_fn` given (the forward pass did not change) is kept instead of compiled
    again."""
    started = time.perf_counter()
    grad_fn = compile_function(graph.inputs, [graph.loss] + graph.grads, graph.givens, freeze)
    if loss_fn is None:
        loss_fn = compile_function(graph.inputs, graph.loss, graph.givens, freeze)
    return grad_fn, loss_fn, time.perf_counter() - started
