"""When Theano's compiled gradient fails at run time: which part of the graph, and why.

Theano 1.0.5 cannot evaluate the truncated gradient of some recurrent layers: a masked
RecurrentLayer with `gradient_steps=1`, an unmasked one with the rectify nonlinearity and any
truncation. Its `scanOp_pushout_output` rewrite moves a dot product out of the backward scan, and at
run time the truncated scan's output no longer has the rows the dot expects (`ValueError: shapes
(4,5) and (35,4) not aligned`, Theano issue 4652). The forward pass runs, so the failure is in the
gradient graph, and the user's own training (any theano.grad of the loss, with their updates)
crashes the same way.

`explain_gradient_crash` establishes that, rather than guessing from the message: it evaluates the
forward-only function on the same data (it must run), takes the failing node from the compiled
function, finds the truncated Scans it depends on (`truncate_gradient`, read from the graph), maps
them to the layers that built them (graph.structure) and recompiles the gradient without the rewrite
to confirm the cause. The model's result is then an error of kind "gradient-graph" (exit 2: the
model cannot be trained as it is), with a truncated-bptt diagnosis at the layer's line.
"""

from __future__ import annotations

from typing import Any

from ..core.errors import ModelLoadError
from ..core.results import Diagnosis
from ..usercode.blame import raised_by_compiled_function
from ..usercode.messages import error_summary
from .graph import input_layers, is_scan, structure

KIND = "gradient-graph"
REWRITE = "scanOp_pushout_output"


def explain_gradient_crash(
    exc: BaseException, model: Any, compiled: Any, graph: Any, spec: Any, config_file: str
) -> tuple[ModelLoadError, list[Diagnosis]] | None:
    """The error (and diagnosis) for a compiled gradient function that failed with `exc` while its
    forward pass evaluates; None when `exc` is something else (the forward pass fails too, or not
    Theano's)."""
    if not raised_by_compiled_function(exc):
        return None
    try:
        compiled.loss_fn(*compiled.data, *compiled.base)
    except Exception:  # noqa: BLE001 - the forward pass fails too: not a gradient-graph failure
        return None
    node = failing_node(compiled.grad_fn, exc)
    scans = truncated_scans(compiled.grad_fn, node)
    what = error_summary(exc) + (f" in {_node_text(node)}" if node is not None else "")
    message = (
        f"Theano's compiled gradient of {spec.name!r} fails when evaluated ({what}), while "
        f"its forward "
        "pass runs on the same data: the failure is inside the gradient graph, so training "
        "the model (any theano.grad of its loss) crashes the same way"
    )
    steps = sorted({int(op.truncate_gradient) for op in scans})
    if not steps:
        return ModelLoadError(message, config_file, spec.line, kind=KIND), []
    layers = truncating_layers(model, steps)
    confirmed = evaluates_without_rewrite(compiled, graph)
    diagnosis = truncation_diagnosis(model, layers, steps, confirmed, node)
    names = ", ".join(model.label(layer) for layer in layers) or "a scan"
    message += (
        f". It depends on {names}'s backpropagation through time truncated to "
        f"{_steps(steps)}, whose "
        "gradient Theano 1.0.5 cannot evaluate (Theano issue 4652; see the diagnosis)"
    )
    file, line = (diagnosis.file, diagnosis.line) if diagnosis.file else (config_file, spec.line)
    return ModelLoadError(message, file, line, kind=KIND), [diagnosis]


def failing_node(fn: Any, exc: BaseException) -> Any:
    """The Apply node of the compiled function that raised (Theano keeps its position), else
    None."""
    vm = getattr(fn, "fn", None)
    position = getattr(vm, "position_of_error", None)
    nodes = getattr(vm, "nodes", None)
    if position is not None and nodes is not None and 0 <= position < len(nodes):
        return nodes[position]
    for candidate in (exc, exc.__context__):
        node = getattr(candidate, "__op_instance__", None)
        if node is not None:
            return node
    return None


def truncated_scans(fn: Any, node: Any) -> list[Any]:
    """Truncated Scan ops the failing node depends on (itself included); every one in the function
    when the node is unknown."""
    from theano.gof import graph as gof

    fgraph = fn.maker.fgraph
    applies = (
        gof.io_toposort(fgraph.inputs, node.outputs) if node is not None else fgraph.toposort()
    )
    return [a.op for a in applies if is_scan(a.op) and getattr(a.op, "truncate_gradient", -1) != -1]


def truncating_layers(model: Any, steps: list[int]) -> list[Any]:
    """The layers whose scans truncate the gradient to one of `steps` (graph.structure maps scans to
    layers)."""
    return [n.layer for n in structure(model).nodes if set(n.truncations) & set(steps)]


def evaluates_without_rewrite(compiled: Any, graph: Any) -> bool | None:
    """Whether the same gradient evaluates when compiled without the rewrite (None: could not
    tell)."""
    import theano

    try:
        mode = theano.compile.get_default_mode().excluding(REWRITE)
        fn = theano.function(
            graph.inputs,
            [graph.loss] + graph.grads,
            givens=graph.givens,
            on_unused_input="ignore",
            mode=mode,
        )
        fn(*compiled.data, *compiled.base)
    except ValueError:
        return False
    except Exception:  # noqa: BLE001 - another failure: the confirmation is then unknown, not the cause refuted
        return None
    return True


def truncation_diagnosis(
    model: Any, layers: list[Any], steps: list[int], confirmed: bool | None, node: Any
) -> Diagnosis:
    layer = layers[0] if layers else None
    label = model.label(layer) if layer is not None else None
    site = model.site(layer) if layer is not None else None
    attr = getattr(layer, "gradient_steps", None)
    setting = f"gradient_steps={attr}" if isinstance(attr, int) else f"truncate_gradient={steps[0]}"
    fixes = ["gradient_steps=-1 (the full gradient, which this check can then compare)"]
    if hasattr(layer, "precompute_input"):
        fixes.append("precompute_input=False (the truncated gradient then evaluates)")
    fixes.append(f"THEANO_FLAGS=optimizer_excluding={REWRITE} for training")
    what = f"{label} ({setting})" if label else f"a scan with {setting}"
    message = (
        f"{what} truncates backpropagation through time to {_steps(steps)}, and Theano "
        f"1.0.5 cannot evaluate this truncated gradient: its {REWRITE} rewrite moves a dot "
        f"product out of the backward "
        "scan, whose truncated output then has the wrong number of rows (Theano issue 4652)"
    )
    if confirmed:
        message += f"; confirmed: the same gradient evaluates when compiled without {REWRITE}"
    elif confirmed is False:
        message += f"; not confirmed: the gradient fails without {REWRITE} as well"
    if len(layers) > 1:
        message += f" (also truncated: {', '.join(model.label(other) for other in layers[1:])})"
    evidence = {
        "truncate_gradient": steps[0],
        "gradient_steps": attr if isinstance(attr, int) else None,
        "failing_node": _node_text(node) if node is not None else None,
        "rewrite": REWRITE,
        "inputs": [model.label(i) for i in input_layers(layer)] if layer is not None else [],
    }
    return Diagnosis(
        code="truncated-bptt",
        message=message,
        fix="set " + ", or ".join(fixes),
        layer=label,
        file=site.file if site else None,
        line=site.line if site else None,
        confirmed=confirmed,
        evidence=evidence,
        via=list(site.via) if site else [],
    )


def _steps(steps: list[int]) -> str:
    k = steps[0]
    return ("1 step" if k == 1 else f"{k} steps") + (
        f" (and {', '.join(map(str, steps[1:]))})" if steps[1:] else ""
    )


def _node_text(node: Any) -> str:
    """'Dot22 fed by Reshape{2}, Reshape{2}' (op names only: never values)."""
    inputs = [str(i.owner.op) if i.owner is not None else str(i.type) for i in node.inputs]
    return f"{node.op} of " + ", ".join(inputs[:4]) + (" ..." if len(inputs) > 4 else "")
