"""What the comparison takes from a spec, resolved once (gradcheck_ci/engine/settings.py)."""

from __future__ import annotations

from gradcheck_ci.engine.precision import FLOAT32, FLOAT64
from gradcheck_ci.engine.settings import settings_of
from tests.samples import spec


def test_auto_is_directional_and_the_allowance_is_the_precisions_unless_rtol_is_given():
    plain = settings_of(spec(seed=7))
    assert (plain.mode, plain.rtol, plain.atol, plain.seed) == (
        "directional",
        FLOAT64.allowance,
        0.0,
        7,
    )
    assert settings_of(spec(precision="float32")).rtol == FLOAT32.allowance
    given = settings_of(spec(mode="full", rtol=1e-3, atol=1e-9, directions=3))
    assert (given.mode, given.rtol, given.atol, given.directions) == ("full", 1e-3, 1e-9, 3)
