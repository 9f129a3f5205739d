"""Make Theano 1.0.5 and Lasagne 0.1 importable on Python 3.11, before any user code runs.

Call `prepare(precision)` once per process, before the first `import theano`. It
1. sets the Theano flags the check needs, merged into THEANO_FLAGS without clobbering the user's own:
   floatX (the check's precision always wins: it is what the config asked for), an empty `blas.ldflags`
   (Theano's BLAS probe crashes on numpy 1.23's distutils config) and a compile directory (the baked
   container cache or ~/.cache/gradcheck-ci/theano) unless the user chose one;
2. makes Theano's Cython scan extension fail as an ImportError, so Theano uses its Python scan (the C
   extension cannot compile on 3.11: longintrepr.h moved);
3. registers `theano.tensor.signal.downsample` (removed in Theano 0.9, imported by Lasagne 0.1's pooling
   layers) as a thin adapter over `theano.tensor.signal.pool.pool_2d`;
4. mends two bugs in Theano's compile-cache keys that made every process recompile modules with g++
   (patch_unversioned_cache_keys, patch_cop_cache_version).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import types
from collections.abc import Mapping
from typing import Any

PRECISIONS = ("float64", "float32")
CACHE_ENV = "GRADCHECK_THEANO_CACHE"


def parse_flags(text: str) -> dict[str, str]:
    flags: dict[str, str] = {}
    for item in text.split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            flags[key.strip()] = value.strip()
    return flags


def format_flags(flags: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in flags.items())


def default_cache_dir() -> str:
    """The Theano compile directory: the baked one (made writable if needed) or one under the user's cache."""
    baked = os.environ.get(CACHE_ENV)
    if baked:
        return writable_cache(baked)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gradcheck-ci", "theano")


def writable_cache(path: str) -> str:
    """Use `path` if we may write there; otherwise a private copy of it (Theano locks and writes in it).

    A container run as a non-root user cannot write the cache baked as root, and Theano refuses a
    read-only compile directory; copying keeps the warm entries instead of recompiling everything.
    """
    if os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
        return path
    copy = os.path.join(tempfile.gettempdir(), f"gradcheck-ci-theano-{os.getuid()}")
    if not os.path.isdir(copy):
        staging = tempfile.mkdtemp(prefix="gradcheck-ci-theano-")
        if os.path.isdir(path):
            shutil.copytree(path, staging, dirs_exist_ok=True, symlinks=True,
                            ignore=shutil.ignore_patterns("lock_dir"))
        try:
            os.replace(staging, copy)
        except OSError:  # another worker made it first
            shutil.rmtree(staging, ignore_errors=True)
    return copy


def theano_flags(precision: str, environ: Mapping[str, str] | None = None) -> str:
    """THEANO_FLAGS for a worker checking at `precision`, keeping whatever the user set."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}")
    flags = parse_flags((os.environ if environ is None else environ).get("THEANO_FLAGS", ""))
    flags["floatX"] = precision
    flags.setdefault("blas.ldflags", "")
    if "base_compiledir" not in flags and "compiledir" not in flags:
        flags["base_compiledir"] = default_cache_dir()
    # Theano's own warning about the missing BLAS library is noise for our users.
    flags.setdefault("warn_float64", "ignore")
    return format_flags(flags)


def install_import_shims() -> None:
    """Steps 2 and 3 of the module docstring. Safe to call more than once."""
    # A None entry makes `from . import scan_perform_ext` raise ImportError, Theano's documented fallback.
    sys.modules.setdefault("theano.scan_module.scan_perform_ext", None)  # type: ignore[arg-type]  # None is the point
    if "theano.tensor.signal.downsample" not in sys.modules:
        sys.modules["theano.tensor.signal.downsample"] = _downsample_module()


def _downsample_module() -> types.ModuleType:
    module = types.ModuleType("theano.tensor.signal.downsample")
    module.__doc__ = "gradcheck-ci shim: Theano <0.9's downsample API over theano.tensor.signal.pool."

    def max_pool_2d(input, ds, ignore_border=None, st=None, padding=(0, 0), mode="max"):
        from theano.tensor.signal import pool

        return pool.pool_2d(input, ws=ds, ignore_border=ignore_border, stride=st, pad=padding, mode=mode)

    module.max_pool_2d = max_pool_2d  # type: ignore[attr-defined]  # a module made at run time
    return module


def prepare(precision: str = "float64") -> None:
    """Everything above, in the right order. Must run before Theano is first imported."""
    if "theano" in sys.modules:
        current = sys.modules["theano"].config.floatX
        if current != precision:
            raise RuntimeError(f"Theano was imported with floatX={current} before gradcheck-ci could set {precision}")
    else:
        os.environ["THEANO_FLAGS"] = theano_flags(precision)
        os.makedirs(parse_flags(os.environ["THEANO_FLAGS"]).get("base_compiledir", "."), exist_ok=True)
    install_import_shims()
    _quiet_theano_loggers()
    import theano  # noqa: F401 - now, with the flags above; user code imports it next

    patch_unversioned_cache_keys()
    patch_cop_cache_version()


# The line of Theano 1.0.5's CLinker.cmodule_key_ that puts an op's __props__ into the cache version. An op
# with no parameters has __props__ == (), an empty (falsy) entry, which marks the whole module
# "unversioned": it is then recompiled by every process and never cached (Alloc, ScalarFromTensor, the
# softmax-crossentropy ops...): about ten seconds of g++ per model, on every run.
_PROPS_LINE = "version.append(node.op.__props__)"
_PROPS_FIX = "version.append(('__props__',) + tuple(node.op.__props__))"


def patch_unversioned_cache_keys() -> bool:
    """Make parameterless ops cacheable. Returns whether the patch applied (False: Theano changed)."""
    import inspect
    import textwrap

    from theano.gof import cc

    if getattr(cc.CLinker.cmodule_key_, "_gradcheck_patched", False):
        return True
    source = textwrap.dedent(inspect.getsource(cc.CLinker.cmodule_key_))
    if source.count(_PROPS_LINE) != 1:
        return False
    namespace: dict = {}
    exec(compile(source.replace(_PROPS_LINE, _PROPS_FIX), cc.__file__, "exec"), cc.__dict__, namespace)
    patched = namespace["cmodule_key_"]
    patched._gradcheck_patched = True
    cc.CLinker.cmodule_key_ = patched
    return True


def patch_cop_cache_version() -> bool:
    """Give COp (ops whose C code lives in files: DimShuffle...) a cache version that survives the process.

    Theano 1.0.5 versions them with hash(tuple(code strings)), and Python 3 salts str hashes per process:
    every process gets a new version, so each graph with a DimShuffle recompiles one module with g++
    (~1.5 s per model, even from the container's baked cache) and the cache grows on every run. A digest
    of the same strings is the version Theano meant. Returns whether the patch applied.
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


def _quiet_theano_loggers() -> None:
    import logging

    # "Using NumPy C-API based implementation for BLAS functions" is expected here; keep real errors.
    logging.getLogger("theano.tensor.blas").setLevel(logging.ERROR)
    # "Waiting for existing lock by process ..." when two checks share the compile cache: not the model's output
    logging.getLogger("theano.gof.compilelock").setLevel(logging.WARNING)
    # Lasagne 0.1's convolution layers call Theano 1.0's conv2d with the argument it renamed: a warning, with
    # Lasagne's installed path, for every convolutional model, about the stack rather than the model.
    import warnings

    warnings.filterwarnings("ignore", message=r"The `image_shape` keyword argument to `tensor\.nnet\.conv2d` is "
                            "deprecated", category=UserWarning)
