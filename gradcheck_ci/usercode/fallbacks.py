"""Lasagne names the repository's code imports inside a `try:` that catches their ImportError.

Code written for both stacks falls back when Lasagne 0.1 lacks a name (`try: from lasagne.layers
import batch_norm` / `except ImportError: batch_norm = lambda l: l`): on 0.1 it builds without it,
passes, and nothing said that the network checked is not the one master builds. Found from the
imported files' text (a Python 2 file's translation, as linecache holds it)."""

from __future__ import annotations

import ast
import linecache
import os
import sys
from dataclasses import dataclass

from ..core.results import Notice
from ..platform import lasagne_stacks
from .sites import relative, repository_modules

NOTICE_CODE = "lasagne-fallback"
_CATCHING = frozenset({"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


@dataclass(frozen=True)
class Fallback:
    module: str  # the Lasagne module imported from
    names: tuple[str, ...]  # the names it lacks
    file: str  # relative to the root
    line: int


def _catches_import_error(handlers: list[ast.ExceptHandler]) -> bool:
    for handler in handlers:
        kinds = handler.type
        if kinds is None:
            return True
        named = kinds.elts if isinstance(kinds, ast.Tuple) else [kinds]
        if any(isinstance(k, (ast.Name, ast.Attribute)) and _name(k) in _CATCHING for k in named):
            return True
    return False


def _name(node: ast.expr) -> str:
    return (
        node.id
        if isinstance(node, ast.Name)
        else node.attr
        if isinstance(node, ast.Attribute)
        else ""
    )


def _fallbacks_in(path: str, root: str) -> list[Fallback]:
    text = "".join(linecache.getlines(path))
    if "lasagne" not in text:
        return []
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Try) or not _catches_import_error(node.handlers):
            continue
        for statement in node.body:
            if not (
                isinstance(statement, ast.ImportFrom)
                and statement.level == 0
                and (statement.module or "").split(".")[0] == "lasagne"
            ):
                continue
            module = sys.modules.get(statement.module or "")
            if module is None:  # the module itself is missing (a GPU module): not a name of it
                continue
            lacking = tuple(a.name for a in statement.names if not hasattr(module, a.name))
            if lacking:
                found.append(
                    Fallback(
                        statement.module or "", lacking, relative(path, root), statement.lineno
                    )
                )
    return found


def fallback_notices(root: str) -> list[Notice]:
    """On Lasagne 0.1, a notice for each fallback import of a name it lacks in the repository's
    imported modules."""
    if lasagne_stacks.current() != lasagne_stacks.RELEASE:
        return []
    root = os.path.realpath(root)
    notices = []
    for _, path in repository_modules(root):
        for fallback in _fallbacks_in(path, root):
            names = ", ".join(fallback.names)
            one = len(fallback.names) == 1
            notices.append(
                Notice(
                    f"the code imports {names} from {fallback.module} inside a `try:` that catches "
                    f"the ImportError, and Lasagne 0.1 lacks {'it' if one else 'them'}: the "
                    f"network checked is the code's fallback without {'it' if one else 'them'}. "
                    f"`lasagne: master` checks the network built with {'it' if one else 'them'}",
                    NOTICE_CODE,
                    fallback.file,
                    fallback.line,
                )
            )
    return sorted(notices, key=lambda n: (n.file or "", n.line or 0))
