"""C or Python: which of Theano's implementations a model's worker evaluates with.

Theano runs each node of a compiled function through C code, compiled with g++ the first time that
code is met (minutes per model on a cold compile cache: Theano's helper modules, then every op), or
through the op's Python implementation (numpy, no compiler: THEANO_FLAGS `cxx=`). On the check's
small synthetic data both reach the same verdict (the mutation benchmark, `--compile python`); the
Python path evaluates more slowly (a sixth as fast on examples/seed-rnn, whose scans also
step in C: platform/scan_loop.py) and waits for no compiler. So, by default (`auto`), a model
gets C only once its C functions are compiled (and a check that ends in an error without C, an op
with C code only, runs again with C: runner.py):

- C when a record says the model was checked with C before (the worker of a C check writes it:
  write_record): its functions are in the function cache, or, when its files changed since, most of
  its C modules are in Theano's cache;
- C inside the image (its baked compile cache holds every stock layer family's C code), and when the
  function cache is off (nothing records what is compiled: as before, C);
- otherwise Python, and the run compiles C in the background afterwards when it pays
  (process/background.py; `pays`).

GRADCHECK_CI_COMPILE=c or =python forces either; a `cxx` in the user's THEANO_FLAGS is their choice
and is left alone. Theano reads `cxx` once, at import: the worker process is the unit of the choice.
The function cache keys every Theano flag (graphkey.theano_flags), `cxx` and `linker` among them, so
C and Python functions never stand in for each other.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..core.errors import UsageError
from ..core.extra import ModelExtra
from ..core.results import Notice
from . import cachedir, records
from .flags import format_flags, parse_flags

MODE_ENV = "GRADCHECK_CI_COMPILE"
MODES = ("auto", "c", "python")
# why MODE_ENV is set, when gradcheck-ci set it itself (replay: as the report's check evaluated),
# for the report's words; without it, the user set it ("GRADCHECK_CI_COMPILE=python")
MODE_WHY_ENV = "GRADCHECK_CI_COMPILE_WHY"
# Seconds of Python evaluation (analytic, numeric, diagnosis) from which compiling C pays: C loads
# ~1.5 s slower (its module cache) and evaluates faster: 2.5x on examples/seed-rnn when this was
# set, 6x since its scans step in C (platform/scan_loop.py; 193 ms against 32 ms a loss).
PAYS_ENV = "GRADCHECK_CI_C_PAYS_AFTER"
PAYS_AFTER = 10.0
RECORDS = "c-ready"  # in the function cache's directory: one record per model


@dataclass(frozen=True)
class Choice:
    c: bool  # the worker evaluates with C
    why: str  # for the progress line and the report
    chosen: bool = True  # False: the user's THEANO_FLAGS decide (they set cxx)


def mode(environ: Mapping[str, str] | None = None) -> str:
    """GRADCHECK_CI_COMPILE: auto (the default), c or python; UsageError for anything else."""
    value = (os.environ if environ is None else environ).get(MODE_ENV, "").strip().lower()
    if value and value not in MODES:
        raise UsageError(f"{MODE_ENV}={value!r}: expected one of {', '.join(MODES)}")
    return value or "auto"


def pays_after(environ: Mapping[str, str] | None = None) -> float:
    """GRADCHECK_CI_C_PAYS_AFTER, else PAYS_AFTER; UsageError when it is not a number of seconds."""
    value = (os.environ if environ is None else environ).get(PAYS_ENV, "").strip()
    if not value:
        return PAYS_AFTER
    try:
        seconds = float(value)
    except ValueError:
        seconds = -1.0
    if not seconds >= 0:
        raise UsageError(f"{PAYS_ENV}={value!r}: expected a number of seconds (0 or more)")
    return seconds


def identity(spec: dict[str, Any], stack: str) -> str:
    """Names a model's check for its record: its entry as checked and the Lasagne stack."""
    text = json.dumps({"spec": spec, "stack": stack}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def choose(model: str, root: str, environ: Mapping[str, str] | None = None) -> Choice:
    """C or Python for the worker of the model named by `model` (identity())."""
    from . import fncache

    env = os.environ if environ is None else environ
    flags = parse_flags(env.get("THEANO_FLAGS", ""))
    if "cxx" in flags:
        return Choice(bool(flags["cxx"]), "THEANO_FLAGS sets cxx", chosen=False)
    forced = mode(env)
    if forced != "auto":
        return Choice(forced == "c", env.get(MODE_WHY_ENV) or f"{MODE_ENV}={forced}")
    if cachedir.baked_theano_cache(env):
        return Choice(True, "the image's compile cache holds the stock layers' C code")
    directory = fncache.cache_dir(dict(env))
    if directory is None:
        return Choice(True, "the function cache is off")
    state = record_state(directory, model, root)
    if state == "failed":
        failure = records.read(record_path(directory, model)).get("failed")
        return Choice(False, f"{C_FAILED} ({failure})")
    if state == "current":
        return Choice(True, "its C functions are in the function cache")
    if state == "stale":  # changed since: most of its C modules are still in Theano's cache
        return Choice(True, "its C code was compiled before (it changed since)")
    return Choice(False, "no C code was compiled for this model yet")


def python_code_problem(outputs: list[Any]) -> str | None:
    """Why Theano's Python code cannot evaluate the graph of `outputs` on this stack, when the
    worker evaluates without C (None with C, or when it can). Its convolutions: without C, Theano
    1.0.5 replaces a padded one with nothing (its optimizer then stops the compile with words about
    BLAS and cuDNN) and an unpadded one with a ConvOp whose Python code needs scipy.signal names
    that scipy 1.10 made private."""
    import theano
    from theano.gof.graph import ancestors
    from theano.tensor.nnet.abstract_conv import BaseAbstractConv
    from theano.tensor.nnet.conv import ConvOp

    if theano.config.cxx:
        return None
    for variable in ancestors(outputs):
        op = getattr(variable.owner, "op", None)
        if isinstance(op, (BaseAbstractConv, ConvOp)):
            return (
                f"Theano's Python code cannot evaluate {type(op).__name__}, a convolution, on "
                "this stack; this check evaluates without C (THEANO_FLAGS cxx= or "
                "GRADCHECK_CI_COMPILE=python), and only C can check this model"
            )
    return None


def python_flags(environ: Mapping[str, str]) -> str:
    """THEANO_FLAGS for a worker that evaluates with Python: the given ones and `cxx=`."""
    flags = parse_flags(environ.get("THEANO_FLAGS", ""))
    flags["cxx"] = ""
    return format_flags(flags)


def record_path(directory: str, model: str) -> str:
    return os.path.join(directory, RECORDS, model + ".json")


def write_record(directory: str, model: str, keys: list[str], files: dict[str, str]) -> bool:
    """Say that the model's C functions (their function-cache keys) are compiled, from these
    repository files (path: sha256); whether it was written."""
    return records.write(record_path(directory, model), {"keys": sorted(keys), "files": files})


# why a model is evaluated with Python when its background compile failed (write_failure)
C_FAILED = "its C compile after an earlier run failed"
NOT_AGAIN = "is not compiled again until the model's files change"


def write_failure(directory: str, model: str, error: str, files: dict[str, str]) -> bool:
    """Say that checking the model with C (the background compile after a Python run) ended in
    `error`, with these repository files (path: sha256): later runs keep to Python and do not try
    again until one of them changes. Whether it was written."""
    return records.write(record_path(directory, model), {"failed": error, "files": files})


def record_state(directory: str, model: str, root: str) -> str | None:
    """None: no C check of the model was recorded (or one that failed, from files changed since);
    "failed": a C check that failed, from the files as they are; "current": every function it names
    is in the cache and every file it was compiled from is unchanged; "stale": one is not (the
    model changed, an entry was pruned)."""
    from .fncache import entry_path

    record = records.read(record_path(directory, model))
    if isinstance(record, dict) and "failed" in record:
        files = record.get("files")
        if isinstance(files, dict) and all(
            _sha256(os.path.join(root, name)) == digest for name, digest in files.items()
        ):
            return "failed"
        return None
    try:
        keys, files = list(record["keys"]), dict(record["files"])
    except (KeyError, TypeError, ValueError):
        return None
    if all(os.path.isfile(entry_path(directory, key)) for key in keys) and all(
        _sha256(os.path.join(root, name)) == digest for name, digest in files.items()
    ):
        return "current"
    return "stale"


def _sha256(path: str) -> str | None:
    try:
        with open(path, "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def pays(python_seconds: float, environ: Mapping[str, str] | None = None) -> bool:
    """Whether compiling C for the next runs is worth it, after `python_seconds` of evaluation."""
    return python_seconds >= pays_after(environ)


def python_seconds(seconds: dict[str, float], extra: ModelExtra) -> float:
    """What a check evaluated with Python spent evaluating: the analytic and numeric gradients and
    the diagnosis, its compiles aside."""
    compiled = extra.diagnosis_compile
    diagnosis = seconds.get("diagnosis", 0.0) - float(compiled.seconds if compiled else 0.0)
    return seconds.get("analytic", 0.0) + seconds.get("numeric", 0.0) + max(diagnosis, 0.0)


WITHOUT_C_FAILED = "the check without C ended in an error"
COMPILING_LATER = "is being compiled in the background after this run, for the next"
NOT_PAYING = "is not compiled for later runs: it would save less than it costs"


def python_notice(why: str, spent: float, later: str, file: str, line: int | None) -> Notice:
    """The report's word on a check evaluated with Python: why, what it cost, and what happens to C
    (`later`: COMPILING_LATER, NOT_PAYING or another reason)."""
    took = f"{spent:.1f}s" if spent >= 0.05 else "under 0.1s"  # not "0.0s" on a tiny model
    return Notice(
        f"evaluated without C: {why}, so Theano's Python code evaluated the check instead of "
        f"waiting for g++ (the same verdict; evaluating took {took}, where C's code usually "
        f"runs several times faster); C {later}",
        "python-evaluation",
        file,
        line,
    )
