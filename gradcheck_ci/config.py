"""Load and validate gradcheck.yml (format version 1; reference: docs/config.md).

The loader reads YAML as a node tree (`yaml.compose`), not as plain Python data, so every value keeps
its line and column: problems point at the exact spot, and the engine can point a finding at, say, the
`gradient_steps:` line of a model's kwargs.

Two kinds of failure:
- `ConfigError` (raised): nothing usable can be read — a missing or unreadable file, bad bytes, a YAML
  syntax error, no `version: 1`, no `models` list.
- `ConfigProblem` (collected in `Config.problems`): everything else. A model entry with a problem is
  left out of `Config.models`; the other models still run. A problem in `defaults` is file-level and
  the built-in default is used for that key.

This module must stay importable without Theano, Lasagne or numpy: `gradcheck-ci validate` uses it alone.
"""
from __future__ import annotations

import codecs
import copy
import difflib
import keyword
import math
import os
import posixpath
import re
from dataclasses import asdict, dataclass, field
from typing import Any, Callable

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

CONFIG_VERSION = 1
BUILTIN_LOSSES = ("categorical_crossentropy", "binary_crossentropy", "squared_error")
PRECISIONS = ("float64", "float32")
MODES = ("auto", "full", "directional")
EXPECTS = ("pass", "fail")
MASKS = ("full", "random")
DEFAULT_TIMEOUT = 600.0
DEFAULT_MEMORY = 8192
MIN_MEMORY = 256
MAX_NAME_LENGTH = 100

TOP_KEYS = ("version", "defaults", "models")
MODEL_KEYS = ("name", "factory", "kwargs", "data", "loss", "params", "precision", "seed", "mode",
              "rtol", "atol", "directions", "timeout", "memory", "expect")
DEFAULTS_KEYS = tuple(k for k in MODEL_KEYS if k not in ("name", "factory"))
DATA_KEYS = ("sequences", "steps", "features", "classes", "mask")

_NAME_RE = re.compile(r"[A-Za-z0-9._-]+\Z")
_TAG = "tag:yaml.org,2002:"
_SCALAR_TAGS = {_TAG + t for t in ("str", "int", "float", "bool", "null")}
# Kwargs values must survive ModelSpec.to_json, so no sets, dates or bytes; and bound the work an
# alias bomb ("billion laughs") can cause.
_MAX_KWARGS_VALUES = 100_000
_MAX_DEPTH = 64


# --------------------------------------------------------------------------------------------- data


@dataclass
class DataSpec:
    """Shape of the synthetic data a model is checked on."""

    sequences: int = 10
    steps: int = 100
    features: int = 2
    classes: int = 2
    mask: str = "full"  # full | random


@dataclass
class ModelSpec:
    """One validated model entry, with defaults applied."""

    name: str
    factory: str  # as written: "path/to/file.py:function" or "package.module:function"
    kwargs: dict[str, Any] = field(default_factory=dict)
    data: DataSpec = field(default_factory=DataSpec)
    loss: str | None = None  # None: chosen later from the output nonlinearity
    params: list[str] = field(default_factory=lambda: ["*"])
    precision: str = "float64"
    seed: int = 0
    mode: str = "auto"
    rtol: float | None = None  # None: the engine's default
    atol: float | None = None
    directions: int = 1
    timeout: float = DEFAULT_TIMEOUT  # seconds
    memory: int = DEFAULT_MEMORY  # MiB
    expect: str = "pass"
    line: int = 0  # 1-based line of the entry in gradcheck.yml (0: not read from a file)
    # Line of every key given for this model, dotted ("data.steps", "kwargs.gradient_steps");
    # keys inherited from `defaults` map to their line there.
    key_lines: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "ModelSpec":
        d = copy.deepcopy(dict(d))
        data = d.get("data") or {}
        d["data"] = data if isinstance(data, DataSpec) else DataSpec(**data)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class ConfigProblem:
    message: str
    line: int | None
    column: int | None = None
    model: str | None = None  # set when the problem belongs to one model entry with a usable name


@dataclass
class Config:
    path: str  # as given
    root: str  # absolute repository root
    version: int
    models: list[ModelSpec]
    problems: list[ConfigProblem]

    def rel_path(self) -> str:
        """The config path relative to the repository root, '/' separators."""
        absolute = os.path.abspath(self.path)
        try:
            rel = os.path.relpath(absolute, self.root)
        except ValueError:  # another drive on Windows
            rel = absolute
        return rel.replace(os.sep, "/")


class ConfigError(Exception):
    """Nothing usable could be read from the config file."""

    def __init__(self, message: str, file: str, line: int | None = None, column: int | None = None):
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.column = column

    def __str__(self) -> str:
        return _located(self.file, self.line, self.column, self.message)


def format_problem(path: str, p: ConfigProblem) -> str:
    """'gradcheck.yml:12:5: message' (the parts that are known)."""
    return _located(path, p.line, p.column, p.message)


def _located(file: str, line: int | None, column: int | None, message: str) -> str:
    where = file
    if line is not None:
        where += f":{line}"
        if column is not None:
            where += f":{column}"
    return f"{where}: {message}"


# ------------------------------------------------------------------------------ factory references


def resolve_reference(ref: str, root: str) -> tuple[str, str, str]:
    """Split a validated 'target:function' into (kind, target, function).

    kind is "file" (target: absolute, normalised path under root) or "module" (target: dotted name).
    """
    target, _, function = ref.rpartition(":")
    if _is_path(target):
        path = os.path.normpath(os.path.join(os.path.abspath(root), *target.split("/")))
        return "file", path, function
    return "module", target, function


def resolve_factory(spec: ModelSpec, root: str) -> tuple[str, str, str]:
    """(kind, target, function) of the model's factory: see resolve_reference."""
    return resolve_reference(spec.factory, root)


def _is_path(target: str) -> bool:
    return target.endswith(".py") or "/" in target or "\\" in target


# ------------------------------------------------------------------------------------ reading YAML


def load_config(path: str, root: str | None = None) -> Config:
    """Read and validate gradcheck.yml. Raises ConfigError only when nothing usable can be read."""
    text = _read_text(path)
    node = _compose(text, path)
    root_dir = os.path.abspath(root) if root is not None else os.path.dirname(os.path.abspath(path))
    return _Reader(path, root_dir).read(node)


def _read_text(path: str) -> str:
    try:
        with open(path, "rb") as f:
            data = f.read()
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
        column = len(data[line_start:e.start].decode("utf-8", "replace")) + 1
        raise ConfigError(f"file is not valid UTF-8 (byte 0x{data[e.start]:02x}); save it as UTF-8",
                          path, line, column) from None
    return text.removeprefix("\ufeff")


def _yaml12_floats(loader: type) -> type:
    # PyYAML follows YAML 1.1, where `1e-4` (no dot) is a string: a trap for rtol and for kwargs such
    # as learning rates. Read it as a float, as YAML 1.2 does. Quoted "1e-4" stays a string.
    loader.add_implicit_resolver(
        _TAG + "float", re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9][0-9_]*)[eE][-+]?[0-9]+$"),
        list("-+0123456789."))
    return loader


class _PyLoader(yaml.SafeLoader):
    pass


_yaml12_floats(_PyLoader)
if getattr(yaml, "CSafeLoader", None) is not None:
    class _CLoader(yaml.CSafeLoader):  # libyaml: ~10x faster, which matters for big files
        pass
    _yaml12_floats(_CLoader)
    _LOADERS: tuple[type, ...] = (_CLoader, _PyLoader)
else:
    _LOADERS = (_PyLoader,)


def _compose(text: str, path: str) -> Node:
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
        except Exception as e:  # PyYAML bugs must not escape as tracebacks
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
        return ConfigError(f"YAML syntax error: unacceptable character #x{character:04x}: {error.reason}",
                           path, line, column)
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


# ------------------------------------------------------------------------------------- validation


class _Bad(Exception):
    """One invalid value: the message and the node it is about."""

    def __init__(self, message: str, node: Node):
        super().__init__(message)
        self.message = message
        self.node = node


_COLLECTION = object()  # what _scalar returns for a mapping or a list


def _line(node: Node) -> int:
    return node.start_mark.line + 1


def _show(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit - 4] + "...'"


def _did_you_mean(word: str, options: tuple[str, ...] | list[str]) -> str | None:
    if len(word) > 100:
        return None
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def _with_hint(message: str, hint: str | None) -> str:
    return f"{message} ({hint})" if hint else message


class _Reader:
    """Walks the node tree once; `problems` is the list the current scope reports into."""

    def __init__(self, path: str, root: str):
        self.path = path
        self.root = root
        self.constructor = yaml.constructor.SafeConstructor()
        self.problems: list[ConfigProblem] = []
        self._items_cache: dict[int, tuple[dict[str, tuple[Node, Node]], list[ConfigProblem]]] = {}
        self._readers: dict[str, Callable[[Node, str], Any]] = {
            "name": self._name,
            "factory": self._reference,
            "loss": self._loss,
            "params": self._params,
            "precision": lambda n, k: self._choice(n, k, PRECISIONS),
            "mode": lambda n, k: self._choice(n, k, MODES),
            "expect": lambda n, k: self._choice(n, k, EXPECTS),
            "seed": lambda n, k: self._int(n, k, 0),
            "directions": lambda n, k: self._int(n, k, 1),
            "memory": lambda n, k: self._int(n, k, MIN_MEMORY),
            "rtol": lambda n, k: self._optional(n, k, lambda: self._number(n, k, above_zero=True)),
            "atol": lambda n, k: self._optional(n, k, lambda: self._number(n, k, above_zero=False)),
            "timeout": lambda n, k: self._number(n, k, above_zero=True),
            "sequences": lambda n, k: self._int(n, k, 1),
            "steps": lambda n, k: self._int(n, k, 1),
            "features": lambda n, k: self._int(n, k, 1),
            "classes": lambda n, k: self._int(n, k, 2),
            "mask": lambda n, k: self._choice(n, k, MASKS),
        }

    def problem(self, message: str, node: Node) -> None:
        mark = node.start_mark
        self.problems.append(ConfigProblem(message, mark.line + 1, mark.column + 1))

    def fail(self, message: str, node: Node | None) -> ConfigError:
        if node is None:
            return ConfigError(message, self.path)
        return ConfigError(message, self.path, _line(node), node.start_mark.column + 1)

    # ----------------------------------------------------------------------------------- top level

    def read(self, top: Node) -> Config:
        if not isinstance(top, MappingNode):
            raise self.fail(f"the file must be a mapping with 'version' and 'models', got {self._given(top, '')}",
                            top)
        file_problems = self.problems
        items = self._items(top, "the top level")
        self._version(items, top)
        entries = self._models_list(items, top)
        for key, (key_node, _) in items.items():
            if key not in TOP_KEYS and not key.startswith("x-"):  # x-*: room for YAML anchors
                hint = ("model settings go under 'defaults' or in an entry of 'models'"
                        if key in MODEL_KEYS else _did_you_mean(key, TOP_KEYS))
                self.problem(_with_hint(f"unknown key {_show(key)} at the top level", hint), key_node)
        defaults = self._defaults(items.get("defaults"))
        models = self._models(entries, defaults)
        file_problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        return Config(self.path, self.root, CONFIG_VERSION, models, file_problems)

    def _version(self, items: dict[str, tuple[Node, Node]], top: Node) -> None:
        if "version" not in items:
            raise self.fail("missing 'version: 1' (the format version) at the top level", top)
        node = items["version"][1]
        value = self._scalar(node, "version", quiet=True)
        if value == CONFIG_VERSION and type(value) is int:
            return
        if isinstance(value, str) and value.strip() == str(CONFIG_VERSION):
            raise self.fail(f"version must be the number 1, not the string {_show(value)}: write version: 1",
                            node)
        if isinstance(value, int) and not isinstance(value, bool):
            raise self.fail(f"unsupported version {value}: this gradcheck-ci reads version 1", node)
        raise self.fail(f"version must be 1, got {self._given(node, 'version')}", node)

    def _models_list(self, items: dict[str, tuple[Node, Node]], top: Node) -> list[Node]:
        if "models" not in items:
            raise self.fail("missing 'models': a list of the models to check", top)
        node = items["models"][1]
        if isinstance(node, ScalarNode) and self._scalar(node, "models", quiet=True) is None:
            raise self.fail("models is empty; list at least one model (name and factory)", node)
        if not isinstance(node, SequenceNode):
            raise self.fail(f"models must be a list of model entries, got {self._given(node, 'models')}", node)
        if not node.value:
            raise self.fail("models is empty; list at least one model (name and factory)", node)
        self._check_tag(node, "models", _TAG + "seq")
        return list(node.value)

    # ------------------------------------------------------------------------------------ defaults

    def _defaults(self, pair: tuple[Node, Node] | None) -> dict[str, tuple[Any, int]]:
        """Valid defaults as dotted key -> (value, line); bad ones are reported and dropped."""
        if pair is None:
            return {}
        node = pair[1]
        if isinstance(node, ScalarNode) and self._scalar(node, "defaults", quiet=True) is None:
            return {}  # `defaults:` with everything commented out
        if not isinstance(node, MappingNode):
            self.problem(f"defaults must be a mapping, got {self._given(node, 'defaults')}", node)
            return {}
        items = self._items(node, "defaults")
        for key, (key_node, _) in items.items():
            if key in ("name", "factory"):
                self.problem(f"{key} cannot be set in defaults; give it in each model entry", key_node)
            elif key not in DEFAULTS_KEYS:
                self.problem(self._unknown(key, DEFAULTS_KEYS, "defaults"), key_node)
        return self._fields(items, DEFAULTS_KEYS, "defaults.")

    # -------------------------------------------------------------------------------------- models

    def _models(self, entries: list[Node], defaults: dict[str, tuple[Any, int]]) -> list[ModelSpec]:
        file_problems = self.problems
        first_line: dict[str, int] = {}  # model name -> line of the entry that used it first
        models = []
        for node in entries:
            self.problems = []
            spec, name = self._model(node, defaults)
            if name is not None and name in first_line:
                self.problem(f"duplicate model name {_show(name)} (first used on line {first_line[name]})", node)
                name = None  # the problem must not be pinned on the first entry's model
            elif name is not None:
                first_line[name] = _line(node)
            for p in self.problems:
                p.model = name
            file_problems.extend(self.problems)
            if spec is not None and not self.problems:
                models.append(spec)
        self.problems = file_problems
        return models

    def _model(self, node: Node, defaults: dict[str, tuple[Any, int]]) -> tuple[ModelSpec | None, str | None]:
        """The entry's spec (None when it is unusable) and its name (None when not valid)."""
        if not isinstance(node, MappingNode):
            self.problem("a model entry must be a mapping with at least 'name' and 'factory', got "
                         f"{self._given(node, 'model')}", node)
            return None, None
        items = self._items(node, "the model entry")
        given = self._fields(items, MODEL_KEYS, "")
        name = given["name"][0] if "name" in given else None
        label = f"model {name!r}" if name else "this model entry"
        for key, (key_node, _) in items.items():
            if key not in MODEL_KEYS:
                hint = ("it belongs under 'data'" if key in DATA_KEYS
                        else _did_you_mean(key, MODEL_KEYS))
                self.problem(_with_hint(f"unknown key {_show(key)} in {label}", hint), key_node)
        for key in ("name", "factory"):
            if key not in items:
                self.problem(f"{label} is missing required key {key!r}", node)
        if "name" not in given or "factory" not in given:
            return None, name
        return self._spec({**defaults, **given}, _line(node)), name

    @staticmethod
    def _spec(given: dict[str, tuple[Any, int]], line: int) -> ModelSpec:
        """Build a ModelSpec from dotted key -> (value, line), defaults already merged under."""
        def sub(prefix: str) -> dict[str, Any]:
            return {k[len(prefix):]: v for k, (v, _) in given.items() if k.startswith(prefix)}
        plain = {k: v for k, (v, _) in given.items() if "." not in k and k not in ("kwargs", "data")}
        if "timeout" in plain:
            plain["timeout"] = float(plain["timeout"])
        return ModelSpec(kwargs=sub("kwargs."), data=DataSpec(**sub("data.")), line=line,
                         key_lines={k: key_line for k, (_, key_line) in given.items()}, **plain)

    # ------------------------------------------------------------------------- keys of one mapping

    def _fields(self, items: dict[str, tuple[Node, Node]], allowed: tuple[str, ...],
                prefix: str) -> dict[str, tuple[Any, int]]:
        """Read the known keys of a model entry or of defaults: dotted key -> (value, line)."""
        given: dict[str, tuple[Any, int]] = {}
        for key, (key_node, node) in items.items():
            if key not in allowed:
                continue
            if key == "kwargs":
                given.update(self._kwargs(key_node, node, prefix + key))
            elif key == "data":
                given.update(self._data(key_node, node, prefix + key))
            else:
                try:
                    given[key] = (self._readers[key](node, prefix + key), _line(key_node))
                except _Bad as bad:
                    self.problem(bad.message, bad.node)
        return given

    def _kwargs(self, key_node: Node, node: Node, where: str) -> dict[str, tuple[Any, int]]:
        given = {"kwargs": (None, _line(key_node))}
        if isinstance(node, ScalarNode) and self._scalar(node, where, quiet=True) is None:
            return given
        if not isinstance(node, MappingNode):
            self.problem(f"{where} must be a mapping of keyword arguments, got {self._given(node, where)}", node)
            return {}
        try:
            budget = _Budget(_MAX_KWARGS_VALUES)
            for name, (name_node, value_node) in self._items(node, where).items():
                self._string_key(name_node, where)
                budget.where, budget.node = f"{where}.{name}", value_node
                given["kwargs." + name] = (self._plain(value_node, budget.where, [], budget), _line(name_node))
        except _Bad as bad:
            self.problem(bad.message, bad.node)
            return {}
        return given

    def _data(self, key_node: Node, node: Node, where: str) -> dict[str, tuple[Any, int]]:
        given = {"data": (None, _line(key_node))}
        if isinstance(node, ScalarNode) and self._scalar(node, where, quiet=True) is None:
            return given
        if not isinstance(node, MappingNode):
            self.problem(f"{where} must be a mapping ({', '.join(DATA_KEYS)}), got {self._given(node, where)}",
                         node)
            return {}
        for key, (sub_key, sub_node) in self._items(node, where).items():
            if key not in DATA_KEYS:
                self.problem(self._unknown(key, DATA_KEYS, where), sub_key)
                continue
            try:
                given["data." + key] = (self._readers[key](sub_node, f"{where}.{key}"), _line(sub_key))
            except _Bad as bad:
                self.problem(bad.message, bad.node)
        return given

    def _items(self, node: MappingNode, where: str, seen: set[int] | None = None) -> dict[str, tuple[Node, Node]]:
        """key -> (key node, value node) in file order; duplicates reported, '<<' merges applied.

        Memoised per node, its problems replayed on reuse: a mapping reached through many aliases or
        merges (even an alias bomb) is walked once, and every model that uses it still sees its problems.
        """
        if id(node) in self._items_cache:
            items, problems = self._items_cache[id(node)]
            self.problems.extend(copy.copy(p) for p in problems if p not in self.problems)
            return items
        start = len(self.problems)
        items = self._walk_items(node, where, seen)
        self._items_cache[id(node)] = (items, [copy.copy(p) for p in self.problems[start:]])
        return items

    def _walk_items(self, node: MappingNode, where: str, seen: set[int] | None) -> dict[str, tuple[Node, Node]]:
        self._check_tag(node, where, _TAG + "map")
        seen = (seen or set()) | {id(node)}
        own: dict[str, tuple[Node, Node]] = {}
        merged: dict[str, tuple[Node, Node]] = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == _TAG + "merge":
                for source in self._merge_sources(value_node, where, seen):
                    for key, pair in self._items(source, where, seen | {id(source)}).items():
                        merged.setdefault(key, pair)  # earlier merge sources win
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(f"keys in {where} must be plain names, got {self._given(key_node, where)}", key_node)
                continue
            key = key_node.value
            if key in own:
                self.problem(f"duplicate key {_show(key)} in {where} (first on line {_line(own[key][0])})",
                             key_node)
                continue
            own[key] = (key_node, value_node)
        return {**merged, **own}  # explicit keys override merged ones, as in YAML

    def _merge_sources(self, node: Node, where: str, seen: set[int]) -> list[MappingNode]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        good = [s for s in sources if isinstance(s, MappingNode) and id(s) not in seen]
        if len(good) != len(sources):
            self.problem(f"'<<' in {where} must be followed by an alias of another mapping (or a list of them)",
                         node)
        return good

    def _check_tag(self, node: Node, where: str, expected: str) -> None:
        if node.tag != expected:
            self.problem(f"unsupported YAML tag {_show(node.tag)} in {where}", node)

    def _unknown(self, key: str, options: tuple[str, ...], where: str) -> str:
        return _with_hint(f"unknown key {_show(key)} in {where}", _did_you_mean(key, options))

    # ------------------------------------------------------------------------------------- scalars

    def _scalar(self, node: Node, key: str, quiet: bool = False) -> Any:
        """A scalar's Python value (_COLLECTION for mappings and lists); _Bad for tags that don't fit.

        quiet: return the raw text instead of raising (for messages and yes/no checks).
        """
        if not isinstance(node, ScalarNode):
            return _COLLECTION
        try:
            if node.tag not in _SCALAR_TAGS:
                if node.tag == _TAG + "timestamp":
                    raise _Bad(f"{key}: {_show(node.value)} reads as a date; quote it to make it a string", node)
                raise _Bad(f"{key}: unsupported YAML tag {_show(node.tag)}", node)
            try:
                return self.constructor.construct_object(node, deep=True)
            except Exception as e:  # e.g. `0x_` matches the int pattern but int() rejects it
                raise _Bad(f"{key}: cannot read {_show(node.value)}: {e}", node) from None
        except _Bad:
            if quiet:
                return node.value
            raise

    def _given(self, node: Node, key: str) -> str:
        """What the user wrote, for 'expected X, got Y' messages."""
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        value = self._scalar(node, key, quiet=True)
        text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
        if value is None:
            return "an empty value"
        if isinstance(value, bool):
            return f"{text} (a boolean)"
        if isinstance(value, (int, float)):
            return f"{text} (a number)"
        return f"the string {_show(value)}"

    def _wrong(self, node: Node, key: str, expected: str) -> _Bad:
        value = self._scalar(node, key, quiet=True)
        hint = ""
        if isinstance(value, str) and node.style in ("'", '"') and _looks_numeric(value):
            hint = " (write it without quotes)"
        elif "string" in expected and isinstance(value, (bool, int, float)):
            hint = " (quote it to make it a string)"
        return _Bad(f"{key} must be {expected}, got {self._given(node, key)}{hint}", node)

    def _optional(self, node: Node, key: str, read: Callable[[], Any]) -> Any:
        if isinstance(node, ScalarNode) and self._scalar(node, key, quiet=True) is None:
            return None
        return read()

    def _int(self, node: Node, key: str, minimum: int) -> int:
        value = self._scalar(node, key)
        if type(value) is int and value >= minimum:  # type(): booleans are not ints here
            return value
        raise self._wrong(node, key, f"an integer >= {minimum}")

    def _number(self, node: Node, key: str, above_zero: bool) -> float:
        value = self._scalar(node, key)
        expected = "a number > 0" if above_zero else "a number >= 0"
        if type(value) in (int, float):  # type(): booleans are not numbers here
            try:
                number = float(value)
            except OverflowError:  # an integer with hundreds of digits
                number = math.inf
            if not math.isfinite(number):
                expected = "a finite " + expected[2:]
            elif number > 0 or (number == 0 and not above_zero):
                return number
        raise self._wrong(node, key, expected)

    def _string(self, node: Node, key: str, expected: str = "a non-empty string") -> str:
        value = self._scalar(node, key)
        if isinstance(value, str) and value:
            return value
        raise self._wrong(node, key, expected)

    def _choice(self, node: Node, key: str, options: tuple[str, ...]) -> str:
        value = self._scalar(node, key)
        if isinstance(value, str) and value in options:
            return value
        bad = self._wrong(node, key, "one of " + ", ".join(options))
        hint = _did_you_mean(value, options) if isinstance(value, str) else None
        raise _Bad(_with_hint(bad.message, hint), node)

    # ------------------------------------------------------------------------------- typed values

    def _name(self, node: Node, key: str) -> str:
        rule = "letters, digits, '.', '_' and '-' (it names report files and ids)"
        name = self._string(node, key, f"a non-empty string of {rule}")
        if not _NAME_RE.match(name):
            raise _Bad(f"name {_show(name)} is not allowed: use only {rule}", node)
        if set(name) == {"."}:
            raise _Bad(f"name {_show(name)} is not allowed: it must not be only dots", node)
        if len(name) > MAX_NAME_LENGTH:
            raise _Bad(f"name is longer than {MAX_NAME_LENGTH} characters", node)
        return name

    def _reference(self, node: Node, key: str) -> str:
        """'path/to/file.py:function' or 'package.module:function' (factory, or loss with a colon)."""
        text = self._string(node, key, "a string 'path/to/file.py:function' or 'package.module:function'")
        target, colon, function = text.rpartition(":")
        if not colon or not target:
            raise _Bad(f"{key} must look like 'path/to/file.py:function' or 'package.module:function', "
                       f"got {_show(text)}", node)
        if not function.isidentifier() or keyword.iskeyword(function):
            raise _Bad(f"{key}: {_show(function)} after ':' is not a Python function name", node)
        if _is_path(target):
            self._check_file(target, key, node)
        elif not all(part.isidentifier() and not keyword.iskeyword(part) for part in target.split(".")):
            raise _Bad(f"{key}: {_show(target)} is neither a .py file path nor a dotted module name", node)
        return text

    def _check_file(self, target: str, key: str, node: Node) -> None:
        if "\\" in target:
            raise _Bad(f"{key} path {_show(target)} uses '\\'; write paths with '/'", node)
        if target.startswith("/") or re.match(r"[A-Za-z]:", target):
            raise _Bad(f"{key} path {_show(target)} is absolute; write it relative to the repository root",
                       node)
        rel = posixpath.normpath(target)
        if rel == ".." or rel.startswith("../"):
            raise _Bad(f"{key} path escapes the repository root: {_show(target)}", node)
        full = os.path.join(self.root, *rel.split("/"))
        if not rel.endswith(".py"):
            hint = f"did you mean {rel + '.py'!r}?" if os.path.isfile(full + ".py") else None
            raise _Bad(_with_hint(f"{key} path {_show(target)} must name a .py file", hint), node)
        if not os.path.isfile(full):
            raise _Bad(_with_hint(f"{key} file {rel!r} not found in the repository", self._nearby_file(rel)),
                       node)
        real, real_root = os.path.realpath(full), os.path.realpath(self.root)
        if real != real_root and not real.startswith(real_root.rstrip(os.sep) + os.sep):
            raise _Bad(f"{key} path {_show(target)} is a symlink (or lies in a symlinked folder) that leads outside "
                       "the repository root", node)

    def _nearby_file(self, rel: str) -> str | None:
        """A did-you-mean for a mistyped file name, from the .py files next to where it should be."""
        folder, _, name = rel.rpartition("/")
        directory = os.path.join(self.root, *folder.split("/")) if folder else self.root
        try:
            stems = [n[:-3] for n in os.listdir(directory)
                     if n.endswith(".py") and n != name and os.path.isfile(os.path.join(directory, n))]
        except OSError:
            return None
        close = difflib.get_close_matches(name[:-3], stems, n=1, cutoff=0.6)  # stems: '.py' is no likeness
        return f"did you mean {posixpath.join(folder, close[0] + '.py')!r}?" if close else None

    def _loss(self, node: Node, key: str) -> str | None:
        if isinstance(node, ScalarNode) and self._scalar(node, key, quiet=True) is None:
            return None
        expected = "a loss name (" + ", ".join(BUILTIN_LOSSES) + ") or 'module:function'"
        value = self._string(node, key, expected)
        if ":" in value:
            return self._reference(node, key)
        if value not in BUILTIN_LOSSES:
            hint = _did_you_mean(value, BUILTIN_LOSSES) or ("use one of " + ", ".join(BUILTIN_LOSSES)
                                                             + ", or 'path/to/file.py:function'")
            raise _Bad(_with_hint(f"unknown {key} {_show(value)}", hint), node)
        return value

    def _params(self, node: Node, key: str) -> list[str]:
        expected = "a list of parameter ids or globs such as ['*']"
        if isinstance(node, ScalarNode):
            return [self._string(node, key, expected)]  # a single pattern is accepted as is
        if not isinstance(node, SequenceNode):
            raise self._wrong(node, key, expected)
        self._check_tag(node, key, _TAG + "seq")
        if not node.value:
            raise _Bad(f"{key} is empty; use ['*'] to check every parameter", node)
        return [self._string(item, f"{key}[{i}]", "a non-empty string (a parameter id or glob)")
                for i, item in enumerate(node.value)]

    # ------------------------------------------------------------------------------------- kwargs

    def _string_key(self, node: Node, where: str) -> None:
        if node.tag != _TAG + "str":
            raise _Bad(f"keys in {where} must be strings, got {self._given(node, where)} "
                       "(quote it to make it a string)", node)

    def _plain(self, node: Node, where: str, stack: list[int], budget: "_Budget") -> Any:
        """A kwargs value as plain JSON-like data: str, int, float, bool, None, lists, string-keyed dicts."""
        budget.left -= 1
        if budget.left < 0:  # point at the keyword argument, not deep inside the expansion
            raise _Bad(f"{budget.where} is too large (over {_MAX_KWARGS_VALUES} values after expanding aliases)",
                       budget.node)
        if id(node) in stack:
            raise _Bad(f"{where} refers to itself through an alias", node)
        if len(stack) >= _MAX_DEPTH:
            raise _Bad(f"{where} is nested more than {_MAX_DEPTH} levels deep", node)
        if isinstance(node, ScalarNode):
            return self._scalar(node, where)
        inner = stack + [id(node)]
        if isinstance(node, SequenceNode):
            self._check_tag(node, where, _TAG + "seq")
            return [self._plain(item, f"{where}[{i}]", inner, budget) for i, item in enumerate(node.value)]
        result = {}
        for name, (name_node, value_node) in self._items(node, where).items():
            self._string_key(name_node, where)
            result[name] = self._plain(value_node, f"{where}.{name}", inner, budget)
        return result


class _Budget:
    """How many more kwargs values may be read (aliases can multiply them), and where to blame."""

    def __init__(self, left: int):
        self.left = left
        self.where = ""
        self.node: Node | None = None


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
