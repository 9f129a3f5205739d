"""What the diagnosis needs to know about a model's Theano graph, layer by layer.

Two views of the same network:

- `structure()` (no compile): every layer's symbolic output, built exactly as
  `lasagne.layers.get_output` builds it (deterministic=True), and the Apply nodes each layer
introduced: those between its inputs'
  outputs and its own output. A Scan with `truncate_gradient`, a `GradClip` inside a scan's inner
  graph or a random-number op is thereby mapped back to the layer whose `get_output_for` made it.
  This covers Lasagne's recurrent layers, `CustomRecurrentLayer` (whose inner layers
  `get_all_layers` never reaches) and users' own scans alike.
- `Instrumented` (one compile): every floating-point layer output gets an additive input `P_L` (zero
  at the checked point). One call returns the loss, every layer's output and dLoss/d(output) of
every layer, so
  the gradient with respect to any layer's output can be compared with finite differences of the
  network above it (localisation, the gradient-through-time profile), and any parameter element can
  be probed while watching every layer's output (locating a kink, a NaN).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .bypass import kind_of
from .context import Context

RANDOM_OPS = ("mrg_uniform", "GPU_mrg_uniform", "GPUA_mrg_uniform", "RandomFunction")
NOISE_LAYERS = ("DropoutLayer", "GaussianNoiseLayer")


# ---------------------------------------------------------------- inspecting ops


def is_scan(op: Any) -> bool:
    return type(op).__name__ == "Scan"


def is_random(op: Any) -> bool:
    return type(op).__name__ in RANDOM_OPS or any(
        c.__name__ in RANDOM_OPS for c in type(op).__mro__
    )


def is_grad_clip(op: Any) -> bool:
    return type(op).__name__ == "GradClip"


def inner_applies(scan_op: Any) -> list[Any]:
    """Apply nodes of a scan's inner graph (one level)."""
    from theano.gof import graph

    return list(graph.ops(scan_op.inputs, scan_op.outputs))


def walk(applies: list[Any]) -> list[Any]:
    """The ops of these applies and, recursively, of every scan's inner graph."""
    out: list[Any] = []
    stack = list(applies)
    while stack:
        node = stack.pop()
        out.append(node.op)
        if is_scan(node.op):
            stack.extend(inner_applies(node.op))
    return out


def walk_nodes(applies: list[Any]) -> list[tuple[Any, bool]]:
    """(node, inside a scan) for these applies and, recursively, the nodes of every scan's inner
    graph."""
    out: list[tuple[Any, bool]] = []
    stack = [(node, False) for node in applies]
    while stack:
        node, inner = stack.pop()
        out.append((node, inner))
        if is_scan(node.op):
            stack.extend((n, True) for n in inner_applies(node.op))
    return out


def compiled_scans(fn: Any) -> list[Any]:
    """Scan ops of a compiled Theano function (outer graph and nested)."""
    try:
        nodes = fn.maker.fgraph.toposort()
    except Exception:  # noqa: BLE001 - a function we cannot inspect has no scans we know of
        return []
    return [op for op in walk(nodes) if is_scan(op)]


# ---------------------------------------------------------------- structure


@dataclass
class LayerNode:
    layer: Any
    label: str
    output: Any  # symbolic output (deterministic=True), unperturbed
    inputs: list[Any]  # the input layers
    applies: list[Any]  # Apply nodes introduced by this layer
    # truncate_gradient of scans it introduced (!= -1)
    truncations: list[int] = field(default_factory=list)
    truncated_ops: list[Any] = field(default_factory=list)  # those Scan ops
    # GradClip bounds inside its scans
    clips: list[tuple[float, float]] = field(default_factory=list)
    has_scan: bool = False
    random: bool = False  # introduces a random-number op (directly or inside a scan)
    # theano.gradient's gradient-only ops it introduced (grad_clip, disconnected_grad, ...): (node,
    # inside a scan)
    gradient_ops: list[tuple[Any, bool]] = field(default_factory=list)


@dataclass
class Structure:
    nodes: list[LayerNode]  # topological order (inputs first), as model.layers
    outputs: dict[int, Any]  # id(layer) -> symbolic output

    def node(self, layer: Any) -> LayerNode:
        return next(n for n in self.nodes if n.layer is layer)

    def consumers(self, layer: Any) -> list[LayerNode]:
        return [n for n in self.nodes if any(i is layer for i in n.inputs)]


def input_layers(layer: Any) -> list[Any]:
    if hasattr(layer, "input_layers"):
        return list(layer.input_layers)
    incoming = getattr(layer, "input_layer", None)
    return [incoming] if incoming is not None else []


def layer_outputs(model: Any, replace: dict[int, Any] | None = None) -> dict[int, Any]:
    """Symbolic outputs of every layer, computed the way lasagne.layers.get_output computes them.

    `replace` maps id(layer) -> a function of the layer's output returning the expression its
    consumers see (used to add the perturbation inputs).
    """
    from lasagne.layers import InputLayer, MergeLayer

    outputs: dict[int, Any] = {}
    for layer in model.layers:
        if isinstance(layer, InputLayer):
            out = layer.input_var
        elif isinstance(layer, MergeLayer):
            out = layer.get_output_for(
                [outputs[id(i)] for i in layer.input_layers], deterministic=True
            )
        else:
            out = layer.get_output_for(outputs[id(layer.input_layer)], deterministic=True)
        if replace and id(layer) in replace:
            out = replace[id(layer)](out)
        outputs[id(layer)] = out
    return outputs


def structure(model: Any) -> Structure:
    from theano.gof import graph

    outputs = layer_outputs(model)
    nodes = []
    for layer in model.layers:
        ins = input_layers(layer)
        out = outputs[id(layer)]
        applies = list(graph.ops([outputs[id(i)] for i in ins], [out])) if ins else []
        node = LayerNode(layer, model.label(layer), out, ins, applies)
        node.gradient_ops = [(n, inner) for n, inner in walk_nodes(applies) if kind_of(n.op)]
        for op in walk(applies):
            if is_scan(op):
                node.has_scan = True
                if getattr(op, "truncate_gradient", -1) != -1:
                    node.truncations.append(int(op.truncate_gradient))
                    node.truncated_ops.append(op)
            elif is_grad_clip(op):
                node.clips.append((float(op.clip_lower_bound), float(op.clip_upper_bound)))
            elif is_random(op):
                node.random = True
        nodes.append(node)
    return Structure(nodes, outputs)


def inner_layers(layer: Any) -> list[tuple[str, Any]]:
    """Layers held by a layer's attributes (CustomRecurrentLayer's input_to_hidden,
    hidden_to_hidden, ...)."""
    import lasagne

    found: list[tuple[str, Any]] = []
    for attr, value in vars(layer).items():
        if attr.startswith("_") or attr in ("input_layer", "input_layers"):
            continue
        if isinstance(value, lasagne.layers.Layer):
            for inner in lasagne.layers.get_all_layers(value):
                if all(inner is not f for _, f in found):
                    found.append((attr, inner))
    return found


def is_noise_layer(layer: Any) -> bool:
    return any(c.__name__ in NOISE_LAYERS for c in type(layer).__mro__)


# ---------------------------------------------------------------- the instrumented function


@dataclass
class Evaluation:
    loss: float
    outputs: list[np.ndarray]  # per instrumented layer
    grads: list[np.ndarray]  # dLoss/d(output) per instrumented layer


class Instrumented:
    """Loss, layer outputs and gradients with respect to layer outputs, with additive perturbations.

    Params are function inputs (as in engine/compile.py) so any parameter element can be probed;
    they default to the checked point. Compiled with no_default_updates, so a random stream (if any)
    is frozen.
    """

    def __init__(self, context: Context) -> None:
        import theano
        import theano.tensor as T

        from ..model.objective import rows_of

        model, objective, compiled = context.model, context.objective, context.compiled
        self.context = context
        masks = mask_layers(model)
        perturbations: dict[int, Any] = {}

        def perturbable(layer: Any, out: Any) -> bool:
            return str(out.dtype).startswith("float") and id(layer) not in masks

        def adder(layer: Any) -> Any:
            def add(out: Any) -> Any:
                if not perturbable(layer, out):
                    return out
                p = out.type(f"P_{model.label(layer)}")
                perturbations[id(layer)] = p
                return out + p

            return add

        outputs = layer_outputs(model, {id(layer): adder(layer) for layer in model.layers})
        self.layers = [layer for layer in model.layers if id(layer) in perturbations]
        self.labels = [model.label(layer) for layer in self.layers]
        self.index = {id(layer): k for k, layer in enumerate(self.layers)}
        self.inputs_p = [perturbations[id(layer)] for layer in self.layers]
        outs = [outputs[id(layer)] for layer in self.layers]
        loss = theano.clone(
            objective.loss, replace={objective.prediction: rows_of(outputs[id(model.output)])}
        )
        grads = theano.grad(loss, self.inputs_p, disconnected_inputs="ignore")
        params = [p.variable for p in model.params]
        symbolic = [T.TensorType(p.dtype, p.broadcastable)(p.name or "param") for p in params]
        data_vars = [info.layer.input_var for info in model.inputs] + [objective.target_var]
        inputs = data_vars + symbolic + self.inputs_p
        started = time.perf_counter()
        self.fn = _compile(inputs, [loss] + outs + grads, list(zip(params, symbolic, strict=True)))
        self._forward = (inputs, loss, list(zip(params, symbolic, strict=True)))
        # loss only, compiled when probes need it (a backward pass costs 2x)
        self.forward_fn: Any = None
        self.seconds = time.perf_counter() - started
        self.data = compiled.data
        self.base = compiled.base
        self.shapes = self._shapes(model, data_vars)
        self.zeros = [
            np.zeros(s, dtype=p.dtype) for s, p in zip(self.shapes, self.inputs_p, strict=True)
        ]
        self.evaluations = 0
        self._base_eval: Evaluation | None = None

    def _shapes(self, model: Any, data_vars: list[Any]) -> list[tuple[int, ...]]:
        import numbers

        import lasagne
        import theano

        try:
            # self.data ends with the target, which no InputLayer takes
            given = {
                info.layer: array.shape
                for info, array in zip(model.inputs, self.data, strict=False)
            }
            shapes = lasagne.layers.get_output_shape(self.layers, given)
            if all(all(isinstance(s, numbers.Integral) for s in shape) for shape in shapes):
                return [tuple(int(s) for s in shape) for shape in shapes]
        except Exception:  # noqa: BLE001 - some layers cannot infer shapes statically: evaluate them
            pass
        plain = layer_outputs(model)  # unperturbed, so the shapes need no perturbation inputs
        fn = theano.function(
            data_vars, [plain[id(layer)].shape for layer in self.layers], on_unused_input="ignore"
        )
        return [tuple(int(s) for s in shape) for shape in fn(*self.data)]

    def run(
        self, params: list[np.ndarray] | None = None, perturb: dict[int, np.ndarray] | None = None
    ) -> Evaluation:
        """Evaluate at `params` (default: the checked point) with perturbations {instrumented index:
        array}."""
        ps = list(self.zeros)
        for k, value in (perturb or {}).items():
            ps[k] = np.asarray(value, dtype=self.zeros[k].dtype)
        values = self.base if params is None else params
        self.evaluations += 1
        n = len(self.layers)
        out = self.fn(*self.data, *values, *ps)
        return Evaluation(
            float(out[0]),
            [np.asarray(o) for o in out[1 : 1 + n]],
            [np.asarray(g, dtype="float64") for g in out[1 + n :]],
        )

    def loss(
        self, params: list[np.ndarray] | None = None, perturb: dict[int, np.ndarray] | None = None
    ) -> float:
        """The loss alone (finite-difference probes), from a forward-only function compiled on first
        use."""
        if self.forward_fn is None:
            started = time.perf_counter()
            self.forward_fn = _compile(*self._forward)
            self.seconds += time.perf_counter() - started
        ps = list(self.zeros)
        for k, value in (perturb or {}).items():
            ps[k] = np.asarray(value, dtype=self.zeros[k].dtype)
        self.evaluations += 1
        return float(self.forward_fn(*self.data, *(self.base if params is None else params), *ps))

    @property
    def at_base(self) -> Evaluation:
        if self._base_eval is None:
            self._base_eval = self.run()
        return self._base_eval


def mask_layers(model: Any) -> set[int]:
    from ..model.describe import recurrent_mask_layers

    return {id(m) for layer in model.layers for m in recurrent_mask_layers(layer)}


def _compile(inputs: list[Any], outputs: Any, givens: list[Any]) -> Any:
    """theano.function as the check compiles, with random streams frozen."""
    from ..platform.functions import compile_function

    return compile_function(inputs, outputs, givens, freeze=True)


def untruncated(loss: Any, ops: list[Any]) -> Any:
    """`loss` with every Scan equal to one of `ops` replaced by a copy that backpropagates through
    all steps.

    The graph-level ablation of truncation, for scans that no layer attribute controls (a user's own
    theano.scan). Scan ops compare by their inner graph and settings, so the scans of a freshly
    built graph are matched with those the structure found in the layer.
    """
    import copy

    import theano
    from theano.gof import graph

    replace: dict[Any, Any] = {}
    for node in graph.io_toposort(graph.inputs([loss]), [loss]):
        op = node.op
        if is_scan(op) and getattr(op, "truncate_gradient", -1) != -1 and any(op == o for o in ops):
            full = copy.copy(op)
            full.truncate_gradient = -1
            full.info = dict(op.info, truncate_gradient=-1)
            replace.update(zip(node.outputs, full(*node.inputs, return_list=True), strict=True))
    if not replace:
        raise ValueError("the layer's truncated scan was not found in the loss graph")
    return theano.clone(loss, replace=replace)
