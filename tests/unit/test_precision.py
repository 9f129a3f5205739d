"""One object per precision (gradcheck_ci/engine/precision.py): every precision gradcheck.yml admits
has one, and what float32 leaves to float64 is said by the object, not by its name."""

from __future__ import annotations

import numpy as np

from gradcheck_ci.config.keys import PRECISIONS
from gradcheck_ci.engine.precision import BY_NAME, FLOAT32, FLOAT64, of
from gradcheck_ci.platform.compat import PRECISIONS as THEANO_PRECISIONS


def test_every_precision_the_config_admits_has_one_object():
    assert set(BY_NAME) == set(PRECISIONS) == set(THEANO_PRECISIONS)
    assert all(of(name).name == name for name in PRECISIONS)


def test_the_objects_agree_with_numpy_and_with_each_other():
    assert FLOAT64.eps == np.finfo("float64").eps and FLOAT32.eps == np.finfo("float32").eps
    assert FLOAT64.allowance < FLOAT32.allowance and FLOAT64.target < FLOAT32.target
    # float64 retries a line and ends at a point near p; float32 tries once and leaves the rest to
    # float64
    assert FLOAT64.settles_itself and FLOAT64.ladder[-1][2] and FLOAT64.top_up > 0
    assert not FLOAT32.settles_itself and len(FLOAT32.ladder) == 1 and FLOAT32.top_up == 0
