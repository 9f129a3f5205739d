"""A band's lines (bands.py plans the band, probing.Prober measures each line): the band probed
along its directions until each member is judged (run_band), a member on its own line (single), a
confirmed disagreement decomposed into its members' parts (decompose), and what each line said
about a member kept in its state (record_outcome)."""

from __future__ import annotations

import numpy as np

from . import numeric
from .bands import Band, MemberState
from .line import FAIL, PASS, Judgement, additive, remainder
from .precision import of
from .probing import Direction, Point, Prober


def normalised(direction: Direction, threshold: float, point: Point, k: int) -> float:
    """A line's threshold over member k's s_k |g_k| at the line's point (inf for an all-zero
    gradient)."""
    scale = direction.scales[k] * point.norms[k]
    return threshold / scale if scale > 0 else float("inf")


def short_of_target(prober: Prober, k: int, state: MemberState, target: float) -> bool:
    reached = numeric.sensitivity(state.thresholds, 1.0)
    # nothing relative to say: short only if the tensor has a gradient to be relative to
    if reached is None:
        return prober.base.norms[k] > 0.0
    return reached > target


def run_band(
    prober: Prober, band: Band, states: dict[int, MemberState], band_id: int, target: float
) -> None:
    """Probe `band` along its directions; fill `states` (one per member). When retries at shorter
    steps left a member short of `target`, up to the precision's top_up more directions are
    taken."""
    live = list(band.members)
    for d in range(band.directions + of(prober.precision).top_up):
        live = [k for k in live if states[k].failed is None]
        if d >= band.directions:
            live = [k for k in live if short_of_target(prober, k, states[k], target)]
        if not live:
            return
        judgement, direction, point = prober.judged_line(
            live, f"{band.name}:d{d}", keep=live == band.members
        )
        if judgement.verdict == PASS:
            for k in live:
                states[k].thresholds.append(normalised(direction, judgement.threshold, point, k))
                states[k].band = {
                    "id": band_id,
                    "size": len(live),
                    "directions": d + 1,
                    "residual": judgement.abs_err,
                    "tolerance": judgement.tolerance,
                    "analytic": float(np.sum(point.grads[k] * direction.parts[k])),
                }
                states[k].nearby |= point.nearby
            continue
        if judgement.verdict == FAIL:
            decompose(prober, live, direction, point, judgement, states, band, d)
            continue
        each_alone(prober, live, states, f"{band.name}:d{d}")


def each_alone(
    prober: Prober, members: list[int], states: dict[int, MemberState], name: str
) -> None:
    """No line through the whole band could judge: each member on its own line (in float32, left to
    the float64 check that settles what float32 cannot)."""
    for k in members:
        if not of(prober.precision).settles_itself:
            states[k].unresolved += 1
        else:
            single(prober, k, f"{name}:alone{k}", states)


def single(
    prober: Prober,
    k: int,
    name: str,
    states: dict[int, MemberState],
    first: Direction | None = None,
    point: Point | None = None,
    step: float = 1.0,
) -> Judgement:
    """Tensor k on its own line (`first` at `point` and `step`, else fresh ones, with retries);
    records the outcome in states[k]."""
    if first is not None and point is not None:
        judgement = prober.line(first, step, point)
        direction = first
        if not judgement.counts:
            judgement, direction, point = prober.judged_line([k], name)
    else:
        judgement, direction, point = prober.judged_line([k], name)
    record_outcome(k, states[k], judgement, direction, point)
    return judgement


def record_outcome(
    k: int, state: MemberState, judgement: Judgement, direction: Direction, point: Point
) -> None:
    """What a line through tensor k alone (or its part of a band's line) said, in its state."""
    state.own = judgement
    if judgement.verdict == PASS:
        state.thresholds.append(normalised(direction, judgement.threshold, point, k))
        state.judged.append(judgement)
        state.nearby |= point.nearby
    elif judgement.verdict == FAIL:
        state.failed, state.direction, state.point = judgement, direction.parts[k], point
        state.judged.append(judgement)
        state.nearby |= point.nearby
    else:
        state.unresolved += 1


def decompose(
    prober: Prober,
    members: list[int],
    direction: Direction,
    point: Point,
    band_judgement: Judgement,
    states: dict[int, MemberState],
    band: Band,
    d: int,
) -> None:
    """A confirmed disagreement of the band: each member along its own part of the same
    direction."""
    if len(members) == 1:
        k = members[0]
        states[k].failed, states[k].direction, states[k].point = (
            band_judgement,
            direction.parts[k],
            point,
        )
        states[k].own = band_judgement
        states[k].judged.append(band_judgement)
        return
    own: dict[int, Judgement] = {}
    *measured, last = members
    aligned = []  # the parts' lines along the band's own line (not a retry elsewhere)
    rough = False  # a part's share of the band's line was not smooth
    for k in measured:
        part = direction.part(k)
        own[k] = prober.line(part, band_judgement.step, point)
        if own[k].counts:
            aligned.append(own[k])
            record_outcome(k, states[k], own[k], part, point)
        else:
            rough = True
            own[k] = single(prober, k, f"{band.name}:d{d}:part{k}", states)
    # The last part: what is left of the band's line once the others are known, when every other
    # part was judged along it and confirmed, and one of them failed (the band's error is then
    # theirs and the rest is the last one's share); else along its own part of the line, as the
    # others, so that the parts can be held to the band (additive, below).
    exact = all(point.values[k].dtype == np.float64 for k in members)
    left = remainder(band_judgement, aligned) if exact and len(aligned) == len(measured) else None
    if left is not None and left.counts and any(j.verdict == FAIL for j in aligned):
        own[last] = left
        record_outcome(last, states[last], left, direction.part(last), point)
    else:
        own[last] = prober.line(direction.part(last), band_judgement.step, point)
        if own[last].counts:
            aligned.append(own[last])
            record_outcome(last, states[last], own[last], direction.part(last), point)
        else:
            rough = True
            own[last] = single(prober, last, f"{band.name}:d{d}:part{last}", states)
    if any(states[k].failed is not None for k in members):
        return
    # Confirmed for the band but for no member alone. When the parts' errors add up to the band's,
    # the members whose parts carry the most of it fail, until what is left is within the band's
    # tolerance (an error spread over members, each share below its own line's tolerance). When
    # they do not (line.additive), or a part's share of the band's line was not smooth, the band's
    # line crossed kinks its own fourth differences could not show: it says nothing of the
    # gradient, and each member keeps its own line's verdict.
    if rough or (len(aligned) == len(members) and not additive(band_judgement, aligned)):
        return
    remaining = band_judgement.error
    for k in sorted(members, key=lambda m: -abs(own[m].error) if own[m].counts else 0.0):
        if abs(remaining) <= band_judgement.tolerance or not own[k].counts:
            break
        state = states[k]
        state.failed, state.direction, state.point = own[k], direction.parts[k], point
        state.assigned = True
        if state.thresholds and own[k].verdict == PASS:
            state.thresholds.pop()
        remaining -= own[k].error
