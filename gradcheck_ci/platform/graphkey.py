"""The function cache's key: a digest of everything a compiled Theano function depends on.

- the symbolic graph as Theano would compile it, written out canonically (graph_digest): every Apply
  node's op (its class, its __props__ or, for ops without them, its state; scan and composite ops
with their inner
  graphs), every variable's type and name, constants' and shared variables' values (digests of their
  bytes), the `givens` substitutions and, unless default updates are off, the shared variables'
  default updates. Classes defined outside the stack (a user's custom op) add a digest of their
  source files, so editing an op's infer_shape or grad misses the cache. Anything the writer does
  not understand makes the graph `Uncacheable`: it is compiled as before, never guessed at;
- the call's options (mode, on_unused_input, no_default_updates) and every Theano flag but its
  directories;
- the versions of Python, numpy, scipy, Theano, Lasagne and gradcheck-ci, and FORMAT.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import sys
from typing import Any

FORMAT = 1  # bump when the key or the entry layout changes: old entries are then never read
# Theano flags that say where or how long, not what is compiled.
_FLAGS_IGNORED = frozenset(
    {
        "base_compiledir",
        "compiledir",
        "compiledir_format",
        "gpuarray.cache_path",
        "compile.wait",
        "compile.timeout",
        "cmodule.age_thresh_use",
        "cmodule.preload_cache",
    }
)
# Where a class or function defined in these packages comes from is its name; elsewhere (the user's
# code), its source file's content too.
_STACK_PACKAGES = (
    "theano",
    "lasagne",
    "numpy",
    "scipy",
    "six",
    "gradcheck_ci",
    "builtins",
    "collections",
    "functools",
    "copy",
    "operator",
    "math",
    "_operator",
)


class Uncacheable(Exception):
    """The graph holds something the key cannot describe with certainty: compile it, do not cache
    it."""


# --------------------------------------------------------------------------------------------- the
# key


def function_key(
    inputs: list[Any], outputs: Any, givens: list[Any], options: dict[str, Any]
) -> str:
    """The entry's name: sha256 of the graph, the options, the Theano flags and the stack's
    versions."""
    return key_and_shared(inputs, outputs, givens, options)[0]


def key_and_shared(
    inputs: list[Any], outputs: Any, givens: list[Any], options: dict[str, Any]
) -> tuple[str, list[Any]]:
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


def graph_digest(inputs: list[Any], outputs: Any, givens: list[Any] | None = None) -> str:
    """sha256 of the canonical form of a graph alone (for tests and debugging)."""
    form = _Canonical().function_graph(inputs, outputs, givens or [], default_updates=True)
    return hashlib.sha256(
        json.dumps(form, sort_keys=True, separators=(",", ":")).encode("utf-8")
    ).hexdigest()


def theano_flags() -> dict[str, str]:
    """Every Theano flag's value but those that only say where or how long (their repr, as Theano
    holds it)."""
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
    return {
        "python": f"{sys.implementation.name} {platform.python_version()}",
        "gradcheck-ci": __version__,
        **stack,
    }


class _Canonical:
    """Writes graphs and the values ops hold as JSON-able lists; raises Uncacheable for what it
    cannot."""

    MAX_DEPTH = 40

    def __init__(self) -> None:
        # function_graph's shared variables: the compiled function's implicit inputs
        self.shared: list[Any] = []
        self.ops: dict[int, Any] = {}
        self.sources: dict[str, str] = {}
        # objects whose id() is memoised stay alive for the writer's life
        self._keep: list[Any] = []

    # ---- graphs

    def function_graph(
        self, inputs: list[Any], outputs: Any, givens: list[Any], default_updates: bool
    ) -> list[Any]:
        """theano.function's graph: `givens` substituted, and the default updates of shared
        variables."""
        single = not isinstance(outputs, (list, tuple))
        outs = [outputs] if single else list(outputs)
        replace = {}
        for pair in givens:
            old, new = pair
            if old.owner is not None:
                raise Uncacheable("a `givens` replaces a computed variable")
            replace[id(old)] = new
        return [single, self.graph(list(inputs), outs, replace, default_updates, self.shared)]

    def graph(
        self,
        inputs: list[Any],
        outputs: list[Any],
        replace: dict[int, Any] | None = None,
        default_updates: bool = False,
        shared: list[Any] | None = None,
    ) -> list[Any]:
        """Every variable numbered in a fixed topological order (inputs first), each Apply as its
        op, the numbers of its inputs and its outputs' types and names; then the outputs' numbers,
        then (when asked) [shared variable, its default update] pairs."""
        replace = replace or {}
        number: dict[int, int] = {}
        rows: list[Any] = []
        # filled with the graph's shared variables, in the order met
        shared = [] if shared is None else shared
        for position, var in enumerate(inputs):
            number[id(var)] = len(number)
            rows.append(["input", position, self.vtype(var.type), var.name])
        self._walk(
            [replace.get(id(v), v) for v in reversed(outputs)], number, rows, replace, shared
        )
        updates = self._default_updates(number, rows, replace, shared) if default_updates else []
        return [rows, [number[id(replace.get(id(v), v))] for v in outputs], updates]

    def _walk(
        self,
        stack: list[Any],
        number: dict[int, int],
        rows: list[Any],
        replace: dict[int, Any],
        shared: list[Any],
    ) -> None:
        """Number every variable `stack` depends on (iteratively: graphs can be deeper than Python's
        stack)."""
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
            rows.append(
                [
                    "apply",
                    self.op(node.op),
                    [number[id(v)] for v in ins],
                    [[self.vtype(o.type), o.name] for o in node.outputs],
                ]
            )

    def _default_updates(
        self, number: dict[int, int], rows: list[Any], replace: dict[int, Any], shared: list[Any]
    ) -> list[Any]:
        """theano.function adds the default update of every shared variable in the graph (unless
        no_default_updates), and of those its updates read, and so on."""
        pairs: list[Any] = []
        done: set[int] = set()
        while True:
            todo = [
                v
                for v in shared
                if id(v) not in done and getattr(v, "default_update", None) is not None
            ]
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
            return [
                "shared",
                self.vtype(var.type),
                var.name,
                self.value(var.get_value(borrow=True)),
                bool(container.strict),
                bool(container.allow_downcast),
            ]
        raise Uncacheable(
            f"a variable ({var.name or var.type}) that is neither an input nor a constant"
        )

    def vtype(self, theano_type: Any) -> Any:
        return self.object(theano_type, 0)

    def op(self, op: Any) -> Any:
        """An op as its class and what makes two of them equal (Theano merges ops with equal
        __props__)."""
        if id(op) in self.ops:
            return self.ops[id(op)]
        self._keep.append(op)
        cls = type(op)
        if cls.__name__ == "Scan" and hasattr(op, "info"):
            info = dict(op.info)
            info.setdefault("destroy_map", {})  # Scan.__eq__ adds it when missing
            form = [self.cls(cls), self.value(info), self.graph(list(op.inputs), list(op.outputs))]
        elif cls.__name__ == "Composite" and _in_stack(cls.__module__):
            # all a Composite computes
            form = [self.cls(cls), self.graph(list(op.inputs), list(op.outputs))]
        elif isinstance(getattr(op, "inputs", None), list) and isinstance(
            getattr(op, "outputs", None), list
        ):
            # OpFromGraph and the like: an inner graph, plus whatever else the op holds
            rest = {
                k: v
                for k, v in vars(op).items()
                if k not in ("inputs", "outputs") and not _derived(k, v)
            }
            form = [
                self.cls(cls),
                self.graph(list(op.inputs), list(op.outputs)),
                self.value(rest, 1),
            ]
        elif getattr(op, "__props__", None) is not None and _in_stack(cls.__module__):
            # Theano merges ops with equal __props__ into one: they are what its ops compute by
            form = [
                self.cls(cls),
                {name: self.value(getattr(op, name), 1) for name in op.__props__},
            ]
        # an op without __props__, or the user's own: all it holds (perform() may read any of it)
        else:
            form = [
                self.cls(cls),
                self.value({k: v for k, v in vars(op).items() if not _derived(k, v)}, 1),
            ]
        self.ops[id(op)] = form
        return form

    def cls(self, cls: type) -> list[str]:
        """A class by name; defined outside the stack, with the digests of the files its classes
        come from."""
        name = f"{cls.__module__}.{cls.__qualname__}"
        if _in_stack(cls.__module__):
            return [name]
        return [
            name,
            *[self.source(base) for base in cls.__mro__ if not _in_stack(base.__module__)],
        ]

    def source(self, obj: Any) -> str:
        try:
            path = inspect.getsourcefile(obj) or ""
        except TypeError:  # defined in C
            return "builtin"
        # defined where no file says what it is (`python -c`, an interactive session)
        except OSError as exc:
            raise Uncacheable(
                f"the source of {getattr(obj, '__qualname__', obj)!r} is not available"
            ) from exc
        if path not in self.sources:
            try:
                with open(path, "rb") as handle:
                    self.sources[path] = hashlib.sha256(handle.read()).hexdigest()
            except OSError as exc:
                raise Uncacheable(
                    f"the source of {getattr(obj, '__qualname__', obj)!r} cannot be read"
                ) from exc
        return self.sources[path]

    # ---- values

    def value(self, obj: Any, depth: int = 0) -> Any:  # noqa: C901 - one branch per kind of value
        """A JSON-able, process-independent form of `obj` (an op's property, a constant's data, an
        option)."""
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
            return [
                "set",
                sorted(
                    (self.value(x, depth + 1) for x in obj),
                    key=lambda x: json.dumps(x, sort_keys=True),
                ),
            ]
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
        return [
            "ndarray",
            array.dtype.str,
            list(array.shape),
            hashlib.sha256(data.tobytes()).hexdigest(),
        ]

    def object(self, obj: Any, depth: int) -> Any:
        import numpy as np
        from theano.gof.graph import Variable
        from theano.gof.op import PureOp

        if isinstance(obj, PureOp):
            return ["op", self.op(obj)]
        if isinstance(obj, Variable):
            raise Uncacheable(
                f"an op that holds a variable ({obj.name or obj.type}) outside its inputs"
            )
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
        return [
            "object",
            self.cls(type(obj)),
            self.value({k: v for k, v in state.items() if not _derived(k, v)}, depth + 1),
        ]

    def routine(self, fn: Any) -> list[Any]:
        module = getattr(fn, "__module__", None) or type(getattr(fn, "__self__", None)).__module__
        name = f"{module}.{getattr(fn, '__qualname__', repr(fn))}"
        if "<locals>" in name or "<lambda>" in name:
            raise Uncacheable(f"a function defined inside another ({name})")
        return ["routine", name] if _in_stack(module or "") else ["routine", name, self.source(fn)]

    def mode(self, mode: Any, depth: int) -> list[Any]:
        """A compilation mode: its linker's class and settings, its optimizer query (printed without
        addresses)."""
        linker = mode.linker
        settings = {k: v for k, v in vars(linker).items() if _plain(v) and k != "fgraph"}
        optimizer = (
            mode.optimizer if hasattr(mode, "optimizer") else getattr(mode, "_optimizer", None)
        )
        if not (isinstance(optimizer, str) or type(optimizer).__name__ == "Query"):
            raise Uncacheable("a compilation mode with a custom optimizer")
        return [
            "Mode",
            self.cls(type(mode)),
            self.cls(type(linker)),
            self.value(settings, depth + 1),
            str(optimizer),
        ]


def _plain(value: Any) -> bool:
    """Plain data (a linker setting)."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (tuple, list)):
        return all(_plain(x) for x in value)
    return False


def _derived(name: str, value: Any) -> bool:
    """State an op builds for itself while it is compiled or run (its thunks, numpy ufuncs, caches):
    not what it computes. Private names (a leading underscore) are taken as such caches."""
    if name.startswith("_"):
        return True
    if name in ("prepare_node_called", "fn", "thunk"):  # set by prepare_node / make_thunk
        return True
    return type(value).__name__ in (
        "ufunc",
        "Function",
        "FunctionGraph",
        "CLinker",
        "OpWiseCLinker",
        "lock",
    )


def _in_stack(module: str) -> bool:
    return module.split(".")[0] in _STACK_PACKAGES
