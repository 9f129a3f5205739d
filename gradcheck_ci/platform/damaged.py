"""Damaged compiled modules in Theano's compile cache, found before Theano meets them, and moved
aside.

Theano imports the modules it compiled (its own `lazylinker_ext` and `cutils_ext`, and one `tmp*`
folder per compiled op) from the cache without a second look: a cut-short or garbage `__init__.py`
or `.so` (a full disk, a cache restored half, a crash while writing) then fails every model of every
run, with Theano's traceback. A module moved out of the compile directory is one Theano no longer
has: it compiles it again. The damaged copy is kept in `.damaged/` beside the compile directories
(the last one of each name), to look at.
"""

from __future__ import annotations

import ast
import os
import shutil
import struct
import sys

DAMAGED_DIR = ".damaged"


def move_aside_damaged(theano_dir: str) -> list[str]:
    """Check every compiled module under `theano_dir` (Theano's base_compiledir); move the damaged
    ones to `<theano_dir>/.damaged/<compiledir>/<entry>`. The names of those moved. A compile
    directory whose lock a live process holds is left alone: a module may be half-written there
    because it is being compiled."""
    moved: list[str] = []
    for compiledir in sorted(os.listdir(theano_dir)):
        path = os.path.join(theano_dir, compiledir)
        if (
            compiledir.startswith(".")
            or not os.path.isdir(path)
            or os.path.isdir(os.path.join(path, "lock_dir"))
        ):
            continue
        # the compile directory is a package too
        if not _plain_init(os.path.join(path, "__init__.py")):
            _move(path, "__init__.py", os.path.join(theano_dir, DAMAGED_DIR, compiledir))
            moved.append("__init__.py")
        for entry in sorted(os.listdir(path)):
            module = os.path.join(path, entry)
            if os.path.isdir(module) and not os.path.islink(module) and damaged(module):
                _move(path, entry, os.path.join(theano_dir, DAMAGED_DIR, compiledir))
                moved.append(entry)
    return moved


def damaged(module: str) -> bool:
    """Whether a compiled module's folder holds an `__init__.py` Theano did not write or a `.so` cut
    short."""
    try:
        names = os.listdir(module)
    except OSError:
        return False
    if not _plain_init(os.path.join(module, "__init__.py")):
        return True
    return any(
        name.endswith(".so") and not complete_elf(os.path.join(module, name)) for name in names
    )


def _plain_init(path: str) -> bool:
    """Theano writes an empty `__init__.py` or `_version = 0.211`: constants assigned to names,
    nothing else."""
    try:
        with open(path, "rb") as handle:
            source = handle.read(64 * 1024 + 1)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    try:
        tree = ast.parse(source.decode("utf-8"))
    except (UnicodeDecodeError, SyntaxError, ValueError):  # ValueError: NUL bytes
        return False
    return len(source) <= 64 * 1024 and all(
        isinstance(node, ast.Assign)
        and all(isinstance(target, ast.Name) for target in node.targets)
        and isinstance(node.value, ast.Constant)
        for node in tree.body
    )


def complete_elf(path: str) -> bool:
    """Whether `path` starts with an ELF header whose program and section header tables lie inside
    the file (a file cut short loses its section headers, which come last). Other systems' libraries
    are not checked."""
    if not sys.platform.startswith("linux"):
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(64)
            size = os.fstat(handle.fileno()).st_size
    except OSError:
        return False
    if len(head) < 52 or head[:4] != b"\x7fELF" or head[4] not in (1, 2) or head[5] not in (1, 2):
        return False
    order = "<" if head[5] == 1 else ">"
    if head[4] == 2:  # 64-bit
        if len(head) < 64:
            return False
        phoff, shoff = struct.unpack_from(order + "QQ", head, 32)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", head, 54)
    else:
        phoff, shoff = struct.unpack_from(order + "II", head, 28)
        phentsize, phnum, shentsize, shnum = struct.unpack_from(order + "HHHH", head, 42)
    return phnum > 0 and phoff + phentsize * phnum <= size and shoff + shentsize * shnum <= size


def _move(folder: str, entry: str, aside: str) -> None:
    os.makedirs(aside, exist_ok=True)
    target = os.path.join(aside, entry)
    if os.path.isdir(target) and not os.path.islink(target):
        shutil.rmtree(target, ignore_errors=True)
    elif os.path.lexists(target):
        os.unlink(target)
    os.replace(os.path.join(folder, entry), target)
