"""What the comparison takes from a spec, resolved once (gradcheck_ci/engine/settings.py)."""

from __future__ import annotations

from gradcheck_ci.config.keys import MODES
from gradcheck_ci.engine import check
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


def test_every_mode_the_config_takes_resolves_to_a_mode_the_engine_has():
    # a mode added to the config but not to the engine's registry would end in a KeyError mid-check
    for name in MODES:
        assert settings_of(spec(mode=name)).mode in check.MODES
    assert set(check.MODES) == set(MODES) - {"auto"}
