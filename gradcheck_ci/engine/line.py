"""One line, judged: the loss along f(t) = L(p + t*w) at a few multiples of the step against the
analytic slope <g, w> (docs/numerics.md). Richardson estimates at three step sizes, round-off
bounded (or measured: `noise_floor`), kinks and curvature jumps detected; a disagreement is a
verdict only once confirmed. Pure numpy: the caller evaluates the loss (`Batch`); numeric.py's
statistics turn the lines' thresholds into a sensitivity."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace

from . import numeric

# f(t) = L(p + t*w) along a direction w; the analytic slope is a = <g, w>. Points are taken at
# multiples m of the step h (f(0) is known). Two estimates of f'(0) that cancel the h^2 truncation
# of central differences:
#   R(1) = (4 D(h) - D(2h)) / 3,  R(2) = (4 D(2h) - D(4h)) / 3,   D(s) = (f(s) - f(-s)) / 2s,
# whose round-off is at most 1.5 delta/h and 0.75 delta/h for evaluations accurate to delta (their
# coefficients' sums), and whose truncation is O(h^4) (negligible where the loss is smooth).
# Smoothness is measured, not assumed: the fourth differences Q(m) = f(2mh) - 4f(mh) + 6f(0) -
# 4f(-mh) + f(-2mh) are round-off (at most 16 delta) where the loss is smooth and grow with the step
# across a kink; a kink within +-4h moves R(1) and R(2) by at most KINK_BIAS * max |Q| / h (worked
# out for a single kink at any place), which the confirmation's tolerance allows for.

SMOOTH_LIMIT = 16.0  # |Q| above 16 delta is not round-off (the stencil's coefficients sum to 16)
# worst |bias of R(m)| per max|Q| / h, one kink anywhere within +-4h
KINK_BIAS = {1.0: 0.125, 2.0: 0.21}
# Q(2)/Q(1) of a line spoilt by plain curvature: 16 (h^4); round-off, kinks: far less
CURVATURE_RATIO = (8.0, 32.0)
# D(4h)-D(2h) over D(2h)-D(h): 2 where the curvature jumps at p, 4 if smooth
CURVATURE_JUMP_RATIO = (1.5, 2.7)

PASS, FAIL, NONSMOOTH, UNRESOLVED = "pass", "fail", "nonsmooth", "unresolved"
# max |Q| (in round-off bounds delta) above which a line judged smooth shows kinks within reach of
# its stencil: round-off alone makes |Q| about delta at most (a measured floor is 8 sigma, |Q| has
# sigma sqrt(70)), above 4 delta once in ten thousand lines
KINKED = 4.0


@dataclass
class Judgement:
    """What one line said: PASS, FAIL (a confirmed disagreement), NONSMOOTH or UNRESOLVED
    (neither)."""

    verdict: str
    # the analytic side of the estimate compared (a, or its stencil over rounded steps)
    analytic: float
    numeric: float  # R(1), the finite-difference estimate of the slope
    tolerance: float  # what |numeric - analytic| was held to
    # an error along this line larger than this would have failed it (see sensitivity)
    threshold: float
    step: float
    evaluations: int
    delta: float  # round-off bound of one evaluation
    fourth: float  # max |Q| measured (in units of delta)
    points: dict[float, float]
    # what |R(2) - analytic| was held to, on a line that took the confirmation (inf otherwise)
    second: float = math.inf

    @property
    def error(self) -> float:
        return self.numeric - self.analytic

    @property
    def abs_err(self) -> float:
        return abs(self.error)

    @property
    def kinks_within_reach(self) -> bool:
        """A line that did not judge, and not for plain curvature: kinks (or noise) within reach."""
        return not self.counts and self.curvature_excess() is None

    @property
    def shows_kinks(self) -> bool:
        """Whether its fourth differences, below the smooth limit, are more than round-off: kinks
        within reach (several can bias both estimates alike while theirs cancel below the limit)."""
        return self.fourth > KINKED

    @property
    def counts(self) -> bool:
        """Whether this line is a smooth comparison that tells something about the gradient."""
        return self.verdict in (PASS, FAIL)

    def curvature_excess(self) -> float | None:
        """For a line not smooth because of plain curvature (Q(2) ~ 16 Q(1), as the fourth
        derivative gives; round-off and kinks give ratios near 1 or 2): how far max |Q| is above the
        smooth limit. A move r times shorter along the same kind of direction has Q about r^4 times
        this. None for any other kind of line."""
        f = self.points
        if self.verdict != NONSMOOTH or not all(m in f for m in (1.0, -1.0, 2.0, -2.0, 4.0, -4.0)):
            return None
        q1 = f[2.0] - 4 * f[1.0] + 6 * f[0.0] - 4 * f[-1.0] + f[-2.0]
        q2 = f[4.0] - 4 * f[2.0] + 6 * f[0.0] - 4 * f[-2.0] + f[-4.0]
        if (
            q1 == 0.0
            or not CURVATURE_RATIO[0] <= q2 / q1 <= CURVATURE_RATIO[1]
            or self.delta <= 0.0
        ):
            return None
        return abs(q2) / (SMOOTH_LIMIT * self.delta)


class Line:
    """The evaluations along one line and the decisions on them (pure: the caller evaluates the
    loss)."""

    def __init__(
        self,
        analytic: float,
        step: float,
        precision: str,
        allowance: float,
        base: float,
        analytic_at: Callable[[float], float] | None = None,
        floor: float = 0.0,
    ) -> None:
        self.a = analytic
        # a round-off bound measured on this loss (noise_floor), when above the usual one
        self.floor = floor
        self.h = step
        self.eps = numeric.machine_eps(precision)
        self.allowance = allowance
        self.f: dict[float, float] = {0.0: base}
        # <g, x(t) - p> for the displacement actually taken (parameters rounded to their dtype);
        # None: t*a
        self.analytic_at = analytic_at
        self.A: dict[float, float] = {0.0: 0.0}
        self.evaluations = 0

    def add(self, m: float, value: float) -> None:
        self.f[m] = value
        self.A[m] = (
            self.analytic_at(m * self.h) if self.analytic_at is not None else m * self.h * self.a
        )
        self.evaluations += 1

    def needs(self, multiples: tuple[float, ...]) -> list[float]:
        return [s * m for m in multiples for s in (1.0, -1.0) if s * m not in self.f]

    # -- estimates
    @property
    def delta(self) -> float:
        return max(
            numeric.ROUNDOFF_FACTOR * self.eps * max(max(abs(v) for v in self.f.values()), 1e-300),
            self.floor,
        )

    def _richardson(self, values: dict[float, float], m: float) -> float:
        d1 = (values[m] - values[-m]) / (2 * m * self.h)
        d2 = (values[2 * m] - values[-2 * m]) / (4 * m * self.h)
        return (4 * d1 - d2) / 3

    def numeric(self, m: float = 1.0) -> float:
        return self._richardson(self.f, m)

    def analytic(self, m: float = 1.0) -> float:
        return self._richardson(self.A, m)

    def fourth(self, m: float) -> float:
        f = self.f
        return f[2 * m] - 4 * f[m] + 6 * f[0.0] - 4 * f[-m] + f[-2 * m]

    def central(self, m: float) -> float:
        """D(mh) - its analytic counterpart: the central difference's own error at this step."""
        return ((self.f[m] - self.f[-m]) - (self.A[m] - self.A[-m])) / (2 * m * self.h)

    def curvature_jump(self) -> bool:
        """A loss whose curvature jumps at p (smooth on each side, a ReLU unit exactly at 0 seen
        from its bias): D(s) then grows linearly with s, so its increments double per doubled step,
        where a smooth loss's grow 4x (s^2) and a constant offset (a gradient error) has none. The
        fourth differences cannot see it, and R(1), R(2) would read it as an error. Increments above
        their round-off that double: not smooth."""
        d1 = self.central(2.0) - self.central(1.0)
        d2 = self.central(4.0) - self.central(2.0)
        if abs(d1) <= 1.5 * self.delta / self.h or abs(d2) <= 0.75 * self.delta / self.h:
            return False
        return CURVATURE_JUMP_RATIO[0] <= d2 / d1 <= CURVATURE_JUMP_RATIO[1]

    def noise(self, m: float) -> float:
        """Round-off bound of numeric(m): its coefficients sum to 1.5/(m h)."""
        return 1.5 * self.delta / (m * self.h)

    def judgement(
        self,
        verdict: str,
        tolerance: float,
        threshold: float,
        fourth: float,
        second: float = math.inf,
    ) -> Judgement:
        return Judgement(
            verdict,
            self.analytic(1.0),
            self.numeric(1.0),
            tolerance,
            threshold,
            self.h,
            self.evaluations,
            self.delta,
            fourth / self.delta if self.delta else 0.0,
            dict(self.f),
            second,
        )

    # -- decisions
    def first_pass(self) -> Judgement | None:
        """With f(+-h), f(+-2h): PASS when R(1) agrees within its round-off and the allowance, else
        None (the confirmation points are needed). Five points cannot tell a kink from curvature
        (Q(1) is h^4 times the fourth derivative on a smooth loss, which leaves R(1) accurate), so
        agreement passes: a kink would have to bias R(1) by just the amount that cancels an error to
        hide it. A disagreement is never final here."""
        tau = self.noise(1.0) + self.allowance
        if abs(self.numeric(1.0) - self.analytic(1.0)) <= tau:
            return self.judgement(PASS, tau, 2 * tau, abs(self.fourth(1.0)))
        return None

    def confirm(self) -> Judgement:
        """With f(+-4h) as well: smooth enough, both estimates off beyond every allowance
        (round-off, a kink's bias) on the same side, and by the same amount -> FAIL; both within ->
        PASS; a kink -> NONSMOOTH; else UNRESOLVED.

        "The same amount": R(1) and R(2) cancel the s^2 term of D(s) = f' + c s^2 + ...; a gradient
        error is a constant offset they share, while a loss whose curvature jumps at p (D(s) linear
        in s, which the fourth differences cannot see) makes them differ by far more than their
        tolerances."""
        q = max(abs(self.fourth(1.0)), abs(self.fourth(2.0)))
        err = {m: self.numeric(m) - self.analytic(m) for m in (1.0, 2.0)}
        if q > SMOOTH_LIMIT * self.delta:
            # a kink, or curvature too strong for this step: a shorter step will tell (the caller
            # retries)
            return self.judgement(NONSMOOTH, math.inf, math.inf, q)
        if self.curvature_jump():
            return self.judgement(NONSMOOTH, math.inf, math.inf, q)
        tol = {m: self.noise(m) + KINK_BIAS[m] * q / self.h + self.allowance for m in (1.0, 2.0)}
        # An error along this line is missed only if both estimates stay within their tolerances.
        threshold = min(2 * tol[1.0], 2 * tol[2.0])
        verdict = decide(err, tol)
        return self.judgement(verdict, tol[1.0], threshold, q, tol[2.0])


def settled_elsewhere(at_p: Judgement, elsewhere: Judgement) -> Judgement:
    """A disagreement at p where kinks showed, and the same line measured at a point near p: a
    disagreement there confirms it, a pass there that would have seen it (its tolerance below the
    error) refutes it; either is the verdict. Anything else leaves the line UNRESOLVED (its numbers
    kept for the report): a disagreement that kinks may have made, which nothing confirmed, is no
    verdict."""
    if elsewhere.verdict == FAIL or (
        elsewhere.verdict == PASS and elsewhere.tolerance < at_p.abs_err
    ):
        return elsewhere
    return replace(at_p, verdict=UNRESOLVED, threshold=math.inf)


def decide(err: dict[float, float], tol: dict[float, float]) -> str:
    """The confirmation's verdict on the errors of R(1) and R(2) (keys 1.0, 2.0) and their
    tolerances: both beyond, on the same side and by the same amount (a gradient error is a constant
    offset they share) -> FAIL; both within -> PASS; anything else UNRESOLVED."""
    consistent = abs(err[1.0] - err[2.0]) <= tol[1.0] + tol[2.0]
    if all(abs(err[m]) > tol[m] for m in tol) and err[1.0] * err[2.0] > 0 and consistent:
        return FAIL
    if all(abs(err[m]) <= tol[m] for m in tol):
        return PASS
    return UNRESOLVED


def remainder(band: Judgement, others: list[Judgement]) -> Judgement | None:
    """The last member's part of a band's confirmed line, as what is left of the band's estimates
    after the other members' (each measured alone along its own part of the same line, at the same
    point and step, and confirmed: points at +-h, +-2h, +-4h). Directional derivatives add up over
    the parts of a direction, so R(m) of the band minus the others' R(m) estimates the last part's
    slope; its error bound is the sum of theirs (round-off, kink allowance, allowance: each line
    confirmed smooth bounds its own share), and it is judged as a confirmation is (decide), with the
    increments of its D(s) checked for a curvature jump at p as a line's are. None when the lines do
    not allow it (the caller measures the part on its own line instead); saves that line's 6
    evaluations."""
    lines = [band, *others]
    needed = (1.0, -1.0, 2.0, -2.0, 4.0, -4.0)
    if any(j.step != band.step or not all(m in j.points for m in needed) for j in lines):
        return None
    if not all(math.isfinite(j.second) for j in lines):
        return None
    h = band.step
    analytic = band.analytic - sum(j.analytic for j in others)

    def central(j: Judgement, m: float) -> float:
        return (j.points[m] - j.points[-m]) / (2 * m * h)

    def rest(m: float) -> float:  # D(mh) of the last part, less its analytic slope
        return central(band, m) - sum(central(j, m) for j in others) - analytic

    err = {m: (4 * rest(m) - rest(2 * m)) / 3 for m in (1.0, 2.0)}
    tol = {1.0: sum(j.tolerance for j in lines), 2.0: sum(j.second for j in lines)}
    delta = sum(j.delta for j in lines)
    # a curvature jump at p: the increments of D(s) double per doubled step (Line.curvature_jump)
    d1, d2 = rest(2.0) - rest(1.0), rest(4.0) - rest(2.0)
    jump = (
        abs(d1) > 1.5 * delta / h
        and abs(d2) > 0.75 * delta / h
        and CURVATURE_JUMP_RATIO[0] <= d2 / d1 <= CURVATURE_JUMP_RATIO[1]
    )
    verdict = UNRESOLVED if jump else decide(err, tol)
    threshold = min(2 * tol[1.0], 2 * tol[2.0])
    return Judgement(
        verdict,
        analytic,
        analytic + err[1.0],
        tol[1.0],
        threshold,
        h,
        0,
        delta,
        0.0,
        {},
        tol[2.0],
    )


# what the parts' errors may miss the band's by, over the sum of their estimates' own bounds
ADDITIVE_MARGIN = 2.0


def additive(band: Judgement, parts: list[Judgement]) -> bool:
    """Whether the band's error is the sum of its members' errors, each measured along its own part
    of the band's line (same point and step), within the estimates' own bounds: round-off
    (1.5 delta / h each) and a kink's bias (KINK_BIAS * max|Q| / h each), with a margin. Both sides
    of a line add up over the parts of a direction where the loss is smooth: the analytic slopes
    exactly, the numeric ones within those bounds, and so does a gradient error. Kinks a hair from
    p, crossed by every step, can move one line's estimates as a constant offset would while their
    fourth differences stay below the smooth limit, but each line crosses its own set of them: a
    band's error that is not the sum of its parts' is such a loss, not a gradient error."""
    lines = [band, *parts]
    if any(j.step != band.step for j in lines):
        return False
    bound = sum((1.5 + KINK_BIAS[1.0] * j.fourth) * j.delta / j.step for j in lines)
    return abs(band.error - sum(j.error for j in parts)) <= ADDITIVE_MARGIN * bound


FIRST_MULTIPLES = (1.0, 2.0)
CONFIRM_MULTIPLES = (4.0,)


# the loss at several points of a line at once (t -> L(p + t w))
Batch = Callable[[list[float]], list[float]]


def one_by_one(loss_along: Callable[[float], float]) -> Batch:
    return lambda ts: [loss_along(t) for t in ts]


def probe(
    analytic: float,
    loss_along: Callable[[float], float],
    step: float,
    precision: str,
    allowance: float,
    base: float,
    analytic_at: Callable[[float], float] | None = None,
    floor: float = 0.0,
    batch: Batch | None = None,
) -> Judgement:
    """One line, first pass (4 evaluations) and, when it does not pass outright, the confirmation (2
    more). `floor`: a measured round-off bound of one evaluation (noise_floor), used where it
    exceeds 16 eps |L|. `batch`: evaluates each stage's points together (forked.split shares them
    with a spare CPU)."""
    evaluate = batch or one_by_one(loss_along)
    line = Line(analytic, step, precision, allowance, base, analytic_at, floor)
    for stage in (FIRST_MULTIPLES, CONFIRM_MULTIPLES):
        needed = line.needs(stage)
        for m, value in zip(needed, evaluate([m * step for m in needed]), strict=True):
            line.add(m, value)
        if stage is FIRST_MULTIPLES:
            first = line.first_pass()
            if first is not None:
                return first
    return line.confirm()


# of h: no smooth term and hardly any kink is within reach of such a spacing
NOISE_SPACING = 1.0 / 1024.0
NOISE_BOUND = 8.0  # sigmas: what a measured noise level becomes as a bound on one evaluation
# Measured noise above a million ulps of the loss is no round-off of this precision (random numbers
# in the forward pass, jumps, a lower precision inside): it is not used, and the lines stay
# unjudged.
NOISE_LIMIT = 1e6
# A floor this many times the usual bound (ROUNDOFF_FACTOR eps |L|) is measured again at a spacing
# FINER times shorter: round-off does not shrink with the spacing, while kinks within reach of the
# points (units within 1e-9 of their kink: tiny initial weights before a rectifier) make fourth
# differences that do, in proportion. A floor that falls by more than KINKS_BELOW is kinks, not
# round-off: not used, and the lines at that point stay not smooth (a shorter step, or the point
# near p, judges them).
CONFIRM_ABOVE = 1e3
FINER = 64.0
KINKS_BELOW = 1.0 / 8.0


def noise_floor(
    loss_along: Callable[[float], float],
    base: float,
    step: float,
    batch: Batch | None = None,
    spacing: float = NOISE_SPACING,
) -> float:
    """A bound on one evaluation's round-off, measured: the loss at 7 points NOISE_SPACING * step
    apart (6 evaluations), whose fourth differences (three windows) and sixth difference are
    round-off alone there (std sqrt(70) and sqrt(924) sigma for independent errors). The largest of
    the four sigma estimates, times NOISE_BOUND: for a loss whose round-off exceeds 16 eps |L| (a
    cancellation, long sums), so that its lines can be judged against the noise they really have
    rather than be taken for kinks."""
    s = spacing * step
    around = (batch or one_by_one(loss_along))([m * s for m in (-3, -2, -1, 1, 2, 3)])
    f = around[:3] + [base] + around[3:]
    fourth = [f[i] - 4 * f[i + 1] + 6 * f[i + 2] - 4 * f[i + 3] + f[i + 4] for i in range(3)]
    sixth = f[0] - 6 * f[1] + 15 * f[2] - 20 * f[3] + 15 * f[4] - 6 * f[5] + f[6]
    sigma = max(max(abs(q) for q in fourth) / math.sqrt(70.0), abs(sixth) / math.sqrt(924.0))
    return NOISE_BOUND * sigma


def round_off(
    loss_along: Callable[[float], float],
    base: float,
    step: float,
    precision: str,
    batch: Batch | None = None,
) -> float:
    """noise_floor, and for a floor above CONFIRM_ABOVE usual bounds (and usable otherwise) its
    confirmation at a finer spacing: 0.0 when the floor falls with the spacing (kinks, not
    round-off)."""
    floor = noise_floor(loss_along, base, step, batch)
    ordinary = floor <= CONFIRM_ABOVE * numeric.roundoff_bound(base, precision)
    if ordinary or not usable_floor(floor, base, precision):
        return floor
    finer = noise_floor(loss_along, base, step, batch, NOISE_SPACING / FINER)
    return 0.0 if finer < KINKS_BELOW * floor else floor


def usable_floor(floor: float, loss: float, precision: str) -> bool:
    """Whether a measured noise floor is round-off this check may judge against (see
    NOISE_LIMIT)."""
    return floor <= NOISE_LIMIT * numeric.machine_eps(precision) * max(abs(loss), 1e-300)


def judge(
    analytic: float,
    batch: Batch,
    step: float,
    precision: str,
    allowance: float,
    base: float,
    analytic_at: Callable[[float], float] | None = None,
    floor: float = 0.0,
    measure_floor: bool = False,
    known_floor: float | None = None,
) -> tuple[Judgement, float | None]:
    """`probe` along the line; when it is not smooth and `measure_floor` (asked for lines whose
    parameters are float64, so analytic_at is None), its round-off is measured (noise_floor) and, if
    that is the reason, the line judged again against it. Returns the judgement and the floor
    measured (0.0 when not usable; None when none was measured), which holds for every line at the
    same point. `known_floor`: what measuring it returned on this line in an earlier run of the same
    check (engine/remembered.py), used instead of measuring it again."""

    def loss_along(t: float) -> float:
        return batch([t])[0]

    def against(floor: float) -> Judgement:
        return probe(
            analytic, loss_along, step, precision, allowance, base, analytic_at, floor, batch
        )

    # A floor given (measured at this point before, or kept by an earlier run of the check) is held
    # to the limit a measurement is: no record can widen the tolerances beyond it.
    floor = floor if usable_floor(floor, base, precision) else 0.0
    judgement = against(floor)
    if judgement.verdict != NONSMOOTH or not measure_floor:
        return judgement, None
    # Not smooth: a kink, or round-off beyond 16 eps |L|. The round-off is measured once per point;
    # if it is the reason, the same line judged against it says so.
    measured = (
        round_off(loss_along, base, step, precision, batch) if known_floor is None else known_floor
    )
    measured = measured if usable_floor(measured, base, precision) else 0.0
    if measured > judgement.delta:
        judgement = against(measured)
    return judgement, measured
