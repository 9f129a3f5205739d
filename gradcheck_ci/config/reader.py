"""Reading gradcheck.yml's node tree into a Config: the top level, `defaults` and each model entry,
with the key table (keys.py) saying which keys are allowed where and how each is read."""

from __future__ import annotations

import hashlib
import os
from typing import Any

from yaml.nodes import MappingNode, Node, SequenceNode

from ..core.suggest import did_you_mean, with_hint
from .keys import (
    CONFIG_VERSION,
    DEFAULTS_KEYS,
    KEYS,
    MAPPING,
    MODEL,
    MODEL_KEYS,
    NAMED,
    REQUIRED,
    REQUIRED_MODEL_KEYS,
    SECTION,
    SHARED,
    TOP_KEYS,
    VALUE,
    Key,
    keys_in,
    names_in,
)
from .nodes import TAG, Bad, Items, Nodes, line, show
from .source import compose, read_text
from .spec import Config, ConfigError, ConfigProblem, ModelSpec

# dotted key ("seed", "data.steps", "kwargs.lr") -> (value, line of the key)
Given = dict[str, tuple[Any, int]]


def load_config(path: str, root: str | None = None) -> Config:
    """Read and validate gradcheck.yml. Raises ConfigError only when nothing usable can be read."""
    text = read_text(path)
    node = compose(text, path)
    root_dir = os.path.abspath(root) if root is not None else os.path.dirname(os.path.abspath(path))
    config = _Reader(path, root_dir).read(node)
    config.sha256 = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()
    return config


def _unknown(key: str, options: tuple[str, ...], where: str) -> str:
    return with_hint(f"unknown key {show(key)} in {where}", _key_hint(key, options))


def _key_hint(key: str, options: tuple[str, ...]) -> str:
    """The key meant, when one is close; else the keys there are (a user who wrote `height` in
    data learns what data takes without opening the docs)."""
    return did_you_mean(key, options) or f"the keys: {', '.join(options)}"


def _section_holding(key: str) -> str | None:
    """The model section a misplaced key belongs under ('steps' -> 'data'), if any."""
    for section in keys_in(MODEL, SHARED):
        if section.kind == SECTION and key in names_in(section.path):
            return section.name
    return None


class _Reader:
    """Walks the node tree once; problems go to `nodes.problems`, which is swapped per model
    entry."""

    def __init__(self, path: str, root: str):
        self.path = path
        self.root = root
        self.nodes = Nodes(root)

    def fail(self, message: str, node: Node) -> ConfigError:
        return ConfigError(message, self.path, line(node), node.start_mark.column + 1)

    # ----------------------------------------------------------------------------------- top level

    def read(self, top: Node) -> Config:
        if not isinstance(top, MappingNode):
            raise self.fail(
                "the file must be a mapping with 'version' and 'models', "
                f"got {self.nodes.given(top, '')}",
                top,
            )
        file_problems = self.nodes.problems
        items = self.nodes.items(top, "the top level")
        self._version(items, top)
        entries = self._models_list(items, top)
        for key, (key_node, _) in items.items():
            if key not in TOP_KEYS and not key.startswith("x-"):  # x-*: room for YAML anchors
                hint = (
                    "model settings go under 'defaults' or in an entry of 'models'"
                    if key in MODEL_KEYS
                    else _key_hint(key, TOP_KEYS)
                )
                self.nodes.problem(
                    with_hint(f"unknown key {show(key)} at the top level", hint), key_node
                )
        defaults = self._defaults(items.get("defaults"))
        models = self._models(entries, defaults)
        file_problems.sort(key=lambda p: (p.line or 0, p.column or 0))
        return Config(self.path, self.root, CONFIG_VERSION, models, file_problems)

    def _version(self, items: Items, top: Node) -> None:
        if "version" not in items:
            raise self.fail("missing 'version: 1' (the format version) at the top level", top)
        node = items["version"][1]
        value = self.nodes.scalar(node, "version", quiet=True)
        if value == CONFIG_VERSION and type(value) is int:
            return
        if isinstance(value, str) and value.strip() == str(CONFIG_VERSION):
            raise self.fail(
                f"version must be the number 1, not the string {show(value)}: write version: 1",
                node,
            )
        if isinstance(value, int) and not isinstance(value, bool):
            raise self.fail(f"unsupported version {value}: this gradcheck-ci reads version 1", node)
        raise self.fail(f"version must be 1, got {self.nodes.given(node, 'version')}", node)

    def _models_list(self, items: Items, top: Node) -> list[Node]:
        if "models" not in items:
            # a misspelt `models:` (`model:`, `Models:`) holds the list: say so, at its line
            meant = next(
                (k for k in items if did_you_mean(k, ("models",)) or k.lower() == "models"), None
            )
            if meant is not None:
                raise self.fail(
                    f"missing 'models': a list of the models to check (is {show(meant)} meant to "
                    "be 'models'?)",
                    items[meant][0],
                )
            raise self.fail("missing 'models': a list of the models to check", top)
        node = items["models"][1]
        if self.nodes.is_null(node, "models"):
            raise self.fail("models is empty; list at least one model (name and factory)", node)
        if not isinstance(node, SequenceNode):
            raise self.fail(
                f"models must be a list of model entries, got {self.nodes.given(node, 'models')}",
                node,
            )
        if not node.value:
            raise self.fail("models is empty; list at least one model (name and factory)", node)
        self.nodes.check_tag(node, "models", TAG + "seq")
        return list(node.value)

    # ------------------------------------------------------------------------------------ defaults

    def _defaults(self, pair: tuple[Node, Node] | None) -> Given:
        """Valid defaults; bad ones are reported (file-level) and dropped, so the built-in default
        holds."""
        if pair is None:
            return {}
        node = pair[1]
        if self.nodes.is_null(node, "defaults"):
            return {}  # `defaults:` with everything commented out
        if not isinstance(node, MappingNode):
            self.nodes.problem(
                f"defaults must be a mapping, got {self.nodes.given(node, 'defaults')}", node
            )
            return {}
        items = self.nodes.items(node, "defaults")
        for key, (key_node, _) in items.items():
            if key in names_in(MODEL):
                self.nodes.problem(
                    f"{key} cannot be set in defaults; give it in each model entry", key_node
                )
            elif key not in DEFAULTS_KEYS:
                self.nodes.problem(_unknown(key, DEFAULTS_KEYS, "defaults"), key_node)
        return self._fields(items, keys_in(SHARED), "defaults.")

    # -------------------------------------------------------------------------------------- models

    def _models(self, entries: list[Node], defaults: Given) -> list[ModelSpec]:
        file_problems = self.nodes.problems
        first_line: dict[str, int] = {}  # model name -> line of the entry that used it first
        models = []
        for node in entries:
            self.nodes.problems = []
            spec, name = self._model(node, defaults)
            if name is not None and name in first_line:
                self.nodes.problem(
                    f"duplicate model name {show(name)} (first used on line {first_line[name]})",
                    node,
                )
                name = None  # the problem must not be pinned on the first entry's model
            elif name is not None:
                first_line[name] = line(node)
            for p in self.nodes.problems:
                p.model = name
            file_problems.extend(self.nodes.problems)
            if spec is not None and not self.nodes.problems:
                models.append(spec)
        self.nodes.problems = file_problems
        return models

    def _model(self, node: Node, defaults: Given) -> tuple[ModelSpec | None, str | None]:
        """The entry's spec (None when it is unusable) and its name (None when not valid)."""
        if not isinstance(node, MappingNode):
            self.nodes.problem(
                "a model entry must be a mapping with at least 'name' and "
                "'factory', got "
                f"{self.nodes.given(node, 'model')}",
                node,
            )
            return None, None
        items = self.nodes.items(node, "the model entry")
        given = self._fields(items, keys_in(MODEL, SHARED), "")
        name = given["name"][0] if "name" in given else None
        label = f"model {name!r}" if name else "this model entry"
        for key, (key_node, _) in items.items():
            if key not in MODEL_KEYS:
                section = _section_holding(key)
                hint = f"it belongs under {section!r}" if section else _key_hint(key, MODEL_KEYS)
                self.nodes.problem(with_hint(f"unknown key {show(key)} in {label}", hint), key_node)
        for key in REQUIRED_MODEL_KEYS:
            if key not in items:
                self.nodes.problem(f"{label} is missing required key {key!r}", node)
        if any(key not in given for key in REQUIRED_MODEL_KEYS):
            return None, name
        given = _merged(defaults, given)
        self._inputs_not_in_kwargs(given)
        return ModelSpec(
            line=line(node),
            key_lines={key: key_line for key, (_, key_line) in given.items()},
            **_assemble(keys_in(MODEL, SHARED), given),
        ), name

    # ------------------------------------------------------------------------- keys of one mapping

    def _fields(self, items: Items, rows: tuple[Key, ...], prefix: str) -> Given:
        """Read the keys of a model entry or of defaults that are among `rows`; the others are left
        to the caller, whose messages about them depend on where they are."""
        by_name = {row.name: row for row in rows}
        given: Given = {}
        for key, (key_node, node) in items.items():
            if key in by_name:
                given.update(self._read(by_name[key], key_node, node, prefix + key))
        return given

    def _inputs_not_in_kwargs(self, given: Given) -> None:
        """An argument is given either as an InputLayer (`inputs`) or as a keyword argument, not
        both."""
        for key, (_, key_line) in given.items():
            parts = key.split(".")
            if len(parts) == 2 and parts[0] == "inputs" and f"kwargs.{parts[1]}" in given:
                self.nodes.problems.append(
                    ConfigProblem(
                        f"{parts[1]!r} is in both inputs and kwargs (line "
                        f"{given['kwargs.' + parts[1]][1]}): the "
                        "factory's argument gets either the InputLayer or the keyword argument; "
                        "remove one",
                        key_line,
                    )
                )

    def _read(self, row: Key, key_node: Node, node: Node, where: str) -> Given:
        """One key's value (a MAPPING: each of its names too), or {} with a problem reported."""
        if row.kind == NAMED:
            return self._named(row, key_node, node, where)
        if row.read is None:  # a SECTION, read through the rows scoped to it
            return self._section(row, key_node, node, where)
        try:
            value = row.read(self.nodes, node, where)
        except Bad as bad:
            self.nodes.problem(bad.message, bad.node)
            return {}
        if row.kind == MAPPING:
            return {
                row.path: (None, line(key_node)),
                **{f"{row.path}.{name}": entry for name, entry in value.items()},
            }
        return {row.path: (value, line(key_node))}

    def _section(
        self, row: Key, key_node: Node, node: Node, where: str, path: str | None = None
    ) -> Given:
        """The keys scoped to `row`, given under `path` (default: the row's own; a NAMED row's: one
        per name)."""
        path = path or row.path
        given: Given = {path: (None, line(key_node))}
        if self.nodes.is_null(node, where):
            return given
        names = names_in(row.path)
        if not isinstance(node, MappingNode):
            self.nodes.problem(
                f"{where} must be a mapping ({', '.join(names)}), got "
                f"{self.nodes.given(node, where)}",
                node,
            )
            return {}
        children = {child.name: child for child in keys_in(row.path)}
        for key, (sub_key, sub_node) in self.nodes.items(node, where).items():
            if key not in children:
                self.nodes.problem(_unknown(key, names, where), sub_key)
                continue
            for sub_path, value in self._read(
                children[key], sub_key, sub_node, f"{where}.{key}"
            ).items():
                given[path + sub_path[len(row.path) :]] = value
        return given

    def _named(self, row: Key, key_node: Node, node: Node, where: str) -> Given:
        """Names the user chooses, each a section of the keys scoped to `row` (`inputs: {x: {shape:
        ...}}`)."""
        given: Given = {row.path: (None, line(key_node))}
        if self.nodes.is_null(node, where):
            return given
        if not isinstance(node, MappingNode):
            self.nodes.problem(
                f"{where} must be a mapping of names, each a mapping of "
                f"{', '.join(names_in(row.path))}; got "
                f"{self.nodes.given(node, where)}",
                node,
            )
            return {}
        assert row.read is not None
        for name, (name_node, value_node) in self.nodes.items(node, where).items():
            try:
                row.read(self.nodes, name_node, where)
            except Bad as bad:
                self.nodes.problem(bad.message, bad.node)
                continue
            before = len(self.nodes.problems)
            section = self._section(
                row, name_node, value_node, f"{where}.{name}", f"{row.path}.{name}"
            )
            if len(self.nodes.problems) > before or not section:
                continue
            values = {
                key[len(row.path) + len(name) + 2 :]: value
                for key, (value, _) in section.items()
                if key.count(".") == row.path.count(".") + 2
            }
            missing = [
                child.name
                for child in keys_in(row.path)
                if child.default is REQUIRED and child.name not in values
            ]
            check = getattr(row.default, "problem", None)
            problem = (
                f"{where}.{name} is missing required key {missing[0]!r}"
                if missing
                else check(values)
                if check
                else None
            )
            if problem:
                self.nodes.problem(
                    f"{where}.{name}: {problem}" if not missing else problem, value_node
                )
                continue
            given.update(section)
        return given


def _merged(defaults: Given, given: Given) -> Given:
    """The model's keys over the defaults', key by key; a name of a NAMED row (`inputs.x`) is taken
    whole."""
    named = {
        key
        for key in given
        if any(
            key.startswith(row.path + ".") and key.count(".") == row.path.count(".") + 1
            for row in _NAMED_ROWS
        )
    }
    kept = {
        key: value
        for key, value in defaults.items()
        if not any(key == name or key.startswith(name + ".") for name in named)
    }
    return {**kept, **given}


def _assemble(rows: tuple[Key, ...], given: Given) -> dict[str, Any]:
    """The dataclass fields for `rows` from the merged given keys; keys not given keep their
    defaults."""
    values: dict[str, Any] = {}
    for row in rows:
        if row.kind == VALUE:
            if row.path in given:
                values[row.name] = given[row.path][0]
        elif row.kind == MAPPING:
            prefix = row.path + "."
            values[row.name] = {
                key[len(prefix) :]: value
                for key, (value, _) in given.items()
                if key.startswith(prefix)
            }
        elif row.kind == NAMED:  # name -> the dataclass its rows fill
            values[row.name] = {}
            depth = row.path.count(".") + 1
            for key in given:
                if key.startswith(row.path + ".") and key.count(".") == depth:
                    name = key.split(".")[-1]
                    own = {
                        row.path + sub[len(key) :]: value
                        for sub, value in given.items()
                        if sub.startswith(key + ".")
                    }
                    values[row.name][name] = row.default(**_assemble(keys_in(row.path), own))
        else:  # a SECTION: its default is the dataclass its rows fill
            values[row.name] = row.default(**_assemble(keys_in(row.path), given))
    return values


_NAMED_ROWS = tuple(row for row in KEYS if row.kind == NAMED)
