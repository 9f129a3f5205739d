"""The function cache: compiled Theano functions kept between runs, so an unchanged model skips
Theano's graph optimisation (about 90% of a compile once the C modules are cached).

    fncache.function(compile, inputs, outputs, givens, **options) -> a compiled theano function

`compile()` runs on a miss and its function is stored; a hit loads the stored function instead
(Theano then only links it: it finds each node's C module in its own cache). Entries live in
cachedir.functions_cache_dir() (<cache dir>/functions/<stack tag>/), next to Theano's compiled
modules, so the action persists both.

The key (graphkey.function_key) is a digest of everything a compiled function depends on: the graph
written out canonically, the call's options, the Theano flags and the stack's versions.

An entry is one file, `<key>.fn`: a header line (format, key, payload length and sha256) and the
pickled function. A stale (another format), corrupt, truncated or foreign (another key) entry, or
one whose unpickling fails, is ignored, and the compile that follows replaces it. Writes go to a
temporary file renamed into place, so concurrent workers only ever read whole entries. Parameters
never reach an entry: the check passes them as inputs (`givens`), and an entry is written before its
function is first called, so it holds no data either. Shared variables that are not parameters
(Lasagne's hid_init without learn_init, a random state) are the function's implicit inputs and
travel with it: their values are part of the key, and a loaded function is pointed at the live
variables' arrays (rebind). What the optimiser leaves on the graph (dumps: its shape and merge
features) is not written.

Pickling a Theano graph recurses once per node along its longest path: it runs in a thread with a
large stack under a raised recursion limit (both restored afterwards); a graph deeper than that is
not stored. Loading (measured on the 2 x LSTM(32) tagger: ~1.3 s of CPU against ~12 s for
optimising) is Theano's linking: the C-module key of every node, looked up in its module cache, and
rebuilding the objects.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ..core.extra import CompileSummary
from . import cachedir, records
from .graphkey import FORMAT, Uncacheable, key_and_shared

MAGIC = b"gradcheck-ci function cache\n"
SUFFIX = ".fn"
# set (non-empty): neither read nor write compiled functions
DISABLE_ENV = "GRADCHECK_CI_NO_FUNCTION_CACHE"
# a larger function (huge constants) is compiled every time instead
MAX_ENTRY_BYTES = 256 * 1024 * 1024
KEEP_SECONDS = 30 * 24 * 3600  # prune(): an entry unused this long is deleted
KEEP_BYTES = 1024 * 1024 * 1024  # prune(): beyond this, the least recently used entries go first
PICKLE_STACK_BYTES = 128 * 1024 * 1024  # ~100-200 bytes of C stack per pickle level, measured
# ~6 levels per node: graphs ~30k nodes deep; deeper ones are not stored
PICKLE_RECURSION_LIMIT = 200_000


# --------------------------------------------------------------------------------------------- the
# outcome


@dataclass
class Event:
    """One compile_function call and how the cache served it."""

    outcome: str  # hit | miss | uncacheable | off
    seconds: float  # the whole call: key, load or compile, store
    reason: str = ""  # why uncacheable, or why an entry found was not used
    stored: bool = False  # a miss whose function was written for the next run
    key: str = ""  # its entry's key (hit or miss)
    # stored in a cache directory deleted at the end of the run: kept for this run's other
    # processes only
    temporary: bool = False


EVENTS: list[Event] = []  # this process's calls, in order (a worker checks one model)


def summary(events: list[Event]) -> CompileSummary:
    """What the report says about a group of compiles: how many, how long, whether the cache served
    them.

    "cache" is hit (every function loaded), miss (compiled; stored for the next run), partial (some
    of each), uncacheable, or off (no function cache in this run); "stored" counts the functions
    kept for the next run (none in a temporary cache directory)."""
    counts = {
        name: sum(1 for e in events if e.outcome == name)
        for name in ("hit", "miss", "uncacheable", "off")
    }
    present = [name for name, count in counts.items() if count]
    if not present:
        cache = "none"
    elif len(present) == 1:
        cache = present[0]
    else:
        cache = "partial" if counts["hit"] else "miss"
    reasons = [e.reason for e in events if e.reason]
    return CompileSummary(
        functions=len(events),
        seconds=round(sum(e.seconds for e in events), 3),
        cache=cache,
        hits=counts["hit"],
        misses=counts["miss"],
        stored=sum(1 for e in events if e.stored and not e.temporary),
        uncacheable=counts["uncacheable"],
        reason=reasons[0] if reasons else "",
    )


# --------------------------------------------------------------------------------------------- the
# cache


def cache_dir(environ: dict[str, str] | None = None) -> str | None:
    """Where entries live, or None when the function cache is off: DISABLE_ENV set, or inside the
    image with no cache directory chosen (nothing would outlive the container: storing would only
    cost time)."""
    env = os.environ if environ is None else environ
    if env.get(DISABLE_ENV):
        return None
    if cachedir.baked_theano_cache(env) and not env.get(cachedir.CACHE_DIR_ENV):
        return None
    return cachedir.functions_cache_dir(env)


def function(
    compile: Callable[[], Any], inputs: list[Any], outputs: Any, givens: list[Any], **options: Any
) -> Any:
    """The compiled function for theano.function(inputs, outputs, givens=givens, **options): loaded
    from the cache when an entry matches, else `compile()` (stored for next time). Never raises
    because of the cache."""
    started = time.perf_counter()
    directory = cache_dir()
    if directory is None:
        fn = compile()
        EVENTS.append(Event("off", time.perf_counter() - started))
        return fn
    try:
        key, shared = key_and_shared(inputs, outputs, givens, options)
    except Exception as exc:  # noqa: BLE001 - a graph the key cannot describe is compiled, never guessed at
        fn = compile()
        why = (
            str(exc)
            if isinstance(exc, Uncacheable)
            else (f"its key cannot be computed ({type(exc).__name__})")
        )
        EVENTS.append(Event("uncacheable", time.perf_counter() - started, why))
        return fn
    fn, rejected = load(directory, key, len(inputs))
    if fn is not None and not rebind(fn, shared):
        fn, rejected = None, "entry's shared variables differ"
    if fn is not None:
        _touch(entry_path(directory, key))
        EVENTS.append(Event("hit", time.perf_counter() - started, key=key))
        return fn
    fn = compile()
    stored = store(directory, key, fn)
    temporary = stored and cachedir.is_temporary()
    EVENTS.append(Event("miss", time.perf_counter() - started, rejected, stored, key, temporary))
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
    """The pickled function of an entry file, checked; (None, the problem) for anything not
    trusted."""
    if not raw.startswith(MAGIC):
        return None, "not a function cache entry"
    end = raw.find(b"\n", len(MAGIC))
    try:
        header = json.loads(raw[len(MAGIC) : end].decode("utf-8")) if end > 0 else None
    except ValueError:
        header = None
    if not isinstance(header, dict):
        return None, "corrupt entry header"
    if header.get("format") != FORMAT:
        return None, f"entry of another format ({header.get('format')!r})"
    if header.get("key") != key:
        return None, "entry of another key"
    payload = raw[end + 1 :]
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
    """Write `fn` as the entry for `key` (atomically); False when it cannot be pickled or
    written."""
    try:
        payload = _with_deep_stack(dumps, fn)
    except Exception:  # noqa: BLE001 - an unpicklable op (a class defined in a function), a graph too deep
        return False
    if len(payload) > MAX_ENTRY_BYTES:
        return False
    header = {
        "format": FORMAT,
        "key": key,
        "length": len(payload),
        "sha256": hashlib.sha256(payload).hexdigest(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    head = MAGIC + json.dumps(header, sort_keys=True).encode("utf-8") + b"\n"
    return records.write_whole(entry_path(directory, key), [head, payload], suffix=SUFFIX)


def _dropped() -> None:
    """What a pickled entry holds instead of an object that the function's linking makes again."""
    return None


def dumps(fn: Any) -> bytes:
    """The pickled function, without the state its graph optimisation left behind.

    A compiled function's graph carries the optimiser's ShapeFeature (symbolic shapes of every
    variable the rewrites ever made, most of them gone from the graph: two thirds of a 2 x LSTM
    tagger's pickle) and MergeFeature (what the merge pass has seen). Neither is read once the graph
    is optimised, so they are written as inert features: the entry is 30% smaller and loads 20%
    faster. Call in _with_deep_stack."""
    import io

    from theano.gof import opt, toolbox
    from theano.tensor.opt import ShapeFeature

    class Pickler(pickle.Pickler):
        def reducer_override(self, obj: Any) -> Any:
            if isinstance(obj, (ShapeFeature, opt.MergeFeature)):
                return toolbox.Feature, ()
            # scipy's BLAS routine a ScipyGer node keeps in node.tag.local_ger
            if type(obj).__name__ == "fortran":
                # (Lasagne master's recurrent graphs have them): prepare_node sets it again
                return _dropped, ()
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
    """work(*args) in a thread with a PICKLE_STACK_BYTES stack under PICKLE_RECURSION_LIMIT: pickle
    recurses in C once per level of the object graph, and the main thread's 8 MB stack overflows (a
    segmentation fault, not an exception) on graphs a few thousand nodes deep. Both settings are
    restored afterwards."""
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


def prune(
    directory: str,
    now: float | None = None,
    keep_seconds: float = KEEP_SECONDS,
    keep_bytes: int = KEEP_BYTES,
    suffix: str = SUFFIX,
) -> int:
    """Delete entries (files named *`suffix`) unused for `keep_seconds`, then the least recently
    used beyond `keep_bytes`, and temporary files a killed writer left; the number of entries
    deleted. The run's parent calls it once, for this folder and for the records beside it
    (probe_plans.prune)."""
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
        elif name.endswith(suffix) and not name.startswith("."):
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
        return sum(
            1
            for name in os.listdir(directory)
            if name.endswith(SUFFIX) and not name.startswith(".")
        )
    except OSError:
        return 0


def _remove(path: str) -> int:
    try:
        os.unlink(path)
        return 1
    except OSError:
        return 0


def rebind(fn: Any, shared: list[Any]) -> bool:
    """Point a loaded function's shared variables (implicit inputs: Lasagne's hid_init without
    learn_init, a random state) at the live variables' own values instead of the copies its entry
    holds. The key made them equal; False when one cannot be matched (then the entry is not
    used)."""
    import numpy as np

    live = list(shared)
    for spec, container in zip(fn.maker.inputs, fn.input_storage, strict=True):
        if not spec.implicit:
            continue
        stored = container.data
        for var in live:
            value = var.get_value(borrow=True)
            same_array = (
                isinstance(value, np.ndarray)
                and isinstance(stored, np.ndarray)
                and value.dtype == stored.dtype
                and np.array_equal(value, stored, equal_nan=True)
            )
            if (
                var.name == spec.variable.name
                and var.type == spec.variable.type
                and (same_array or not isinstance(value, np.ndarray))
            ):
                container.data = value
                live.remove(var)
                break
        else:
            return False
    return True
