"""What reading gradcheck.yml produces: `ModelSpec`s inside a `Config`, and the two kinds of failure
(`ConfigError`, raised; `ConfigProblem`, collected). Also how a 'target:function' reference
resolves.

The field defaults of `ModelSpec` and `DataSpec` are the key table's (keys.py);
tests/unit/test_config_keys.py keeps them equal. They are written out here so that the engine's view
of a model reads plainly.
"""

from __future__ import annotations

import copy
import os
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass
class InputRange:
    """`data.inputs.<name>`: the integers an integer input holds, low <= value < high."""

    high: int
    low: int = 0

    @staticmethod
    def problem(values: dict[str, Any]) -> str | None:
        """What is wrong with these values together (None: nothing); the reader reports it."""
        low, high = values.get("low", 0), values.get("high")
        if isinstance(high, int) and isinstance(low, int) and low >= high:
            return (
                f"low ({low}) must be below high ({high}): integers are drawn from low <= "
                f"value < high"
            )
        return None


@dataclass
class DataSpec:
    """Shape of the synthetic data a model is checked on."""

    sequences: int = 10
    steps: int = 100
    features: int = 2
    classes: int = 2
    mask: str = "full"  # full | random
    inputs: dict[str, InputRange] = field(default_factory=dict)  # integer ranges, by input name


@dataclass
class InputSpec:
    """`inputs.<argument>`: an InputLayer gradcheck-ci makes and passes to the factory as that
    argument."""

    shape: list[int | None]  # None: filled from `data`
    dtype: str | None = None  # None: Theano's floatX (the model's precision)
    mask: bool = False  # a mask (sequences, steps), filled as data.mask says

    @staticmethod
    def problem(values: dict[str, Any]) -> str | None:
        shape = values.get("shape")
        if values.get("mask") and isinstance(shape, list) and len(shape) != 2:
            return f"a mask has 2 dimensions (sequences, steps); this shape has {len(shape)}"
        return None


@dataclass
class ModelSpec:
    """One validated model entry, with defaults applied."""

    name: str
    factory: str  # as written: "path/to/file.py:function" or "package.module:function"
    kwargs: dict[str, Any] = field(default_factory=dict)
    # InputLayers made for the factory's arguments
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    output: int | str | None = None  # which returned value is the output layer; None: found
    data: DataSpec = field(default_factory=DataSpec)
    loss: str | None = None  # None: chosen later from the output nonlinearity
    params: list[str] = field(default_factory=lambda: ["*"])
    precision: str = "float64"
    seed: int = 0
    mode: str = "auto"
    rtol: float | None = None  # None: the engine's default
    atol: float | None = None
    directions: int = 1
    timeout: float = 600.0  # seconds
    memory: int = 8192  # MiB
    expect: str = "pass"
    # cause codes (causes.ALLOWABLE) accepted by their ablation
    allow: list[str] = field(default_factory=list)
    # 0.1 | master | auto: 0.1, or master when its code needs it (platform/lasagne_stacks.py)
    lasagne: str = "auto"
    line: int = 0  # 1-based line of the entry in gradcheck.yml (0: not read from a file)
    # Line of every key given for this model, dotted ("data.steps", "kwargs.gradient_steps");
    # keys inherited from `defaults` map to their line there.
    key_lines: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ModelSpec:
        d = copy.deepcopy(dict(d))
        data = d.get("data") or {}
        if not isinstance(data, DataSpec):
            ranges = {
                k: v if isinstance(v, InputRange) else InputRange(**v)
                for k, v in (data.get("inputs") or {}).items()
            }
            data = DataSpec(**{**data, "inputs": ranges})
        d["data"] = data
        d["inputs"] = {
            k: v if isinstance(v, InputSpec) else InputSpec(**v)
            for k, v in (d.get("inputs") or {}).items()
        }
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})

    def as_checked(self) -> dict[str, Any]:
        """What the check of this entry depends on: every key with defaults applied, without the
        line numbers (moving an entry in gradcheck.yml changes nothing). Reports record it; `replay`
        re-runs it."""
        record = self.to_json()
        record.pop("line", None)
        record.pop("key_lines", None)
        return record


@dataclass
class ConfigProblem:
    message: str
    line: int | None
    column: int | None = None
    model: str | None = None  # set when the problem belongs to one model entry with a usable name


@dataclass
class Config:
    path: str  # as given
    root: str  # absolute repository root
    version: int
    models: list[ModelSpec]
    problems: list[ConfigProblem]
    # of the file's text: the shards of one run must have read the same config (merge)
    sha256: str = ""

    def rel_path(self) -> str:
        """The config path relative to the repository root, '/' separators."""
        absolute = os.path.abspath(self.path)
        try:
            rel = os.path.relpath(absolute, self.root)
        except ValueError:  # another drive on Windows
            rel = absolute
        return rel.replace(os.sep, "/")


class ConfigError(Exception):
    """Nothing usable could be read from the config file."""

    def __init__(self, message: str, file: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return located(self.file, self.line, self.column, self.message)


def format_problem(path: str, p: ConfigProblem) -> str:
    """'gradcheck.yml:12:5: message' (the parts that are known)."""
    return located(path, p.line, p.column, p.message)


def format_problems(path: str, problems: list[ConfigProblem]) -> list[str]:
    """format_problem for each distinct problem, in file order of first report: a problem of a
    mapping merged into many model entries (an anchor with a duplicate key) is one line saying how
    many entries it spoils."""
    counts: dict[str, int] = {}
    for problem in problems:
        text = format_problem(path, problem)
        counts[text] = counts.get(text, 0) + 1
    return [text if n == 1 else f"{text} (in {n} model entries)" for text, n in counts.items()]


def located(file: str, line: int | None, column: int | None, message: str) -> str:
    """'file:line:column: message', leaving out the parts that are None."""
    where = file
    if line is not None:
        where += f":{line}"
        if column is not None:
            where += f":{column}"
    return f"{where}: {message}"


def resolve_reference(ref: str, root: str) -> tuple[str, str, str]:
    """Split a validated 'target:function' into (kind, target, function).

    kind is "file" (target: absolute, normalised path under root) or "module" (target: dotted name).
    """
    target, _, function = ref.rpartition(":")
    if is_path(target):
        path = os.path.normpath(os.path.join(os.path.abspath(root), *target.split("/")))
        return "file", path, function
    return "module", target, function


def resolve_factory(spec: ModelSpec, root: str) -> tuple[str, str, str]:
    """(kind, target, function) of the model's factory: see resolve_reference."""
    return resolve_reference(spec.factory, root)


def is_path(target: str) -> bool:
    """Whether the part before ':' of a reference names a file (else a dotted module)."""
    return target.endswith(".py") or "/" in target or "\\" in target
