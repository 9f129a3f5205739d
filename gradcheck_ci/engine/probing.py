"""Probing lines: the point they start from (Point, with the sums of its gradients that lines
read), the directions (drawn reproducibly from the model's seed, each tensor's part scaled:
Direction, scaled), and the Prober that measures one line along a direction (its boosts, the ladder
of retries, the nearby point) and has line.py judge it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import numeric
from .digests import digest
from .evaluation import CompiledCheck, Move, Moved, Record
from .line import FAIL, Judgement, judge, settled_elsewhere
from .precision import of

# A tensor whose gradient is small against the loss's round-off moves further along the line: its
# part of the direction is multiplied by the boost that brings its sensitivity to the target (at
# most the precision's boost_max). The threshold is round-off over the step, the same for every
# member, so a longer move is a larger signal. The attempts at a line are the precision's ladder.

# a point near p: p + NEARBY * h * u, u Gaussian per tensor (a kink at p itself moves away)
NEARBY = 256.0


def stable_seed(*parts: Any) -> int:
    """A seed that depends only on its parts (not on PYTHONHASHSEED), for reproducible
    directions."""
    import zlib

    return zlib.crc32("\x00".join(str(p) for p in parts).encode()) & 0x7FFFFFFF


def direction_generator(seed: int, name: str) -> np.random.Generator:
    """Gaussian directions, reproducible from the model's seed and what they probe (so every run and
    every shard draws the same). numpy's Generator: its Gaussians cost a third of RandomState's,
    which shows on 100k+-parameter models, where drawing the direction otherwise costs more than the
    forward pass."""
    return np.random.default_rng(stable_seed(seed, name))


@dataclass
class Point:
    """Where lines start: the parameter values, the analytic gradients there and the loss (by the
    probe function). `view` is the check (evaluation.CompiledCheck) whose loss() evaluates at any
    values."""

    view: CompiledCheck
    values: list[np.ndarray]
    grads: list[np.ndarray]
    loss: float
    nearby: bool = False
    # per tensor: max(rms(p_k), 1), the unit its part of a direction is drawn in; |g_k|
    units: list[float] = field(init=False)
    norms: list[float] = field(init=False)
    key: bytes = b""  # digest of `values`, once a line needs it (Prober.line_key)
    # per tensor, once asked for (a gradient is as large as its tensor): sum |g_k|
    _abs_sums: dict[int, float] = field(init=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.units = [max(numeric.rms(value), 1.0) for value in self.values]
        self.norms = [float(np.linalg.norm(grad)) for grad in self.grads]

    def abs_sum(self, k: int) -> float:
        """sum |g_k| here."""
        if k not in self._abs_sums:
            self._abs_sums[k] = float(np.sum(np.abs(self.grads[k])))
        return self._abs_sums[k]


def scaled(unit: float, boost: float, level: float = 1.0) -> float:
    """The standard deviation of a tensor's part of a direction: its unit max(rms(p_k), 1), times
    its boost at the attempt's level (the ladder cuts boosts by lowering it; never below 1)."""
    return unit * (max(1.0, boost * level) if boost > 1.0 else 1.0)


@dataclass
class Direction:
    """A direction through some tensors: each member's Gaussian part, and the standard deviation it
    was drawn with (scaled)."""

    parts: dict[int, np.ndarray]
    scales: dict[int, float]

    def part(self, k: int) -> Direction:
        """Member k's part alone: a direction through k only."""
        return Direction({k: self.parts[k]}, {k: self.scales[k]})


def draw(seed: int, name: str, scales: dict[int, float], point: Point) -> Direction:
    """The direction called `name`: for each tensor k of `scales`, scales[k] times a Gaussian of
    its shape."""
    rng = direction_generator(seed, name)
    parts = {k: scale * rng.standard_normal(point.values[k].shape) for k, scale in scales.items()}
    return Direction(parts, dict(scales))


# what a line said, its direction, its point
Attempt = tuple[Judgement, Direction, Point]


class Prober:
    """Lines through the model's parameters for one check: evaluations, directions, retries, the
    nearby point."""

    def __init__(
        self,
        check: CompiledCheck,
        grads: list[np.ndarray],
        seed: int,
        allowance_rtol: float,
        atol: float,
        move: Move,
    ) -> None:
        self.check = check
        self.move = move  # evaluation.at_point: (view, gradients, loss) at other parameter values
        self.precision = check.precision
        self.seed = seed
        self.rho = allowance_rtol
        self.atol = atol
        self.h = float(numeric.machine_eps(self.precision) ** (1.0 / 3.0))
        self.base = Point(check, check.base, grads, check.loss_at_base())
        self._nearby: Point | None = None
        self.start = 0  # the ladder attempt later lines start at (the last one that judged)
        self.level = 1.0  # the boost level of the attempt in progress
        # tensor -> how much further than s_k its part of a direction moves
        self.boost: dict[int, float] = {}
        # A measured round-off bound per point (line.noise_floor), taken once a line there is not
        # smooth (or known already: the check's probe function measured at the base point before).
        self.floor: dict[bool, float] = {False: check.noise_floor} if check.noise_floor else {}
        self.extra_evaluations = 0  # evaluations made at the nearby point (its own view)
        # The judged lines through every tensor of a band, kept until the check knows whether a
        # re-check may probe them again (judged_line's `keep`, then recorded). Kept as their draws
        # (name and boost level), not their directions: a direction is as large as the model.
        self.kept: list[tuple[Judgement, list[int], str, float, Point]] = []
        # What this run's lines did (Record), and what an earlier run's did, replayed when given.
        self.record = Record()
        self.replay: Record | None = None
        self.lines = 0  # kept lines so far (see Record)
        # the floor measured since the last kept line: (at the nearby point, floor)
        self.measured: tuple[bool, float] | None = None
        # some line at p was not smooth, and not for plain curvature: a disagreement there is
        # measured again near p (confirmed_nearby)
        self.kinks_at_base = False

    # ------------------------------------------------------------ directions
    def scale(self, point: Point, k: int) -> float:
        """The standard deviation of tensor k's part of a direction: max(rms(p_k), 1), times its
        boost."""
        return scaled(point.units[k], self.boost.get(k, 1.0), self.level)

    def draw(self, members: list[int], name: str, point: Point) -> Direction:
        return draw(self.seed, name, {k: self.scale(point, k) for k in members}, point)

    # ------------------------------------------------------------ one line
    def line(self, direction: Direction, step: float, point: Point) -> Judgement:
        """One line at `point` along `direction`, at `step`: a kept line (see Record)."""
        judgement = self.probe(direction, step, point)
        if self.measured is not None:  # on this line
            nearby, floor = self.measured
            self.record.floors[nearby] = (floor, self.lines, True)
            self.measured = None
        self.lines += 1
        return judgement

    def probe(self, direction: Direction, step: float, point: Point) -> Judgement:
        """One line, measured and judged (a floor measured on it kept in self.floor and noted in
        self.measured); a replay's floor used where the earlier run measured it."""
        values, parts = point.values, direction.parts
        exact = all(values[k].dtype == np.float64 for k in parts)
        dots: dict[float, float] = {}
        # a line judged again against a measured noise floor re-reads its points
        seen: dict[float, float] = {}
        analytic = float(sum(point.grads[k].ravel() @ parts[k].ravel() for k in parts))
        allowance = self.rho * line_terms(point, direction.scales) + self.atol
        known = self.replayed_floors(point.nearby) if self.replay else None
        key = self.line_key(parts, point) if self.check.reused_values else b""

        def losses_along(ts: list[float]) -> list[float]:
            new = [t for t in ts if t not in seen]
            if key and self.check.reused_values:  # a line of the check this re-checks
                seen.update(
                    (t, self.check.reused_values[key, t])
                    for t in new
                    if (key, t) in self.check.reused_values
                )
                new = [t for t in new if t not in seen]
            points = [Moved(values, parts, t) for t in new]
            seen.update(zip(new, point.view.losses(points), strict=True))
            # the displacement actually taken, after rounding to the parameters' dtype
            if not exact:
                for t, at in zip(new, points, strict=True):
                    dots[t] = float(
                        sum(
                            np.sum(point.grads[k] * (x.astype("float64") - values[k]))
                            for k, x in enumerate(at.values_at())
                            if k in parts
                        )
                    )
            return [seen[t] for t in ts]

        judgement, floor = judge(
            analytic,
            losses_along,
            step,
            self.precision,
            allowance,
            point.loss,
            analytic_at=None if exact else dots.__getitem__,
            floor=self.floor.get(point.nearby, 0.0),
            measure_floor=exact and point.nearby not in self.floor,
            known_floor=known,
        )
        if floor is not None:  # measured once per point
            self.floor[point.nearby] = floor
            self.measured = (point.nearby, floor)
        return judgement

    def replayed_floors(self, nearby: bool) -> float | None:
        """The replayed run's floors that hold from this kept line on (measured on attempts the
        replay skips), set; and the floor this line itself measured in that run, at this point
        (`nearby`), to be used where it was measured."""
        assert self.replay is not None
        known = None
        for at, (floor, line, on_line) in self.replay.floors.items():
            if at in self.floor or line > self.lines:
                continue
            if on_line and line == self.lines:
                known = floor if at == nearby else known
                continue
            self.floor[at] = floor
            self.record.floors[at] = (floor, line, on_line)
        return known

    def line_key(self, parts: dict[int, np.ndarray], point: Point) -> bytes:
        """The line's point and direction, digested."""
        if not point.key:
            point.key = digest(list(enumerate(point.values)))
        return point.key + digest(sorted(parts.items(), key=lambda item: item[0]))

    def recorded(self) -> dict[tuple[bytes, float], float]:
        """The loss values along the kept lines, by (line_key, t), their directions drawn again.
        Asked for only when the check failed (only then does a re-check follow): a passing check
        pays nothing."""
        values: dict[tuple[bytes, float], float] = {}
        current = self.level
        for judgement, members, name, level, point in self.kept:
            self.level = level  # what draw() scales the boosts by
            key = self.line_key(self.draw(members, name, point).parts, point)
            values.update(((key, m * judgement.step), f) for m, f in judgement.points.items())
        self.level = current
        return values

    def nearby(self) -> Point:
        """A point near p (computed once): p + NEARBY*h*u, its analytic gradients and its loss."""
        if self._nearby is None:
            members = list(range(len(self.base.values)))
            move = self.draw(members, "nearby", self.base).parts
            values = [
                (v + NEARBY * self.h * move[k]).astype(v.dtype, copy=False)
                for k, v in enumerate(self.base.values)
            ]
            view, grads, loss = self.move(self.check, values)
            self._nearby = Point(view, values, grads, loss, nearby=True)
        return self._nearby

    def judged_line(self, members: list[int], name: str, keep: bool = False) -> Attempt:
        """A line through `members` that judges (PASS or FAIL) if any attempt of the precision's
        ladder does: a fresh direction, then fresh directions with the boosts cut (8x, 64x, none),
        then shorter steps (a kink crossed within the step is crossed less often), then the same
        steps at the point near p (a kink at p itself). Later lines start at the attempt that last
        judged, so a model with kinks pays for them once. Returns the last judgement, its direction
        and its point. `keep`: a line through every tensor of a band, kept (when it judged) so that
        a re-check of the band with the same plan probes it again."""
        boosted = any(b > 1.0 for b in self.boost.values())
        # without boosts, the rungs that only cut boosts would repeat the first one
        ladder = [
            a for a in of(self.precision).ladder if boosted or a[1] == 1.0 or a[0] != 1.0 or a[2]
        ]
        judgement: Judgement | None = None
        direction = Direction({}, {})
        point = self.base
        drawn = name
        # (step, level, curvature excess) of a boosted line
        spoilt: tuple[float, float, float] | None = None
        replayed = self.replayed_attempt(len(ladder))
        final = measured_in = None  # the attempt it ends at; the one that measured a floor
        for attempt in replayed or range(min(self.start, len(ladder) - 1), len(ladder)):
            step, level, near = ladder[attempt]
            if (
                spoilt is not None
                and not near
                and step == spoilt[0]
                and level > 0.0
                and (level / spoilt[1]) ** 4 * spoilt[2] > 1.0
            ):
                # even the r^4 that r times shorter boosts would cut leaves its curvature too strong
                continue
            self.level = level
            point = self.nearby() if near else self.base
            drawn = f"{name}:retry{attempt}" if attempt else name
            direction = self.draw(members, drawn, point)
            judgement = self.probe(direction, step * self.h, point)
            final = attempt
            if self.measured is not None and measured_in is None:
                measured_in = attempt
            if judgement.counts:
                if not near:
                    self.start = max(self.start, attempt)
                break
            self.kinks_at_base |= judgement.kinks_within_reach and not near
            excess = judgement.curvature_excess()
            if excess is not None and level > 0.0 and boosted and not near:
                spoilt = (step, level, excess)
        assert judgement is not None and final is not None
        # the attempt kept; a floor measured on an attempt before it holds from it on
        self.record.attempts.append(final)
        if self.measured is not None:
            nearby, floor = self.measured
            self.record.floors[nearby] = (floor, self.lines, measured_in == final)
            self.measured = None
        self.lines += 1
        call = len(self.record.attempts) - 1
        if replayed is not None and self.replay is not None:
            again = call in self.replay.confirmed  # as the replayed run did
        else:
            again = (
                judgement.verdict == FAIL
                and not point.nearby
                and of(self.precision).settles_itself
                and (self.kinks_at_base or judgement.shows_kinks)
            )
        if again:
            self.record.confirmed.append(call)
            judgement, point = self.confirmed_nearby(judgement, direction)
        if keep and judgement.counts:
            self.kept.append((judgement, list(members), drawn, self.level, point))
        return judgement, direction, point

    def confirmed_nearby(
        self, judgement: Judgement, direction: Direction
    ) -> tuple[Judgement, Point]:
        """A disagreement where the loss shows kinks within reach (a line at p was not smooth for
        them, or this line's fourth differences are more than round-off), measured again along
        the same direction and step at the point near p. Kinks within 1e-9 of p (tiny weights
        before a rectifier), crossed by every step, can bias both estimates alike while their
        fourth differences cancel below the smooth limit; near p they lie elsewhere, while a
        gradient error stays (line.settled_elsewhere; a disagreement there is the cleaner line to
        decompose)."""
        nearby = self.nearby()
        settled = settled_elsewhere(judgement, self.line(direction, judgement.step, nearby))
        return settled, nearby if settled.counts else self.base

    def replayed_attempt(self, rungs: int) -> list[int] | None:
        """The attempt the replayed run's judged_line call of this number ended at (as a list of
        the one attempt to make), or None: no replay, or a record that does not fit this run (then
        it is dropped, and the lines from here on are probed as usual)."""
        if self.replay is None:
            return None
        call = len(self.record.attempts)
        attempts = self.replay.attempts
        if call < len(attempts) and self.start <= attempts[call] < rungs:
            return [attempts[call]]
        self.replay = None
        return None


def line_terms(point: Point, scales: dict[int, float]) -> float:
    """The expected sum |g_i w_i| of a direction whose part of tensor k is drawn with scale s_k
    (w_i = s_k N(0, 1)): what the allowance multiplies, an honest bound of the analytic side's
    round-off on average over directions, and one pass over the gradients cheaper than the drawn
    sum. bands.plan predicts it before any line is drawn."""
    total = 0.0
    for k, scale in scales.items():
        total += scale * point.abs_sum(k)
    return numeric.GAUSSIAN_DENSITY * total
