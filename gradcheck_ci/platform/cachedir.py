"""The cache directory: where compiled Theano modules and compiled functions are kept between runs.

    <cache_root>/                   --cache-dir / GRADCHECK_CI_CACHE_DIR, else ~/.cache/gradcheck-ci
        .gitignore                  "*" if gradcheck-ci made the directory: never committed
        theano/<tag>/               Theano's base_compiledir for this stack (theano_cache_dir)
            gradcheck-ci-cache.json the stamp: what the compiled code depends on
        functions/<tag>/            compiled functions (functions_cache_dir)
        gradcheck-ci-temporary      only in a run's temporary cache root, deleted at its end

<tag> names the stamp (Python, numpy, Theano, compiler, machine, gradcheck-ci): a cache made by an
older or newer image, or another venv, sits under another tag and is never read, so it can do no
harm; unused for a week, it is deleted. Inside the image, with no cache directory chosen, Theano
uses the baked cache itself. Nothing here imports numpy or Theano: the run's parent prepares the
directory before any worker starts.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .damaged import DAMAGED_DIR, move_aside_damaged
from .flags import parse_flags
from .stack import distribution_version

# the one cache directory: `check --cache-dir`, the action's `cache-dir`
CACHE_DIR_ENV = "GRADCHECK_CI_CACHE_DIR"
# the image's baked Theano cache (Dockerfile), a seed for the cache directory
CACHE_ENV = "GRADCHECK_THEANO_CACHE"
STAMP_FILE = "gradcheck-ci-cache.json"
# a stamped cache of another stack version, unused this long, is deleted
STALE_AFTER = 7 * 24 * 3600


def cache_root(environ: Mapping[str, str] | None = None) -> str:
    """The directory for everything gradcheck-ci caches (absolute)."""
    env = os.environ if environ is None else environ
    chosen = env.get(CACHE_DIR_ENV)
    if chosen:
        return os.path.abspath(chosen)
    base = env.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "gradcheck-ci")


# in the cache root of a run whose cache directory is a temporary one, deleted at its end
TEMPORARY_MARKER = "gradcheck-ci-temporary"


def make_temporary_root() -> str:
    """A cache root for this run only (the chosen one cannot be used): a fresh directory, marked so
    that the workers do not call what they store in it kept for the next run."""
    root = tempfile.mkdtemp(prefix="gradcheck-ci-cache-")
    with open(os.path.join(root, TEMPORARY_MARKER), "w", encoding="utf-8") as handle:
        handle.write("deleted at the end of the run that made it\n")
    return root


def is_temporary(environ: Mapping[str, str] | None = None) -> bool:
    """Whether the cache root is a temporary one (make_temporary_root): nothing in it outlives the
    run."""
    return os.path.isfile(os.path.join(cache_root(environ), TEMPORARY_MARKER))


def baked_theano_cache(environ: Mapping[str, str] | None = None) -> str | None:
    """The Theano cache baked into the image (a base_compiledir), or None outside the image."""
    path = (os.environ if environ is None else environ).get(CACHE_ENV)
    return path if path and os.path.isdir(path) else None


def theano_cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """Theano's base_compiledir: <cache_root>/theano/<tag>; in the image with no cache directory
    chosen, the baked cache (or a private copy of it, for a user who may not write there)."""
    env = os.environ if environ is None else environ
    baked = baked_theano_cache(env)
    if baked and not env.get(CACHE_DIR_ENV):
        return writable_cache(baked)
    return os.path.join(cache_root(env), "theano", cache_tag(env))


def functions_cache_dir(environ: Mapping[str, str] | None = None) -> str:
    """Where compiled functions are kept: <cache_root>/functions/<tag> (the same stamp as Theano's
    modules)."""
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
        "numpy": distribution_version("numpy"),
        "theano": distribution_version("Theano"),
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


_COMPILERS: dict[str, str] = {}


def _compiler_version(command: str) -> str:
    """The first line of `<command> --version` ("none" without a compiler): code compiled by another
    is not reused."""
    if command not in _COMPILERS:
        import subprocess

        try:
            out = subprocess.run(
                [command, "--version"], capture_output=True, text=True, timeout=30
            ).stdout
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
    # tags of other stack versions deleted as stale
    retired: list[str] = field(default_factory=list)
    # tags of other stack versions kept (recently used)
    others: list[str] = field(default_factory=list)
    # Theano compile locks left by runs that died (another machine's, in a CI cache)
    stale_locks: int = 0
    # compiled modules found damaged and moved aside
    damaged: list[str] = field(default_factory=list)

    def describe(self) -> str:
        text = f"compile cache {shown_path(self.theano_dir)}: {self.modules} compiled module(s)"
        if self.seeded:
            text += f", {self.seeded} of them copied from the image's baked cache"
        if self.stale_locks:
            text += f"; removed {self.stale_locks} compile lock(s) left by a run that died"
        if self.damaged:
            more = f" and {len(self.damaged) - 5} more" if len(self.damaged) > 5 else ""
            names = ", ".join(self.damaged[:5]) + more
            text += (
                f"; moved aside {len(self.damaged)} damaged compiled module(s) ({names}) to "
                f"{DAMAGED_DIR}/, "
                "to be compiled again"
            )
        if self.others:
            text += f"; ignored the cache of another stack version ({', '.join(self.others)})"
        if self.retired:
            text += (
                f"; deleted the unused cache of another stack version ({', '.join(self.retired)})"
            )
        return text


def shown_path(path: str) -> str:
    """A path for the log: relative to the working directory (the repository) when inside it, else
    with the home directory as ~, so that a message names no absolute path of the machine it ran
    on."""
    absolute = os.path.abspath(path)
    here = os.getcwd()
    if absolute == here or absolute.startswith(here + os.sep):
        return os.path.relpath(absolute, here)
    home = os.path.expanduser("~")
    if home not in ("", "/") and absolute.startswith(home + os.sep):
        return "~" + absolute[len(home) :]
    return absolute


class CacheDirError(Exception):
    """The cache directory cannot be used (not a directory, not writable): one line for the user."""


# the stamped folders of the cache directory, each with a <tag> per stack
CACHE_KINDS = ("theano", "functions")


def prepare_cache(
    environ: Mapping[str, str] | None = None, now: float | None = None
) -> CacheState | None:
    """Make the cache directory ready before the first worker starts (the check run's parent calls
    it once).

    Creates <cache_root>/theano/<tag> and <cache_root>/functions/<tag>, each with its stamp, and the
    first time a `.gitignore` holding `*` in the root; copies in the compiled modules of the image's
    baked cache that the Theano folder lacks; deletes the caches of other stack versions unused for
    a week. None inside the image when no cache directory was chosen (Theano then uses the baked
    cache as it is). Raises CacheDirError for a directory that cannot be used.
    """
    import json
    import time

    env = os.environ if environ is None else environ
    baked = baked_theano_cache(env)
    if baked and not env.get(CACHE_DIR_ENV):
        return None
    root = cache_root(env)
    tag = cache_tag(env)
    state = CacheState(
        root=root, theano_dir=theano_cache_dir(env), functions_dir=functions_cache_dir(env)
    )
    now = time.time() if now is None else now
    stamp = json.dumps(cache_stamp(env), indent=2, sort_keys=True)
    try:
        _make_root(root)
        for kind in CACHE_KINDS:
            kind_root = os.path.join(root, kind)
            for path in (
                kind_root,
                os.path.join(kind_root, tag),
                os.path.join(kind_root, ".lock"),
                os.path.join(kind_root, tag, STAMP_FILE),
            ):
                _drop_dangling(path)
            os.makedirs(os.path.join(kind_root, tag), exist_ok=True)
            _drop_dangling_below(os.path.join(kind_root, tag), depth=2)
            with _locked(os.path.join(kind_root, ".lock")):
                # rewritten every run: the stamp's mtime says when this stack last used the folder
                with open(
                    os.path.join(kind_root, tag, STAMP_FILE), "w", encoding="utf-8"
                ) as handle:
                    handle.write(stamp)
                if kind == "theano":
                    state.stale_locks = _clear_stale_locks(state.theano_dir)
                    # before any worker imports Theano
                    state.damaged = move_aside_damaged(state.theano_dir)
                    if baked:
                        state.seeded = _seed(baked, state.theano_dir)
                _retire_other_tags(kind_root, tag, now, state)
    except OSError as exc:
        # the path inside it that stood in the way (a file where a folder goes), when it is not
        # the directory itself
        inside = exc.filename if isinstance(exc.filename, str) and exc.filename != root else None
        at = f" ({shown_path(inside)})" if inside else ""
        why = exc.strerror or str(exc)
        if os.path.exists(root) and not os.path.isdir(root):  # makedirs says "File exists"
            why, at = "it is a file, not a directory", ""
        raise CacheDirError(
            f"cannot use the cache directory {shown_path(root)}: {why}{at}"
        ) from exc
    state.modules = _count_modules(state.theano_dir)
    return state


def _drop_dangling(path: str) -> None:
    """A link to nowhere where the cache keeps something of its own is a bad entry, not a reason to
    give up the cache: removed (it holds nothing), the folder or file is made anew. A link to a real
    place is kept."""
    if os.path.islink(path) and not os.path.exists(path):
        os.unlink(path)


def _drop_dangling_below(folder: str, depth: int) -> None:
    """_drop_dangling for every entry `depth` levels down (Theano's compile directories and their
    modules)."""
    for entry in os.listdir(folder):
        path = os.path.join(folder, entry)
        _drop_dangling(path)
        if depth > 1 and os.path.isdir(path) and not os.path.islink(path):
            _drop_dangling_below(path, depth - 1)


def _make_root(root: str) -> None:
    """Create the cache root; a `.gitignore` of `*` in it when it is ours (new, or holding only our
    folders)."""
    os.makedirs(root, exist_ok=True)
    if not os.path.isdir(root):
        raise NotADirectoryError(20, "not a directory", root)
    ignore = os.path.join(root, ".gitignore")
    if not os.path.exists(ignore) and set(os.listdir(root)) <= {"theano", "functions"}:
        with open(ignore, "w", encoding="utf-8") as handle:
            handle.write("# gradcheck-ci's cache (compiled code): never commit it\n*\n")


class _locked:
    """An exclusive lock on `path` (a file) while seeding and pruning: two runs may share a cache
    directory."""

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
    """Remove Theano compile locks whose owner is gone: a process of this machine that no longer
    runs, or any process of another machine (a CI cache is restored on a new one). Theano would wait
    for such a lock for `compile.timeout` (two minutes) before taking it over, in every run."""
    import socket

    removed = 0
    for compiledir in os.listdir(theano_dir):
        lock_dir = os.path.join(theano_dir, compiledir, "lock_dir")
        if not os.path.isdir(lock_dir):
            continue
        try:
            with open(os.path.join(lock_dir, "lock"), encoding="utf-8", errors="replace") as handle:
                # Theano writes "<pid>_<random>_<hostname>"
                owner = handle.readline().strip().split("_")
        except OSError:
            owner = []
        alive = (
            len(owner) > 2
            and "_".join(owner[2:]) == socket.gethostname()
            and _process_exists(owner[0])
        )
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
    """Copy what the baked cache has and `target` lacks (compiled modules, Theano's own extensions);
    the number of modules copied. Copies, not links: Theano rewrites an entry's key.pkl in place,
    which must not reach the image's own cache."""
    copied = 0
    # outside every compiledir: Theano never sees half a module
    staging_root = os.path.join(target, ".seeding")
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
        if os.path.isdir(path) and not compiledir.startswith("."):  # not .seeding, not .damaged
            count += sum(1 for entry in os.listdir(path) if entry.startswith("tmp"))
    return count


def writable_cache(path: str) -> str:
    """Use `path` if we may write there; otherwise a private copy of it (Theano locks and writes in
    it).

    A container run as a non-root user cannot write the cache baked as root, and Theano refuses a
    read-only compile directory; copying keeps the warm entries instead of recompiling everything.
    """
    if os.path.isdir(path) and os.access(path, os.W_OK | os.X_OK):
        return path
    copy = os.path.join(tempfile.gettempdir(), f"gradcheck-ci-theano-{os.getuid()}")
    if not os.path.isdir(copy):
        staging = tempfile.mkdtemp(prefix="gradcheck-ci-theano-")
        if os.path.isdir(path):
            shutil.copytree(
                path,
                staging,
                dirs_exist_ok=True,
                symlinks=True,
                ignore=shutil.ignore_patterns("lock_dir"),
            )
        try:
            os.replace(staging, copy)
        except OSError:  # another worker made it first
            shutil.rmtree(staging, ignore_errors=True)
    return copy


def shared_file_mode() -> int:
    """The mode open() would give a new file (0666 less the umask): for files made with mkstemp
    (0600)."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask
