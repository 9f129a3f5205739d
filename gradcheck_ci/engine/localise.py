"""Localisation: the worst element of each tensor whose directional line failed, by bisection of its
direction (directional derivatives add up over disjoint blocks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import line, numeric
from .evaluation import CompiledCheck, Moved
from .precision import of


@dataclass
class Failed:
    """A tensor whose directional line failed: where (the view and its gradient), along what, by how
    much."""

    view: CompiledCheck
    index: int  # the tensor, into the check's parameters
    grad: np.ndarray
    direction: np.ndarray
    judgement: line.Judgement


@dataclass
class Located:
    """A failing tensor's worst element: its flat index and its analytic and numeric derivatives."""

    flat_index: int
    analytic: float
    numeric: float


@dataclass
class Bisection:
    """One failing tensor's bisection (see localise): the candidates left and the error they
    carry."""

    view: CompiledCheck
    index: int
    flat_grad: np.ndarray
    flat_direction: np.ndarray
    step: float
    candidates: np.ndarray
    error: float


def localise(failing: list[Failed]) -> list[Located]:
    """The worst element of each tensor whose line failed.

    Bisection: directional derivatives add up over disjoint blocks, so the error of one half is
    measured and the other's is the remainder of the failed line's; the half with the larger error
    is kept, down to one element: log2(n) probes instead of the 2n of an element-wise pass. The
    failure is already confirmed, so a level only has to rank two halves: in float64 one one-sided
    difference does (one evaluation); in float32 its round-off is too coarse and a level takes a
    central one. The element's numeric derivative is its analytic one plus its error over its
    direction component. The tensors' bisections are independent, so they go level by level
    together: one batch of evaluations per level (forked.split shares a batch with a spare CPU).
    """
    runs = [
        Bisection(
            f.view,
            f.index,
            f.grad.reshape(-1),
            f.direction.reshape(-1),
            f.judgement.step,
            np.arange(f.direction.size),
            f.judgement.error,
        )
        for f in failing
    ]
    while True:
        level = [run for run in runs if run.candidates.size > 1]
        if not level:
            break
        # the half measured at this level
        halves = [np.array_split(run.candidates, 2)[0] for run in level]
        errors = block_errors(
            [
                Block(run.view, run.index, run.flat_grad, run.flat_direction, first, run.step)
                for run, first in zip(level, halves, strict=True)
            ]
        )
        for run, first, first_error in zip(level, halves, errors, strict=True):
            second = run.candidates[first.size :]
            second_error = run.error - first_error
            run.candidates, run.error = (
                (first, first_error)
                if abs(first_error) >= abs(second_error)
                else (second, second_error)
            )
    located: list[Located] = []
    for run in runs:
        i = int(run.candidates[0])
        analytic = float(run.flat_grad[i])
        # the estimate would divide by ~0: measure the element itself
        if abs(run.flat_direction[i]) < 1e-3:
            step = numeric.base_step(
                run.view.precision, abs(float(run.view.base[run.index].reshape(-1)[i]))
            )
            unit = np.eye(1, run.flat_direction.size, i).reshape(-1)
            element = block_errors(
                [
                    Block(
                        run.view, run.index, run.flat_grad, unit, run.candidates, step, central=True
                    )
                ]
            )[0]
            located.append(Located(i, analytic, analytic + element))
        else:
            located.append(
                Located(i, analytic, analytic + run.error / float(run.flat_direction[i]))
            )
    return located


@dataclass
class Block:
    """A tensor's direction restricted to some of its elements (`elements`), to measure its error
    there."""

    view: CompiledCheck
    index: int  # the tensor
    flat_grad: np.ndarray
    flat_direction: np.ndarray
    elements: np.ndarray  # flat indices
    step: float
    central: bool = False  # a central difference (else one-sided, where the precision allows it)


def block_errors(blocks: list[Block]) -> list[float]:
    """numeric - analytic derivative along each direction restricted to its block, the loss
    evaluations of every block at one point in one batch."""
    points: list[tuple[int, float]] = []  # (block, t)
    for b, block in enumerate(blocks):
        if of(block.view.precision).settles_itself and not block.central:
            # sqrt(eps) balances a one-sided difference's truncation and round-off
            points.append(
                (b, block.step * numeric.machine_eps(block.view.precision) ** (1.0 / 6.0))
            )
        else:
            points.extend(((b, block.step), (b, -block.step)))

    def masked(block: Block) -> np.ndarray:
        out = np.zeros(block.flat_direction.size)
        out[block.elements] = block.flat_direction[block.elements]
        return out.reshape(block.view.base[block.index].shape)

    directions = [masked(block) for block in blocks]

    values: dict[tuple[int, float], float] = {}
    # one batch per point (its view)
    for view in {id(block.view): block.view for block in blocks}.values():
        mine = [point for point in points if blocks[point[0]].view is view]
        moved = [Moved(view.base, {blocks[b].index: directions[b]}, t) for b, t in mine]
        values.update(zip(mine, view.losses(moved), strict=True))
    errors = []
    for b, block in enumerate(blocks):
        analytic = float(
            np.dot(block.flat_grad[block.elements], block.flat_direction[block.elements])
        )
        ts = [t for c, t in points if c == b]
        if len(ts) == 1:
            errors.append((values[(b, ts[0])] - block.view.loss_at_base()) / ts[0] - analytic)
        else:
            errors.append((values[(b, ts[0])] - values[(b, ts[1])]) / (2 * ts[0]) - analytic)
    return errors
