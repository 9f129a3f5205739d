"""non-differentiable: the probe sits on (or within one step of) a kink of the loss.

Rectify at exactly 0, `T.maximum`/max-pooling ties, `abs` at 0: the loss has different slopes on the
two sides, so no central difference converges to Theano's value there (which is one convention among
several: rectify gives 0.5, a maximum tie gives 1 to its first argument). Detected by step sizes,
not by guessing: the failing tensor's worst element is probed again at h, h/2 and h/4; along a
smooth loss the second differences L(h) - 2L(0) + L(-h) scale like h^2 (a factor 4 per halving),
across a kink they scale like h. The same test on every layer's output along that probe names the
first layer whose output has the kink. No ablation applies (confirmed stays null).
"""

from __future__ import annotations

from typing import Any

from ..core.causes import BY_CODE
from ..core.results import Diagnosis
from .localise import KinkProbe, flat_worst, probe_element
from .session import Session, fmt, names
from .stopped import diagnosis_error

CODE = "non-differentiable"
FIX = BY_CODE[CODE].fix


def find(session: Session) -> list[Diagnosis]:
    """Probe each unexplained tensor; a probe that cannot run is recorded and leaves them to
    wrong-backward."""
    try:
        return detect(session, list(session.unexplained))
    except Exception as exc:  # noqa: BLE001 - go on to the last resort
        session.result.extra.diagnosis_error = diagnosis_error(
            exc, getattr(session.context, "root", None), "the non-differentiable probe"
        )
        return []


def detect(session: Session, indices: list[int]) -> list[Diagnosis]:
    probes: list[tuple[int, KinkProbe]] = []
    for k in indices:
        session.progress(f"step-size probe of {session.model.params[k].id}")
        probe = probe_element(session, k, flat_worst(session, k), with_layers=True)
        if probe.kink:
            probes.append((k, probe))
    if not probes:
        return []
    inst = session.instrumented
    groups: dict[Any, list[tuple[int, KinkProbe]]] = {}
    for k, probe in probes:
        groups.setdefault(probe.layer_index, []).append((k, probe))
    diagnoses = []
    for layer_index, members in groups.items():
        k, probe = members[0]
        ids = session.tensor_ids([m for m, _ in members])
        left, right = probe.one_sided["left"], probe.one_sided["right"]
        steps = ", ".join(fmt(h) for h in probe.steps)
        message = (
            f"The loss has a kink where the check probed {probe.tensor}{probe.index}: the "
            f"slope is {fmt(left)} from the left and {fmt(right)} from the right and the "
            f"gap does not shrink with the step ({steps}), so no finite difference can "
            f"match Theano's {fmt(probe.analytic)}"
        )
        if layer_index is not None:
            label = inst.labels[layer_index]
            layer = inst.layers[layer_index]
            message += (
                f"; the kink is in the output of {label} ({probe.elements_at_kink} of "
                f"{probe.elements} "
                "elements sit on it)"
            )
            where = session.layer_fields(layer, label)
        else:
            message += (
                "; every layer's output is smooth along the probe, so the kink is in the loss"
            )
            where = session.loss_fields(session.model.output)
        if len(ids) > 1:
            message += f" (also {names(ids[1:])})"
        evidence = {"tensors": ids, "probes": [p.to_json(inst.labels) for _, p in members]}
        diagnoses.append(session.diagnosis(CODE, message + ".", FIX, where, None, evidence))
        session.explain([m for m, _ in members])
    return diagnoses
