"""What building a model gives the check: the Lasagne graph with its inputs and parameters, each
labelled and located in the user's code, and the shapes its inputs are checked at (records only:
describe.py, shapes.py and build.py fill them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core.results import Notice, ParamResult
from ..usercode.sites import CallSite


@dataclass
class ParamInfo:
    id: str
    variable: Any  # theano shared variable
    layer: Any
    layer_label: str
    site: CallSite | None

    def result(self, **measured: Any) -> ParamResult:
        """This parameter's ParamResult: its id, layer and call site, and the `measured` ParamResult
        fields."""
        return ParamResult(
            id=self.id,
            layer=self.layer_label,
            file=self.site.file if self.site else None,
            line=self.site.line if self.site else None,
            via=list(self.site.via) if self.site else [],
            **measured,
        )


@dataclass
class InputInfo:
    layer: Any
    kind: str  # sequence | matrix | mask | other
    label: str
    site: CallSite | None
    integers: tuple[int, int] | None = None  # an integer input's values: low <= value < high

    @property
    def dtype(self) -> str:
        """The input variable's dtype ('floatX' when the layer has none, as in tests)."""
        return str(getattr(getattr(self.layer, "input_var", None), "dtype", "floatX"))

    @property
    def is_integer(self) -> bool:
        return self.dtype.startswith(("int", "uint"))

    def names(self) -> list[str]:
        """What `data.inputs` may call it: its label, its InputLayer's name, its input variable's
        name."""
        variable = getattr(self.layer, "input_var", None)
        return [
            n
            for n in (
                self.label,
                getattr(self.layer, "name", None),
                getattr(variable, "name", None),
            )
            if n
        ]


@dataclass
class BuiltModel:
    output: Any
    layers: list[Any]
    labels: dict[int, str]  # id(layer) -> "name" or "ClassName#k"
    sites: dict[int, CallSite]  # id(layer) -> where the user's code constructed it
    inputs: list[InputInfo]
    params: list[ParamInfo]  # the parameters selected by the spec's `params`
    all_params: list[ParamInfo] = field(default_factory=list)
    # what the user should know about how it was built
    notices: list[Notice] = field(default_factory=list)
    # per input (as `inputs`), the shape its array is drawn at: `data:` filled in (shapes.py)
    shapes: list[tuple[int, ...]] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # the ModelResult's `data` (shapes, dtypes)

    def label(self, layer: Any) -> str:
        return self.labels.get(id(layer), type(layer).__name__)

    def site(self, layer: Any) -> CallSite | None:
        return self.sites.get(id(layer))
