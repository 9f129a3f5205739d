"""What a model's check recorded beside its verdict: `ModelResult.extra`, typed.

The JSON report keeps these in the model's `extra` object, key for key as reports have always had
them, so that a report written before these types existed loads, round-trips and renders the same.
Reading one is careful rather than trusting: a key this version does not know (`float64_seconds`
of early reports), or a value of a shape it does not expect, is kept in `other` as it was written,
carried through replay, merge and --changed-since, and read by nothing.

Nothing here imports Theano or numpy: reporters, `merge` and `replay` read these on the light
install.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

T = TypeVar("T")

# Strict JSON has no NaN/Infinity: the JSON report writes them as these strings (jsonreport), and
# the readers here take them back as floats.
NON_FINITE: dict[str, float] = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


# --------------------------------------------------------------------------------- reading JSON
# Each reader returns the value with its declared type or raises ValueError; ModelExtra.from_json
# keeps what raised in `other`.


def _typed(kind: type[T]) -> Callable[[object], T]:
    def read(value: object) -> T:
        # JSON true is no count
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ValueError(f"not a {kind.__name__}: {value!r:.40}")
        return value

    return read


_str = _typed(str)
_int = _typed(int)
_bool = _typed(bool)


def _number(value: object) -> float:
    """An int stays an int, so that the report is written back as it was read."""
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"not a number: {value!r:.40}")
    return value


def _optional(read: Callable[[object], T]) -> Callable[[object], T | None]:
    return lambda value: None if value is None else read(value)


def _list(read: Callable[[object], T]) -> Callable[[object], list[T]]:
    def read_list(value: object) -> list[T]:
        if not isinstance(value, list):
            raise ValueError(f"not a list: {value!r:.40}")
        return [read(item) for item in value]

    return read_list


def _object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ValueError(f"not an object: {value!r:.40}")
    return value


def _mapping(read: Callable[[object], T]) -> Callable[[object], dict[str, T]]:
    return lambda value: {k: read(v) for k, v in _object(value).items()}


def _record(
    value: object, required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, Any]:
    """The object with exactly these keys (the optional ones may be missing): a key more would be
    lost when the report is written back, so such a record is not read at all."""
    data = _object(value)
    missing = [k for k in required if k not in data]
    unknown = [k for k in data if k not in required and k not in optional]
    if missing or unknown:
        raise ValueError(f"keys missing {missing} or unknown {unknown}")
    return data


def _json(value: Any) -> Any:
    """A field's JSON: records through their to_json, lists and objects item by item."""
    if hasattr(value, "to_json"):
        return value.to_json()
    if isinstance(value, list):
        return [_json(v) for v in value]
    if isinstance(value, dict):
        return {k: _json(v) for k, v in value.items()}
    return value


class JsonRecord:
    """A record of the report read and written field by field from its dataclass fields: each
    field's annotation says how its value is read (`_reader`), and a field whose default is None is
    left out of the JSON when None (and may be missing from it); every other field is written, and
    must be there."""

    def to_json(self) -> dict[str, Any]:
        return {
            f.name: _json(getattr(self, f.name))
            for f in fields(self)  # type: ignore[arg-type]  # a dataclass, as every subclass is
            if not (f.default is None and getattr(self, f.name) is None)
        }

    @classmethod
    def from_json(cls: type[R], value: object) -> R:
        every = fields(cls)  # type: ignore[arg-type]
        optional = tuple(f.name for f in every if f.default is None)
        data = _record(value, tuple(f.name for f in every if f.name not in optional), optional)
        return cls(**{f.name: _reader(str(f.type))(data[f.name]) for f in every if f.name in data})


R = TypeVar("R", bound=JsonRecord)


def _reader(annotation: str) -> Callable[[object], Any]:
    """How a field annotated `annotation` (a string: this module's annotations are not evaluated,
    so `int | None` reads on Python 3.9 too) is read: int, float (any number), str, bool, Any,
    list[X], dict[str, X], X | None, and the records of this module."""
    if annotation.endswith(" | None"):
        return _optional(_reader(annotation[: -len(" | None")]))
    if annotation.startswith("list[") and annotation.endswith("]"):
        return _list(_reader(annotation[len("list[") : -1]))
    if annotation.startswith("dict[str, ") and annotation.endswith("]"):
        inner = annotation[len("dict[str, ") : -1]
        return _object if inner == "Any" else _mapping(_reader(inner))
    scalars: dict[str, Callable[[object], Any]] = {
        "int": _int,
        "float": _number,
        "str": _str,
        "bool": _bool,
    }
    if annotation in scalars:
        return scalars[annotation]
    record = globals().get(annotation)
    if isinstance(record, type) and issubclass(record, JsonRecord):
        return record.from_json
    raise TypeError(f"no reader for a field annotated {annotation!r}")


# ------------------------------------------------------------------------------------- records


@dataclass
class CompileSummary(JsonRecord):
    """What a group of compiles cost and whether the function cache served them
    (platform/fncache.summary)."""

    functions: int
    seconds: float
    # hit (every function loaded), miss (compiled; stored for the next run), partial (some of
    # each), uncacheable, off (no function cache in this run), none (nothing compiled)
    cache: str
    hits: int
    misses: int
    stored: int
    uncacheable: int
    reason: str  # the first reason an entry was not used ("" when none)


@dataclass
class Float64Outcome(JsonRecord):
    """The float64 check that settled a float32 model's open tensors (diagnose/low_precision.py).
    Either `error` (it could not run) or the fields after `seconds` are set; None fields are not in
    the JSON."""

    error: str | None = None  # why it could not run
    tensors: list[str] | None = None  # the tensors it checked
    seconds: float = 0.0
    agreement: dict[str, float] | None = None  # tensor -> float32 against float64 gradient
    float32_off: list[str] | None = None  # tensors float32 computes wrong, float64 right
    confirmed: list[str] | None = None  # tensors float64 confirms failing
    # the float32 check's findings on those tensors, before float64 settled them (as
    # ParamResult.to_json: core/results.py holds the type, and imports this module)
    float32: dict[str, dict[str, Any]] | None = None
    # the float64 worker's diagnoses of what it confirmed (as Diagnosis.to_json), until the
    # diagnosis takes them over (low_precision.localised_in_float64)
    diagnoses: list[dict[str, Any]] | None = None


@dataclass
class Profile(JsonRecord):
    """A recurrent layer's gradient-through-time profile (diagnose/profile.py): the loss's
    sensitivity to the layer's input at sampled time steps, analytic against numeric."""

    layer: str
    file: str | None  # where the user's code built the layer
    line: int | None
    input: str  # the layer's input the steps perturb
    steps_total: int
    steps: list[int]
    analytic: list[float]
    numeric: list[float]
    agree: list[bool]
    analytic_nonzero_steps: list[int] | None  # [first, last] step with analytic gradient
    summary: str  # one line for the reports


@dataclass
class ProfileError(JsonRecord):
    """A recurrent layer whose profile could not be computed, and why."""

    layer: str
    error: str


def profile_from_json(value: object) -> Profile | ProfileError:
    """One entry of `profiles` (ValueError when it is neither)."""
    return ProfileError.from_json(value) if "error" in _object(value) else Profile.from_json(value)


@dataclass
class ElementSummary(JsonRecord):
    """`replay`'s element-by-element comparison of one tensor (engine/elements.py)."""

    id: str
    shape: list[int]
    elements: int
    disagree: int  # elements outside their tolerance
    max_abs_err: float
    worst_index: list[int]  # the element furthest outside its tolerance
    analytic: float  # at the worst element
    numeric: float
    tolerance: float
    evaluations: int


@dataclass
class ReplayRecord(JsonRecord):
    """What `gradcheck-ci replay` compared element by element, and the .npz it saved the arrays
    in."""

    npz: str
    tensors: list[ElementSummary]


@dataclass
class Evaluation(JsonRecord):
    """Whether C or Theano's Python code evaluated the check, and why (platform/ccode.py)."""

    code: str  # "c" or "python"
    why: str
    # Python only: whether C is compiled after the run, for the next (None: not said)
    compile_later: bool | None = None


# ------------------------------------------------------------------------------------- the whole


@dataclass
class ModelExtra:
    """Everything beside the verdict, one field per key of the JSON report's `extra`; None: not
    recorded (the key is not written). The fields are in the order the check records them, which is
    the order of the keys in the JSON (the dict it replaces wrote diagnosis_error last in one case:
    a diagnosis that stopped after listing its skipped steps), then what was kept in `other`."""

    compile: CompileSummary | None = None  # the check's compiles
    # two evaluations of the loss at the same point agreed (worker.py; stochastic-forward reads it)
    forward_repeatable: bool | None = None
    # the directional check probed the lines its last run judged, without that run's retries
    # (engine/remembered.py): the same numbers from fewer evaluations
    probes_replayed: bool | None = None
    float64: Float64Outcome | None = None  # a float32 model's tensors settled in float64
    replay: ReplayRecord | None = None  # `gradcheck-ci replay`'s element-wise comparison
    allow_error: str | None = None  # why the ablation that proves an `allow:` could not run
    diagnosis_error: str | None = None  # the diagnosis stopped early: one sentence
    profiles: list[Profile | ProfileError] | None = None  # of a failing model's RNN layers
    diagnosis_skipped: list[str] | None = None  # steps the model's timeout left out
    diagnosis_compile: CompileSummary | None = None  # the diagnosis' compiles
    # worker to runner only (never in a report): the Lasagne master API the code needs, so that
    # `lasagne: auto` checks it on master
    master_api: str | None = None
    # worker to runner only (never in a report): a check with C would end in the same error (raised
    # while the model was imported and built, through no code of Theano's; or a shape mismatch)
    same_with_c: bool | None = None
    evaluation: Evaluation | None = None  # C or Python (runner.py)
    unexpected_pass: bool | None = None  # `expect: fail`, and the gradients agree (runner.py)
    # keys this version does not know, and values it could not read, as they were written
    other: dict[str, Any] = field(default_factory=dict)

    def layer_profiles(self, first: int | None = None) -> list[Profile]:
        """The profiles computed (not those that failed), of the `first` layers profiled."""
        return [p for p in (self.profiles or [])[:first] if isinstance(p, Profile)]

    def to_json(self) -> dict[str, Any]:
        data = {
            f.name: _json(getattr(self, f.name))
            for f in fields(self)
            if f.name != "other" and getattr(self, f.name) is not None
        }
        for key, value in self.other.items():
            data.setdefault(key, value)
        return data

    @classmethod
    def from_json(cls, value: object) -> ModelExtra:
        """Raises TypeError when `value` is not an object (what it holds is read with care)."""
        if not isinstance(value, dict):
            raise TypeError(f"extra is not an object: {value!r:.40}")
        known: dict[str, Any] = {}
        other: dict[str, Any] = {}
        for key, item in value.items():
            read = _READERS.get(key)
            try:
                if read is None:
                    raise ValueError(f"unknown key {key!r}")
                known[key] = read(item)
            except ValueError:
                other[key] = item
        return cls(**known, other=other)


# The fields the worker sets for the runner alone, which the runner clears before any report.
WORKER_TO_RUNNER = ("master_api", "same_with_c")

_READERS: dict[str, Callable[[object], object]] = {
    "compile": CompileSummary.from_json,
    "forward_repeatable": _bool,
    "probes_replayed": _bool,
    "float64": Float64Outcome.from_json,
    "replay": ReplayRecord.from_json,
    "allow_error": _str,
    "diagnosis_error": _str,
    "profiles": _list(profile_from_json),
    "diagnosis_skipped": _list(_str),
    "diagnosis_compile": CompileSummary.from_json,
    "master_api": _str,
    "same_with_c": _bool,
    "evaluation": Evaluation.from_json,
    "unexpected_pass": _bool,
}
