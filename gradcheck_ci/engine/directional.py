"""Directional mode: every tensor compared along random Gaussian directions, all in one band, with a
sensitivity that is stated and holds whatever the seed (docs/numerics.md derives it).

- The band's tensors move together along one direction w, made of a Gaussian part per tensor
  (w_k = s_k b_k v_k, v_k ~ N(0, I), s_k = max(rms(p_k), 1), b_k a boost); one line costs 4 loss
  evaluations (line.Line). An error e_j in member j shows as s_j b_j <e_j, v_j> ~ N(0, (s_j b_j
  |e_j|)^2), independent of every other member's part, so the other members (their errors included)
  cannot make it less likely to be seen: the tolerance does not grow with the band.
- A tensor whose gradient is small against the loss's round-off is boosted (moves further) until one
  direction reaches the precision's target for it; when boosts are not enough the band takes more
  directions (at most numeric.MAX_DIRECTIONS, plus the precision's top_up where retries left a
  tensor short).
- A line that is not smooth, or neither passes nor confirms a disagreement, is probed elsewhere (the
  precision's ladder): boosts cut, shorter steps, then a point near p. A band no line could judge is
  split into its members, each on its own line; a tensor no smooth line could judge is
  `inconclusive`, never `fail`.
- A band whose disagreement is confirmed is decomposed along the same direction (member j moved
  alone along w_j: the parts add up to the band's slope), and each member's part is judged on its
own.

This module runs it: probing.py measures one line and line.py judges it, bands.py plans the bands
and band_lines.py runs them, localise.py finds a failing tensor's worst element, results.py turns
each tensor's state into its result.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from ..core.results import ParamResult
from ..model.built import BuiltModel
from .band_lines import run_band
from .bands import MemberState, plan
from .evaluation import CompiledCheck, Move, Plan
from .localise import Failed, localise
from .precision import of
from .probing import Prober
from .results import directional_result
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
    """The directional check of the tensors `indices` (into model.params): ParamResults by index.
    `move` gives the check at other parameter values (evaluation.at_point)."""
    progress(
        f"comparing {len(indices)} tensor(s) along random directions "
        f"({model.params[indices[0]].id}, ...)"
    )
    prober = Prober(check, grads, settings.seed, settings.rtol, settings.atol, move)
    target = of(check.precision).target
    states = {k: MemberState() for k in indices}
    spent: dict[int, int] = {}
    # A re-check of the tensors the check probed, by its probe function at its point (an ablation
    # of the backward pass): the check's boosts and first rung, so that its lines are the check's
    # and their loss values are read, not evaluated again (check.reused_values).
    reused = check.reused_plan
    if reused is not None and reused.members == tuple(indices):
        prober.start = reused.start
    else:
        reused = None
    # An earlier run of this same check (engine/remembered.py): its lines replayed, less the
    # attempts that did not judge and the round-off it measured.
    replay = check.replay
    if reused is None and replay is not None and replay.members == tuple(indices):
        prober.replay = replay
    prober.record.members = tuple(indices)
    bands, boosts = plan(
        prober.base,
        list(indices),
        settings.directions,
        target,
        prober.rho,
        prober.atol,
        prober.h,
        reused.boost if reused else None,
    )
    prober.boost.update(boosts)
    for band_id, band in enumerate(bands):
        before = check.evaluations
        run_band(prober, band, states, band_id, target)
        spent[band.members[0]] = check.evaluations - before
    failing = [k for k in indices if states[k].failed is not None]
    located = (
        dict(zip(failing, localise([failure(prober, k, states[k]) for k in failing]), strict=True))
        if settings.localise
        else {}
    )
    if prober._nearby is not None:  # evaluations at the nearby point count for the model as well
        check.evaluations += prober._nearby.view.evaluations
    if prober.floor.get(False):
        check.noise_floor = prober.floor[False]
    check.plan = Plan(tuple(indices), dict(prober.boost), prober.start)
    check.record = prober.record
    check.line_values = prober.recorded() if failing else {}
    results = {}
    for k in indices:
        results[k] = directional_result(prober, model.params[k], k, states[k], located.get(k))
        results[k].evaluations = spent.get(k, 0)
    return results


def failure(prober: Prober, k: int, state: MemberState) -> Failed:
    """What localise needs of a failed tensor: the view and gradient where it failed, its direction
    and line."""
    point = state.point or prober.base
    assert state.direction is not None and state.failed is not None  # set together
    return Failed(point.view, k, point.grads[k], state.direction, state.failed)
