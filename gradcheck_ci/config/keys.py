"""The key table of gradcheck.yml: every key once, with where it may be written, how its value is
read, its default and a one-line doc.

Everything else derives from this table: the key lists below, which keys the reader accepts where,
how it reads them, the did-you-mean hints and how a ModelSpec is assembled.
tests/unit/test_config_keys.py checks ModelSpec's and DataSpec's defaults and docs/config.md's key
tables against it.

Adding a key is one row here plus its consumer (a ModelSpec field, read by the engine). A key inside
a section names the section as its scope: `Key("mask", "data", ...)` is `data: {mask: ...}`, read
into `DataSpec.mask`. A new section is a SECTION row (its default is the dataclass its keys fill)
plus rows scoped to it; the reader and the ModelSpec assembly recurse, so sections may nest. A
MAPPING row takes names the user chooses (as `kwargs` does) with a reader for the whole mapping. A
NAMED row takes names the user chooses, each holding a section of fixed keys (`inputs: {x: {shape:
...}}`): its reader checks each name, its default is the dataclass each name fills (the field is a
dict name -> dataclass), its keys are the rows scoped to its path, and a `problem(values)`
staticmethod of that dataclass may check them together.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .kwargs import keyword_arguments
from .readers import (
    MAX_SIZE,
    Reader,
    allowed_causes,
    any_integer,
    argument_name,
    boolean,
    choice,
    input_name,
    integer,
    lasagne_stack,
    loss,
    name,
    number,
    optional,
    output,
    params,
    reference,
    shape,
)
from .spec import DataSpec, InputRange, InputSpec

# Where a key is written (a key inside a section has the section's dotted path as its scope
# instead).
TOP = "top"  # the top level of the file
MODEL = "model"  # a model entry only
SHARED = "defaults/model"  # a model entry, or `defaults` for every model

# What its value is.
VALUE = "value"  # one value, read by the row's reader
SECTION = "section"  # a mapping of the keys scoped to it, merged with `defaults` key by key
# a mapping of names the user chooses, read whole; merged with `defaults` name by name
MAPPING = "mapping"
# names the user chooses, each a section of the keys scoped to it; merged name by name
NAMED = "named"


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = _Required()  # the default of a key that must be given

CONFIG_VERSION = 1  # the format version this reader reads
PRECISIONS = ("float64", "float32")
MODES = ("auto", "full", "directional")
EXPECTS = ("pass", "fail")
MASKS = ("full", "random")
DTYPES = (
    "float32",
    "float64",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
)
# The smallest `memory` (MiB of address space) a worker starts and checks the smallest model with,
# measured (docs/config.md, "memory"): a one-layer network's worker maps ~550 MiB unconstrained on 2
# CPUs (numpy, scipy, Theano, OpenBLAS), fails at 256-288, hangs in OpenBLAS at 320 and 448 (its
# buffers half allocated), checks at 384 and 512; every CPU beyond two adds a BLAS thread of ~80
# MiB. 1024 leaves room for that.
MIN_MEMORY = 1024
# numpy's RandomState takes no larger seed: `check` would fail where `validate` passed
MAX_SEED = 2**32 - 1
MAX_DIRECTIONS = 10_000  # each is a few loss evaluations per band; beyond this a run never ends
# The worker's address-space limit is set in bytes (setrlimit): beyond 16 TiB no machine has the
# memory, and far beyond, the limit no longer fits and the worker cannot start
MAX_MEMORY = 2**24


@dataclass(frozen=True)
class Key:
    name: str  # as written in its mapping
    scope: str  # TOP, MODEL, SHARED, or the dotted path of its section ("data")
    # None: TOP keys (the reader's own steps) and SECTIONs (read through their rows);
    read: Reader | None
    # for a NAMED row, the reader of each name
    # REQUIRED; for a SECTION, the dataclass its keys fill; for a NAMED row, the one each name fills
    default: Any
    doc: str
    kind: str = VALUE

    @property
    def path(self) -> str:
        """Dotted, as in ModelSpec.key_lines and in messages: "seed", "data.steps"."""
        return self.name if self.scope in (TOP, MODEL, SHARED) else f"{self.scope}.{self.name}"


KEYS: tuple[Key, ...] = (
    Key("version", TOP, None, REQUIRED, "The format version: the integer 1."),
    Key("defaults", TOP, None, {}, "Values for every model key except name and factory."),
    Key("models", TOP, None, REQUIRED, "The model entries, checked in file order."),
    Key("name", MODEL, name, REQUIRED, "Unique name of the model in reports."),
    Key("factory", MODEL, reference, REQUIRED, "The function that builds the model."),
    Key("kwargs", SHARED, keyword_arguments, {}, "Keyword arguments for the factory.", MAPPING),
    Key(
        "inputs",
        SHARED,
        argument_name,
        InputSpec,
        "InputLayers made for the factory, by argument name.",
        NAMED,
    ),
    Key(
        "output",
        SHARED,
        output,
        None,
        "Which returned value is the output layer; null: the one holding the rest.",
    ),
    Key("data", SHARED, None, DataSpec, "The shape of the synthetic inputs and targets.", SECTION),
    Key(
        "loss",
        SHARED,
        loss,
        None,
        "The loss whose gradient is checked; null: chosen from the output layer.",
    ),
    Key("params", SHARED, params, ["*"], "The parameters to check, as ids or globs."),
    Key("precision", SHARED, choice(PRECISIONS), "float64", "Theano's floatX for the check."),
    Key(
        "seed",
        SHARED,
        integer(minimum=0, maximum=MAX_SEED),
        0,
        "Seeds the data, the parameters and the random directions.",
    ),
    Key(
        "mode",
        SHARED,
        choice(MODES),
        "auto",
        "Compare every element (full) or screen along directions.",
    ),
    Key(
        "rtol",
        SHARED,
        optional(number(above_zero=True)),
        None,
        "Relative tolerance; null: the error model.",
    ),
    Key(
        "atol",
        SHARED,
        optional(number(above_zero=False)),
        None,
        "Absolute tolerance; null: the default.",
    ),
    Key(
        "directions",
        SHARED,
        integer(minimum=1, maximum=MAX_DIRECTIONS),
        1,
        "Random directions per band and per tensor.",
    ),
    Key(
        "timeout",
        SHARED,
        number(above_zero=True),
        600.0,
        "Wall-clock limit of the model's worker, seconds.",
    ),
    Key(
        "memory",
        SHARED,
        integer(minimum=MIN_MEMORY, limit=MAX_MEMORY),
        8192,
        "Address-space limit of the model's worker, MiB.",
    ),
    Key("expect", SHARED, choice(EXPECTS), "pass", "fail records a known gradient bug."),
    Key(
        "allow",
        SHARED,
        allowed_causes,
        [],
        "Causes accepted when their ablation explains the difference.",
    ),
    Key(
        "lasagne",
        SHARED,
        lasagne_stack,
        "auto",
        "The Lasagne the model runs on: 0.1, master, or auto.",
    ),
    Key(
        "sequences",
        "data",
        integer(minimum=1, limit=MAX_SIZE),
        10,
        "Batch size: the number of sequences.",
    ),
    Key("steps", "data", integer(minimum=1, limit=MAX_SIZE), 100, "Time steps per sequence."),
    Key("features", "data", integer(minimum=1, limit=MAX_SIZE), 2, "Input features per step."),
    Key("classes", "data", integer(minimum=2, limit=MAX_SIZE), 2, "Target classes (output units)."),
    Key("mask", "data", choice(MASKS), "full", "random gives the sequences random lengths."),
    Key(
        "inputs",
        "data",
        input_name,
        InputRange,
        "Value ranges of integer inputs, by input name.",
        NAMED,
    ),
    Key(
        "shape",
        "inputs",
        shape,
        REQUIRED,
        "The InputLayer's shape; null sizes are filled from data.",
    ),
    Key(
        "dtype",
        "inputs",
        optional(choice(DTYPES)),
        None,
        "The input variable's dtype; null: the precision.",
    ),
    Key(
        "mask",
        "inputs",
        boolean,
        False,
        "true: a mask (sequences, steps), filled as data.mask says.",
    ),
    Key("high", "data.inputs", any_integer, REQUIRED, "Integers are drawn below high."),
    Key("low", "data.inputs", any_integer, 0, "Integers are drawn from low up."),
)


def keys_in(*scopes: str) -> tuple[Key, ...]:
    """The rows written in any of `scopes`, in table order."""
    return tuple(key for key in KEYS if key.scope in scopes)


def names_in(*scopes: str) -> tuple[str, ...]:
    return tuple(key.name for key in keys_in(*scopes))


TOP_KEYS = names_in(TOP)
MODEL_KEYS = names_in(MODEL, SHARED)
DEFAULTS_KEYS = names_in(SHARED)
DATA_KEYS = names_in("data")
INPUT_KEYS = names_in("inputs")
REQUIRED_MODEL_KEYS = tuple(key.name for key in keys_in(MODEL) if key.default is REQUIRED)
BY_PATH = {key.path: key for key in KEYS}  # the paths are unique across scopes: a test checks
DEFAULT_TIMEOUT: float = BY_PATH["timeout"].default
DEFAULT_MEMORY: int = BY_PATH["memory"].default
