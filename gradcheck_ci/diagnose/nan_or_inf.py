"""nan-or-inf: the loss or a gradient is not finite on the check's data.

Nothing can be compared then, so the useful answer is where the first NaN/Inf appears:
- a non-finite loss: the first layer (in forward order) whose output is not finite, with the index
  (sequence and step of the synthetic batch) and the value of the layer's input there; if every
layer's output is
  finite, the loss function itself;
- a non-finite gradient with a finite loss: walking back from the output, the first layer whose
  gradient with respect to its input is not finite while the gradient with respect to its output is,
i.e. the layer
  whose backward pass produced it (typically sqrt or log at 0), or the parameter's own layer if
  every gradient between layers is finite.
No ablation applies (confirmed stays null).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from ..engine.verdict import first_non_finite, non_finite_kind
from .session import Session, fmt, names

CODE = "nan-or-inf"
FIX = BY_CODE[CODE].fix


def _kind(values: np.ndarray) -> str:
    return "NaN" if non_finite_kind(values) == "NaN" else "infinite"


def _position(array: np.ndarray, extra: str = "") -> tuple[list[int], str]:
    """The first non-finite index, in words: 'index [0, 2] (sequence 0, step 2, <extra>)'."""
    found = first_non_finite([array])
    index = found[1] if found is not None else []
    notes = []
    if len(index) >= 2 and array.ndim == 3:
        notes.append(f"sequence {index[0]}, step {index[1]}")
    elif index:
        notes.append(f"row {index[0]} of the batch")
    if extra:
        notes.append(extra)
    return index, f"index {index}" + (f" ({', '.join(notes)})" if notes else "")


def _input_value(session: Session, layer: Any, index: list[int]) -> tuple[str, float] | None:
    """The value of the layer's (first) input at the same index, when the shapes line up."""
    from .graph import input_layers

    inst = session.instrumented
    ins = input_layers(layer)
    if not ins or id(ins[0]) not in inst.index:
        for info, array in zip(session.model.inputs, inst.data, strict=False):
            if ins and info.layer is ins[0] and array.ndim == len(index):
                try:
                    return info.label, float(array[tuple(index)])
                except (IndexError, TypeError, ValueError):
                    return None
        return None
    out = inst.at_base.outputs[inst.index[id(ins[0])]]
    if out.ndim != len(index):
        return None
    try:
        return session.model.label(ins[0]), float(out[tuple(index)])
    except IndexError:
        return None


def _non_finite_param(session: Session, layer: Any) -> tuple[str, str] | None:
    """(id, 'NaN' or 'infinite values') of the layer's first parameter that is not finite as
    built, or None."""
    for info in session.model.all_params:
        if info.layer is not layer:
            continue
        value = np.asarray(info.variable.get_value(borrow=True))
        if not np.all(np.isfinite(value)):
            return info.id, "NaN" if non_finite_kind(value) == "NaN" else "infinite values"
    return None


def for_loss(session: Session) -> list[Diagnosis]:
    loss = session.result.loss_value
    inst = session.instrumented
    ev = inst.at_base
    found = first_non_finite(ev.outputs[k] for k in range(len(inst.layers)))
    if found is not None:
        k = found[0]
        layer, out, label = inst.layers[k], ev.outputs[k], inst.labels[k]
        index, _ = _position(out)
        value = _input_value(session, layer, index)
        _, where = _position(
            out, f"where its input, {value[0]}'s output, is {fmt(value[1])}" if value else ""
        )
        message = (
            f"The loss is {loss} on the synthetic data (seed {session.spec.seed}) because "
            f"the output of {label} is {_kind(out)} at {where}; every layer before it is "
            f"finite"
        )
        evidence: dict[str, Any] = {
            "tensor": f"output of {label}",
            "index": index,
            "loss": loss,
            "non_finite_elements": int((~np.isfinite(out)).sum()),
            "elements": int(out.size),
        }
        if value:
            evidence["input"] = {"layer": value[0], "value": value[1]}
        fix = FIX
        held = _non_finite_param(session, layer)
        if held is not None:  # not an operation to guard: the layer's own weights
            message += f", and its parameter {held[0]} holds {held[1]} before any step"
            evidence["parameter"] = held[0]
            fix = f"give {held[0]} finite values (its initialiser, or the weights loaded into it)"
        return [
            session.diagnosis(
                CODE, message + ".", fix, session.layer_fields(layer, label), None, evidence
            )
        ]
    prediction = (
        ev.outputs[inst.index[id(session.model.output)]]
        if id(session.model.output) in inst.index
        else None
    )
    detail = ""
    if prediction is not None:
        crossentropy = session.context.objective.target_kind != "real"
        outside = (
            np.argwhere((prediction < 0) | (prediction > 1)) if crossentropy else np.empty((0,))
        )
        extreme = (
            np.argwhere((prediction <= 0) | (prediction >= 1)) if crossentropy else np.empty((0,))
        )
        if outside.size:
            return [_not_probabilities(session, prediction, outside[0], loss)]
        if extreme.size:
            index = [int(i) for i in extreme[0]]
            detail = f" (the prediction reaches 0 or 1 at index {index}: log(0) in a cross-entropy"
            if session.precision == "float32":
                # the same model in float64 keeps probabilities down to 1e-308, not 1e-38
                detail += (
                    "; in float32 a probability below ~1e-38 (or within 6e-8 of 1) is already 0 "
                    "(or 1), where float64 holds it down to ~1e-308: large activations are the "
                    "cause; `precision: float64` may avoid it, a loss that clips the prediction "
                    "does"
                )
            detail += ")"
    message = (
        f"The loss ({session.result.loss or 'loss'}) is {loss} on the synthetic data "
        f"although every layer's output is finite{detail}"
    )
    fields = session.loss_fields(session.model.output)
    return [
        session.diagnosis(CODE, message + ".", FIX, fields, None, {"tensor": "loss", "loss": loss})
    ]


def _not_probabilities(
    session: Session, prediction: np.ndarray, at: np.ndarray, loss: float | None
) -> Diagnosis:
    """A cross-entropy of an output that is not a probability (a linear or tanh output layer): the
    log of a negative number, not a log(0) an epsilon would guard."""
    output = session.model.output
    label = session.model.label(output)
    nonlinearity = getattr(getattr(output, "nonlinearity", None), "__name__", None)
    index = [int(i) for i in at]
    value = float(prediction[tuple(at)])
    what = f" ({nonlinearity} output)" if nonlinearity else ""
    message = (
        f"The loss ({session.result.loss or 'loss'}) is {loss} on the synthetic data: it is a "
        f"cross-entropy, which takes probabilities, but the output of {label}{what} is "
        f"{value:.3g} at index {index}, {'below 0' if value < 0 else 'above 1'}, and the log of "
        "it is not a number"
    )
    fix = (
        "end the network in a softmax (categorical_crossentropy) or a sigmoid "
        "(binary_crossentropy), or, for an output that is not a probability, name a loss for it "
        "in gradcheck.yml (`loss: squared_error`)"
    )
    evidence = {"tensor": f"output of {label}", "index": index, "value": value, "loss": loss}
    return session.diagnosis(CODE, message + ".", fix, session.layer_fields(output), None, evidence)


def find(session: Session) -> list[Diagnosis]:
    """The failing tensors whose gradient is NaN/Inf: where it first appears; they are then
    explained."""
    non_finite = [
        k for k in session.unexplained if not math.isfinite(session.param(k).max_abs_err or 0.0)
    ]
    if not non_finite:
        return []
    found = for_gradients(session, non_finite)
    session.explain(non_finite)
    return found


def for_gradients(session: Session, indices: list[int]) -> list[Diagnosis]:
    ids = session.tensor_ids(indices)
    inst = session.instrumented
    ev = inst.at_base
    structure = session.structure
    kinds = {
        _kind(
            np.asarray(
                [session.param(k).analytic if session.param(k).analytic is not None else math.nan]
            )
        )
        for k in indices
    }
    kind = "NaN" if "NaN" in kinds else "infinite"
    evidence: dict[str, Any] = {"tensors": ids, "loss": session.result.loss_value}
    # walking back from the output: the last layer (in forward order) whose output gradient is not
    # finite
    backwards = list(reversed(range(len(inst.layers))))
    found = first_non_finite(ev.grads[k] for k in backwards)
    if found is not None:
        k = backwards[found[0]]
        grad, layer, label = ev.grads[k], inst.layers[k], inst.labels[k]
        index, where = _position(grad)
        evidence.update({"tensor": f"dLoss/d(output of {label})", "index": index})
        consumers = structure.consumers(layer)
        if not consumers:  # the output layer: the loss's own backward pass
            message = (
                f"Theano's gradient of {names(ids)} is {kind} although the loss is finite: "
                f"the backward pass of the loss ({session.result.loss}) is already "
                f"{_kind(grad)} at {where} of {label}'s output"
            )
            where_fields = session.loss_fields(layer)
            return [session.diagnosis(CODE, message + ".", FIX, where_fields, None, evidence)]
        culprit = consumers[0]
        value = None
        if index:
            try:
                value = float(ev.outputs[k][tuple(index)])
            except (IndexError, TypeError):
                value = None
        _, where = _position(
            grad, f"where {label}'s output is {fmt(value)}" if value is not None else ""
        )
        message = (
            f"Theano's gradient of {names(ids)} is {kind} although the loss is finite: the "
            f"backward pass of {culprit.label} makes it {_kind(grad)}. dLoss/d(its input) "
            f"is {_kind(grad)} at {where}, "
            "while the gradient with respect to its output is finite"
        )
        if value is not None:
            evidence["input"] = {"layer": label, "value": value}
        return [
            session.diagnosis(
                CODE,
                message + ".",
                FIX,
                session.layer_fields(culprit.layer, culprit.label),
                None,
                evidence,
            )
        ]
    info = session.model.params[indices[0]]
    message = (
        f"Theano's gradient of {names(ids)} is {kind} although the loss and every gradient "
        f"between layers are finite: the backward pass of {info.layer_label} with respect "
        f"to its own parameter produces it"
    )
    return [
        session.diagnosis(
            CODE, message + ".", FIX, session.layer_fields(info.layer), None, evidence
        )
    ]
