"""Make Theano 1.0.5 and Lasagne 0.1 importable on Python 3.11, before any user code runs.

Call `prepare(precision)` once per process, before the first `import theano`. It
1. sets the Theano flags the check needs, merged into THEANO_FLAGS without clobbering the user's own:
   floatX (the check's precision always wins: it is what the config asked for), an empty `blas.ldflags`
   (Theano's BLAS probe crashes on numpy 1.23's distutils config), a compile directory (theano_cache_dir:
   the cache directory's, or the image's baked cache) unless the user chose one, and compiled modules that
   do not expire after 24 days (the baked cache would);
2. makes Theano's Cython scan extension fail as an ImportError, so Theano uses its Python scan (the C
   extension cannot compile on 3.11: longintrepr.h moved);
3. registers `theano.tensor.signal.downsample` (removed in Theano 0.9, imported by Lasagne 0.1's pooling
   layers) as a thin adapter over `theano.tensor.signal.pool.pool_2d`;
4. mends two bugs in Theano's compile-cache keys that made every process recompile modules with g++
   (patch_unversioned_cache_keys, patch_cop_cache_version); unpickles fused elementwise ops without
   rebuilding their graphs until they are used (patch_lazy_composites: every process unpickles the keys of
   every cached module); and keeps the -march flags Theano detects with g++ in every process
   (remember_march_flags).

Also here, because they concern the platform rather than a check: `stack_problem()` (why `check` cannot
run in this Python: the light install has no legacy stack) and the cache directory (`cache_root`,
`theano_cache_dir`, `functions_cache_dir`, `prepare_cache`; its layout is described above cache_root).
"""
from __future__ import annotations

import os
import shutil
import sys
import tempfile
import types
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

PRECISIONS = ("float64", "float32")
CACHE_DIR_ENV = "GRADCHECK_CI_CACHE_DIR"  # the one cache directory: `check --cache-dir`, the action's `cache-dir`
CACHE_ENV = "GRADCHECK_THEANO_CACHE"  # the image's baked Theano cache (Dockerfile), a seed for the cache directory
STAMP_FILE = "gradcheck-ci-cache.json"
STALE_AFTER = 7 * 24 * 3600  # a stamped cache of another stack version, unused this long, is deleted
# Theano stops using a compiled module whose file was last read 24 days ago (cmodule.age_thresh_use). Files
# keep their build time through `docker pull` and an actions/cache restore, so the baked cache and a CI cache
# would silently expire 24 days after they were made; the stamp (below) is what retires a cache here.
KEEP_MODULES = str(10 * 365 * 24 * 3600)


def parse_flags(text: str) -> dict[str, str]:
    flags: dict[str, str] = {}
    for item in text.split(","):
        if "=" in item:
            key, value = item.split("=", 1)
            flags[key.strip()] = value.strip()
    return flags


def format_flags(flags: dict[str, str]) -> str:
    return ",".join(f"{key}={value}" for key, value in flags.items())


# The legacy stack `check` needs: (distribution, what to call it). The light install (validate, merge) has none.
STACK = (("Theano", "Theano 1.0.5"), ("Lasagne", "Lasagne 0.1"), ("numpy", "numpy 1.23.5"), ("scipy", "scipy"))
CHECK_EXTRA = "pip install 'gradcheck-ci[check]' (from a clone: pip install '.[check]')"


def stack_problem(version: tuple[int, ...] | None = None, installed: Any = None) -> str | None:
    """Why `gradcheck-ci check` cannot run in this interpreter, in one line; None when it can.

    Asks the installed distributions' metadata, which imports nothing. `version` and `installed` (a function
    from a distribution name to its version, "none" when missing) let tests ask about other interpreters.
    """
    version = tuple(sys.version_info[:2]) if version is None else tuple(version[:2])
    installed = _distribution_version if installed is None else installed
    if version != (3, 11):
        return (f"`check` needs Python 3.11 (Theano 1.0.5 and Lasagne 0.1 run on it, not on Python "
                f"{'.'.join(map(str, version))}): in a Python 3.11 environment, {CHECK_EXTRA}; or run the "
                "container image (docs/action.md). `validate` and `merge` work on this Python as installed.")
    missing = [label for name, label in STACK if installed(name) == "none"]
    if missing:
        return (f"`check` needs the legacy stack, and {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} "
                f"not installed: {CHECK_EXTRA}. `validate` and `merge` work without it.")
    return None


# --- the cache directory ------------------------------------------------------------------------------------
#
#   <cache_root>/                   --cache-dir / GRADCHECK_CI_CACHE_DIR, else ~/.cache/gradcheck-ci
#       .gitignore                  "*", when gradcheck-ci made the directory: a cache is never committed
#       theano/<tag>/               Theano's base_compiledir for this stack (theano_cache_dir)
#           gradcheck-ci-cache.json the stamp: what the compiled code depends on
#       functions/<tag>/            compiled functions (functions_cache_dir)
#
# <tag> names the stamp (Python, numpy, Theano, compiler, machine, gradcheck-ci): a cache made by an older or
# newer image, or another venv, sits under another tag and is never read, so it can do no harm; unused for a
# week, it is deleted. Inside the image, with no cache directory chosen, Theano uses the baked cache itself.

def cache_root(environ: Mapping[str, str] | None = None) -> str:
    """The directory for everything gradcheck-ci caches (absolute)."""
    env = os.environ if environ is None else environ
    chosen = env.get(CACHE_DIR_ENV)
    if chosen:
        return os.path.abspath(chosen)
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gradcheck-ci")


def baked_theano_cache(environ: Mapping[str, str] | None = None) -> str | None:
    """The Theano cache baked into the image (a base_compiledir), or None outside the image."""
    path = (os.environ if environ is None else environ).get(CACHE_ENV)
    return path if path and os.path.isdir(path) else None


def theano_cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """Theano's base_compiledir: <cache_root>/theano/<tag>; in the image with no cache directory chosen, the
    baked cache (or a private copy of it, for a user who may not write there)."""
    env = os.environ if environ is None else environ
    baked = baked_theano_cache(env)
    if baked and not env.get(CACHE_DIR_ENV):
        return writable_cache(baked)
    return os.path.join(cache_root(env), "theano", cache_tag(env))


def functions_cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """Where compiled functions are kept: <cache_root>/functions/<tag> (the same stamp as Theano's modules)."""
    env = os.environ if environ is None else environ
    return os.path.join(cache_root(env), "functions", cache_tag(env))


def default_cache_dir() -> str:
    """Theano's compile directory for this process (theano_cache_dir)."""
    return theano_cache_dir()


def cache_stamp(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """What compiled code in the cache depends on. Read without importing numpy or Theano."""
    import platform

    from .. import __version__

    env = os.environ if environ is None else environ
    compiler = parse_flags(env.get("THEANO_FLAGS", "")).get("cxx") or "g++"
    return {
        "gradcheck-ci": __version__,
        "python": f"{sys.implementation.name} {platform.python_version()}",
        "machine": platform.machine(),
        "numpy": _distribution_version("numpy"),
        "theano": _distribution_version("Theano"),
        "compiler": _compiler_version(compiler),
    }


def cache_tag(environ: Mapping[str, str] | None = None) -> str:
    """A short, readable name for cache_stamp(): 'py3.11-np1.23.5-th1.0.5-<hash of all of it>'."""
    import hashlib
    import json

    stamp = cache_stamp(environ)
    digest = hashlib.sha256(json.dumps(stamp, sort_keys=True).encode("utf-8")).hexdigest()[:12]
    python = ".".join(stamp["python"].split()[-1].split(".")[:2])
    return f"py{python}-np{stamp['numpy']}-th{stamp['theano']}-{digest}"


def _distribution_version(name: str) -> str:
    from importlib import metadata

    try:
        return str(metadata.version(name))
    except metadata.PackageNotFoundError:
        return "none"


_COMPILERS: dict[str, str] = {}


def _compiler_version(command: str) -> str:
    """The first line of `<command> --version` ("none" without a compiler): code compiled by another is not reused."""
    if command not in _COMPILERS:
        import subprocess

        try:
            out = subprocess.run([command, "--version"], capture_output=True, text=True, timeout=30).stdout
            _COMPILERS[command] = (out.strip().splitlines() or ["unknown"])[0]
        except (OSError, subprocess.SubprocessError):
            _COMPILERS[command] = "none"
    return _COMPILERS[command]


@dataclass
class CacheState:
    """What prepare_cache found and did, for the console's one line about the cache."""

    root: str
    theano_dir: str
    functions_dir: str = ""
    modules: int = 0  # compiled modules in theano_dir, after seeding
    seeded: int = 0  # compiled modules copied in from the image's baked cache this run
    retired: list[str] = field(default_factory=list)  # tags of other stack versions deleted as stale
    others: list[str] = field(default_factory=list)  # tags of other stack versions kept (recently used)
    stale_locks: int = 0  # Theano compile locks left by runs that died (another machine's, in a CI cache)

    def describe(self) -> str:
        text = f"compile cache {shown_path(self.theano_dir)}: {self.modules} compiled module(s)"
        if self.seeded:
            text += f", {self.seeded} of them copied from the image's baked cache"
        if self.stale_locks:
            text += f"; removed {self.stale_locks} compile lock(s) left by a run that died"
        if self.others:
            text += f"; ignored the cache of another stack version ({', '.join(self.others)})"
        if self.retired:
            text += f"; deleted the unused cache of another stack version ({', '.join(self.retired)})"
        return text


def shown_path(path: str) -> str:
    """A path for the log: relative to the working directory (the repository) when inside it, else with the
    home directory as ~, so that a message names no absolute path of the machine it ran on."""
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute == here or absolute.startswith(here + os.sep):
        return os.path.relpath(absolute, here)
    home = os.path.expanduser("~")
    if home not in ("", "/") and absolute.startswith(home + os.sep):
        return "~" + absolute[len(home):]
    return absolute


class CacheDirError(Exception):
    """The cache directory cannot be used (not a directory, not writable): one line for the user."""


CACHE_KINDS = ("theano", "functions")  # the stamped folders of the cache directory, each with a <tag> per stack


def prepare_cache(environ: Mapping[str, str] | None = None, now: float | None = None) -> CacheState | None:
    """Make the cache directory ready before the first worker starts (the check run's parent calls it once).

    Creates <cache_root>/theano/<tag> and <cache_root>/functions/<tag>, each with its stamp, and the first
    time a `.gitignore` holding `*` in the root; copies in the compiled modules of the image's baked cache
    that the Theano folder lacks; deletes the caches of other stack versions unused for a week. None inside
    the image when no cache directory was chosen (Theano then uses the baked cache as it is). Raises
    CacheDirError for a directory that cannot be used.
    """
    import json
    import time

    env = os.environ if environ is None else environ
    baked = baked_theano_cache(env)
    if baked and not env.get(CACHE_DIR_ENV):
        return None
    root = cache_root(env)
    tag = cache_tag(env)
    state = CacheState(root=root, theano_dir=theano_cache_dir(env), functions_dir=functions_cache_dir(env))
    now = time.time() if now is None else now
    stamp = json.dumps(cache_stamp(env), indent=2, sort_keys=True)
    try:
        _make_root(root)
        for kind in CACHE_KINDS:
            kind_root = os.path.join(root, kind)
            os.makedirs(os.path.join(kind_root, tag), exist_ok=True)
            with _locked(os.path.join(kind_root, ".lock")):
                # rewritten every run: the stamp's mtime says when this stack last used the folder
                with open(os.path.join(kind_root, tag, STAMP_FILE), "w", encoding="utf-8") as handle:
                    handle.write(stamp)
                if kind == "theano":
                    state.stale_locks = _clear_stale_locks(state.theano_dir)
                    if baked:
                        state.seeded = _seed(baked, state.theano_dir)
                _retire_other_tags(kind_root, tag, now, state)
    except OSError as exc:
        raise CacheDirError(f"cannot use the cache directory {shown_path(root)}: {exc.strerror or exc}") from exc
    state.modules = _count_modules(state.theano_dir)
    return state


def _make_root(root: str) -> None:
    """Create the cache root; a `.gitignore` of `*` in it when it is ours (new, or holding only our folders)."""
    os.makedirs(root, exist_ok=True)
    if not os.path.isdir(root):
        raise NotADirectoryError(20, "not a directory", root)
    ignore = os.path.join(root, ".gitignore")
    if not os.path.exists(ignore) and set(os.listdir(root)) <= {"theano", "functions"}:
        with open(ignore, "w", encoding="utf-8") as handle:
            handle.write("# gradcheck-ci's cache (compiled code): never commit it\n*\n")


class _locked:
    """An exclusive lock on `path` (a file) while seeding and pruning: two runs may share a cache directory."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.handle: Any = None

    def __enter__(self) -> _locked:
        import fcntl

        self.handle = open(self.path, "a")  # closed (and so unlocked) in __exit__
        fcntl.flock(self.handle.fileno(), fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc: object) -> None:
        self.handle.close()  # closing releases the lock


def _clear_stale_locks(theano_dir: str) -> int:
    """Remove Theano compile locks whose owner is gone: a process of this machine that no longer runs, or
    any process of another machine (a CI cache is restored on a new one). Theano would wait for such a lock
    for `compile.timeout` (two minutes) before taking it over, in every run."""
    import socket

    removed = 0
    for compiledir in os.listdir(theano_dir):
        lock_dir = os.path.join(theano_dir, compiledir, "lock_dir")
        if not os.path.isdir(lock_dir):
            continue
        try:
            with open(os.path.join(lock_dir, "lock"), encoding="utf-8", errors="replace") as handle:
                owner = handle.readline().strip().split("_")  # Theano writes "<pid>_<random>_<hostname>"
        except OSError:
            owner = []
        alive = len(owner) > 2 and "_".join(owner[2:]) == socket.gethostname() and _process_exists(owner[0])
        if not alive:
            shutil.rmtree(lock_dir, ignore_errors=True)
            removed += 1
    return removed


def _process_exists(pid: str) -> bool:
    try:
        os.kill(int(pid), 0)
    except PermissionError:  # exists, someone else's
        return True
    except (OSError, ValueError):
        return False
    return True


def _seed(baked: str, target: str) -> int:
    """Copy what the baked cache has and `target` lacks (compiled modules, Theano's own extensions); the
    number of modules copied. Copies, not links: Theano rewrites an entry's key.pkl in place, which must not
    reach the image's own cache."""
    copied = 0
    staging_root = os.path.join(target, ".seeding")  # outside every compiledir: Theano never sees half a module
    shutil.rmtree(staging_root, ignore_errors=True)
    for compiledir in sorted(os.listdir(baked)):
        source = os.path.join(baked, compiledir)
        if not os.path.isdir(source):
            continue
        for entry in sorted(os.listdir(source)):
            destination = os.path.join(target, compiledir, entry)
            if entry == "lock_dir" or os.path.exists(destination):
                continue
            os.makedirs(os.path.dirname(destination), exist_ok=True)
            staging = os.path.join(staging_root, compiledir, entry)
            origin = os.path.join(source, entry)
            if os.path.isdir(origin):
                shutil.copytree(origin, staging, symlinks=True)
            else:  # Theano's __init__.py that makes the compiledir a package
                os.makedirs(os.path.dirname(staging), exist_ok=True)
                shutil.copy2(origin, staging)
            os.replace(staging, destination)
            copied += entry.startswith("tmp")
    shutil.rmtree(staging_root, ignore_errors=True)
    return copied


def _retire_other_tags(kind_root: str, tag: str, now: float, state: CacheState) -> None:
    for other in sorted(os.listdir(kind_root)):
        stamp = os.path.join(kind_root, other, STAMP_FILE)
        if other == tag or not os.path.isfile(stamp):  # only caches we stamped are ours to delete
            continue
        if now - os.path.getmtime(stamp) > STALE_AFTER:
            shutil.rmtree(os.path.join(kind_root, other), ignore_errors=True)
            if other not in state.retired:
                state.retired.append(other)
        elif other not in state.others:
            state.others.append(other)


def _count_modules(theano_dir: str) -> int:
    count = 0
    for compiledir in os.listdir(theano_dir):
        path = os.path.join(theano_dir, compiledir)
        if os.path.isdir(path):
            count += sum(1 for entry in os.listdir(path) if entry.startswith("tmp"))
    return count


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
        flags["base_compiledir"] = theano_cache_dir()
    flags.setdefault("cmodule.age_thresh_use", KEEP_MODULES)
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
    patch_lazy_composites()
    remember_march_flags()


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


def patch_lazy_composites() -> bool:
    """Unpickle Theano's Composite ops (fused elementwise expressions) without rebuilding their inner graph.

    Theano 1.0.5's Composite.__setstate__ clones its scalar graph into a FunctionGraph and runs a merge pass.
    Every process's first compile unpickles the key of every cached module (ModuleCache.refresh), one
    Composite per fused expression ever compiled, nearly all of them only compared by their C code, which
    the pickle keeps; and a compiled function loaded from the function cache carries more than it links.
    Here the graph is built on first use (`fgraph`, `_impls`), as the constructor would have. Returns whether
    the patch applied (False: Theano changed).
    """
    from theano.scalar import basic

    composite = getattr(basic, "Composite", None)
    if composite is None or not all(hasattr(composite, name) for name in ("init_fgraph", "init_py_impls")):
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


MARCH_FILE = "gradcheck-ci-march.json"  # in Theano's compiledir: the -march flags it found for this CPU


def remember_march_flags() -> str:
    """Keep the -march flags Theano finds for this CPU in its compile directory, for the next processes.

    Unless gcc.cxxflags names an -march (the image's does), Theano 1.0.5 finds the flags equivalent to
    -march=native in every process, before its first compile: three g++ runs, ~0.4 s of every worker, and
    the largest part of loading a cached function outside the image. The flags depend only on the CPU and
    the compiler, which key the file; another CPU or compiler finds its own. Returns what happened:
    "given" (gcc.cxxflags has one), "loaded", or "detect" (this process detects and saves them).
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
    if gcc.march_flags is not None:  # found while Theano compiled its own helpers at import (a new cache)
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
        cpu = "\n".join(line for line in lines if line.split(":")[0].strip() in ("model name", "flags", "Features"))
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


def shared_file_mode() -> int:
    """The mode open() would give a new file (0666 less the umask): for files made with mkstemp (0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


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
