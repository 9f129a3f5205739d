"""Every element of chosen tensors, analytic against numeric, and the arrays behind a check in an
.npz file.

`gradcheck-ci replay` runs the check as a report recorded it, then asks for this: each failing
tensor is compared element by element (full mode: one central difference per element, refined where
it disagrees, through numeric.compare, the check's own error model), and the inputs, parameters,
analytic and numeric gradients are saved so that a developer can look at them in plain numpy:

    data = np.load("gradcheck-replay-NAME.npz")            # no pickles: allow_pickle=False works
    data["numeric/RecurrentLayer#0.W_in_to_hid"] - data["analytic/RecurrentLayer#0.W_in_to_hid"]
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..core.extra import ElementSummary
from ..model.built import BuiltModel
from . import numeric
from .check import AnalyticResult
from .evaluation import CompiledCheck
from .settings import CheckSettings


@dataclass
class Elementwise:
    """One tensor compared element by element."""

    id: str
    # the numeric derivative of every element (refined where the first estimate disagreed)
    numeric: np.ndarray
    abs_err: np.ndarray
    tolerance: np.ndarray
    agree: np.ndarray  # bool
    evaluations: int

    def summary(self, analytic: np.ndarray) -> ElementSummary:
        excess = np.where(
            self.tolerance > 0, self.abs_err / np.maximum(self.tolerance, 1e-300), np.inf
        )
        worst = int(np.argmax(np.where(np.isfinite(excess), excess, np.finfo(float).max)))
        index = (
            [int(i) for i in np.unravel_index(worst, self.numeric.shape)]
            if self.numeric.shape
            else []
        )
        return ElementSummary(
            id=self.id,
            shape=list(self.numeric.shape),
            elements=int(self.numeric.size),
            disagree=int(np.count_nonzero(~self.agree)),
            max_abs_err=float(np.max(self.abs_err)),
            worst_index=index,
            analytic=float(analytic.reshape(-1)[worst]),
            numeric=float(self.numeric.reshape(-1)[worst]),
            tolerance=float(self.tolerance.reshape(-1)[worst]),
            evaluations=self.evaluations,
        )


def compare_elements(
    compiled: CompiledCheck,
    index: int,
    grad: np.ndarray,
    rtol: float,
    atol: float,
    tensor_id: str,
    progress: Callable[[str], None] = lambda message: None,
) -> Elementwise:
    """Tensor `index` of the check, every element: the step and tolerance of numeric.compare, as in
    full mode."""
    value = compiled.base[index]
    flat = value.reshape(-1)
    flat_grad = grad.reshape(-1)
    size = flat.size
    out = {name: np.zeros(size) for name in ("numeric", "abs_err", "tolerance")}
    agree = np.zeros(size, dtype=bool)
    before = compiled.evaluations
    for i in range(size):
        if size > 100 and i % max(size // 10, 1) == 0:
            progress(f"replay: every element of {tensor_id}: {i} of {size}")

        def loss_along(t: float, i: int = i) -> float:
            probe = flat.copy()
            probe[i] = flat[i] + t
            return compiled.loss_with(index, probe.reshape(value.shape))

        step = numeric.base_step(compiled.precision, abs(float(flat[i])))
        c = numeric.compare(
            float(flat_grad[i]),
            loss_along,
            step,
            compiled.precision,
            rtol,
            atol,
            base_loss=compiled.loss_at_base(),
        )
        out["numeric"][i], out["abs_err"][i], out["tolerance"][i] = (
            c.numeric,
            c.abs_err,
            c.tolerance,
        )
        agree[i] = c.passed
    shape = value.shape
    return Elementwise(
        tensor_id,
        out["numeric"].reshape(shape),
        out["abs_err"].reshape(shape),
        out["tolerance"].reshape(shape),
        agree.reshape(shape),
        compiled.evaluations - before,
    )


def replay_tensors(
    compiled: CompiledCheck,
    model: BuiltModel,
    grads: AnalyticResult,
    settings: CheckSettings,
    ids: list[str],
    npz_path: str,
    meta: dict[str, Any],
    progress: Callable[[str], None] = lambda message: None,
) -> list[ElementSummary]:
    """Compare every element of the tensors `ids` (those of the selected parameters), write the
    .npz, and return one summary per tensor compared."""
    positions = {info.id: k for k, info in enumerate(model.params)}
    rtol, atol = settings.rtol, settings.atol
    arrays: dict[str, np.ndarray] = {}
    # the data, then the targets
    for source, data in zip(model.inputs, compiled.data, strict=False):
        arrays[f"inputs/{source.label}"] = np.asarray(data)
    arrays["targets"] = np.asarray(compiled.data[-1])
    for info, value, grad in zip(model.params, compiled.base, grads.grads, strict=True):
        arrays[f"params/{info.id}"] = np.asarray(value)
        arrays[f"analytic/{info.id}"] = np.asarray(grad)
    summaries = []
    for tensor_id in ids:
        if tensor_id not in positions:
            continue
        k = positions[tensor_id]
        progress(
            f"replay: comparing every element of {tensor_id} ({compiled.base[k].size} "
            f"elements, full mode)"
        )
        compared = compare_elements(compiled, k, grads.grads[k], rtol, atol, tensor_id, progress)
        arrays[f"numeric/{tensor_id}"] = compared.numeric
        arrays[f"abs_err/{tensor_id}"] = compared.abs_err
        arrays[f"tolerance/{tensor_id}"] = compared.tolerance
        arrays[f"agree/{tensor_id}"] = compared.agree
        summaries.append(compared.summary(grads.grads[k]))
    arrays["meta"] = np.array(
        json.dumps(dict(meta, compared=[s.id for s in summaries], loss=grads.loss))
    )
    write_npz(npz_path, arrays)
    return summaries


def write_npz(path: str, arrays: dict[str, np.ndarray]) -> None:
    """Plain arrays only (no object dtype), so np.load(path) works with allow_pickle=False;
    atomically."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f".{os.path.basename(path)}.{os.getpid()}.tmp")
    with open(tmp, "wb") as handle:
        np.savez(handle, **arrays)
    os.replace(tmp, path)
