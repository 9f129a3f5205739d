"""The compiled check as the comparison sees it: the loss at any parameter values, one evaluation at
a time or a batch of them (shared with a forked child where that pays), on the check's data; and the
same check moved to other parameter values (at_point); and what the check keeps of its lines for a
re-check or a later run (Plan, Record). No Theano here: it calls the functions engine/compile.py
compiled."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import forked


@dataclass(frozen=True)
class Moved:
    """Parameter values as data: `values` with each tensor k of `parts` moved by t * parts[k],
    rounded to its dtype. The moved values are made only when the point is evaluated, one point at
    a time: a direction can be as large as the model."""

    values: list[np.ndarray]
    parts: dict[int, np.ndarray] = field(default_factory=dict)
    t: float = 0.0

    def values_at(self) -> list[np.ndarray]:
        at = list(self.values)
        for k, w in self.parts.items():
            at[k] = (self.values[k] + self.t * w).astype(self.values[k].dtype, copy=False)
        return at


@dataclass(frozen=True)
class Plan:
    """What decides a check's lines beside its seed: the tensors, their boosts and the rung of the
    ladder later lines start at. A re-check of the same tensors with the same plan draws the same
    directions."""

    members: tuple[int, ...]
    boost: dict[int, float]
    start: int


@dataclass
class Record:
    """How a check's lines went, so that the next run of the same check (engine/remembered.py) can
    probe exactly the lines that judged and skip the attempts that did not: per Prober.judged_line
    call, the attempt of the ladder it ended at; per point (at the nearby one or not), the round-off
    floor measured there (line.noise_floor), the kept line it was measured on (counting the lines
    such a run probes: every line but the attempts it skips) and whether that line itself used it
    (else it was measured on a skipped attempt, and holds from that kept line on)."""

    members: tuple[int, ...] = ()  # the tensors checked
    attempts: list[int] = field(default_factory=list)
    floors: dict[bool, tuple[float, int, bool]] = field(default_factory=dict)
    # the judged_line calls whose disagreement was measured again at the nearby point
    # (Prober.confirmed_nearby): the next run does the same, whatever its own attempts show
    confirmed: list[int] = field(default_factory=list)


def with_tensor(values: list[np.ndarray], index: int, value: np.ndarray) -> list[np.ndarray]:
    """`values` with tensor `index` replaced by `value`."""
    replaced = list(values)
    replaced[index] = value
    return replaced


@dataclass
class CompiledCheck:
    grad_fn: Any  # a Theano function: (*data, *params) -> [loss, *grads]
    loss_fn: Any  # a Theano function: (*data, *params) -> loss
    data: list[np.ndarray]
    base: list[np.ndarray]  # the selected parameters' values, in ParamInfo order
    precision: str
    evaluations: int = 0
    seconds: dict[str, float] = field(default_factory=dict)
    probe_with_gradient: bool = False  # see choose_probe_function below
    # the probe function's loss at the base point (one-sided differences)
    base_loss: float | None = None
    # what the last evaluation took (forked.split: whether sharing one pays)
    evaluation_seconds: float = 0.0
    # The round-off of one evaluation at the base point, when the directional check measured it
    # above 16 eps |L| (line.noise_floor): a property of the probe function there, so a check by
    # the same function keeps it.
    noise_floor: float | None = None
    # The loss values the directional check measured along the lines through all its tensors, by
    # (point and direction, t) (probing.Prober.recorded), when a tensor failed.
    line_values: dict[tuple[bytes, float], float] = field(default_factory=dict)
    # A re-check by the same probe function at the same point (an ablation of the backward pass
    # only) reads the check's values instead of evaluating them again, and probes the same lines:
    # the check's plan (boosts and first rung of the ladder, Plan).
    reused_values: dict[tuple[bytes, float], float] | None = None
    plan: Plan | None = None
    reused_plan: Plan | None = None
    # How the directional check's lines went (Record), and an earlier run's record of the
    # same check to replay (engine/remembered.py).
    record: Record | None = None
    replay: Record | None = None

    def loss(self, values: list[np.ndarray], data: list[np.ndarray] | None = None) -> float:
        """The loss at parameter `values` (on the check's data unless `data` is given), by the probe
        function."""
        data = self.data if data is None else data
        self.evaluations += 1
        started = time.perf_counter()
        if self.probe_with_gradient:
            value = float(self.grad_fn(*data, *values)[0])
        else:
            value = float(self.loss_fn(*data, *values))
        self.evaluation_seconds = time.perf_counter() - started
        return value

    def losses(self, points: Sequence[Moved]) -> list[float]:
        """The loss at each of `points`, one evaluation each: shared with a forked child where a
        spare CPU makes that pay (forked.split), and counted here either way."""
        before = self.evaluations
        values = forked.split(self.loss_at, points, self.evaluation_seconds)
        self.evaluations = before + len(points)
        return values

    def loss_at(self, point: Moved) -> float:
        return self.loss(point.values_at())

    def loss_with(self, index: int, value: np.ndarray) -> float:
        return self.loss(with_tensor(self.base, index, value))

    def loss_with_input(self, position: int, value: np.ndarray) -> float:
        """The loss with data input `position` (in model.inputs order) replaced, at the base
        parameters."""
        data = list(self.data)
        data[position] = value
        return self.loss(self.base, data)

    def loss_at_base(self) -> float:
        if self.base_loss is None:
            self.base_loss = self.loss(self.base)
        return self.base_loss

    def choose_probe_function(
        self, gradient_seconds: float, with_gradient: bool | None = None
    ) -> float:
        """Evaluate the loss with the forward-only function and keep, for the probes, whichever
        function is faster. Theano's forward-only graph of a scan can be the slower one, since its
        scan rewrites differ. The loss is timed twice (the faster time counts) when the first timing
        favours the gradient function: a single timing on a shared machine can be off by 2x and pick
        the slower function for every probe that follows. A first timing that favours the loss
        function is final (a second could only be faster), and the second evaluation is saved.
        `with_gradient` given (an earlier run of the same check chose: engine/remembered.py): that
        choice, after one evaluation, so that a loaded machine cannot make this run's numbers differ
        from that run's. Returns the loss."""
        loss_seconds: list[float] = []
        while len(loss_seconds) < 2 and gradient_seconds < 0.8 * min(
            loss_seconds, default=math.inf
        ):
            started = time.perf_counter()
            loss = self.loss(self.base)
            loss_seconds.append(time.perf_counter() - started)
            if with_gradient is not None:
                break
        self.probe_with_gradient = (
            gradient_seconds < 0.8 * min(loss_seconds) if with_gradient is None else with_gradient
        )
        self.base_loss = (
            float(self.grad_fn(*self.data, *self.base)[0]) if self.probe_with_gradient else loss
        )
        return loss


# What moves a check to other parameter values (at_point): its view there, the gradients and the
# loss.
Move = Callable[
    ["CompiledCheck", list[np.ndarray]], tuple["CompiledCheck", list[np.ndarray], float]
]


def at_point(
    check: CompiledCheck, values: list[np.ndarray]
) -> tuple[CompiledCheck, list[np.ndarray], float]:
    """The check moved to other parameter values (same compiled functions and data): its view, the
    analytic gradients there (one gradient evaluation) and the loss by the probe function."""
    view = CompiledCheck(
        check.grad_fn,
        check.loss_fn,
        check.data,
        values,
        check.precision,
        probe_with_gradient=check.probe_with_gradient,
    )
    _, *grads = check.grad_fn(*check.data, *values)
    return view, [np.asarray(g, dtype="float64") for g in grads], view.loss_at_base()
