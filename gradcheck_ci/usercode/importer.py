"""Import the user's functions that gradcheck.yml names: model factories and custom losses, one way
for both.

A reference is 'path/to/file.py:function' (a file in the repository) or 'package.module:function' (a
module importable from the repository root or the installed packages). Problems with the reference
itself point at its line in gradcheck.yml; whatever the user's module does while it is imported is
the user's code's error and points there.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import os
import re
import sys
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from ..config import resolve_reference
from ..core.errors import ModelLoadError
from ..core.suggest import did_you_mean, with_hint
from .blame import user_code_error
from .loader import RepositoryLoader, assigned_under_main_guard, install, run_rest
from .python2 import Untranslatable, untranslatable_error
from .sites import is_inside, is_library, relative, repository_modules


@dataclass(frozen=True)
class Wording:
    """How the messages name one kind of imported function. The templates are str.format'ed with
    `ref` (the reference as written in gradcheck.yml), `target` (its part before ':'), `function`,
    `path` (the file, relative to the repository) and `where` (the module's file, else its dotted
    name)."""

    what: str  # the gradcheck.yml key: "factory" or "loss"
    module_prefix: str  # the sys.modules name of an imported file is this prefix + the file's stem
    importing: str  # what was being done when the module's own code failed
    cannot_import: str
    cannot_import_kind: str  # the ErrorInfo.kind of cannot_import
    no_function: str  # also for a name that is not callable, unless not_callable is given
    not_callable: str | None = None
    # 'Class.attribute' and module-level values (a script's layer variable) are allowed
    members: bool = False


# The messages of both kinds predate this module: they are kept word for word.
FACTORY = Wording(
    what="factory",
    module_prefix="gradcheck_user_",
    importing="importing the factory module of {ref!r}",
    cannot_import="cannot import {path}",
    cannot_import_kind="load",
    no_function="{where} has no function {function!r} (factory {ref!r})",
    not_callable="{ref!r} is not callable",
    members=True,
)
LOSS = Wording(
    what="loss",
    module_prefix="gradcheck_loss_",
    importing="importing loss {ref!r}",
    cannot_import="loss {ref!r}: cannot import {target}",
    cannot_import_kind="config",
    no_function="loss {ref!r}: no function {function!r} in {target}",
)


def import_function(
    wording: Wording,
    ref: str,
    root: str,
    config_file: str,
    line: int | None,
) -> Any:
    """The function `ref` names (`wording`: FACTORY or LOSS); `line` is ref's line in `config_file`.
    A factory may also be a Member (a class's method or attribute) or a ScriptLayer (a module-level
    Lasagne layer).
    The caller limits how long importing its module may take (guard.time_limit around this call):
    guard.TooSlow raised while the module runs is reported as the module's error, like any other.

    Raises ModelLoadError, located in gradcheck.yml or in the user's module.
    """
    root = os.path.realpath(root)
    kind, target, function = resolve_reference(ref, root)
    words = {"ref": ref, "target": ref.rpartition(":")[0], "function": function}
    if root not in sys.path:
        sys.path.insert(0, root)
    install(root)  # the repository's Python 2 modules are translated when imported
    owner, _, attribute = function.rpartition(".")
    try:
        if kind == "file":
            until = None if owner or not wording.members else function
            module = _import_file(target, root, wording, words, config_file, line, until)
        else:
            module = importlib.import_module(target)
    except ModelLoadError:
        raise
    except Untranslatable as exc:
        raise untranslatable_error(exc, root) from None
    except BaseException as exc:  # anything the user's module does at import is theirs
        if isinstance(exc, KeyboardInterrupt):
            raise
        missing = missing_target_module(exc, target) if kind == "module" else None
        if missing:
            raise ModelLoadError(
                f"{wording.what} {ref!r}: no module named {missing!r} (a dotted "
                f"module is "
                "imported from the repository root or the installed packages; for "
                "a file, write its path: 'path/to/file.py:function')",
                config_file,
                line,
                kind="config",
            ) from None
        raise user_code_error(
            exc, root, wording.importing.format(**words), fallback=(config_file, line)
        ) from None
    if owner and wording.members:
        return member(module, owner, attribute, words, wording, config_file, line)
    fn = getattr(module, function, None)
    if fn is not None and wording.members and _holds_layers(fn):
        return ScriptLayer(fn)
    if fn is not None and not callable(fn) and wording.not_callable:
        raise ModelLoadError(wording.not_callable.format(**words), config_file, line, kind="config")
    if not callable(fn):
        raise _not_found(module, function, target, root, wording, words, config_file, line)
    return fn


def _not_found(
    module: ModuleType,
    function: str,
    target: str,
    root: str,
    wording: Wording,
    words: dict[str, str],
    config_file: str,
    line: int | None,
) -> ModelLoadError:
    """The error for a name the module does not define (or defines only where an import does not
    run)."""
    module_file = getattr(module, "__file__", None)
    # a module outside the repository (an installed package) by its dotted name, not by a path
    # that climbs out of the repository
    inside = module_file is not None and is_inside(module_file, root)
    where = (
        relative(module_file, root)
        if module_file is not None and inside and not is_library(module_file)
        else target
    )
    guard_line = (
        assigned_under_main_guard(module_file, function)
        if module_file and wording.members
        else None
    )
    if guard_line:
        return ModelLoadError(
            f"{where} assigns {function} only under `if __name__ == '__main__':` "
            f"(line {guard_line}), which does not run when gradcheck-ci imports "
            f"it: build the network "
            "above that `if` (at module level), or in a function that returns it, "
            "and name that as the factory",
            where,
            guard_line,
            kind="load",
        )
    public = [
        name for name, value in vars(module).items() if callable(value) and not name.startswith("_")
    ]
    return ModelLoadError(
        with_hint(wording.no_function.format(where=where, **words), did_you_mean(function, public)),
        config_file,
        line,
        kind="config",
    )


def member(
    module: ModuleType,
    owner: str,
    attribute: str,
    words: dict[str, str],
    wording: Wording,
    config_file: str,
    line: int | None,
) -> Member:
    """'Class.attribute': the class of the module and the attribute's name (checked to exist on the
    class or to be assigned to self in its code; an attribute set in __init__ exists only on
    instances)."""
    cls = getattr(module, owner, None)
    if not isinstance(cls, type):
        public = [
            name
            for name, value in vars(module).items()
            if isinstance(value, type) and not name.startswith("_")
        ]
        raise ModelLoadError(
            with_hint(
                f"{wording.what} {words['ref']!r}: the module has no class {owner!r}",
                did_you_mean(owner, public),
            ),
            config_file,
            line,
            kind="config",
        )
    if not hasattr(cls, attribute) and not _assigns_to_self(cls, attribute):
        known = [n for n in dir(cls) if not n.startswith("_")]
        raise ModelLoadError(
            with_hint(
                f"{wording.what} {words['ref']!r}: class {owner} has no "
                f"method or attribute {attribute!r}",
                did_you_mean(attribute, known),
            ),
            config_file,
            line,
            kind="config",
        )
    return Member(cls, attribute)


@dataclass(frozen=True)
class Member:
    """A method or attribute of a repository class named as the factory (`model.py:Model.build`)."""

    cls: type
    name: str


def _assigns_to_self(cls: type, attribute: str) -> bool:
    """Whether the class's code, or a base class's (`class Child(Base)`, whose __init__ sets it),
    sets self.<attribute>."""
    import inspect

    for klass in cls.__mro__:
        if klass is object:
            continue
        try:
            source = inspect.getsource(klass)
        except (TypeError, OSError, SyntaxError):
            continue
        if f"self.{attribute}" in source:
            return True
    return False


@dataclass(frozen=True)
class ScriptLayer:
    """A Lasagne layer that a script's module builds when it is imported, named as the factory, or
    a list, tuple or dict of layers (`layers = [InputLayer(...)]`, then `layers.append(...)`): the
    output is chosen among them as among a factory's returned layers."""

    network: Any


def _is_layer(value: Any) -> bool:
    """A Lasagne layer (by its classes' names: this layer does not import Lasagne)."""
    return any(
        c.__name__ == "Layer" and c.__module__.startswith("lasagne.") for c in type(value).__mro__
    )


def _holds_layers(value: Any) -> bool:
    """A layer, or a list, tuple or dict with a layer among its items."""
    if isinstance(value, dict):
        value = list(value.values())
    if isinstance(value, (list, tuple)):
        return any(_is_layer(item) for item in value)
    return _is_layer(value)


def _import_file(
    path: str,
    root: str,
    wording: Wording,
    words: dict[str, str],
    config_file: str,
    line: int | None,
    until: str | None = None,
) -> ModuleType:
    """Execute a repository file as a module, registered in sys.modules (pickle, dataclasses and
    typing look modules up there) and with its folder on sys.path (for imports of its sibling
    files). A Python 2 file is translated on the way; `until`: see loader.RepositoryLoader."""
    if not is_inside(path, root):  # a symlink (file or folder) that leads out of the repository
        raise ModelLoadError(
            f"{wording.what} {words['ref']!r} leads outside the repository "
            f"(through a symlink); "
            "gradcheck-ci only imports code from the repository",
            config_file,
            line,
            kind="config",
        )
    stem = os.path.splitext(os.path.basename(path))[0]
    package = _relative_importing_package(path, root)
    # a package's file that imports its siblings relatively (`from . import layers`) is imported as
    # that package's module, as `python -m` would, so that its relative imports resolve
    module_name = f"{package}.{stem}" if package else wording.module_prefix + stem
    sys.path.insert(0, os.path.dirname(path))
    if package:
        importlib.import_module(package)  # its parents' __init__ first, as Python imports them
        if module_name in sys.modules:  # a parent's __init__ imported it
            return sys.modules[module_name]
    module_spec = importlib.util.spec_from_file_location(
        module_name, path, loader=RepositoryLoader(module_name, path, until)
    )
    if module_spec is None or module_spec.loader is None:
        raise ModelLoadError(
            wording.cannot_import.format(path=relative(path, root), **words),
            config_file,
            line,
            kind=wording.cannot_import_kind,
        )
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    module_spec.loader.exec_module(module)
    # cut at `until`, which holds a function after all (`small = partial(build, hidden=2)`), not
    # a script's network: the rest of the module runs (what it defines below may be needed)
    value = getattr(module, until, None) if until is not None else None
    if callable(value) and not _holds_layers(value):
        run_rest(path, module)
    return module


_RELATIVE_IMPORT = re.compile(r"^[ \t]*from[ \t]+\.", re.MULTILINE)


def _relative_importing_package(path: str, root: str) -> str | None:
    """The dotted package a repository file belongs to (its folders up to the root, each with an
    __init__.py), when the file imports relatively; else None."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            if not _RELATIVE_IMPORT.search(handle.read()):
                return None
    except OSError:
        return None
    parts: list[str] = []
    folder = os.path.dirname(os.path.realpath(path))
    while (
        folder != root
        and is_inside(folder, root)
        and os.path.isfile(os.path.join(folder, "__init__.py"))
    ):
        parts.insert(0, os.path.basename(folder))
        folder = os.path.dirname(folder)
    if folder != root or not parts or not all(p.isidentifier() for p in parts):
        return None
    return ".".join(parts)


def missing_target_module(exc: BaseException, target: str) -> str | None:
    """The name of the module when `target` itself (or a parent package) does not exist, else None.

    A ModuleNotFoundError raised by an import inside the user's module is the user's error, not the
    config's.
    """
    if not isinstance(exc, ModuleNotFoundError) or not exc.name:
        return None
    parts = target.split(".")
    prefixes = {".".join(parts[:i]) for i in range(1, len(parts) + 1)}
    return target if exc.name in prefixes else None


def imported_files(root: str) -> dict[str, str]:
    """The repository's files among the modules imported so far (the factory's module, what it
    imported from the repository, a custom loss's module), relative to `root`, each with the sha256
    of its content.

    `check --changed-since` re-checks a model when one of these changes; files the model reads as
    data (weights, vocabularies) are not modules and are not in the list.
    """
    root = os.path.realpath(root)
    found: dict[str, str] = {}
    for _, path in repository_modules(root):
        if not path.endswith(".py"):
            continue
        name = relative(path, root)
        if name in found:
            continue
        try:
            with open(path, "rb") as handle:
                found[name] = hashlib.sha256(handle.read()).hexdigest()
        except OSError:
            continue
    return dict(sorted(found.items()))
