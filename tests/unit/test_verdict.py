"""The verdict's checks that need no model (gradcheck_ci/engine/verdict.py)."""
from __future__ import annotations

import pytest

from gradcheck_ci.core.errors import ModelLoadError
from gradcheck_ci.engine import verdict
from tests.samples import spec


def test_a_non_finite_loss_without_a_model_points_at_the_config():
    verdict.require_finite_loss(1.5, spec(), "gradcheck.yml")
    with pytest.raises(ModelLoadError) as caught:
        verdict.require_finite_loss(float("nan"), spec(key_lines={"loss": 9}), "gradcheck.yml")
    assert caught.value.kind == "nan-or-inf" and (caught.value.file, caught.value.line) == ("gradcheck.yml", 9)
    assert "the loss of 'net' is nan on the synthetic data (seed 0)" in caught.value.message
