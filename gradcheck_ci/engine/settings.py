"""What the comparison takes from a model's spec, resolved once (the worker does it): the engine is
handed these numbers, never the config."""

from __future__ import annotations

from dataclasses import dataclass

from ..config import ModelSpec
from .precision import of


@dataclass(frozen=True)
class CheckSettings:
    """One model's comparison settings (settings_of makes them from its spec)."""

    precision: str
    # "directional" or "full". `auto` is directional at every size: with bands and bisection it
    # costs fewer evaluations than perturbing every element even for the 10-parameter reported
    # network, and still names the worst element.
    mode: str
    rtol: float  # the relative allowance of every comparison
    atol: float
    seed: int  # of the directions
    directions: int  # a band's fewest directions
    # a failing tensor's worst element is looked for (localise.py); a re-check that needs only which
    # tensors fail leaves it out (directional mode: the full mode measures every element anyway)
    localise: bool = True


def settings_of(spec: ModelSpec) -> CheckSettings:
    """The model's `rtol`, else its precision's allowance; `atol` 0 unless given."""
    return CheckSettings(
        precision=spec.precision,
        mode="directional" if spec.mode == "auto" else spec.mode,
        rtol=spec.rtol if spec.rtol is not None else of(spec.precision).allowance,
        atol=spec.atol or 0.0,
        seed=spec.seed,
        directions=spec.directions,
    )
