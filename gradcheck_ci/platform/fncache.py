"""The function cache: compiled Theano functions kept between runs, so an unchanged model skips Theano's
graph optimisation (about 90% of a compile once the C modules are cached).

    fncache.function(compile, inputs, outputs, givens, **options) -> a compiled theano function

`compile()` runs on a miss and its function is stored; a hit loads the stored function instead (Theano then
only links it: it finds each node's C module in its own cache). Entries live in cachedir.functions_cache_dir()
(<cache dir>/functions/<stack tag>/), next to Theano's compiled modules, so the action persists both.

The key (`function_key`) is a digest of everything a compiled function depends on:
- the symbolic graph as Theano would compile it, written out canonically (graph_digest): every Apply node's op
  (its class, its __props__ or, for ops without them, its state; scan and composite ops with their inner
  graphs), every variable's type and name, constants' and shared variables' values (digests of their bytes),
  the `givens` substitutions and, unless default updates are off, the shared variables' default updates.
  Classes defined outside the stack (a user's custom op) add a digest of their source files, so editing
  an op's infer_shape or grad misses the cache. Anything the writer does not understand makes the graph
  `Uncacheable`: it is compiled as before, never guessed at;
- the call's options (mode, on_unused_input, no_default_updates) and every Theano flag but its directories;
- the versions of Python, numpy, scipy, Theano, Lasagne and gradcheck-ci, and this module's FORMAT.

An entry is one file, `<key>.fn`: a header line (format, key, payload length and sha256) and the pickled
function. A stale (another format), corrupt, truncated or foreign (another key) entry, or one whose
unpickling fails, is ignored, and the compile that follows replaces it. Writes go to a temporary file
renamed into place, so concurrent workers only ever read whole entries. Parameters never reach an entry:
the check passes them as inputs (`givens`), and an entry is written before its function is first called,
so it holds no data either. Shared variables that are not parameters (Lasagne's hid_init without
learn_init, a random state) are the function's implicit inputs and travel with it: their values are part
of the key, and a loaded function is pointed at the live variables' arrays (rebind). What the optimiser
leaves on the graph (dumps: its shape and merge features) is not written.

Pickling a Theano graph recurses once per node along its longest path: it runs in a thread with a large
stack under a raised recursion limit (both restored afterwards); a graph deeper than that is not stored.
Loading (measured on the 2 x LSTM(32) tagger: ~1.3 s of CPU against ~12 s for optimising) is Theano's
linking: the C-module key of every node, looked up in its module cache, and rebuilding the objects.
"""
from __future__ import annotations

import hashlib
import inspect
import json
import os
import pickle
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import cachedir

FORMAT = 1  # bump when the key or the entry layout changes: old entries are then never read
MAGIC = b"gradcheck-ci function cache\n"
SUFFIX = ".fn"
DISABLE_ENV = "GRADCHECK_CI_NO_FUNCTION_CACHE"  # set (non-empty): neither read nor write compiled functions
MAX_ENTRY_BYTES = 256 * 1024 * 1024  # a larger function (huge constants) is compiled every time instead
KEEP_SECONDS = 30 * 24 * 3600  # prune(): an entry unused this long is deleted
KEEP_BYTES = 1024 * 1024 * 1024  # prune(): beyond this, the least recently used entries go first
PICKLE_STACK_BYTES = 128 * 1024 * 1024  # ~100-200 bytes of C stack per pickle level, measured
PICKLE_RECURSION_LIMIT = 200_000  # ~6 levels per node: graphs ~30k nodes deep; deeper ones are not stored
# Theano flags that say where or how long, not what is compiled.
_FLAGS_IGNORED = frozenset({"base_compiledir", "compiledir", "compiledir_format", "gpuarray.cache_path",
                            "compile.wait", "compile.timeout", "cmodule.age_thresh_use", "cmodule.preload_cache"})
# Where a class or function defined in these packages comes from is its name; elsewhere (the user's code),
# its source file's content too.
_STACK_PACKAGES = ("theano", "lasagne", "numpy", "scipy", "six", "gradcheck_ci", "builtins", "collections",
                   "functools", "copy", "operator", "math", "_operator")


class Uncacheable(Exception):
    """The graph holds something the key cannot describe with certainty: compile it, do not cache it."""


# --------------------------------------------------------------------------------------------- the outcome

@dataclass
class Event:
    """One compile_function call and how the cache served it."""

    outcome: str  # hit | miss | uncacheable | off
    seconds: float  # the whole call: key, load or compile, store
    reason: str = ""  # why uncacheable, or why an entry found was not used
    stored: bool = False  # a miss whose function was written for the next run


EVENTS: list[Event] = []  # this process's calls, in order (a worker checks one model)


def summary(events: list[Event]) -> dict[str, Any]:
    """What the report says about a group of compiles: {"functions", "seconds", "cache", counts, "reason"}.

    "cache" is hit (every function loaded), miss (compiled; stored for the next run), partial (some of each),
    uncacheable, or off (no function cache in this run)."""
    counts = {name: sum(1 for e in events if e.outcome == name) for name in ("hit", "miss", "uncacheable", "off")}
    present = [name for name, count in counts.items() if count]
    if not present:
        cache = "none"
    elif len(present) == 1:
        cache = present[0]
    else:
        cache = "partial" if counts["hit"] else "miss"
    reasons = [e.reason for e in events if e.reason]
    return {"functions": len(events), "seconds": round(sum(e.seconds for e in events), 3), "cache": cache,
            "hits": counts["hit"], "misses": counts["miss"], "stored": sum(1 for e in events if e.stored),
            "uncacheable": counts["uncacheable"], "reason": reasons[0] if reasons else ""}


# --------------------------------------------------------------------------------------------- the cache

def cache_dir(environ: dict[str, str] | None = None) -> str | None:
    """Where entries live, or None when the function cache is off: DISABLE_ENV set, or inside the image
    with no cache directory chosen (nothing would outlive the container: storing would only cost time)."""
    env = os.environ if environ is None else environ
    if env.get(DISABLE_ENV):
        return None
    if cachedir.baked_theano_cache(env) and not env.get(cachedir.CACHE_DIR_ENV):
        return None
    return cachedir.functions_cache_dir(env)


def function(compile: Callable[[], Any], inputs: list[Any], outputs: Any, givens: list[Any],
             **options: Any) -> Any:
    """The compiled function for theano.function(inputs, outputs, givens=givens, **options): loaded from the
    cache when an entry matches, else `compile()` (stored for next time). Never raises because of the cache."""
    started = time.perf_counter()
    directory = cache_dir()
    if directory is None:
        fn = compile()
        EVENTS.append(Event("off", time.perf_counter() - started))
        return fn
    try:
        key, shared = _key(inputs, outputs, givens, options)
    except Exception as exc:  # noqa: BLE001 - a graph the key cannot describe is compiled, never guessed at
        fn = compile()
        why = str(exc) if isinstance(exc, Uncacheable) else f"its key cannot be computed ({type(exc).__name__})"
        EVENTS.append(Event("uncacheable", time.perf_counter() - started, why))
        return fn
    fn, rejected = load(directory, key, len(inputs))
    if fn is not None and not rebind(fn, shared):
        fn, rejected = None, "entry's shared variables differ"
    if fn is not None:
        _touch(entry_path(directory, key))
        EVENTS.append(Event("hit", time.perf_counter() - started))
        return fn
    fn = compile()
    stored = store(directory, key, fn)
    EVENTS.append(Event("miss", time.perf_counter() - started, rejected, stored))
    return fn


def entry_path(directory: str, key: str) -> str:
    return os.path.join(directory, key + SUFFIX)


def load(directory: str, key: str, n_inputs: int | None = None) -> tuple[Any, str]:
    """(the stored function, "") or (None, why no entry was used: "" when there is none)."""
    path = entry_path(directory, key)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
    except FileNotFoundError:
        return None, ""
    except OSError as exc:
        return None, f"unreadable entry ({exc.strerror or exc})"
    payload, problem = _payload(raw, key)
    if payload is None:
        return None, problem
    try:
        fn = _with_deep_stack(pickle.loads, payload)
    except Exception as exc:  # noqa: BLE001 - any failure to rebuild it means: compile instead
        return None, f"entry did not load ({type(exc).__name__})"
    if not _is_function(fn) or (n_inputs is not None and explicit_inputs(fn) != n_inputs):
        return None, "entry is not the function asked for"
    return fn, ""


def _payload(raw: bytes, key: str) -> tuple[bytes | None, str]:
    """The pickled function of an entry file, checked; (None, the problem) for anything not trusted."""
    if not raw.startswith(MAGIC):
        return None, "not a function cache entry"
    end = raw.find(b"\n", len(MAGIC))
    try:
        header = json.loads(raw[len(MAGIC):end].decode("utf-8")) if end > 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        return None, "corrupt entry header"
    if header.get("format") != FORMAT:
        return None, f"entry of another format ({header.get('format')!r})"
    if header.get("key") != key:
        return None, "entry of another key"
    payload = raw[end + 1:]
    if len(payload) != header.get("length"):
        return None, "truncated entry"
    if hashlib.sha256(payload).hexdigest() != header.get("sha256"):
        return None, "corrupt entry"
    return payload, ""


def explicit_inputs(fn: Any) -> int:
    """How many arguments a compiled function takes (shared variables are implicit inputs)."""
    return sum(1 for i in fn.maker.inputs if not i.implicit)


def _is_function(fn: Any) -> bool:
    from theano.compile.function_module import Function

    return isinstance(fn, Function)


def store(directory: str, key: str, fn: Any) -> bool:
    """Write `fn` as the entry for `key` (atomically); False when it cannot be pickled or written."""
    try:
        payload = _with_deep_stack(dumps, fn)
    except Exception:  # noqa: BLE001 - an unpicklable op (a class defined in a function), a graph too deep
        return False
    if len(payload) > MAX_ENTRY_BYTES:
        return False
    header = {"format": FORMAT, "key": key, "length": len(payload), "sha256": hashlib.sha256(payload).hexdigest(),
              "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    temporary = None
    try:
        os.makedirs(directory, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", suffix=SUFFIX, dir=directory)
        os.fchmod(handle, cachedir.shared_file_mode())  # mkstemp's 0600 would keep a CI cache step from reading it
        with os.fdopen(handle, "wb") as out:
            out.write(MAGIC + json.dumps(header, sort_keys=True).encode("utf-8") + b"\n")
            out.write(payload)
        os.replace(temporary, entry_path(directory, key))  # readers see the old entry or the new one, whole
        return True
    except OSError:
        if temporary:
            try:
                os.unlink(temporary)
            except OSError:
                pass
        return False


def dumps(fn: Any) -> bytes:
    """The pickled function, without the state its graph optimisation left behind.

    A compiled function's graph carries the optimiser's ShapeFeature (symbolic shapes of every variable the
    rewrites ever made, most of them gone from the graph: two thirds of a 2 x LSTM tagger's pickle) and
    MergeFeature (what the merge pass has seen). Neither is read once the graph is optimised, so they are
    written as inert features: the entry is 30% smaller and loads 20% faster. Call in _with_deep_stack."""
    import io

    from theano.gof import opt, toolbox
    from theano.tensor.opt import ShapeFeature

    class Pickler(pickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, (ShapeFeature, opt.MergeFeature)):
                return toolbox.Feature, ()
            return NotImplemented

    buffer = io.BytesIO()
    Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(fn)
    return buffer.getvalue()


def _touch(path: str) -> None:
    """Mark an entry used (prune keeps the recently used ones); a read-only cache is still read."""
    try:
        os.utime(path)
    except OSError:
        pass


def _with_deep_stack(work: Callable[..., Any], *args: Any) -> Any:
    """work(*args) in a thread with a PICKLE_STACK_BYTES stack under PICKLE_RECURSION_LIMIT: pickle recurses
    in C once per level of the object graph, and the main thread's 8 MB stack overflows (a segmentation fault,
    not an exception) on graphs a few thousand nodes deep. Both settings are restored afterwards."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work(*args)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            outcome["error"] = exc

    previous_limit = sys.getrecursionlimit()
    thread = threading.Thread(target=run, name="gradcheck-ci-fncache")
    sys.setrecursionlimit(max(previous_limit, PICKLE_RECURSION_LIMIT))
    try:
        previous_stack = threading.stack_size(PICKLE_STACK_BYTES)
        try:
            thread.start()  # the stack size applies when the thread starts
        finally:
            threading.stack_size(previous_stack)
        thread.join()
    finally:
        sys.setrecursionlimit(previous_limit)
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def prune(directory: str, now: float | None = None, keep_seconds: float = KEEP_SECONDS,
          keep_bytes: int = KEEP_BYTES) -> int:
    """Delete entries unused for `keep_seconds`, then the least recently used beyond `keep_bytes`, and
    temporary files a killed writer left; the number of entries deleted. The run's parent calls it once."""
    now = time.time() if now is None else now
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    entries = []
    for name in names:
        path = os.path.join(directory, name)
        try:
            stat = os.stat(path)
        except OSError:
            continue
        if name.startswith(".tmp-") and now - stat.st_mtime > 3600:
            _remove(path)
        elif name.endswith(SUFFIX) and not name.startswith("."):
            entries.append((stat.st_mtime, stat.st_size, path))
    entries.sort(reverse=True)  # most recently used first
    deleted = 0
    total = 0
    for mtime, size, path in entries:
        total += size
        if now - mtime > keep_seconds or total > keep_bytes:
            deleted += _remove(path)
    return deleted


def count(directory: str) -> int:
    """How many entries the cache holds."""
    try:
        return sum(1 for name in os.listdir(directory) if name.endswith(SUFFIX) and not name.startswith("."))
    except OSError:
        return 0


def _remove(path: str) -> int:
    try:
        os.unlink(path)
        return 1
    except OSError:
        return 0


# --------------------------------------------------------------------------------------------- the key

def function_key(inputs: list[Any], outputs: Any, givens: list[Any], options: dict[str, Any]) -> str:
    """The entry's name: sha256 of the graph, the options, the Theano flags and the stack's versions."""
    return _key(inputs, outputs, givens, options)[0]


def _key(inputs: list[Any], outputs: Any, givens: list[Any], options: dict[str, Any]) -> tuple[str, list[Any]]:
    """(function_key, the shared variables the function reads: its implicit inputs)."""
    writer = _Canonical()
    freeze = bool(options.get("no_default_updates", False))
    document = {
        "format": FORMAT,
        "graph": writer.function_graph(inputs, outputs, givens, default_updates=not freeze),
        "options": {name: writer.value(value) for name, value in sorted(options.items())},
        "flags": theano_flags(),
        "versions": versions(),
    }
    text = json.dumps(document, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest(), writer.shared


def rebind(fn: Any, shared: list[Any]) -> bool:
    """Point a loaded function's shared variables (implicit inputs: Lasagne's hid_init without learn_init, a
    random state) at the live variables' own values instead of the copies its entry holds. The key made
    them equal; False when one cannot be matched (then the entry is not used)."""
    import numpy as np

    live = list(shared)
    for spec, container in zip(fn.maker.inputs, fn.input_storage, strict=True):
        if not spec.implicit:
            continue
        stored = container.data
        for var in live:
            value = var.get_value(borrow=True)
            same_array = (isinstance(value, np.ndarray) and isinstance(stored, np.ndarray)
                          and value.dtype == stored.dtype and np.array_equal(value, stored, equal_nan=True))
            if var.name == spec.variable.name and var.type == spec.variable.type and (
                    same_array or not isinstance(value, np.ndarray)):
                container.data = value
                live.remove(var)
                break
        else:
            return False
    return True


def graph_digest(inputs: list[Any], outputs: Any, givens: list[Any] | None = None) -> str:
    """sha256 of the canonical form of a graph alone (for tests and debugging)."""
    form = _Canonical().function_graph(inputs, outputs, givens or [], default_updates=True)
    return hashlib.sha256(json.dumps(form, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()


def theano_flags() -> dict[str, str]:
    """Every Theano flag's value but those that only say where or how long (their repr, as Theano holds it)."""
    import theano
    from theano import configparser

    flags = {}
    for var in configparser._config_var_list:  # Theano's only list of its flags
        if var.fullname in _FLAGS_IGNORED:
            continue
        try:
            flags[var.fullname] = repr(var.__get__(theano.config, None))
        except Exception as exc:  # noqa: BLE001 - a flag that cannot be read still keys by its error
            flags[var.fullname] = f"<{type(exc).__name__}>"
    return flags


def versions() -> dict[str, str]:
    import platform
    from importlib import metadata

    from .. import __version__

    stack = {}
    for name in ("numpy", "scipy", "Theano", "Lasagne"):
        try:
            stack[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            stack[name] = "none"
    return {"python": f"{sys.implementation.name} {platform.python_version()}", "gradcheck-ci": __version__,
            **stack}


class _Canonical:
    """Writes graphs and the values ops hold as JSON-able lists; raises Uncacheable for what it cannot."""

    MAX_DEPTH = 40

    def __init__(self) -> None:
        self.shared: list[Any] = []  # function_graph's shared variables: the compiled function's implicit inputs
        self.ops: dict[int, Any] = {}
        self.sources: dict[str, str] = {}
        self._keep: list[Any] = []  # objects whose id() is memoised stay alive for the writer's life

    # ---- graphs

    def function_graph(self, inputs: list[Any], outputs: Any, givens: list[Any],
                       default_updates: bool) -> list[Any]:
        """theano.function's graph: `givens` substituted, and the default updates of shared variables."""
        single = not isinstance(outputs, (list, tuple))
        outs = [outputs] if single else list(outputs)
        replace = {}
        for pair in givens:
            old, new = pair
            if old.owner is not None:
                raise Uncacheable("a `givens` replaces a computed variable")
            replace[id(old)] = new
        return [single, self.graph(list(inputs), outs, replace, default_updates, self.shared)]

    def graph(self, inputs: list[Any], outputs: list[Any], replace: dict[int, Any] | None = None,
              default_updates: bool = False, shared: list[Any] | None = None) -> list[Any]:
        """Every variable numbered in a fixed topological order (inputs first), each Apply as its op, the
        numbers of its inputs and its outputs' types and names; then the outputs' numbers, then (when asked)
        [shared variable, its default update] pairs."""
        replace = replace or {}
        number: dict[int, int] = {}
        rows: list[Any] = []
        shared = [] if shared is None else shared  # filled with the graph's shared variables, in the order met
        for position, var in enumerate(inputs):
            number[id(var)] = len(number)
            rows.append(["input", position, self.vtype(var.type), var.name])
        self._walk([replace.get(id(v), v) for v in reversed(outputs)], number, rows, replace, shared)
        updates = self._default_updates(number, rows, replace, shared) if default_updates else []
        return [rows, [number[id(replace.get(id(v), v))] for v in outputs], updates]

    def _walk(self, stack: list[Any], number: dict[int, int], rows: list[Any], replace: dict[int, Any],
              shared: list[Any]) -> None:
        """Number every variable `stack` depends on (iteratively: graphs can be deeper than Python's stack)."""
        from theano.compile.sharedvalue import SharedVariable

        self._keep.append(list(stack))
        while stack:
            var = stack[-1]
            if id(var) in number:
                stack.pop()
                continue
            node = var.owner
            if node is None:
                stack.pop()
                number[id(var)] = len(number)
                rows.append(self.leaf(var))
                if isinstance(var, SharedVariable):
                    shared.append(var)
                continue
            ins = [replace.get(id(v), v) for v in node.inputs]
            waiting = [v for v in ins if id(v) not in number]
            if waiting:
                stack.extend(reversed(waiting))
                continue
            stack.pop()
            for out in node.outputs:
                number[id(out)] = len(number)
            rows.append(["apply", self.op(node.op), [number[id(v)] for v in ins],
                         [[self.vtype(o.type), o.name] for o in node.outputs]])

    def _default_updates(self, number: dict[int, int], rows: list[Any], replace: dict[int, Any],
                         shared: list[Any]) -> list[Any]:
        """theano.function adds the default update of every shared variable in the graph (unless
        no_default_updates), and of those its updates read, and so on."""
        pairs: list[Any] = []
        done: set[int] = set()
        while True:
            todo = [v for v in shared if id(v) not in done and getattr(v, "default_update", None) is not None]
            if not todo:
                return pairs
            for var in todo:
                done.add(id(var))
                update = replace.get(id(var.default_update), var.default_update)
                self._walk([update], number, rows, replace, shared)
                pairs.append([number[id(var)], number[id(update)]])

    # ---- leaves, types, ops

    def leaf(self, var: Any) -> list[Any]:
        from theano.compile.sharedvalue import SharedVariable
        from theano.gof.graph import Constant

        if isinstance(var, Constant):
            return ["constant", self.vtype(var.type), var.name, self.value(var.data)]
        if isinstance(var, SharedVariable):
            container = var.container
            return ["shared", self.vtype(var.type), var.name, self.value(var.get_value(borrow=True)),
                    bool(container.strict), bool(container.allow_downcast)]
        raise Uncacheable(f"a variable ({var.name or var.type}) that is neither an input nor a constant")

    def vtype(self, theano_type: Any) -> Any:
        return self.object(theano_type, 0)

    def op(self, op: Any) -> Any:
        """An op as its class and what makes two of them equal (Theano merges ops with equal __props__)."""
        if id(op) in self.ops:
            return self.ops[id(op)]
        self._keep.append(op)
        cls = type(op)
        if cls.__name__ == "Scan" and hasattr(op, "info"):
            info = dict(op.info)
            info.setdefault("destroy_map", {})  # Scan.__eq__ adds it when missing
            form = [self.cls(cls), self.value(info), self.graph(list(op.inputs), list(op.outputs))]
        elif cls.__name__ == "Composite" and _in_stack(cls.__module__):
            form = [self.cls(cls), self.graph(list(op.inputs), list(op.outputs))]  # all a Composite computes
        elif isinstance(getattr(op, "inputs", None), list) and isinstance(getattr(op, "outputs", None), list):
            # OpFromGraph and the like: an inner graph, plus whatever else the op holds
            rest = {k: v for k, v in vars(op).items() if k not in ("inputs", "outputs") and not _derived(k, v)}
            form = [self.cls(cls), self.graph(list(op.inputs), list(op.outputs)), self.value(rest, 1)]
        elif getattr(op, "__props__", None) is not None and _in_stack(cls.__module__):
            # Theano merges ops with equal __props__ into one: they are what its ops compute by
            form = [self.cls(cls), {name: self.value(getattr(op, name), 1) for name in op.__props__}]
        else:  # an op without __props__, or the user's own: all it holds (perform() may read any of it)
            form = [self.cls(cls), self.value({k: v for k, v in vars(op).items() if not _derived(k, v)}, 1)]
        self.ops[id(op)] = form
        return form

    def cls(self, cls: type) -> list[str]:
        """A class by name; defined outside the stack, with the digests of the files its classes come from."""
        name = f"{cls.__module__}.{cls.__qualname__}"
        if _in_stack(cls.__module__):
            return [name]
        return [name, *[self.source(base) for base in cls.__mro__ if not _in_stack(base.__module__)]]

    def source(self, obj: Any) -> str:
        try:
            path = inspect.getsourcefile(obj) or ""
        except TypeError:  # defined in C
            return "builtin"
        except OSError as exc:  # defined where no file says what it is (`python -c`, an interactive session)
            raise Uncacheable(f"the source of {getattr(obj, '__qualname__', obj)!r} is not available") from exc
        if path not in self.sources:
            try:
                with open(path, "rb") as handle:
                    self.sources[path] = hashlib.sha256(handle.read()).hexdigest()
            except OSError as exc:
                raise Uncacheable(f"the source of {getattr(obj, '__qualname__', obj)!r} cannot be read") from exc
        return self.sources[path]

    # ---- values

    def value(self, obj: Any, depth: int = 0) -> Any:  # noqa: C901 - one branch per kind of value
        """A JSON-able, process-independent form of `obj` (an op's property, a constant's data, an option)."""
        import numpy as np

        if depth > self.MAX_DEPTH:
            raise Uncacheable("a value nested too deeply to describe")
        if obj is None or isinstance(obj, (bool, str)):
            return obj
        if isinstance(obj, int) and not isinstance(obj, bool):
            return ["int", str(obj)]
        if isinstance(obj, float):
            return ["float", obj.hex()]
        if isinstance(obj, complex):
            return ["complex", obj.real.hex(), obj.imag.hex()]
        if isinstance(obj, np.ndarray):
            return self.array(obj)
        if isinstance(obj, np.generic):
            return ["numpy", obj.dtype.str, np.asarray(obj).tobytes().hex()]
        if isinstance(obj, np.dtype):
            return ["dtype", obj.str]
        if isinstance(obj, (list, tuple)):
            return [type(obj).__name__, [self.value(x, depth + 1) for x in obj]]
        if isinstance(obj, dict):
            items = [[self.value(k, depth + 1), self.value(v, depth + 1)] for k, v in obj.items()]
            return ["dict", sorted(items, key=lambda item: json.dumps(item, sort_keys=True))]
        if isinstance(obj, (set, frozenset)):
            return ["set", sorted((self.value(x, depth + 1) for x in obj), key=lambda x: json.dumps(x, sort_keys=True))]
        if isinstance(obj, slice):
            return ["slice", [self.value(x, depth + 1) for x in (obj.start, obj.stop, obj.step)]]
        if isinstance(obj, type):
            return ["class", self.cls(obj)]
        return self.object(obj, depth)

    def array(self, array: Any) -> list[Any]:
        import numpy as np

        if array.dtype.hasobject:
            raise Uncacheable("an array of Python objects")
        data = np.ascontiguousarray(array)
        return ["ndarray", array.dtype.str, list(array.shape), hashlib.sha256(data.tobytes()).hexdigest()]

    def object(self, obj: Any, depth: int) -> Any:
        import numpy as np
        from theano.gof.graph import Variable
        from theano.gof.op import PureOp

        if isinstance(obj, PureOp):
            return ["op", self.op(obj)]
        if isinstance(obj, Variable):
            raise Uncacheable(f"an op that holds a variable ({obj.name or obj.type}) outside its inputs")
        if isinstance(obj, np.random.RandomState):
            return ["RandomState", self.value(obj.get_state(), depth + 1)]
        if isinstance(obj, np.ufunc):
            return ["ufunc", obj.__name__]
        if inspect.isroutine(obj):
            return self.routine(obj)
        if type(obj).__name__ == "OrderedSet":
            return ["OrderedSet", [self.value(x, depth + 1) for x in obj]]
        if type(obj).__name__ == "Mode" and type(obj).__module__.startswith("theano."):
            return self.mode(obj, depth)
        state = getattr(obj, "__dict__", None)
        if state is None:
            raise Uncacheable(f"a value of type {type(obj).__qualname__} the key cannot describe")
        self._keep.append(obj)
        return ["object", self.cls(type(obj)),
                self.value({k: v for k, v in state.items() if not _derived(k, v)}, depth + 1)]

    def routine(self, fn: Any) -> list[Any]:
        module = getattr(fn, "__module__", None) or type(getattr(fn, "__self__", None)).__module__
        name = f"{module}.{getattr(fn, '__qualname__', repr(fn))}"
        if "<locals>" in name or "<lambda>" in name:
            raise Uncacheable(f"a function defined inside another ({name})")
        return ["routine", name] if _in_stack(module or "") else ["routine", name, self.source(fn)]

    def mode(self, mode: Any, depth: int) -> list[Any]:
        """A compilation mode: its linker's class and settings, its optimizer query (printed without addresses)."""
        linker = mode.linker
        settings = {k: v for k, v in vars(linker).items() if _plain(v) and k != "fgraph"}
        optimizer = mode.optimizer if hasattr(mode, "optimizer") else getattr(mode, "_optimizer", None)
        if not (isinstance(optimizer, str) or type(optimizer).__name__ == "Query"):
            raise Uncacheable("a compilation mode with a custom optimizer")
        return ["Mode", self.cls(type(mode)), self.cls(type(linker)), self.value(settings, depth + 1), str(optimizer)]


def _plain(value: Any) -> bool:
    """Plain data (a linker setting)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(x) for x in value)
    return False


def _derived(name: str, value: Any) -> bool:
    """State an op builds for itself while it is compiled or run (its thunks, numpy ufuncs, caches): not what
    it computes. Private names (a leading underscore) are taken as such caches."""
    if name.startswith("_"):
        return True
    if name in ("prepare_node_called", "fn", "thunk"):  # set by prepare_node / make_thunk
        return True
    return type(value).__name__ in ("ufunc", "Function", "FunctionGraph", "CLinker", "OpWiseCLinker", "lock")


def _in_stack(module: str) -> bool:
    return module.split(".")[0] in _STACK_PACKAGES
