"""Directional mode: every tensor compared along random Gaussian directions, all in one band, with a
sensitivity that is stated and holds whatever the seed (docs/numerics.md derives it).

- The band's tensors move together along one direction w, made of a Gaussian part per tensor
  (w_k = s_k b_k v_k, v_k ~ N(0, I), s_k = max(rms(p_k), 1), b_k a boost); one line costs 4 loss evaluations
  (numeric.Line). An error e_j in member j shows as s_j b_j <e_j, v_j> ~ N(0, (s_j b_j |e_j|)^2), independent
  of every other member's part, so the other members (their errors included) cannot make it less likely to
  be seen: the tolerance does not grow with the band.
- A tensor whose gradient is small against the loss's round-off is boosted (moves further) until one
  direction reaches numeric.TARGET for it; when boosts are not enough the band takes more directions (at
  most numeric.MAX_DIRECTIONS, plus TOP_UP where retries left a tensor short).
- A line that is not smooth, or neither passes nor confirms a disagreement, is probed elsewhere (LADDER):
  boosts cut, shorter steps, then a point near p. A band no line could judge is split into its members,
  each on its own line; a tensor no smooth line could judge is `inconclusive`, never `fail`.
- A band whose disagreement is confirmed is decomposed along the same direction (member j moved alone
  along w_j: the parts add up to the band's slope), and each member's part is judged on its own.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..model.data import stable_seed
from . import numeric

# A tensor whose gradient is small against the loss's round-off moves further along the line: its part of the
# direction is multiplied by the boost that brings its sensitivity to the target (at most this much). The
# threshold is round-off over the step, the same for every member, so a longer move is a larger signal;
# R(1)'s truncation is O(h^4), so it costs nothing where the loss is smooth, and where it is not the retries
# below shorten every move again. Not in float32 (its step is long already; float64 settles what it cannot).
BOOST_MAX = {"float64": 4096.0, "float32": 1.0}
# The attempts at a line, in order, until one judges: (step in h, boost level, at the nearby point). A boost
# level scales the boosts above 1 (0: no boost). Boosts are cut first (a boosted tensor moves furthest, so its
# curvature is the likeliest to spoil the line), then the step shortens. Not in float32: what a float32 line
# cannot judge is settled in float64 (diagnose/low_precision.py).
LADDER: dict[str, list[tuple[float, float, bool]]] = {
    "float64": [(1.0, 1.0, False), (1.0, 1.0 / 8.0, False), (1.0, 1.0 / 64.0, False), (1.0, 0.0, False),
                (1.0 / 8.0, 0.0, False), (1.0 / 64.0, 0.0, False), (1.0, 0.0, True), (1.0 / 8.0, 0.0, True),
                (1.0 / 64.0, 0.0, True)],
    "float32": [(1.0, 1.0, False)],
}
NEARBY = 256.0  # a point near p: p + NEARBY * h * u, u Gaussian per tensor (a kink at p itself moves away)


@dataclass
class Point:
    """Where lines start: the parameter values, the analytic gradients there and the loss (by the probe
    function). `view` is the check (check.CompiledCheck) whose loss() evaluates at any values."""

    view: Any
    values: list[np.ndarray]
    grads: list[np.ndarray]
    loss: float
    nearby: bool = False


@dataclass
class MemberState:
    """What the lines said about one tensor."""

    # Of the lines that passed with it: each line's threshold over the tensor's s_k |g_k| at the line's point
    # (inf where its gradient is all zero), so that numeric.sensitivity(thresholds, 1.0) is its sensitivity.
    thresholds: list[float] = field(default_factory=list)
    failed: Any = None  # the confirmed Judgement, with `direction` and `point` attached below
    direction: np.ndarray | None = None
    point: Point | None = None
    judged: list[Any] = field(default_factory=list)  # every judgement that counted, for the numbers shown
    unresolved: int = 0  # lines that could not judge it
    nearby: bool = False  # some line that counted ran at a point near p
    band: dict[str, Any] | None = None
    own: Any = None  # a judgement of this tensor alone (decomposition or own line), for its own numbers
    assigned: bool = False  # failed as the largest part of a band whose members' parts each agreed


class Prober:
    """Lines through the model's parameters for one check: evaluations, directions, retries, the nearby point."""

    def __init__(self, check: Any, grads: list[np.ndarray], seed: int, allowance_rtol: float, atol: float,
                 move: Callable[[Any, list[np.ndarray]], tuple[Any, list[np.ndarray], float]]) -> None:
        self.check = check
        self.move = move  # check.at_point: (view, gradients, loss) at other parameter values
        self.precision = check.precision
        self.seed = seed
        self.rho = allowance_rtol
        self.atol = atol
        self.h = float(numeric.machine_eps(self.precision) ** (1.0 / 3.0))
        self.base = Point(check, check.base, grads, check.loss_at_base())
        self._nearby: Point | None = None
        self.start = 0  # the LADDER attempt later lines start at (the last one that judged)
        self.level = 1.0  # the boost level of the attempt in progress
        self.boost: dict[int, float] = {}  # tensor -> how much further than s_k its part of a direction moves
        self._rms: dict[tuple[bool, int], float] = {}  # (at the nearby point, tensor) -> max(rms(p_k), 1)
        self._abs: dict[tuple[bool, int], float] = {}  # (at the nearby point, tensor) -> sum |g_k|
        self._norm: dict[tuple[bool, int], float] = {}  # (at the nearby point, tensor) -> |g_k|
        # id(part) -> the scale it was drawn with (no reference kept: a direction is as large as the model; an
        # address reused by a later draw is overwritten by that draw, and only drawn parts are looked up)
        self.drawn: dict[int, float] = {}
        # A measured round-off bound per point (numeric.noise_floor), taken once a line there is not smooth (or
        # known already: the check's probe function measured at the base point before).
        self.floor: dict[bool, float] = {False: check.noise_floor} if check.noise_floor else {}
        self.extra_evaluations = 0  # evaluations made at the nearby point (its own view)

    # ------------------------------------------------------------ directions
    def scale(self, point: Point, k: int) -> float:
        """The standard deviation of tensor k's part of a direction: max(rms(p_k), 1), times its boost."""
        boost = self.boost.get(k, 1.0)
        key = (point.nearby, k)
        if key not in self._rms:
            self._rms[key] = max(numeric.rms(point.values[k]), 1.0)
        return self._rms[key] * (max(1.0, boost * self.level) if boost > 1.0 else 1.0)

    def draw(self, members: list[int], name: str, point: Point) -> dict[int, np.ndarray]:
        rng = np.random.default_rng(stable_seed(self.seed, name))
        parts = {}
        for k in members:
            scale = self.scale(point, k)
            parts[k] = scale * rng.standard_normal(point.values[k].shape)
            self.drawn[id(parts[k])] = scale
        return parts

    def normalised(self, threshold: float, point: Point, k: int, part: np.ndarray) -> float:
        """A line's threshold over member k's s_k |g_k| at the line's point, s_k the scale its `part` of the
        line's direction was drawn with (inf for an all-zero gradient)."""
        scale = self.drawn.get(id(part), self.scale(point, k)) * self.norm(point, k)
        return threshold / scale if scale > 0 else math.inf

    def norm(self, point: Point, k: int) -> float:
        """|g_k| at the point (cached: a gradient is as large as its tensor)."""
        key = (point.nearby, k)
        if key not in self._norm:
            self._norm[key] = float(np.linalg.norm(point.grads[k]))
        return self._norm[key]

    def terms(self, point: Point, members: list[int]) -> float:
        """The expected sum |g_i w_i| over the members' elements (w_i = s_k N(0, 1)): what the allowance
        multiplies (an honest bound of the analytic side's round-off on average over directions, known before
        a direction is drawn, and one pass over the gradients cheaper per line than the drawn sum)."""
        total = 0.0
        for k in members:
            key = (point.nearby, k)
            if key not in self._abs:
                self._abs[key] = float(np.sum(np.abs(point.grads[k])))
            total += self.scale(point, k) * self._abs[key]
        return numeric.GAUSSIAN_DENSITY * total

    # ------------------------------------------------------------ one line
    def line(self, parts: dict[int, np.ndarray], step: float, point: Point) -> numeric.Judgement:
        values = point.values
        exact = all(values[k].dtype == np.float64 for k in parts)
        dots: dict[float, float] = {}
        seen: dict[float, float] = {}  # a line judged again against a measured noise floor re-reads its points

        def moved(t: float) -> list[np.ndarray]:
            at = list(values)
            for k, w in parts.items():
                at[k] = (values[k] + t * w).astype(values[k].dtype, copy=False)
            return at

        def losses_along(ts: list[float]) -> list[float]:
            new = [t for t in ts if t not in seen]
            seen.update(zip(new, point.view.losses(new, lambda t: point.view.loss(moved(t))), strict=True))
            if not exact:  # the displacement actually taken, after rounding to the parameters' dtype
                for t in new:
                    dots[t] = float(sum(np.sum(point.grads[k] * (x.astype("float64") - values[k]))
                                        for k, x in enumerate(moved(t)) if k in parts))
            return [seen[t] for t in ts]

        def loss_along(t: float) -> float:
            return losses_along([t])[0]

        analytic = float(sum(point.grads[k].ravel() @ parts[k].ravel() for k in parts))
        allowance = self.rho * self.line_terms(point, parts) + self.atol
        judgement = numeric.probe(analytic, loss_along, step, self.precision, allowance, point.loss,
                                  analytic_at=None if exact else dots.__getitem__,
                                  floor=self.floor.get(point.nearby, 0.0), batch=losses_along)
        if judgement.verdict == numeric.NONSMOOTH and point.nearby not in self.floor and exact:
            # Not smooth: a kink, or round-off beyond 16 eps |L|. Measure the round-off once per point; if it is
            # the reason, the same line judged against it says so.
            floor = numeric.noise_floor(loss_along, point.loss, step, batch=losses_along)
            self.floor[point.nearby] = floor if numeric.usable_floor(floor, point.loss, self.precision) else 0.0
            if self.floor[point.nearby] > judgement.delta:
                judgement = numeric.probe(analytic, loss_along, step, self.precision, allowance, point.loss,
                                          floor=self.floor[point.nearby], batch=losses_along)
        return judgement

    def line_terms(self, point: Point, parts: dict[int, np.ndarray]) -> float:
        """The expected sum |g_i w_i| of these parts, each at the scale it was drawn with."""
        total = 0.0
        for k, part in parts.items():
            key = (point.nearby, k)
            if key not in self._abs:
                self._abs[key] = float(np.sum(np.abs(point.grads[k])))
            total += self.drawn.get(id(part), self.scale(point, k)) * self._abs[key]
        return numeric.GAUSSIAN_DENSITY * total

    def nearby(self) -> Point:
        """A point near p (computed once): p + NEARBY*h*u, its analytic gradients and its loss."""
        if self._nearby is None:
            members = list(range(len(self.base.values)))
            move = self.draw(members, "nearby", self.base)
            values = [(v + NEARBY * self.h * move[k]).astype(v.dtype, copy=False)
                      for k, v in enumerate(self.base.values)]
            view, grads, loss = self.move(self.check, values)
            self._nearby = Point(view, values, grads, loss, nearby=True)
        return self._nearby

    def judged_line(self, members: list[int], name: str, first: dict[int, np.ndarray] | None = None) -> Attempt:
        """A line through `members` that judges (PASS or FAIL) if any attempt of LADDER does: the direction
        `first` (or a fresh one), then fresh directions with the boosts cut (8x, 64x, none), then shorter
        steps (a kink crossed within the step is crossed less often), then the same steps at the point near p
        (a kink at p itself).
        Later lines start at the attempt that last judged, so a model with kinks pays for them once.
        Returns the last judgement, its direction and its point."""
        boosted = any(b > 1.0 for b in self.boost.values())
        # without boosts, the rungs that only cut boosts would repeat the first one
        ladder = [a for a in LADDER[self.precision] if boosted or a[1] == 1.0 or a[0] != 1.0 or a[2]]
        judgement: numeric.Judgement | None = None
        parts: dict[int, np.ndarray] = {}
        point = self.base
        spoilt: tuple[float, float, float] | None = None  # (step, level, curvature excess) of a boosted line
        for attempt in range(min(self.start, len(ladder) - 1), len(ladder)):
            step, level, near = ladder[attempt]
            if spoilt is not None and not near and step == spoilt[0] and level > 0.0 and \
                    (level / spoilt[1]) ** 4 * spoilt[2] > 1.0:
                continue  # even the r^4 that r times shorter boosts would cut leaves its curvature too strong
            self.level = level
            point = self.nearby() if near else self.base
            parts = first if attempt == self.start and first is not None else self.draw(
                members, f"{name}:retry{attempt}" if attempt else name, point)
            judgement = self.line(parts, step * self.h, point)
            if judgement.counts:
                if not near:
                    self.start = max(self.start, attempt)
                break
            excess = judgement.curvature_excess()
            if excess is not None and level > 0.0 and boosted and not near:
                spoilt = (step, level, excess)
        assert judgement is not None
        return judgement, parts, point


Attempt = tuple[numeric.Judgement, dict[int, np.ndarray], Point]  # what a line said, its direction, its point


# ---------------------------------------------------------------- planning

@dataclass
class Band:
    members: list[int]
    directions: int
    name: str = ""


def plan(prober: Prober, indices: list[int], minimum: int, target: float) -> list[Band]:
    """One band for every tensor, along `minimum` directions (more when boosts cannot reach `target`), each
    tensor with a gradient boosted (BOOST_MAX) until its sensitivity reaches the target. Tensors whose
    gradient is all zero have no relative sensitivity (any gradient there is an error); they are in the band
    all the same."""
    base = prober.base
    norms = {k: prober.norm(base, k) for k in indices}
    nonzero = [k for k in indices if norms[k] > 0.0]
    directions = minimum
    if nonzero:
        allowance = prober.rho * prober.terms(base, nonzero) + prober.atol
        threshold = numeric.predicted_threshold(base.loss, prober.h, prober.precision, allowance)
        for k in nonzero:
            reach = numeric.sensitivity([threshold] * minimum, prober.scale(base, k) * norms[k])
            need = (reach or math.inf) / target * 1.25  # a margin: the threshold is known only after probing
            prober.boost[k] = min(BOOST_MAX[prober.precision], max(1.0, need))
        allowance = prober.rho * prober.terms(base, nonzero) + prober.atol  # the boosted parts' terms
        threshold = numeric.predicted_threshold(base.loss, prober.h, prober.precision, allowance)
        if prober.precision == "float64":
            directions = max(minimum, numeric.directions_needed(
                [prober.scale(base, k) * norms[k] for k in nonzero], threshold, target))
    band = Band(list(indices), directions)
    band.name = "band0:" + ",".join(str(k) for k in band.members)
    return [band]


# ---------------------------------------------------------------- running a band

# Directions a band may add when lines with shorter steps left a member short of the target (float32: none,
# the float64 check settles what float32 cannot resolve).
TOP_UP = {"float64": 2, "float32": 0}


def short_of_target(prober: Prober, k: int, state: MemberState, target: float) -> bool:
    reached = numeric.sensitivity(state.thresholds, 1.0)
    if reached is None:  # nothing relative to say: short only if the tensor has a gradient to be relative to
        return prober.norm(prober.base, k) > 0.0
    return reached > target


def run_band(prober: Prober, band: Band, states: dict[int, MemberState], band_id: int, target: float) -> None:
    """Probe `band` along its directions; fill `states` (one per member). When retries at shorter steps
    left a member short of `target`, up to TOP_UP more directions are taken."""
    live = list(band.members)
    for d in range(band.directions + TOP_UP[prober.precision]):
        live = [k for k in live if states[k].failed is None]
        if d >= band.directions:
            live = [k for k in live if short_of_target(prober, k, states[k], target)]
        if not live:
            return
        judgement, parts, point = prober.judged_line(live, f"{band.name}:d{d}")
        if judgement.verdict == numeric.PASS:
            for k in live:
                states[k].thresholds.append(prober.normalised(judgement.threshold, point, k, parts[k]))
                states[k].band = {"id": band_id, "size": len(live), "directions": d + 1,
                                  "residual": judgement.abs_err, "tolerance": judgement.tolerance,
                                  "analytic": float(np.sum(point.grads[k] * parts[k]))}
                states[k].nearby |= point.nearby
            continue
        if judgement.verdict == numeric.FAIL:
            decompose(prober, live, parts, point, judgement, states, band, d)
            continue
        # No line through the whole band could judge: each member on its own line (in float32, left to the
        # float64 check that settles what float32 cannot).
        for k in live:
            if prober.precision == "float32":
                states[k].unresolved += 1
            else:
                single(prober, k, f"{band.name}:d{d}:alone{k}", states)


def single(prober: Prober, k: int, name: str, states: dict[int, MemberState],
           first: dict[int, np.ndarray] | None = None, point: Point | None = None,
           step: float = 1.0) -> numeric.Judgement:
    """Tensor k on its own line (`first` at `point` and `step`, else fresh ones, with retries); records the
    outcome in states[k]."""
    state = states[k]
    if first is not None and point is not None:
        judgement = prober.line(first, step, point)
        parts = first
        if not judgement.counts:
            judgement, parts, point = prober.judged_line([k], name)
    else:
        judgement, parts, point = prober.judged_line([k], name)
    state.own = judgement
    if judgement.verdict == numeric.PASS:
        state.thresholds.append(prober.normalised(judgement.threshold, point, k, parts[k]))
        state.judged.append(judgement)
        state.nearby |= point.nearby
    elif judgement.verdict == numeric.FAIL:
        state.failed, state.direction, state.point = judgement, parts[k], point
        state.judged.append(judgement)
        state.nearby |= point.nearby
    else:
        state.unresolved += 1
    return judgement


def decompose(prober: Prober, members: list[int], parts: dict[int, np.ndarray], point: Point,
              band_judgement: numeric.Judgement, states: dict[int, MemberState], band: Band, d: int) -> None:
    """A confirmed disagreement of the band: each member along its own part of the same direction."""
    if len(members) == 1:
        k = members[0]
        states[k].failed, states[k].direction, states[k].point = band_judgement, parts[k], point
        states[k].own = band_judgement
        states[k].judged.append(band_judgement)
        return
    own: dict[int, numeric.Judgement] = {}
    for k in members:
        own[k] = single(prober, k, f"{band.name}:d{d}:part{k}", states, first={k: parts[k]}, point=point,
                        step=band_judgement.step)
    if any(states[k].failed is not None for k in members):
        return
    # Confirmed for the band but for no member alone: the members whose parts carry the most of the
    # band's error fail, until what is left is within the band's tolerance.
    remaining = band_judgement.error
    for k in sorted(members, key=lambda m: -abs(own[m].error) if own[m].counts else 0.0):
        if abs(remaining) <= band_judgement.tolerance or not own[k].counts:
            break
        state = states[k]
        state.failed, state.direction, state.point = own[k], parts[k], point
        state.assigned = True
        if state.thresholds and own[k].verdict == numeric.PASS:
            state.thresholds.pop()
        remaining -= own[k].error


# ---------------------------------------------------------------- results

def check_tensors(check: Any, model: Any, grads: list[np.ndarray], indices: list[int], spec: Any,
                  allowance_rtol: float, atol: float,
                  move: Callable[[Any, list[np.ndarray]], tuple[Any, list[np.ndarray], float]]) -> dict[int, Any]:
    """The directional check of the tensors `indices` (into model.params): ParamResults by index. `move`
    gives the check at other parameter values (check.at_point)."""
    prober = Prober(check, grads, spec.seed, allowance_rtol, atol, move)
    target = numeric.TARGET[check.precision]
    states = {k: MemberState() for k in indices}
    spent: dict[int, int] = {}
    for band_id, band in enumerate(plan(prober, list(indices), spec.directions, target)):
        before = check.evaluations
        run_band(prober, band, states, band_id, target)
        spent[band.members[0]] = check.evaluations - before
    failing = [k for k in indices if states[k].failed is not None]
    located = dict(zip(failing, localise([failure(prober, k, states[k]) for k in failing]), strict=True))
    if prober._nearby is not None:  # evaluations at the nearby point count for the model as well
        check.evaluations += prober._nearby.view.evaluations
    if prober.floor.get(False):
        check.noise_floor = prober.floor[False]
    results = {}
    for k in indices:
        results[k] = result_of(prober, model.params[k], k, states[k], located.get(k))
        results[k].evaluations = spent.get(k, 0)
    return results


def failure(prober: Prober, k: int, state: MemberState) -> tuple[Any, int, np.ndarray, np.ndarray, Any]:
    """What localise needs of a failed tensor: the view and gradient where it failed, its direction and line."""
    point = state.point or prober.base
    assert state.direction is not None  # set with `failed`
    return point.view, k, point.grads[k], state.direction, state.failed


def result_of(prober: Prober, info: Any, k: int, state: MemberState,
              located: tuple[int, float, float] | None = None) -> Any:
    """Tensor k's ParamResult; `located`: its worst element when it failed (localise)."""
    base = prober.base
    shape = list(base.values[k].shape)
    sensitivity = numeric.sensitivity(state.thresholds, 1.0)
    common: dict[str, Any] = {"shape": shape, "sensitivity": sensitivity, "directions": len(state.thresholds),
                              "band": None, "grad_norm": prober.norm(base, k)}
    if state.failed is not None:
        j = state.failed
        point = state.point or base
        assert located is not None  # localised with every failing tensor
        flat_index, analytic, numeric_value = located
        note = None
        if state.assigned:
            note = ("its part of the band's direction agrees within tolerance, but the band's disagreement is "
                    "confirmed and this tensor carries the largest part of it")
        if point.nearby:
            note = (note + "; " if note else "") + "measured at a point near the checked one (a kink at it)"
        result = info.result(status="fail", max_abs_err=j.abs_err, max_rel_err=relative(j), tolerance=j.tolerance,
                             worst_index=unravel(flat_index, shape), method="directional", analytic=analytic,
                             numeric=numeric_value, note=note, **common)
        result.directions = len(state.judged)
        return result
    if not state.thresholds:
        # float32 tries the checked point only (float64 settles the rest); float64 ends at the nearby point
        where = ", the last at a point near the checked one" if prober._nearby is not None else " at the checked point"
        return info.result(status="inconclusive", max_abs_err=None, max_rel_err=None, tolerance=None,
                           worst_index=None, method="directional", analytic=None, numeric=None,
                           note=f"no smooth line could judge it ({state.unresolved} tried{where}): the loss is not "
                                "smooth at any step tried (kinks, or round-off far beyond its precision's)", **common)
    note = "measured at a point near the checked one (the loss has a kink at it)" if state.nearby else None
    own = [j for j in state.judged if j.verdict == numeric.PASS]
    if own:
        worst = max(own, key=lambda j: j.abs_err / j.tolerance if j.tolerance else 0.0)
        return info.result(status="pass", max_abs_err=worst.abs_err, max_rel_err=relative(worst),
                           tolerance=worst.tolerance, worst_index=None, method="directional",
                           analytic=worst.analytic, numeric=worst.numeric, note=note, **common)
    band = state.band or {}
    common["band"] = {key: band[key] for key in ("id", "size", "residual", "tolerance") if key in band}
    return info.result(status="pass", max_abs_err=None, max_rel_err=None, tolerance=None, worst_index=None,
                       method="grouped" if band.get("size", 1) > 1 else "directional",
                       analytic=band.get("analytic"), numeric=None, note=note, **common)


def relative(j: numeric.Judgement) -> float:
    """|numeric - analytic| against the larger of the two values, never below the tolerance (noise level)."""
    reference = max(abs(j.analytic), abs(j.numeric), j.tolerance)
    return j.abs_err / reference if reference > 0 else 0.0


def unravel(flat_index: int, shape: list[int]) -> list[int]:
    return [int(i) for i in np.unravel_index(flat_index, shape)] if shape else []


@dataclass
class Bisection:
    """One failing tensor's bisection (see localise): the candidates left and the error they carry."""

    view: Any
    index: int
    flat_grad: np.ndarray
    flat_direction: np.ndarray
    step: float
    candidates: np.ndarray
    error: float


def localise(failing: list[tuple[Any, int, np.ndarray, np.ndarray, Any]]) -> list[tuple[int, float, float]]:
    """The worst element of each tensor whose line failed, (view, index, grad, direction, judgement) each:
    (flat index, analytic, numeric) each.

    Bisection: directional derivatives add up over disjoint blocks, so the error of one half is measured
    and the other's is the remainder of the failed line's; the half with the larger error is kept, down to
    one element: log2(n) probes instead of the 2n of an element-wise pass. The failure is already
    confirmed, so a level only has to rank two halves: in float64 one one-sided difference does (one
    evaluation); in float32 its round-off is too coarse and a level takes a central one. The element's
    numeric derivative is its analytic one plus its error over its direction component. The tensors'
    bisections are independent, so they go level by level together: one batch of evaluations per level
    (forked.split shares a batch with a spare CPU).
    """
    runs = [Bisection(view, index, grad.reshape(-1), direction.reshape(-1), failed.step,
                      np.arange(direction.size), failed.error)
            for view, index, grad, direction, failed in failing]
    while True:
        level = [run for run in runs if run.candidates.size > 1]
        if not level:
            break
        halves = [np.array_split(run.candidates, 2)[0] for run in level]  # the half measured at this level
        errors = block_errors([(run.view, run.index, run.flat_grad, run.flat_direction, first, run.step, False)
                               for run, first in zip(level, halves, strict=True)])
        for run, first, first_error in zip(level, halves, errors, strict=True):
            second = run.candidates[first.size:]
            second_error = run.error - first_error
            run.candidates, run.error = ((first, first_error) if abs(first_error) >= abs(second_error)
                                         else (second, second_error))
    located = []
    for run in runs:
        i = int(run.candidates[0])
        analytic = float(run.flat_grad[i])
        if abs(run.flat_direction[i]) < 1e-3:  # the estimate would divide by ~0: measure the element itself
            step = numeric.base_step(run.view.precision, abs(float(run.view.base[run.index].reshape(-1)[i])))
            unit = np.eye(1, run.flat_direction.size, i).reshape(-1)
            element = block_errors([(run.view, run.index, run.flat_grad, unit, run.candidates, step, True)])[0]
            located.append((i, analytic, analytic + element))
        else:
            located.append((i, analytic, analytic + run.error / float(run.flat_direction[i])))
    return located


# (view, tensor, flat gradient, flat direction, block, step, central difference)
Block = tuple[Any, int, np.ndarray, np.ndarray, np.ndarray, float, bool]


def block_errors(blocks: list[Block]) -> list[float]:
    """numeric - analytic derivative along each direction restricted to its block, the loss evaluations of
    every block at one point in one batch."""
    points: list[tuple[int, float]] = []  # (block, t)
    for b, (view, _, _, _, _, step, central) in enumerate(blocks):
        if view.precision == "float64" and not central:
            # sqrt(eps) balances a one-sided difference's truncation and round-off
            points.append((b, step * numeric.machine_eps(view.precision) ** (1.0 / 6.0)))
        else:
            points.extend(((b, step), (b, -step)))

    def masked(b: int) -> np.ndarray:
        view, index, _, flat_direction, block, _, _ = blocks[b]
        out = np.zeros(flat_direction.size)
        out[block] = flat_direction[block]
        return out.reshape(view.base[index].shape)

    directions = {b: masked(b) for b in range(len(blocks))}

    def loss_at(point: tuple[int, float]) -> float:
        b, t = point
        view, index = blocks[b][0], blocks[b][1]
        value = view.base[index]
        return float(view.loss_with(index, (value + t * directions[b]).astype(value.dtype, copy=False)))

    values: dict[tuple[int, float], float] = {}
    for view in {id(block[0]): block[0] for block in blocks}.values():  # one batch per point (its view)
        mine = [point for point in points if blocks[point[0]][0] is view]
        values.update(zip(mine, view.losses(mine, loss_at), strict=True))
    errors = []
    for b, (view, _, flat_grad, flat_direction, block, _, _) in enumerate(blocks):
        analytic = float(np.dot(flat_grad[block], flat_direction[block]))
        ts = [t for c, t in points if c == b]
        if len(ts) == 1:
            errors.append((values[(b, ts[0])] - view.loss_at_base()) / ts[0] - analytic)
        else:
            errors.append((values[(b, ts[0])] - values[(b, ts[1])]) / (2 * ts[0]) - analytic)
    return errors
