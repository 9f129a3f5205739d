"""Checking a 'target:function' reference (a factory, or a loss with a colon) as far as can be done
without importing anything: the function is a Python name, a module target is a dotted name, and a
file target is a relative '/' path to a .py file that exists inside the repository.

A module may come from an installed package, so whether it exists is left to the model loader.
"""

from __future__ import annotations

import difflib
import keyword
import os
import posixpath
import re

from yaml.nodes import Node

from ..core.suggest import with_hint
from .nodes import Bad, show
from .spec import is_path

_UNNAMEABLE = re.compile("[\x00-\x1f\x7f\ud800-\udfff]")


def read_reference(text: str, root: str, key: str, node: Node) -> str:
    """`text` itself when it is a well-formed reference; Bad (about `node`) when not."""
    target, colon, function = text.rpartition(":")
    if not colon or not target:
        raise Bad(
            f"{key} must look like 'path/to/file.py:function' or 'package.module:function', "
            f"got {show(text)}",
            node,
        )
    # A factory may also be a class's method or attribute ('model.py:Model.build') or a module-level
    # layer.
    parts = function.split(".") if key == "factory" else [function]
    if len(parts) > 2 or not all(
        part.isidentifier() and not keyword.iskeyword(part) for part in parts
    ):
        what = (
            "a Python name (a function, a layer variable, or Class.attribute)"
            if key == "factory"
            else "a Python function name"
        )
        raise Bad(f"{key}: {show(function)} after ':' is not {what}", node)
    if is_path(target):
        _check_file(target, root, key, node)
    elif not all(part.isidentifier() and not keyword.iskeyword(part) for part in target.split(".")):
        raise Bad(
            f"{key}: {show(target)} is neither a .py file path nor a dotted module name", node
        )
    return text


def _check_file(target: str, root: str, key: str, node: Node) -> None:
    if _UNNAMEABLE.search(target):  # the file system could not even be asked about it
        raise Bad(
            f"{key} path {show(target)} holds a NUL, a control character or a lone "
            f"surrogate, which no "
            "file name can hold",
            node,
        )
    if "\\" in target:
        raise Bad(f"{key} path {show(target)} uses '\\'; write paths with '/'", node)
    if target.startswith("/") or re.match(r"[A-Za-z]:", target):
        raise Bad(
            f"{key} path {show(target)} is absolute; write it relative to the repository root", node
        )
    rel = posixpath.normpath(target)
    if rel == ".." or rel.startswith("../"):
        raise Bad(
            with_hint(
                f"{key} path escapes the repository root: {show(target)}",
                _wider_root(rel, root),
            ),
            node,
        )
    full = os.path.join(root, *rel.split("/"))
    if not rel.endswith(".py"):
        hint = f"did you mean {rel + '.py'!r}?" if os.path.isfile(full + ".py") else None
        raise Bad(with_hint(f"{key} path {show(target)} must name a .py file", hint), node)
    if not os.path.isfile(full):
        raise Bad(
            with_hint(
                f"{key} file {rel!r} not found in the repository",
                _nearby_file(rel, root) or _wider_root(rel, root),
            ),
            node,
        )
    real, real_root = os.path.realpath(full), os.path.realpath(root)
    if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
        raise Bad(
            f"{key} path {show(target)} is a symlink (or lies in a symlinked folder) that "
            f"leads outside "
            "the repository root",
            node,
        )


def _wider_root(rel: str, root: str) -> str | None:
    """When the file is there from a folder above the root (the root is the config's folder unless
    --root says otherwise: `--config ci/gradcheck.yml` makes it ci/): the --root that finds it."""
    above = os.path.abspath(root)
    for _ in range(3):
        above = os.path.dirname(above)
        for candidate in (rel, posixpath.normpath(posixpath.join(os.path.basename(root), rel))):
            if candidate.startswith("../"):
                continue
            if os.path.isfile(os.path.join(above, *candidate.split("/"))):
                shown = os.path.relpath(above) if _inside_cwd(above) else "DIR"
                return (
                    f"the repository root is {os.path.basename(os.path.abspath(root))}/, the "
                    f"config's folder unless --root is given; with --root {shown} the path is "
                    f"{candidate!r}"
                )
    return None


def _inside_cwd(path: str) -> bool:
    here = os.getcwd()
    return path == here or path.startswith(here.rstrip(os.sep) + os.sep)


def _nearby_file(rel: str, root: str) -> str | None:
    """A did-you-mean for a mistyped file name, from the .py files next to where it should be."""
    folder, _, name = rel.rpartition("/")
    directory = os.path.join(root, *folder.split("/")) if folder else root
    try:
        stems = [
            n[:-3]
            for n in os.listdir(directory)
            if n.endswith(".py") and n != name and os.path.isfile(os.path.join(directory, n))
        ]
    except OSError:
        return None
    # Compared without '.py', which is no likeness; the hint names the whole path, so not
    # suggest.did_you_mean.
    close = difflib.get_close_matches(name[:-3], stems, n=1, cutoff=0.6)
    return f"did you mean {posixpath.join(folder, close[0] + '.py')!r}?" if close else None
