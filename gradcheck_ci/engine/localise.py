"""Localisation: the worst element of each tensor whose directional line failed, by bisection of its direction
(directional derivatives add up over disjoint blocks)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from . import numeric
from .precision import of


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
        if of(view.precision).settles_itself and not central:
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
