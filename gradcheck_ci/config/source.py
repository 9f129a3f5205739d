"""From a file path to the YAML node tree: read the bytes, decode them, compose the document.

Everything that goes wrong here is fatal (`ConfigError`): there is no tree to read problems from.
The tree is composed, not constructed, so every value keeps its line and column.
"""

from __future__ import annotations

import codecs
import os
import re
import stat

import yaml
from yaml.nodes import Node

from .spec import ConfigError


def read_text(path: str) -> str:
    """The file's text, UTF-8 (a BOM is dropped); ConfigError when it cannot be read or decoded."""
    try:
        data = _read_regular_file(path)
    except FileNotFoundError:
        raise ConfigError("file not found", path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a file", path) from None
    except OSError as e:
        raise ConfigError(f"cannot read file: {e.strerror or e}", path) from None
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ConfigError("file is UTF-16; save it as UTF-8", path, 1, 1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line_start = data.rfind(b"\n", 0, e.start) + 1
        line = data.count(b"\n", 0, e.start) + 1
        column = len(data[line_start : e.start].decode("utf-8", "replace")) + 1
        raise ConfigError(
            f"file is not valid UTF-8 (byte 0x{data[e.start]:02x}); save it as UTF-8",
            path,
            line,
            column,
        ) from None
    return text.removeprefix("\ufeff")


def _read_regular_file(path: str) -> bytes:
    """The bytes of a regular file. A FIFO or a device (/dev/zero) would block or never end:
    ConfigError.

    Opened without blocking and checked on the open file, so a path swapped after a check cannot
    slip through.
    """
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise IsADirectoryError(path)
        if not stat.S_ISREG(mode):
            raise ConfigError(
                "is not a regular file (a pipe, a device or a socket); give the path of a file",
                path,
            )
        return f.read()


def _yaml12_floats(loader: type[yaml.resolver.BaseResolver]) -> None:
    # PyYAML follows YAML 1.1, where `1e-4` (no dot) is a string: a trap for rtol and for kwargs
    # such as learning rates. Read it as a float, as YAML 1.2 does. Quoted "1e-4" stays a string.
    loader.add_implicit_resolver(
        "tag:yaml.org,2002:float",
        re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
        list("-+0123456789."),
    )


class _PyLoader(yaml.SafeLoader):
    pass


_yaml12_floats(_PyLoader)
_LOADERS: tuple[type[yaml.SafeLoader] | type[yaml.CSafeLoader], ...] = (_PyLoader,)
if getattr(yaml, "CSafeLoader", None) is not None:

    class _CLoader(yaml.CSafeLoader):  # libyaml: ~10x faster, which matters for big files
        pass

    _yaml12_floats(_CLoader)
    _LOADERS = (_CLoader, _PyLoader)


def compose(text: str, path: str) -> Node:
    """The document's root node; ConfigError for syntax errors or an empty document.

    The fast libyaml parser goes first; when it fails, the pure-Python parser reparses, because its
    error messages are clearer (it names the offending character).
    """
    error: BaseException | None = None
    for loader in _LOADERS:
        try:
            node = yaml.compose(text, Loader=loader)
        except yaml.YAMLError as e:
            error = e
            continue
        except RecursionError:  # the Python composer recurses per nesting level
            continue
        except Exception as e:  # noqa: BLE001 - PyYAML bugs must not escape as tracebacks
            raise ConfigError(f"cannot parse YAML: {e}", path) from None
        if node is None:
            raise ConfigError("file has no content; it should start with 'version: 1'", path)
        return node
    if error is None:
        raise ConfigError("YAML is nested too deeply", path)
    raise _syntax_error(error, path, text) from None


def _syntax_error(error: BaseException, path: str, text: str) -> ConfigError:
    if isinstance(error, yaml.reader.ReaderError):
        position = max(0, min(error.position, len(text)))
        line = text.count("\n", 0, position) + 1
        column = position - (text.rfind("\n", 0, position) + 1) + 1
        character = error.character if isinstance(error.character, int) else ord(error.character)
        return ConfigError(
            f"YAML syntax error: unacceptable character #x{character:04x}: {error.reason}",
            path,
            line,
            column,
        )
    mark = getattr(error, "problem_mark", None) or getattr(error, "context_mark", None)
    problem = getattr(error, "problem", None) or getattr(error, "context", None) or str(error)
    message = f"YAML syntax error: {problem}"
    context, context_mark = getattr(error, "context", None), getattr(error, "context_mark", None)
    if context and problem.startswith("but "):  # "expected a single document..., but found another"
        message = f"YAML syntax error: {context}, {problem}"
    elif context and problem != context:
        if context_mark is not None and mark is not None and context_mark.line != mark.line:
            message += f" ({context} on line {context_mark.line + 1})"
        else:
            message += f" ({context})"
    if "'\\t'" in problem:
        message += "; YAML indentation must use spaces, not tabs"
    if mark is None:
        return ConfigError(message, path)
    return ConfigError(message, path, mark.line + 1, mark.column + 1)
