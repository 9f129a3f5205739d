"""What the check of one model hands to the diagnosis (and to the float64 settling of a float32
check)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import ModelSpec
from ..core.results import ModelResult

if TYPE_CHECKING:  # annotations only: the worker imports the engine once Theano is prepared
    from ..engine.check import AnalyticResult
    from ..engine.evaluation import CompiledCheck
    from ..engine.settings import CheckSettings
    from ..model.built import BuiltModel
    from ..model.objective import Objective


@dataclass
class Context:
    """Everything the check of one model produced, for the diagnosis stage."""

    spec: ModelSpec
    settings: CheckSettings  # what the comparison took from `spec`
    root: str
    config_file: str
    model: BuiltModel
    objective: Objective
    compiled: CompiledCheck
    analytic: AnalyticResult
    result: ModelResult
    progress: Callable[[str], None]
