"""Blame the user's code: which file and line of the repository an error, a layer or a function comes from.

Every error about a model names a place the user can open: the innermost frame of a traceback that lies
in the repository, the line that constructed a layer, the `def` (or `return`) of a factory or loss. Paths
are relative to the repository root with '/' separators. Also here: the hints for code written for a newer
Lasagne or for Theano's removed CUDA backend, and which escaped exceptions are the model's fault.
"""
from __future__ import annotations

import functools
import inspect
import os
import re
import sys
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

from ..config import ModelSpec
from ..core.errors import ModelLoadError
from ..core.results import Notice
from . import guard, legacy


@dataclass
class CallSite:
    file: str  # relative to the repository root
    line: int


# ---------------------------------------------------------------- which files are the user's

def is_inside(path: str, root: str) -> bool:
    """Whether `path` (symlinks resolved) lies in the folder `root` (already resolved)."""
    if not path or path.startswith("<"):  # "<string>", "<__array_function__ internals>", "<frozen ...>"
        return False
    path = os.path.realpath(path)
    return path == root or path.startswith(root + os.sep)


def is_library(path: str) -> bool:
    """Installed packages and gradcheck-ci itself: never the user's code, even inside the repository."""
    return "site-packages" in path or "dist-packages" in path or f"{os.sep}gradcheck_ci{os.sep}" in path


def relative(path: str, root: str) -> str:
    """`path` relative to the repository root, with '/' separators (as reports show it)."""
    return os.path.relpath(os.path.realpath(path), root).replace(os.sep, "/")


def user_frame(tb_frames: list[traceback.FrameSummary], root: str) -> CallSite | None:
    """The innermost frame of a traceback that lies in the user's repository."""
    for frame in reversed(tb_frames):
        if frame.filename and is_inside(frame.filename, root) and not is_library(frame.filename):
            return CallSite(relative(frame.filename, root), frame.lineno or 1)
    return None


def definition_site(fn: Callable[..., Any], root: str) -> tuple[str, int] | None:
    """(file, line) of the `def` of a function in the repository, else None."""
    try:
        path = inspect.getsourcefile(fn)
        _, line = inspect.getsourcelines(fn)
    except (TypeError, OSError):
        return None
    if path and is_inside(path, root):
        return relative(path, root), line
    return None


def call_noting_return(fn: Callable[..., Any], kwargs: dict[str, Any],
                       args: tuple[Any, ...] = ()) -> tuple[Any, int | None]:
    """fn(*args, **kwargs), and the line of fn's own `return` (a profile hook watches only fn's code object)."""
    code = getattr(fn, "__code__", None)
    if code is None or sys.getprofile() is not None:  # not a plain function, or a profiler is running
        return fn(*args, **kwargs), None
    returned: list[int | None] = [None]

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "return" and frame.f_code is code:
            returned[0] = frame.f_lineno

    sys.setprofile(profile)
    try:
        value = fn(*args, **kwargs)
    finally:
        sys.setprofile(None)
    return value, returned[0]


@contextmanager
def recording_call_sites(root: str) -> Iterator[dict[int, CallSite]]:
    """While active, remember the user's file and line that constructed each Lasagne layer."""
    from lasagne.layers import base
    from lasagne.layers import input as input_layers

    sites: dict[int, CallSite] = {}
    keep_alive: list[Any] = []  # ids are only unique while the objects live
    # InputLayer.__init__ does not call Layer.__init__ in Lasagne 0.1: wrap it too, or inputs have no site.
    originals = {cls: cls.__init__ for cls in (base.Layer, base.MergeLayer, input_layers.InputLayer)}

    def wrap(original: Callable[..., None]) -> Callable[..., None]:
        def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
            if id(self) not in sites:
                site = _construction_site(self, root)
                if site:
                    sites[id(self)] = site
                    keep_alive.append(self)
            original(self, *args, **kwargs)
        return __init__

    for cls, original in originals.items():
        cls.__init__ = wrap(original)
    try:
        yield sites
    finally:
        for cls, original in originals.items():
            cls.__init__ = original


def _construction_site(layer: Any, root: str) -> CallSite | None:
    frame: FrameType | None = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        inside_own_init = frame.f_locals.get("self") is layer
        if not inside_own_init and is_inside(filename, root) and not is_library(filename):
            return CallSite(relative(filename, root), frame.f_lineno)
        frame = frame.f_back
    return None


# ---------------------------------------------------------------- quoting the user's code

MAX_QUOTED_LINES = 8  # a layer's constructor call spread over many lines is quoted up to this many
_OPENING, _CLOSING = "([{", ")]}"


def quote_source(root: str, file: str, line: int) -> dict[str, str]:
    """The statement at `line` of the repository file `file` ({line number: text}): the line itself and, while
    its brackets are open, the lines that continue it. Empty when the file is not the repository's or is gone.
    """
    root = os.path.realpath(root)
    path = os.path.join(root, *file.split("/"))
    if line < 1 or not is_inside(path, root) or not os.path.isfile(path):
        return {}
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    quoted: dict[str, str] = {}
    depth = 0
    for number in range(line, min(line + MAX_QUOTED_LINES, len(lines) + 1)):
        text = lines[number - 1]
        quoted[str(number)] = text[:300]
        code = text.split("#", 1)[0]
        depth += sum(code.count(c) for c in _OPENING) - sum(code.count(c) for c in _CLOSING)
        if depth <= 0:
            break
    return quoted


# ---------------------------------------------------------------- errors raised by the user's code

def user_code_error(exc: BaseException, root: str, doing: str,
                    fallback: tuple[str, int | None]) -> ModelLoadError:
    """Turn an exception from user code into a message naming the user's file and line."""
    if isinstance(exc, SyntaxError) and exc.filename and is_inside(exc.filename, root):
        return _syntax_error(exc, root, doing)
    frames = traceback.extract_tb(exc.__traceback__)
    site = user_frame(frames, root)
    location = (site.file, site.line) if site else fallback
    for explain in (_process_ended, _stopped_by_a_guard, _from_another_era, _needs_what_is_not_there):
        error = explain(exc, root, doing, site, location)
        if error is not None:
            return error
    return ModelLoadError(f"{_text(exc, root)} ({doing})", *location)


Location = tuple[str, int | None]


def _text(exc: BaseException, root: str) -> str:
    return f"{type(exc).__name__}: {clean_message(_without_library_paths(str(exc)), root)}".strip()


def _process_ended(exc: BaseException, root: str, doing: str, site: CallSite | None,
                   location: Location) -> ModelLoadError | None:
    """Out of memory, exit(), a script's argument parser."""
    if isinstance(exc, MemoryError):
        return ModelLoadError(f"out of memory {doing} (MemoryError: the model's `memory` limit in gradcheck.yml "
                              "is too small for it, or the code allocates far more than it needs)",
                              *location, kind="memory")
    if not isinstance(exc, SystemExit):
        return None
    if any(os.path.basename(f.filename) == "argparse.py" for f in traceback.extract_tb(exc.__traceback__)):
        return ModelLoadError(f"the code parses the command line {doing} and exited ({exc.code!r}): gradcheck-ci "
                              "runs it without your script's arguments; give every argument a default, or parse "
                              "them under `if __name__ == '__main__':` and pass them to the factory", *location)
    return ModelLoadError(f"the code called exit({exc.code!r}) {doing}; a factory must return the output "
                          "layer (raise an exception to report a problem)", *location)


def _stopped_by_a_guard(exc: BaseException, root: str, doing: str, site: CallSite | None,
                        location: Location) -> ModelLoadError | None:
    """The import limit or the network guard (guard.py)."""
    if isinstance(exc, guard.TooSlow):
        where = f", at {site.file}:{site.line} when it was stopped" if site else ""
        return ModelLoadError(f"{doing} {exc}{where}: the module does work when it is imported, such as training a "
                              "network or loading data, and a factory's module should only define functions; move "
                              "that work under `if __name__ == '__main__':` or into a function (the limit is half "
                              "the model's `timeout`, at most 60 s)", *location, kind="load")
    network = _network_attempt(exc, root)
    if network is not None:
        host, at = network
        return ModelLoadError(f"the code tried to reach the network ({host}) {doing}: gradcheck-ci runs models "
                              "without network access, and a gradient check needs no data set or trained weights; "
                              "download outside the factory (under `if __name__ == '__main__':`), or make the "
                              "factory build the network without it", *(at or location), kind="load")
    return None


def _from_another_era(exc: BaseException, root: str, doing: str, site: CallSite | None,
                      location: Location) -> ModelLoadError | None:
    """Python 2, float32 variables in a float64 check, Lasagne master, Theano's CUDA backend, Python 2 division.
    The explanation replaces Python's words, which can mislead (a missing 'nose' module for cuDNN layers, an
    argument refused by MergeLayer for the LSTMLayer the user wrote)."""
    old = legacy.python2_runtime(exc)
    if old and site is not None:
        return ModelLoadError(f"{site.file} {legacy.PYTHON2}: {old} at line {site.line}", site.file, site.line)
    float32 = float32_explanation(exc, _text(exc, root))
    if float32:
        return ModelLoadError(float32[0], *(float32[1] or location), kind="build")
    era = legacy.gpu(exc) or legacy.lasagne_master(
        exc, legacy.refusing_class(exc.__traceback__, lambda f: _is_users(f, root)))
    if era:
        return ModelLoadError(f"{era} ({doing})", *location)
    division = legacy.python3_division(exc)
    if division:
        return ModelLoadError(f"{_text(exc, root)} ({doing}): {division}", *location)
    return None


def _needs_what_is_not_there(exc: BaseException, root: str, doing: str, site: CallSite | None,
                             location: Location) -> ModelLoadError | None:
    """A data or weight file that is not committed, a package gradcheck-ci's environment lacks."""
    if site is None:
        return None
    if isinstance(exc, FileNotFoundError):
        return ModelLoadError(f"{_text(exc, root)} ({doing}): the check runs in the repository as it is checked out, "
                              "without data or weight files that are not committed; a gradient check needs neither: "
                              "make loading them optional (gradcheck-ci draws the weights from `seed`)", *location)
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing:  # a package the user's code needs, not one of the repository's modules
        return ModelLoadError(f"{_text(exc, root)} ({doing}): the check runs with gradcheck-ci's packages (numpy, "
                              f"scipy, Theano 1.0.5, Lasagne 0.1); install {missing.split('.')[0]!r} where it runs, "
                              "or import it only where the network is not built (under `if __name__ == "
                              "'__main__':`)", *location)
    return None


def network_notices(root: str) -> list[Notice]:
    """A notice for each place the model's code tried to reach the network and carried on without it."""
    notices: list[Notice] = []
    for attempt in guard.attempts:
        site = user_frame(attempt.stack, root)
        message = (f"the model's code tried to reach the network ({attempt.host}); gradcheck-ci runs models without "
                   "network access, so the connection was refused and the code carried on without it")
        if not any(n.message == message and n.line == (site.line if site else None) for n in notices):
            notices.append(Notice(message, "network", site.file if site else None, site.line if site else None))
    return notices


def _is_users(path: str, root: str) -> bool:
    return is_inside(path, root) and not is_library(path)


def _syntax_error(exc: SyntaxError, root: str, doing: str) -> ModelLoadError:
    file = relative(str(exc.filename), root)
    if "codec can't decode" in str(exc.msg) or str(exc.msg).startswith("Non-UTF-8"):
        return ModelLoadError(f"{file} is not valid UTF-8 ({exc.msg}); save it as UTF-8 (or declare its "
                              "encoding with a '# -*- coding: ... -*-' line)", file, exc.lineno)
    if isinstance(exc, TabError):
        return ModelLoadError(f"{file} {legacy.PYTHON2}: tabs mixed with spaces in its indentation at line "
                              f"{exc.lineno} (Python 3 refuses them; indent with spaces only)", file, exc.lineno)
    old = legacy.python2_construct(str(exc.filename), exc.lineno)
    if old is not None:
        construct, line = old
        return ModelLoadError(f"{file} {legacy.PYTHON2}: {construct} at line {line}", file, line)
    return ModelLoadError(f"syntax error {doing}: {exc.msg}", file, exc.lineno)


def _network_attempt(exc: BaseException, root: str) -> tuple[str, tuple[str, int] | None] | None:
    """(host, the user's line) when `exc` comes from a blocked network connection (guard.no_network)."""
    if not guard.attempts:
        return None
    seen: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in seen:  # the exception, what it wraps, what it was raised from
        seen.append(current)
        reason = getattr(current, "reason", None)
        current = reason if isinstance(reason, BaseException) else (current.__cause__ or current.__context__)
    names = {cls.__name__ for e in seen for cls in type(e).__mro__}
    if not any(isinstance(e, guard.NetworkBlocked) for e in seen) and not (
            names & {"URLError", "HTTPError", "ConnectionError", "gaierror", "timeout", "SSLError"}):
        return None
    attempt = guard.attempts[-1]
    site = user_frame(attempt.stack, root)
    return attempt.host, ((site.file, site.line) if site else None)


def unexpected_error(exc: BaseException, root: str, spec: ModelSpec, config_file: str) -> ModelLoadError | None:
    """An exception that escaped the check: the model's fault (a ModelLoadError to report) or ours (None).

    It is the model's when the traceback passes through the repository's code (a custom layer's or op's
    method) or when Theano says the graph cannot be differentiated.
    """
    root = os.path.realpath(root)
    name = type(exc).__name__
    float32 = float32_explanation(exc)
    if float32 is not None:
        return ModelLoadError(float32[0], *(float32[1] or (config_file, spec.line)), kind="build")
    if name in ("NullTypeGradError", "DisconnectedInputError", "GradientError") or (
            isinstance(exc, (TypeError, NotImplementedError)) and "grad" in str(exc).lower()
            and "theano" in type(exc).__module__ + str(exc)):
        first = " ".join(str(exc).split()) or name
        op = re.search(r"of the (\w+) op\b", first)
        site = _user_class_site(op.group(1), root, method="grad") if op else None
        return ModelLoadError(f"Theano cannot differentiate the loss of {spec.name!r}: {name}: {first} (every "
                              "checked parameter needs a differentiable path to the loss; argmax, sort indices "
                              "and rounding have no gradient)", *(site or (config_file, spec.line)), kind="build")
    if user_frame(traceback.extract_tb(exc.__traceback__), root) is not None:
        return user_code_error(exc, root, f"checking model {spec.name!r}", fallback=(config_file, spec.line))
    if raised_by_compiled_function(exc):
        # The compiled graph failed at run time (a shape mismatch, an op's perform()): the model's graph.
        lines = [line for line in str(exc).splitlines() if line.strip()]
        keep = [lines[0]] if lines else [name]
        keep += [line for line in lines[1:] if line.startswith("Apply node that caused the error")]
        site = _node_creation_site(exc, root)
        message = (f"Theano failed evaluating the compiled loss of {spec.name!r}: {name}: " + "; ".join(keep)
                   + " (a shape or type mismatch in the model's graph or loss; set THEANO_FLAGS=optimizer=fast_compile "
                   "and run the factory yourself to see where the node was built)")
        return ModelLoadError(message, *(site or (config_file, spec.line)), kind="build")
    return None


def _user_class_site(name: str, root: str, method: str) -> tuple[str, int] | None:
    """Where the repository's code defines class `name` (its `method` if it defines one), else None."""
    for module in list(sys.modules.values()):
        path = getattr(module, "__file__", None)
        if not path or not is_inside(path, root) or is_library(path):
            continue
        cls = getattr(module, name, None)
        if not isinstance(cls, type):
            continue
        target = cls.__dict__.get(method, cls)
        try:
            _, line = inspect.getsourcelines(target)
        except (TypeError, OSError):
            continue
        return relative(path, root), line
    return None


def raised_by_compiled_function(exc: BaseException) -> bool:
    """Whether `exc` was raised while a compiled Theano function ran (by one of its nodes)."""
    if hasattr(exc, "__thunk_trace__") or "Apply node that caused the error" in str(exc):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return any(f.name == "__call__" and f.filename.endswith(os.path.join("compile", "function_module.py"))
               for f in frames)


def _node_creation_site(exc: BaseException, root: str) -> tuple[str, int] | None:
    """The user's line that built the failing Theano node, when Theano kept its creation trace."""
    trace = getattr(exc, "__thunk_trace__", None) or []
    stacks = trace if trace and isinstance(trace[0], list) else [trace]
    for stack in stacks:
        frames = [traceback.FrameSummary(f[0], f[1], f[2], line=f[3] if len(f) > 3 else None)
                  for f in stack if isinstance(f, (tuple, list)) and len(f) >= 3]
        site = user_frame(frames, root)
        if site:
            return site.file, site.line
    return None


def _without_library_paths(text: str) -> str:
    """'cannot import name X from Y (/venv/.../site-packages/y/__init__.py)' -> without the installed path."""
    return re.sub(r" \((?:/|[A-Za-z]:\\)[^()]*(?:site|dist)-packages[^()]*\)", "", text)


# ---------------------------------------------------------------- code written for another Lasagne or Theano

def legacy_hint(exc: BaseException) -> str:
    """Explain errors caused by code written for newer Lasagne or for the removed CUDA backend ('' if not)."""
    return legacy.gpu(exc) or legacy.lasagne_master(exc) or ""


# ---------------------------------------------------------------- messages

_ARRAY = re.compile(r"\barray\(")
_NUMBERS_IN_BRACKETS = re.compile(r"\[[\s\[\]0-9eE.+\-,naif]{40,}\]")
_ABSOLUTE_PATH = re.compile(r"(?:(?<=[\s'\"(\[=:,])|^)(/[^\s'\",()\[\]:]+)")
MAX_MESSAGE = 1500


def clean_message(text: str, root: str | None = None) -> str:
    """Error text fit for a report: no array dumps (Theano's messages embed the arrays they were given), no
    path inside gradcheck-ci's installation or the installed packages, paths in the repository relative to
    it, and at most MAX_MESSAGE characters."""
    text = _without_arrays(text)
    text = _NUMBERS_IN_BRACKETS.sub("[...]", text)
    real_root = os.path.realpath(root) if root else None

    def path(match: re.Match[str]) -> str:
        found = match.group(1)
        if real_root and is_inside(found, real_root) and not is_library(found):
            return relative(found, real_root)
        for marker in ("site-packages/", "dist-packages/"):
            if marker in found:
                return found.split(marker, 1)[1]
        if f"{os.sep}gradcheck_ci{os.sep}" in found or found.endswith(f"{os.sep}gradcheck_ci"):
            return "gradcheck_ci/" + found.rsplit(f"{os.sep}gradcheck_ci{os.sep}", 1)[-1]
        if "compiledir_" in found:
            return "<theano compile cache>/" + os.path.basename(found)
        return found

    text = _ABSOLUTE_PATH.sub(path, text)
    return text if len(text) <= MAX_MESSAGE else text[:MAX_MESSAGE - 1] + "…"


def error_summary(exc: BaseException, limit: int = 240) -> str:
    """'ValueError: shapes (4,3) and (18,4) not aligned: ...': the exception's first line, without the tuple repr
    Theano's messages often are ("('message', (4, 3), (18, 4))"), cut on a word to about `limit` characters."""
    lines = str(exc).splitlines()
    text = " ".join(lines[0].split()) if lines else ""
    quoted = re.match(r"""^\((['"])(.+?)\1(?:,|\)$)""", text)
    if quoted:
        text = quoted.group(2)
    if len(text) > limit:
        text = text[:limit].rsplit(" ", 1)[0] + " …"
    return f"{type(exc).__name__}: {clean_message(text)}" if text else type(exc).__name__


def _without_arrays(text: str) -> str:
    """`array([[1., 2.], ...])` -> `array(...)`, parentheses balanced however long the dump."""
    out = []
    position = 0
    for match in _ARRAY.finditer(text):
        if match.start() < position:
            continue
        depth, end = 0, len(text)
        for i in range(match.end() - 1, len(text)):
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            if depth == 0:
                end = i + 1
                break
        out.append(text[position:match.start()] + "array(...)")
        position = end
    return "".join(out) + text[position:]


# ---------------------------------------------------------------- float32 variables in a float64 check

_float32_sites: list[CallSite] = []


@functools.cache
def _theano_dir() -> str:
    from theano.gof import graph

    return os.path.dirname(os.path.dirname(os.path.abspath(graph.__file__))) + os.sep


def _user_caller_of_theano(root: str) -> FrameType | None:
    """The frame of the user's code that called into Theano (for a patched Variable.__init__: the first frame
    above it outside Theano's package), or None when that caller is not the user's code."""
    theano_dir = _theano_dir()
    frame: FrameType | None = sys._getframe(2)
    while frame is not None and frame.f_code.co_filename.startswith(theano_dir):
        frame = frame.f_back
    return frame if frame is not None and _is_users(frame.f_code.co_filename, root) else None


@contextmanager
def recording_float32_sites(root: str) -> Iterator[list[CallSite]]:
    """While active, remember where the user's code creates float32 Theano variables (T.ftensor3, a float32
    shared variable, a cast): in a float64 check they are the model's own choice, and the likely cause of a
    type error between float32 and float64 (see float32_explanation). Only the first few are kept."""
    from theano.gof import graph

    original = graph.Variable.__init__
    _float32_sites.clear()

    def __init__(self: Any, type: Any, *args: Any, **kwargs: Any) -> None:
        original(self, type, *args, **kwargs)
        if getattr(type, "dtype", None) != "float32" or len(_float32_sites) >= 5 or isinstance(self, graph.Constant):
            return
        frame = _user_caller_of_theano(root)
        if frame is not None:
            site = CallSite(relative(frame.f_code.co_filename, root), frame.f_lineno)
            if site not in _float32_sites:
                _float32_sites.append(site)

    graph.Variable.__init__ = __init__
    try:
        yield _float32_sites
    finally:
        graph.Variable.__init__ = original


@contextmanager
def float32_inputs_as_float64(root: str) -> Iterator[None]:
    """While active, a symbolic input the user's code declares as float32 (T.ftensor3, T.fmatrix,
    T.TensorType('float32', ...)) is declared float64 instead: so that a model written in float32 can be built
    in float64, for the float64 check that settles what its float32 check could not (diagnose/low_precision.py).
    Only free inputs change (no owner, not shared, not a constant); the data fed to them is the float32 check's,
    which float64 holds exactly. What else the model fixes in float32 (a cast, a float32 shared variable) stays
    as written, and where it cannot mix with float64 that check does not run."""
    from theano.compile.sharedvalue import SharedVariable
    from theano.gof import graph

    original = graph.Variable.__init__

    def __init__(self: Any, type: Any, owner: Any = None, *args: Any, **kwargs: Any) -> None:
        if (getattr(type, "dtype", None) == "float32" and owner is None and hasattr(type, "clone")
                and not isinstance(self, (graph.Constant, SharedVariable)) and _user_caller_of_theano(root)):
            type = type.clone(dtype="float64")
        original(self, type, owner, *args, **kwargs)

    graph.Variable.__init__ = __init__
    try:
        yield
    finally:
        graph.Variable.__init__ = original


def float32_explanation(exc: BaseException, text: str | None = None) -> tuple[str, tuple[str, int] | None] | None:
    """(message, where) for a type error between float32 and float64 in a float64 check of a model that builds
    float32 variables itself; None otherwise."""
    text = text or f"{type(exc).__name__}: {exc}"
    if not _float32_sites or "float32" not in text or not isinstance(exc, (TypeError, ValueError)):
        return None
    first = _float32_sites[0]
    short = error_summary(exc)
    short = (short[:short.find(". ")] if ". " in short else short).rstrip(".")  # its first sentence
    return (f"this model builds float32 variables ({first.file}:{first.line}) and fails in a float64 check: "
            f"{short}; set `precision: float32` for this model in gradcheck.yml (or build the variables with "
            "theano.config.floatX)", (first.file, first.line))
