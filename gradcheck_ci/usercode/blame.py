"""Blame the user's code for an error: which file and line of the repository an exception comes
from.

Every error about a model names a place the user can open: the innermost frame of a traceback that
lies in the repository (sites.py finds it), else the `def` of the factory or loss. Also here: the
hints for code written for a newer Lasagne or for Theano's removed CUDA backend, and which escaped
exceptions are the model's fault. The text of messages is cleaned by messages.py; float32 variables
in a float64 check are float32_sites.py's.
"""

from __future__ import annotations

import inspect
import os
import re
import traceback

from ..config import ModelSpec
from ..core.errors import ModelLoadError, exception_chain
from ..core.results import Notice
from ..platform import lasagne_stacks
from . import guard, legacy
from .float32_sites import float32_explanation
from .input_shapes import input_shape_error
from .messages import clean_message, without_library_paths
from .sites import (
    CallSite,
    is_inside,
    is_library,
    is_users,
    relative,
    repository_modules,
    user_frame,
)
from .trace import trace_site

# ---------------------------------------------------------------- errors raised by the user's code


def user_code_error(
    exc: BaseException, root: str, doing: str, fallback: tuple[str, int | None]
) -> ModelLoadError:
    """Turn an exception from user code into a message naming the user's file and line."""
    if isinstance(exc, SyntaxError) and exc.filename and is_inside(exc.filename, root):
        return _syntax_error(exc, root, doing)
    frames = traceback.extract_tb(exc.__traceback__)
    site = user_frame(frames, root)
    location = (site.file, site.line) if site else fallback
    for explain in (
        _process_ended,
        _stopped_by_a_guard,
        _from_another_era,
        _imported_outside_its_package,
        _needs_what_is_not_there,
    ):
        error = explain(exc, root, doing, site, location)
        if error is not None:
            return error
    return ModelLoadError(f"{_text(exc, root)} ({doing})", *location)


Location = tuple[str, int | None]


def _text(exc: BaseException, root: str) -> str:
    return (
        f"{type(exc).__name__}: "
        f"{clean_message(without_library_paths(legacy.exception_text(exc)), root)}"
    ).strip()


def _process_ended(
    exc: BaseException, root: str, doing: str, site: CallSite | None, location: Location
) -> ModelLoadError | None:
    """Out of memory, exit(), a script's argument parser."""
    if isinstance(exc, MemoryError):
        return ModelLoadError(
            f"out of memory {doing} (MemoryError: the model's `memory` limit in "
            f"gradcheck.yml "
            "is too small for it, or the code allocates far more than it needs)",
            *location,
            kind="memory",
        )
    if not isinstance(exc, SystemExit):
        return None
    if any(
        os.path.basename(f.filename) == "argparse.py"
        for f in traceback.extract_tb(exc.__traceback__)
    ):
        return ModelLoadError(
            f"the code parses the command line {doing} and exited "
            f"({exc.code!r}): gradcheck-ci "
            "runs it without your script's arguments; give every argument a "
            "default, or parse them under `if __name__ == '__main__':` and pass "
            "them to the factory",
            *location,
        )
    return ModelLoadError(
        f"the code called exit({exc.code!r}) {doing}; a factory must return the "
        f"output "
        "layer (raise an exception to report a problem)",
        *location,
    )


def _stopped_by_a_guard(
    exc: BaseException, root: str, doing: str, site: CallSite | None, location: Location
) -> ModelLoadError | None:
    """The import limit or the network guard (guard.py)."""
    if isinstance(exc, guard.TooSlow):
        where = f", at {site.file}:{site.line} when it was stopped" if site else ""
        return ModelLoadError(
            f"{doing} {exc}{where}: the module does work when it is imported, "
            f"such as training a "
            "network or loading data, and a factory's module should only define "
            "functions; move that work under `if __name__ == '__main__':` or "
            "into a function (the limit is half the model's `timeout`, at most "
            "60 s)",
            *location,
            kind="load",
        )
    network = _network_attempt(exc, root)
    if network is not None:
        host, at = network
        return ModelLoadError(
            f"the code tried to reach the network ({host}) {doing}: gradcheck-ci "
            f"runs models "
            "without network access, and a gradient check needs no data set or "
            "trained weights; download outside the factory (under `if __name__ "
            "== '__main__':`), or make the factory build the network without it",
            *(at or location),
            kind="load",
        )
    return None


def _from_another_era(
    exc: BaseException, root: str, doing: str, site: CallSite | None, location: Location
) -> ModelLoadError | None:
    """Python 2, float32 variables in a float64 check, Lasagne master, Theano's CUDA backend, Python
    2 division. The explanation replaces Python's words, which can mislead (a missing 'nose' module
    for cuDNN layers, an argument refused by MergeLayer for the LSTMLayer the user wrote)."""
    old = legacy.python2_runtime(exc)
    if old and site is not None:
        return ModelLoadError(
            f"{site.file} {legacy.PYTHON2}: {old} at line {site.line}", site.file, site.line
        )
    values = _float64_values(exc, doing)
    if values:
        return ModelLoadError(values, *location, kind="build")
    float32 = float32_explanation(exc, _text(exc, root))
    if float32:
        return ModelLoadError(float32[0], *(float32[1] or location), kind="build")
    gpu = legacy.gpu(exc)
    if gpu:
        return ModelLoadError(f"{gpu} ({doing})", *location)
    user_class = legacy.refusing_class(exc.__traceback__, lambda f: is_users(f, root))
    # on Lasagne master, a missing Lasagne name is a typo (or newer still), not a reason to go to
    # master
    master = (
        legacy.lasagne_master(exc, user_class)
        if lasagne_stacks.current() == lasagne_stacks.RELEASE
        else None
    )
    if master:
        error = ModelLoadError(f"{master} ({doing})", *location)
        # `lasagne: auto` checks it on master instead
        error.master_api = legacy.master_api(exc, user_class)
        return error
    division = legacy.python3_division(exc)
    if division:
        return ModelLoadError(f"{_text(exc, root)} ({doing}): {division}", *location)
    return None


# Theano's refusal to store values in a parameter of a narrower dtype (set_value, a Lasagne
# set_all_param_values of weights saved at float64), and the parameter's name
_NARROWER = re.compile(
    r"TensorType\((float32|float16)[^)]*\) cannot store a value of dtype (float64|float32)"
)
_CONTAINER = re.compile(r"Container name \"([^\"]*)\"")


def _float64_values(exc: BaseException, doing: str) -> str | None:
    """Values wider than the check's precision given to a parameter (float64 weights loaded into a
    float32 check): said in those words, not as Theano's tuple with the array in it."""
    text = legacy.exception_text(exc)
    narrow = _NARROWER.search(text)
    if not isinstance(exc, TypeError) or narrow is None:
        return None
    container = _CONTAINER.search(text)
    name = f" {container.group(1)}" if container and container.group(1) else ""
    param, given = narrow.group(1), narrow.group(2)
    return (
        f"TypeError: the code gives the {param} parameter{name} {given} values ({doing}): the "
        f"check builds the network at {param}, the model's `precision`; cast the values where "
        "they are loaded (`.astype(theano.config.floatX)`), or check the model at "
        f"`precision: {given}`"
    )


def _needs_what_is_not_there(
    exc: BaseException, root: str, doing: str, site: CallSite | None, location: Location
) -> ModelLoadError | None:
    """A data or weight file that is not committed, a package gradcheck-ci's environment lacks."""
    if site is None:
        return None
    if isinstance(exc, FileNotFoundError):
        return ModelLoadError(
            f"{_text(exc, root)} ({doing}): the check runs in the repository as "
            f"it is checked out, "
            "without data or weight files that are not committed; a gradient "
            "check needs neither: make loading them optional (gradcheck-ci draws "
            "the weights from `seed`)",
            *location,
        )
    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    found = _repository_module(missing.split(".")[0], root, site.file) if missing else None
    if missing and found:  # one of the repository's modules, out of reach from where it runs
        return ModelLoadError(
            f"{_text(exc, root)} ({doing}): {missing.split('.')[0]!r} is the repository's "
            f"{found}, which is not on the import path there (the repository root, the factory "
            "file's folder and, in a package, its package): import it by its place in the "
            f"repository (`{_dotted(found)}`)",
            *location,
        )
    if missing:  # a package the user's code needs, not one of the repository's modules
        return ModelLoadError(
            f"{_text(exc, root)} ({doing}): the check runs with gradcheck-ci's "
            f"packages (numpy, scipy, Theano 1.0.5, Lasagne 0.1); install "
            f"{missing.split('.')[0]!r} where it runs, "
            "or import it only where the network is not built (under `if "
            "__name__ == '__main__':`)",
            *location,
        )
    return None


def _imported_outside_its_package(
    exc: BaseException, root: str, doing: str, site: CallSite | None, location: Location
) -> ModelLoadError | None:
    """A module of a package that imports relatively, imported by the repository's code as a
    module of its own (`import model_b` where the folder is on sys.path): the error is that import,
    not the relative one Python names."""
    if site is None or type(exc) is not ImportError or "no known parent package" not in str(exc):
        return None
    # the innermost of the repository's frames in another file: the import statement that ran it
    sites = [user_frame([frame], root) for frame in traceback.extract_tb(exc.__traceback__)]
    importer = next((s for s in reversed(sites) if s is not None and s.file != site.file), None)
    if importer is None:
        return None
    return ModelLoadError(
        f"{importer.file}:{importer.line} imports {site.file} as a module of its own, outside "
        f"its package, and it imports relatively (line {site.line}: {exc}) ({doing}): import "
        f"it by its place in its package (`from .{_dotted(site.file).rpartition('.')[2]} "
        f"import ...`, or `{_dotted(site.file)}`)",
        importer.file,
        importer.line,
    )


def _repository_module(name: str, root: str, near: str) -> str | None:
    """The repository's module or package `name` (its path): the one beside the file `near`, else
    the shallowest (a bounded walk, hidden and installed folders left out)."""
    candidates = (name + ".py", os.path.join(name, "__init__.py"))
    beside = os.path.dirname(os.path.join(root, near))
    for candidate in candidates:
        if os.path.isfile(os.path.join(beside, candidate)):
            return relative(os.path.join(beside, candidate), root)
    folders = [root]
    for seen, folder in enumerate(folders):  # breadth first
        for candidate in candidates:
            if os.path.isfile(os.path.join(folder, candidate)):
                return relative(os.path.join(folder, candidate), root)
        if seen > 2000:
            break
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
        except OSError:
            continue
        folders += [
            e.path
            for e in entries
            if e.is_dir(follow_symlinks=False)
            and not e.name.startswith((".", "__"))
            and not is_library(e.path + os.sep)
        ]
    return None


def _dotted(file: str) -> str:
    """A repository file's module name from the root: nets/model_b.py -> nets.model_b."""
    return file.removesuffix(".py").removesuffix("/__init__").replace("/", ".")


def network_notices(root: str) -> list[Notice]:
    """A notice for each place the model's code tried to reach the network and carried on without
    it."""
    notices: list[Notice] = []
    for attempt in guard.attempts:
        site = user_frame(attempt.stack, root)
        message = (
            f"the model's code tried to reach the network ({attempt.host}); gradcheck-ci "
            f"runs models without "
            "network access, so the connection was refused and the code carried on without "
            "it"
        )
        if not any(
            n.message == message and n.line == (site.line if site else None) for n in notices
        ):
            notices.append(
                Notice(message, "network", site.file if site else None, site.line if site else None)
            )
    return notices


def _syntax_error(exc: SyntaxError, root: str, doing: str) -> ModelLoadError:
    file = relative(str(exc.filename), root)
    if "codec can't decode" in str(exc.msg) or str(exc.msg).startswith("Non-UTF-8"):
        return ModelLoadError(
            f"{file} is not valid UTF-8 ({exc.msg}); save it as UTF-8 (or "
            f"declare its "
            "encoding with a '# -*- coding: ... -*-' line)",
            file,
            exc.lineno,
        )
    if isinstance(exc, TabError):
        return ModelLoadError(
            f"{file} {legacy.PYTHON2}: tabs mixed with spaces in its indentation "
            f"at line {exc.lineno} (Python 3 refuses them; indent with spaces "
            f"only)",
            file,
            exc.lineno,
        )
    old = legacy.python2_construct(str(exc.filename), exc.lineno)
    if old is not None:
        construct, line = old
        return ModelLoadError(f"{file} {legacy.PYTHON2}: {construct} at line {line}", file, line)
    return ModelLoadError(f"syntax error {doing}: {exc.msg}", file, exc.lineno)


def raised_through_theano(exc: BaseException) -> bool:
    """Whether a frame of Theano's own code is in the traceback of `exc` or of an exception it
    wraps (its cause or context): an op's Python implementation, a compile, a graph rewrite."""
    import theano

    package = os.path.dirname(os.path.realpath(theano.__file__)) + os.sep
    return any(
        os.path.realpath(frame.f_code.co_filename).startswith(package)
        for behind in exception_chain(exc)
        for frame, _ in traceback.walk_tb(behind.__traceback__)
    )


def _network_attempt(exc: BaseException, root: str) -> tuple[str, tuple[str, int] | None] | None:
    """(host, the user's line) when `exc` comes from a blocked network connection
    (guard.no_network)."""
    if not guard.attempts:
        return None
    # the exception, what it wraps, what it was raised from
    seen = exception_chain(exc, through_reason=True)
    names = {cls.__name__ for e in seen for cls in type(e).__mro__}
    if not any(isinstance(e, guard.NetworkBlocked) for e in seen) and not (
        names & {"URLError", "HTTPError", "ConnectionError", "gaierror", "timeout", "SSLError"}
    ):
        return None
    attempt = guard.attempts[-1]
    site = user_frame(attempt.stack, root)
    return attempt.host, ((site.file, site.line) if site else None)


def unexpected_error(
    exc: BaseException, root: str, spec: ModelSpec, config_file: str
) -> ModelLoadError | None:
    """An exception that escaped the check: the model's fault (a ModelLoadError to report) or ours
    (None).

    It is the model's when the traceback passes through the repository's code (a custom layer's or
    op's method) or when Theano says the graph cannot be differentiated.
    """
    root = os.path.realpath(root)
    name = type(exc).__name__
    float32 = float32_explanation(exc)
    if float32 is not None:
        return ModelLoadError(float32[0], *(float32[1] or (config_file, spec.line)), kind="build")
    text = legacy.exception_text(exc)
    if name in ("NullTypeGradError", "DisconnectedInputError", "GradientError") or (
        isinstance(exc, (TypeError, NotImplementedError))
        and "grad" in text.lower()
        and "theano" in type(exc).__module__ + text
    ):
        first = " ".join(text.split()) or name
        op = re.search(r"of the (\w+) op\b", first)
        site = _user_class_site(op.group(1), root, method="grad") if op else None
        return ModelLoadError(
            f"Theano cannot differentiate the loss of {spec.name!r}: {name}: "
            f"{first} (every "
            "checked parameter needs a differentiable path to the loss; argmax, "
            "sort indices and rounding have no gradient)",
            *(site or (config_file, spec.line)),
            kind="build",
        )
    if user_frame(traceback.extract_tb(exc.__traceback__), root) is not None:
        return user_code_error(
            exc, root, f"checking model {spec.name!r}", fallback=(config_file, spec.line)
        )
    if raised_by_compiled_function(exc):
        # The compiled graph failed at run time (a shape mismatch, an op's perform()): the model's
        # graph; an `inputs:` shape it cannot take is the config's.
        mismatch = _SHAPE_MISMATCH.search(text)
        config = input_shape_error(exc, text, spec, config_file) if mismatch else None
        if config is not None:
            return config
        lines = [line for line in text.splitlines() if line.strip()]
        keep = [lines[0]] if lines else [name]
        keep += [line for line in lines[1:] if line.startswith("Apply node that caused the error")]
        site = _node_creation_site(exc, root)
        message = (
            f"Theano failed evaluating the compiled loss of {spec.name!r}: {name}: "
            + "; ".join(keep)
            + " (a shape or type mismatch in the model's graph or loss"
            + (
                ", in the node built at this line)"
                if site
                else "; set THEANO_FLAGS=optimizer=fast_compile and run the factory yourself to "
                "see where the node was built)"
            )
        )
        error = ModelLoadError(message, *(site or (config_file, spec.line)), kind="build")
        error.same_with_c = bool(mismatch)
        return error
    return None


# What Theano's Python code (and numpy under it) says of operands whose shapes do not fit: its C
# code raises the same error, so a check again with C would only add a compile.
_SHAPE_MISMATCH = re.compile(
    r"Incompatible shapes|[Ss]hape mismatch|dimension mis-?match|not aligned|cannot reshape|"
    r"could not be broadcast|total size of new array"
)


def _user_class_site(name: str, root: str, method: str) -> tuple[str, int] | None:
    """Where the repository's code defines class `name` (its `method` if it defines one), else
    None."""
    for module, path in repository_modules(root):
        cls = getattr(module, name, None)
        if not isinstance(cls, type):
            continue
        target = cls.__dict__.get(method, cls)
        try:
            _, line = inspect.getsourcelines(target)
        except (TypeError, OSError, SyntaxError):
            continue
        return relative(path, root), line
    return None


def raised_by_compiled_function(exc: BaseException) -> bool:
    """Whether `exc` was raised while a compiled Theano function ran (by one of its nodes)."""
    if hasattr(
        exc, "__thunk_trace__"
    ) or "Apply node that caused the error" in legacy.exception_text(exc):
        return True
    frames = traceback.extract_tb(exc.__traceback__)
    return any(
        f.name == "__call__" and f.filename.endswith(os.path.join("compile", "function_module.py"))
        for f in frames
    )


def _node_creation_site(exc: BaseException, root: str) -> tuple[str, int] | None:
    """The user's line that built the failing Theano node, when Theano kept its creation trace.

    Theano sets the trace on the exception its node raised, then raises a new one of the same type
    with a longer message (link.raise_with_op): the trace is on the exception behind it."""
    for behind in exception_chain(exc):
        site = trace_site(getattr(behind, "__thunk_trace__", None) or [], root)
        if site is not None:
            return site
    return None


# ---------------------------------------------------------------- code written for another Lasagne
# or Theano


def legacy_hint(exc: BaseException) -> str:
    """Explain errors caused by code written for newer Lasagne or for the removed CUDA backend (''
    if not)."""
    return legacy.gpu(exc) or legacy.lasagne_master(exc) or ""
