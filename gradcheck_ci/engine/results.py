"""A tensor's result: what its lines said, as the ParamResult the reports show (status, errors,
tolerance, worst element, sensitivity, note), in the directional mode (directional_result, from its
MemberState) and in the full mode (full_result, from its elements' judgements)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.results import ParamResult
from ..model.built import ParamInfo
from . import line, numeric
from .bands import MemberState
from .localise import Located
from .probing import Prober


def directional_result(
    prober: Prober, info: ParamInfo, k: int, state: MemberState, located: Located | None = None
) -> ParamResult:
    """Tensor k's ParamResult in the directional mode, from what its lines said (`state`);
    `located`: its worst element when it failed (localise)."""
    base = prober.base
    shape = list(base.values[k].shape)
    sensitivity = numeric.sensitivity(state.thresholds, 1.0)
    common: dict[str, Any] = {
        "shape": shape,
        "sensitivity": sensitivity,
        "directions": len(state.thresholds),
        "band": None,
        "grad_norm": base.norms[k],
    }
    if state.failed is None and not state.thresholds:
        # float32 tries the checked point only (float64 settles the rest); float64 ends at the
        # nearby point
        where = (
            ", the last at a point near the checked one"
            if prober._nearby is not None
            else " at the checked point"
        )
        return unjudged(
            info,
            "directional",
            f"no smooth line could judge it ({state.unresolved} tried{where}): the loss is not "
            "smooth at any step tried (kinks, or round-off far beyond its precision's)",
            **common,
        )
    if state.failed is not None:
        j = state.failed
        point = state.point or base
        # localised unless the check was asked for verdicts only (CheckSettings.localise): then
        # the line's own numbers
        worst_index, analytic, numeric_value = None, j.analytic, j.numeric
        if located is not None:
            worst_index = unravel(located.flat_index, shape)
            analytic, numeric_value = located.analytic, located.numeric
        note = None
        if state.assigned:
            note = (
                "its part of the band's direction agrees within tolerance, but the band's "
                "disagreement is confirmed and this tensor carries the largest part of it"
            )
        if point.nearby:
            note = (note + "; " if note else "") + (
                "measured at a point near the checked one (a kink at it)"
            )
        result = info.result(
            status="fail",
            max_abs_err=j.abs_err,
            max_rel_err=relative(j),
            tolerance=j.tolerance,
            worst_index=worst_index,
            method="directional",
            analytic=analytic,
            numeric=numeric_value,
            note=note,
            **common,
        )
        result.directions = len(state.judged)
        return result
    note = (
        "measured at a point near the checked one (the loss has a kink at it)"
        if state.nearby
        else None
    )
    own = [j for j in state.judged if j.verdict == line.PASS]
    if own:
        worst = max(own, key=lambda j: j.abs_err / j.tolerance if j.tolerance else 0.0)
        return info.result(
            status="pass",
            max_abs_err=worst.abs_err,
            max_rel_err=relative(worst),
            tolerance=worst.tolerance,
            worst_index=None,
            method="directional",
            analytic=worst.analytic,
            numeric=worst.numeric,
            note=note,
            **common,
        )
    band = state.band or {}
    common["band"] = {
        key: band[key] for key in ("id", "size", "residual", "tolerance") if key in band
    }
    method = "grouped" if band.get("size", 1) > 1 else "directional"
    return without_error(info, "pass", method, note, analytic=band.get("analytic"), **common)


def relative(j: line.Judgement) -> float:
    """|numeric - analytic| against the larger of the two values, never below the tolerance (noise
    level)."""
    reference = max(abs(j.analytic), abs(j.numeric), j.tolerance)
    return j.abs_err / reference if reference > 0 else 0.0


def unravel(flat_index: int, shape: list[int]) -> list[int]:
    return [int(i) for i in np.unravel_index(flat_index, shape)] if shape else []


def full_result(
    info: ParamInfo,
    value: np.ndarray,
    grad: np.ndarray,
    judgements: dict[int, line.Judgement],
    nearby: set[int],
) -> ParamResult:
    """A tensor's ParamResult in the full mode, from its elements' judgements (`nearby`: the
    elements judged at the point near the checked one)."""
    shape = list(value.shape)
    judged = {i: j for i, j in judgements.items() if j.counts}
    failing = {i: j for i, j in judged.items() if j.verdict == line.FAIL}
    flat_value = value.reshape(-1)
    # the element's own scale: thresholds are along x_i * scale_i
    thresholds = [j.threshold / max(abs(float(flat_value[i])), 1.0) for i, j in judged.items()]
    norm = float(np.linalg.norm(grad))
    sensitivity = (
        numeric.full_sensitivity(thresholds, norm) if len(judged) == len(judgements) else None
    )
    note = (
        "measured at a point near the checked one for some elements (the loss has a kink at it)"
        if nearby & set(judged)
        else None
    )
    pool = failing or judged
    if not pool:
        return unjudged(
            info,
            "full",
            "no element could be judged: the loss has kinks within every probe's reach",
            shape=shape,
            sensitivity=None,
            directions=0,
            grad_norm=norm,
        )
    worst_i, worst = max(pool.items(), key=lambda item: item[1].abs_err / item[1].tolerance)
    scale = max(abs(float(flat_value[worst_i])), 1.0)
    status = "fail" if failing else ("pass" if len(judged) == len(judgements) else "inconclusive")
    if status == "inconclusive":
        note = (
            f"{len(judgements) - len(judged)} of {len(judgements)} elements could not be "
            f"judged (kinks)"
        )
    return info.result(
        shape=shape,
        status=status,
        max_abs_err=worst.abs_err / scale,
        max_rel_err=relative(worst),
        tolerance=worst.tolerance / scale,
        worst_index=unravel(worst_i, shape),
        method="full",
        analytic=worst.analytic / scale,
        numeric=worst.numeric / scale,
        sensitivity=sensitivity,
        directions=len(judged),
        note=note,
        grad_norm=norm,
    )


def unjudged(info: ParamInfo, method: str, note: str, **common: Any) -> ParamResult:
    """An inconclusive tensor: no line or element could judge it, so there is no error to show."""
    return without_error(info, "inconclusive", method, note, analytic=None, **common)


def without_error(
    info: ParamInfo,
    status: str,
    method: str,
    note: str | None,
    analytic: float | None,
    **common: Any,
) -> ParamResult:
    """A result with no error to show: a tensor no line judged, or one whose passing lines ran
    through the whole band (its own error is not measured alone)."""
    return info.result(
        status=status,
        max_abs_err=None,
        max_rel_err=None,
        tolerance=None,
        worst_index=None,
        method=method,
        analytic=analytic,
        numeric=None,
        note=note,
        **common,
    )
