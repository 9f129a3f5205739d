"""Turn per-tensor comparisons into a model's status; the non-finite cases."""
from __future__ import annotations

import math

import numpy as np

from .config import ModelSpec
from .loading import ModelLoadError, ParamInfo
from .results import ModelResult, ParamResult


def require_finite_loss(loss: float, spec: ModelSpec, config_file: str) -> None:
    """A loss that is NaN or Inf at the starting point leaves nothing to compare: a model error."""
    if not math.isfinite(loss):
        raise ModelLoadError(f"the loss of {spec.name!r} is {loss} on the synthetic data (seed {spec.seed}); "
                             "nothing can be compared", config_file, spec.line, kind="nan-or-inf")


def non_finite_param(info: ParamInfo, grad: np.ndarray) -> ParamResult:
    """The loss is finite but Theano's gradient is not: that is a gradient bug, not a config error."""
    bad = np.argwhere(~np.isfinite(grad))
    worst = [int(i) for i in bad[0]] if bad.size else None
    return ParamResult(id=info.id, shape=list(grad.shape), status="fail", max_abs_err=math.inf,
                       max_rel_err=math.inf, tolerance=0.0, worst_index=worst, method="full",
                       analytic=float(grad[tuple(worst)]) if worst is not None else None, numeric=None,
                       layer=info.layer_label, file=info.site.file if info.site else None,
                       line=info.site.line if info.site else None)


def model_status(result: ModelResult, spec: ModelSpec) -> str:
    mismatch = any(p.status == "fail" for p in result.params)
    if mismatch:
        return "expected-fail" if spec.expect == "fail" else "fail"
    return "pass"
