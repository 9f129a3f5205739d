"""mode: full. Every element of a tensor on its own line (line.probe), judged as the directional
mode judges a band's line; an element no line could judge leaves its tensor inconclusive."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from ..core.results import ParamResult
from ..model.built import BuiltModel, ParamInfo
from . import line, numeric, probing
from .evaluation import CompiledCheck, Move, Moved, with_tensor
from .precision import of
from .results import full_result
from .settings import CheckSettings


def compare_tensors(
    check: CompiledCheck,
    model: BuiltModel,
    grads: list[np.ndarray],
    indices: list[int],
    settings: CheckSettings,
    progress: Callable[[str], None],
    move: Move,
) -> dict[int, ParamResult]:
    """Every element of the tensors `indices` (into model.params): ParamResults by index. `move`
    gives the check at other parameter values (evaluation.at_point), as in directional mode."""
    results = {}
    full = FullCheck(check, grads, settings.rtol, settings.atol, move)
    for k in indices:
        info = model.params[k]
        progress(f"probing {info.id} ({k + 1}/{len(model.params)}, full)")
        before = check.evaluations
        results[k] = full.tensor(k, info)
        results[k].evaluations = check.evaluations - before
    full.finish()
    return results


class FullCheck:
    """mode: full. Every element on its own line (line.probe: 4 evaluations, 6 when it does not
    pass outright); an element whose line cannot judge it is probed again with shorter steps, then
    at a point near p (shared by all elements); a tensor with an element that none could judge is
    inconclusive."""

    def __init__(
        self,
        check: CompiledCheck,
        grads: list[np.ndarray],
        rtol: float,
        atol: float,
        move: Move,
    ) -> None:
        self.check = check
        self.move = move
        self.grads = grads
        self.rtol = rtol
        self.atol = atol
        self.h = float(numeric.machine_eps(check.precision) ** (1.0 / 3.0))
        self._nearby: tuple[CompiledCheck, list[np.ndarray], float] | None = None
        # some element's line at p was not smooth, and not for plain curvature: a disagreement
        # there is measured again near p (confirmed)
        self.kinks_at_base = False

    def nearby(self) -> tuple[CompiledCheck, list[np.ndarray], float]:
        if self._nearby is None:
            rng = probing.direction_generator(0, "full:nearby")
            values = [
                (
                    v
                    + probing.NEARBY
                    * self.h
                    * max(numeric.rms(v), 1.0)
                    * rng.standard_normal(v.shape)
                ).astype(v.dtype, copy=False)
                for v in self.check.base
            ]
            self._nearby = self.move(self.check, values)
        return self._nearby

    def finish(self) -> None:
        if self._nearby is not None:
            self.check.evaluations += self._nearby[0].evaluations

    def element(
        self, view: CompiledCheck, grads: list[np.ndarray], index: int, i: int, factor: float
    ) -> line.Judgement:
        value = view.base[index]
        flat = value.reshape(-1)
        scale = max(abs(float(flat[i])), 1.0)
        g = float(grads[index].reshape(-1)[i])
        exact = value.dtype == np.float64
        dots: dict[float, float] = {}

        def moved(t: float) -> np.ndarray:
            probe = flat.copy()
            probe[i] = flat[i] + t * scale
            return probe.reshape(value.shape)

        base_loss = view.loss_at_base()
        allowance = self.rtol * abs(g) * scale + self.atol  # rho * sum |g_i w_i|: one term here

        def losses_along(ts: list[float]) -> list[float]:
            tensors = [moved(t) for t in ts]
            points = [Moved(with_tensor(view.base, index, x)) for x in tensors]
            if not exact:
                dots.update(
                    (t, g * (float(x.reshape(-1)[i]) - float(flat[i])))
                    for t, x in zip(ts, tensors, strict=True)
                )
            return view.losses(points)

        return line.probe(
            g * scale,
            lambda t: losses_along([t])[0],
            factor * self.h,
            view.precision,
            allowance,
            base_loss,
            analytic_at=None if exact else dots.__getitem__,
            batch=losses_along,
        )

    def tensor(self, index: int, info: ParamInfo) -> ParamResult:
        value = self.check.base[index]
        judgements: dict[int, line.Judgement] = {}
        nearby: set[int] = set()
        for i in range(value.size):
            judgements[i] = self.judged(index, i, nearby)
        return full_result(info, value, self.grads[index], judgements, nearby)

    def judged(self, index: int, i: int, nearby: set[int]) -> line.Judgement:
        """Element i's line, attempt after attempt until one judges it (`nearby` gets i when the
        judgement is made at the point near p); a disagreement at p where the loss showed kinks
        (some element's line there was not smooth, or this line's fourth differences are more than
        round-off) is measured again near p (confirmed)."""
        judgement: line.Judgement | None = None
        for view, grads, factor, near in self.attempts():
            if near:
                nearby.add(i)
            judgement = self.element(view, grads, index, i, factor)
            if judgement.counts:
                kinked = self.kinks_at_base or judgement.shows_kinks
                if judgement.verdict == line.FAIL and not near and kinked:
                    return self.confirmed(judgement, index, i, factor, nearby)
                return judgement
            self.kinks_at_base |= judgement.kinks_within_reach and not near
        assert judgement is not None  # the checked point is always attempted
        return judgement

    def confirmed(
        self, judgement: line.Judgement, index: int, i: int, factor: float, nearby: set[int]
    ) -> line.Judgement:
        """A disagreement where the loss showed kinks, measured again at the point near p with the
        same step. Several kinks within the stencil can bias both estimates alike while their
        fourth differences cancel below the smooth limit (a unit moved across zero by every step:
        weights far smaller than the step, before a rectifier); near p they lie elsewhere, while a
        gradient error stays (line.settled_elsewhere). float32 leaves this to its float64
        check."""
        if not of(self.check.precision).settles_itself:
            return judgement
        view, grads, _ = self.nearby()
        settled = line.settled_elsewhere(judgement, self.element(view, grads, index, i, factor))
        if settled.counts:
            nearby.add(i)
        return settled

    def attempts(self) -> Iterator[tuple[CompiledCheck, list[np.ndarray], float, bool]]:
        """An element's lines in turn until one judges it: (view, gradients, step factor, at the
        nearby point). The checked point, then the ladder's shorter steps (element lines have no
        boosts), then the point near p, made when first reached (float32 leaves it to the float64
        check)."""
        yield self.check, self.grads, 1.0, False
        for step, _, near in of(self.check.precision).ladder[1:]:
            if near:
                break
            if step < 1.0:
                yield self.check, self.grads, step, False
        if of(self.check.precision).settles_itself:
            view, grads, _ = self.nearby()
            yield view, grads, 1.0, True
