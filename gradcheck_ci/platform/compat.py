"""Make Theano 1.0.5 and Lasagne 0.1 importable on Python 3.11, before any user code runs.

Call `prepare(precision)` once per process, before the first `import theano`. It
1. sets the Theano flags the check needs, merged into THEANO_FLAGS without clobbering the user's
   own: floatX (the check's precision always wins: it is what the config asked for), an empty
`blas.ldflags`
   (Theano's BLAS probe crashes on numpy 1.23's distutils config), a compile directory
   (theano_cache_dir: the cache directory's, or the image's baked cache) unless the user chose one,
   and compiled modules that do not expire after 24 days (the baked cache would);
2. makes Theano's own build of its Cython scan extension fail as an ImportError (the shipped C
   cannot compile on 3.11), so that scans step in Python; where Theano compiles C, scan_loop.py then
builds
   that extension mended for 3.11 and scans step in C;
3. registers `theano.tensor.signal.downsample` (removed in Theano 0.9, imported by Lasagne 0.1's
   pooling layers) as a thin adapter over `theano.tensor.signal.pool.pool_2d`;
4. mends two bugs in Theano's compile-cache keys that made every process recompile modules with g++
   (patch_unversioned_cache_keys, patch_cop_cache_version); unpickles fused elementwise ops without
   rebuilding their graphs until they are used (patch_lazy_composites: every process unpickles the
   keys of every cached module); and keeps the -march flags Theano detects with g++ in every process
   (remember_march_flags); and evaluates T.batched_dot in Python, where its C code would need the
   BLAS library that blas.ldflags leaves out (patch_batched_dot_without_blas).

The stack itself (`stack_problem`) is in stack.py, the cache directory in cachedir.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
import types
from collections.abc import Mapping
from typing import Any

from . import scan_loop
from .cachedir import shared_file_mode, theano_cache_dir
from .flags import format_flags, parse_flags

PRECISIONS = ("float64", "float32")
# Theano stops using a compiled module whose file was last read 24 days ago
# (cmodule.age_thresh_use). Files keep their build time through `docker pull` and an actions/cache
# restore, so the baked cache and a CI cache would silently expire 24 days after they were made; the
# stamp (below) is what retires a cache here.
KEEP_MODULES = str(10 * 365 * 24 * 3600)


def theano_flags(precision: str, environ: Mapping[str, str] | None = None) -> str:
    """THEANO_FLAGS for a worker checking at `precision`, keeping whatever the user set."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    flags = parse_flags((os.environ if environ is None else environ).get("THEANO_FLAGS", ""))
    flags["floatX"] = precision
    flags.setdefault("blas.ldflags", "")
    if "base_compiledir" not in flags and "compiledir" not in flags:
        flags["base_compiledir"] = theano_cache_dir()
    flags.setdefault("cmodule.age_thresh_use", KEEP_MODULES)
    # Theano's own warning about the missing BLAS library is noise for our users.
    flags.setdefault("warn_float64", "ignore")
    return format_flags(flags)


def install_import_shims() -> None:
    """Steps 2 and 3 of the module docstring. Safe to call more than once."""
    # A None entry makes `from . import scan_perform_ext` raise ImportError, Theano's documented
    # fallback.
    sys.modules.setdefault("theano.scan_module.scan_perform_ext", None)  # type: ignore[arg-type]  # None is the point
    if "theano.tensor.signal.downsample" not in sys.modules:
        sys.modules["theano.tensor.signal.downsample"] = _downsample_module()


def _downsample_module() -> types.ModuleType:
    module = types.ModuleType("theano.tensor.signal.downsample")
    module.__doc__ = (
        "gradcheck-ci shim: Theano <0.9's downsample API over theano.tensor.signal.pool."
    )

    def max_pool_2d(
        input: Any,
        ds: Any,
        ignore_border: bool | None = None,
        st: Any = None,
        padding: tuple[int, int] = (0, 0),
        mode: str = "max",
    ) -> Any:
        from theano.tensor.signal import pool

        return pool.pool_2d(
            input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode
        )

    module.max_pool_2d = max_pool_2d  # type: ignore[attr-defined]  # a module made at run time
    return module


def prepare(precision: str = "float64") -> None:
    """Everything above, in the right order. Must run before Theano is first imported."""
    if "theano" in sys.modules:
        current = sys.modules["theano"].config.floatX
        if current != precision:
            raise RuntimeError(
                f"Theano was imported with floatX={current} before gradcheck-ci "
                f"could set {precision}"
            )
    else:
        os.environ["THEANO_FLAGS"] = theano_flags(precision)
        os.makedirs(
            parse_flags(os.environ["THEANO_FLAGS"]).get("base_compiledir", "."), exist_ok=True
        )
    install_import_shims()
    _quiet_theano_loggers()
    import theano  # noqa: F401 - now, with the flags above; user code imports it next

    patch_unversioned_cache_keys()
    patch_cop_cache_version()
    patch_lazy_composites()
    patch_batched_dot_without_blas()
    remember_march_flags()
    scan_loop.install()  # after the -march flags: it compiles with them


# The line of Theano 1.0.5's CLinker.cmodule_key_ that puts an op's __props__ into the cache
# version. An op with no parameters has __props__ == (), an empty (falsy) entry, which marks the
# whole module "unversioned": it is then recompiled by every process and never cached (Alloc,
# ScalarFromTensor, the softmax-crossentropy ops...): about ten seconds of g++ per model, on every
# run.
_PROPS_LINE = "version.append(node.op.__props__)"
_PROPS_FIX = "version.append(('__props__',) + tuple(node.op.__props__))"


def patch_unversioned_cache_keys() -> bool:
    """Make parameterless ops cacheable. Returns whether the patch applied (False: Theano
    changed)."""
    import inspect
    import textwrap

    from theano.gof import cc

    if getattr(cc.CLinker.cmodule_key_, "_gradcheck_patched", False):
        return True
    source = textwrap.dedent(inspect.getsource(cc.CLinker.cmodule_key_))
    if source.count(_PROPS_LINE) != 1:
        return False
    namespace: dict = {}
    exec(
        compile(source.replace(_PROPS_LINE, _PROPS_FIX), cc.__file__, "exec"),
        cc.__dict__,
        namespace,
    )
    patched = namespace["cmodule_key_"]
    patched._gradcheck_patched = True
    cc.CLinker.cmodule_key_ = patched
    return True


def patch_cop_cache_version() -> bool:
    """Give COp (ops whose C code lives in files: DimShuffle...) a cache version that survives the
    process.

    Theano 1.0.5 versions them with hash(tuple(code strings)), and Python 3 salts str hashes per
    process: every process gets a new version, so each graph with a DimShuffle recompiles one module
    with g++ (~1.5 s per model, even from the container's baked cache) and the cache grows on every
    run. A digest of the same strings is the version Theano meant. Returns whether the patch
    applied.
    """
    import hashlib

    from theano.gof import op

    cop = getattr(op, "COp", None)
    if cop is None or not hasattr(cop, "c_code_cache_version"):
        return False
    if getattr(cop.c_code_cache_version, "_gradcheck_patched", False):
        return True

    def c_code_cache_version(self: Any) -> tuple[Any, ...]:
        digest = hashlib.sha256("\x00".join(self.func_codes).encode("utf-8")).digest()
        version: tuple[Any, ...] = (int.from_bytes(digest[:8], "big"),)
        if hasattr(self, "params_type"):
            version += (self.params_type.c_code_cache_version(),)
        return version

    c_code_cache_version._gradcheck_patched = True  # type: ignore[attr-defined]  # a marker on a function object
    cop.c_code_cache_version = c_code_cache_version
    return True


def patch_batched_dot_without_blas() -> bool:
    """Evaluate T.batched_dot (attention code's favourite) with its Python code when no BLAS is
    linked. Its C code calls dgemm_ from the libraries in blas.ldflags, which the check leaves empty
    (1. above): the module compiles, then fails to load ("undefined symbol: dgemm_"), and every
    model with a batched_dot was an error wherever C evaluates. Theano's Gemm-family ops fall back
    by themselves; BatchedDot does not. Returns whether the patch applied."""
    import theano
    from theano.gof.utils import MethodNotDefined
    from theano.tensor import blas

    batched = getattr(blas, "BatchedDot", None)
    if batched is None or not hasattr(batched, "c_code"):
        return False
    if getattr(batched.c_code, "_gradcheck_patched", False):
        return True
    original = batched.c_code

    def c_code(self: Any, node: Any, name: str, inputs: Any, outputs: Any, sub: Any) -> str:
        if not theano.config.blas.ldflags:
            raise MethodNotDefined("BatchedDot.c_code: no BLAS library to link (blas.ldflags)")
        return str(original(self, node, name, inputs, outputs, sub))

    c_code._gradcheck_patched = True  # type: ignore[attr-defined]  # a marker on a function object
    batched.c_code = c_code
    return True


def patch_lazy_composites() -> bool:
    """Unpickle Theano's Composite ops (fused elementwise expressions) without rebuilding their
    inner graph.

    Theano 1.0.5's Composite.__setstate__ clones its scalar graph into a FunctionGraph and runs a
    merge pass. Every process's first compile unpickles the key of every cached module
    (ModuleCache.refresh), one Composite per fused expression ever compiled, nearly all of them only
    compared by their C code, which the pickle keeps; and a compiled function loaded from the
    function cache carries more than it links. Here the graph is built on first use (`fgraph`,
    `_impls`), as the constructor would have. Returns whether the patch applied (False: Theano
    changed).
    """
    from theano.scalar import basic

    composite = getattr(basic, "Composite", None)
    if composite is None or not all(
        hasattr(composite, name) for name in ("init_fgraph", "init_py_impls")
    ):
        return False
    if getattr(composite.__setstate__, "_gradcheck_patched", False):
        return True

    def __setstate__(self: Any, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self.prepare_node_called = set()

    def __getstate__(self: Any) -> dict[str, Any]:
        state = dict(self.__dict__)
        for derived in ("_impls", "prepare_node_called", "fgraph"):  # rebuilt on first use
            state.pop(derived, None)
        return state

    def __getattr__(self: Any, name: str) -> Any:  # only for attributes not set: the lazy ones
        if name in ("fgraph", "_impls") and "inputs" in self.__dict__:
            if "fgraph" not in self.__dict__:
                self.init_fgraph()
            if name == "_impls":
                self.init_py_impls()
            return self.__dict__[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    __setstate__._gradcheck_patched = True  # type: ignore[attr-defined]  # a marker on a function object
    composite.__setstate__ = __setstate__
    composite.__getstate__ = __getstate__
    composite.__getattr__ = __getattr__
    return True


# in Theano's compiledir: the -march flags it found for this CPU
MARCH_FILE = "gradcheck-ci-march.json"


def remember_march_flags() -> str:
    """Keep the -march flags Theano finds for this CPU in its compile directory, for the next
    processes.

    Unless gcc.cxxflags names an -march (the image's does), Theano 1.0.5 finds the flags equivalent
    to -march=native in every process, before its first compile: three g++ runs, ~0.4 s of every
    worker, and the largest part of loading a cached function outside the image. The flags depend
    only on the CPU and the compiler, which key the file; another CPU or compiler finds its own.
    Returns what happened: "given" (gcc.cxxflags has one), "loaded", or "detect" (this process
    detects and saves them).
    """
    import json

    import theano
    from theano.gof import cmodule

    gcc = cmodule.GCC_compiler
    if "-march=" in theano.config.gcc.cxxflags:
        return "given"
    path = os.path.join(theano.config.compiledir, MARCH_FILE)
    identity = _march_identity(cmodule)
    try:
        with open(path, encoding="utf-8") as handle:
            stored = json.load(handle)
        if stored.get("identity") == identity and isinstance(stored.get("flags"), list):
            gcc.march_flags = [str(flag) for flag in stored["flags"]]
            return "loaded"
    except (OSError, ValueError, AttributeError):
        pass
    # found while Theano compiled its own helpers at import (a new cache)
    if gcc.march_flags is not None:
        _write_json(path, {"identity": identity, "flags": list(gcc.march_flags)})
        return "detect"
    if getattr(gcc.compile_args, "_gradcheck_patched", False):
        return "detect"
    detect = gcc.compile_args

    def compile_args(march_flags: bool = True) -> list[str]:
        known = gcc.march_flags is not None
        args = detect(march_flags)
        if not known and gcc.march_flags is not None:  # just detected: save for the next processes
            _write_json(path, {"identity": identity, "flags": list(gcc.march_flags)})
        return list(args)

    compile_args._gradcheck_patched = True  # type: ignore[attr-defined]  # a marker on a function object
    gcc.compile_args = staticmethod(compile_args)
    return "detect"


def _march_identity(cmodule: Any) -> str:
    """The CPU (model and feature flags, from /proc/cpuinfo) and the compiler, as one digest."""
    import hashlib
    import platform

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            lines = handle.read().split("\n\n")[0].splitlines()
        cpu = "\n".join(
            line
            for line in lines
            if line.split(":")[0].strip() in ("model name", "flags", "Features")
        )
    except OSError:
        pass
    import theano

    compiler = f"{theano.config.cxx} {getattr(cmodule, 'gcc_version_str', '')}"
    return hashlib.sha256(f"{cpu}\n{compiler}".encode()).hexdigest()


def _write_json(path: str, data: dict[str, Any]) -> None:
    import json

    try:
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
        os.fchmod(handle, shared_file_mode())
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(data, out)
        os.replace(temporary, path)
    except OSError:
        pass


def _quiet_theano_loggers() -> None:
    import logging

    # "Using NumPy C-API based implementation for BLAS functions" is expected here; keep real
    # errors.
    logging.getLogger("theano.tensor.blas").setLevel(logging.ERROR)
    # "Waiting for existing lock by process ..." when two checks share the compile cache: not the
    # model's output
    logging.getLogger("theano.gof.compilelock").setLevel(logging.WARNING)
    # Lasagne 0.1's convolution layers call Theano 1.0's conv2d with the argument it renamed: a
    # warning, with Lasagne's installed path, for every convolutional model, about the stack rather
    # than the model.
    import warnings

    # Without C (THEANO_FLAGS cxx=, platform/ccode.py), Theano 1.0.5 warns at import, with its
    # installed path, that a later Theano will need a compiler: nothing the user can act on.
    warnings.filterwarnings(
        "ignore", message=r"DeprecationWarning: there is no c\+\+ compiler", category=UserWarning
    )
    warnings.filterwarnings(
        "ignore",
        message=r"The `image_shape` keyword argument to "
        r"`tensor\.nnet\.conv2d` is "
        "deprecated",
        category=UserWarning,
    )
