"""Walking the YAML node tree: the items of a mapping (duplicate keys, '<<' merges), tags, scalar
values, and the words for what the user wrote ("a list", "true (a boolean)").

A mapping is walked once however many aliases or merges reach it, which bounds the work of an alias
bomb ("billion laughs") made of merges; kwargs values, which aliases can multiply, have their own
budget (kwargs.py).
"""

from __future__ import annotations

import copy
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .spec import ConfigProblem

TAG = "tag:yaml.org,2002:"
SCALAR_TAGS = {TAG + t for t in ("str", "int", "float", "bool", "null")}
COLLECTION = object()  # what Nodes.scalar returns for a mapping or a list
# Python reads integers of at most this many digits (sys.get_int_max_str_digits); a longer one is
# said as such, not with Python's advice to raise its limit
MAX_DIGITS = 4300

Items = dict[str, tuple[Node, Node]]  # key -> (key node, value node)


class Bad(Exception):
    """One invalid value: the message and the node it is about."""

    def __init__(self, message: str, node: Node):
        super().__init__(message)
        self.message = message
        self.node = node


def line(node: Node) -> int:
    """The node's 1-based line."""
    return int(node.start_mark.line) + 1


def show(value: Any, limit: int = 60) -> str:
    """repr() for messages, cut to `limit` characters."""
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def tag_text(tag: str) -> str:
    """A tag as it is written in YAML: `!!set`, not 'tag:yaml.org,2002:set'."""
    return show("!!" + tag[len(TAG) :] if tag.startswith(TAG) else tag)


class Nodes:
    """The node tree being read. `problems` is the list the current scope reports into (the reader
    swaps it per model entry); `root` is the repository root that file references are checked
    against."""

    def __init__(self, root: str):
        self.root = root
        self.problems: list[ConfigProblem] = []
        self._present: dict[
            int, tuple[list[ConfigProblem], set[tuple[object, ...]], list[int]]
        ] = {}
        self._constructor = yaml.constructor.SafeConstructor()
        self._items_cache: dict[int, tuple[Items, list[ConfigProblem]]] = {}

    def problem(self, message: str, node: Node) -> None:
        mark = node.start_mark
        self.problems.append(ConfigProblem(message, mark.line + 1, mark.column + 1))

    # ------------------------------------------------------------------------------------ mappings

    def items(self, node: MappingNode, where: str, seen: set[int] | None = None) -> Items:
        """key -> (key node, value node) in file order; duplicates reported, '<<' merges applied.

        Memoised per node, its problems replayed on reuse: a mapping reached through many aliases or
        merges (even an alias bomb) is walked once, and every model that uses it still sees its
        problems.
        """
        if id(node) in self._items_cache:
            items, problems = self._items_cache[id(node)]
            self._replay(problems)
            return items
        start = len(self.problems)
        items = self.walk_items(node, where, seen)
        self._items_cache[id(node)] = (items, [copy.copy(p) for p in self.problems[start:]])
        return items

    def _replay(self, problems: list[ConfigProblem]) -> None:
        """Add `problems` to the current list, each once. The keys already in each list are kept
        beside it, so a mapping merged into many entries costs its own problems per use, not a scan
        of the list (quadratic)."""
        target = self.problems
        entry = self._present.get(id(target))
        # a new list (the reader swaps one in per model entry)
        if entry is None or entry[0] is not target:
            entry = self._present[id(target)] = (target, set(), [0])
        _, keys, counted = entry
        # what was reported since the last replay
        keys.update(_problem_key(p) for p in target[counted[0] :])
        for problem in problems:
            key = _problem_key(problem)
            if key not in keys:
                keys.add(key)
                target.append(
                    ConfigProblem(problem.message, problem.line, problem.column, problem.model)
                )
        counted[0] = len(target)

    def walk_items(self, node: MappingNode, where: str, seen: set[int] | None) -> Items:
        """One walk of a mapping, not memoised: call `items`, which walks each mapping only once."""
        self.check_tag(node, where, TAG + "map")
        seen = (seen or set()) | {id(node)}
        own: Items = {}
        merged: Items = {}
        for key_node, value_node in node.value:
            if isinstance(key_node, ScalarNode) and key_node.tag == TAG + "merge":
                for source in self._merge_sources(value_node, where, seen):
                    for key, pair in self.items(source, where, seen | {id(source)}).items():
                        merged.setdefault(key, pair)  # earlier merge sources win
                continue
            if not isinstance(key_node, ScalarNode):
                self.problem(
                    f"keys in {where} must be plain names, got {self.given(key_node, where)}",
                    key_node,
                )
                continue
            key = key_node.value
            if key in own:
                self.problem(
                    f"duplicate key {show(key)} in {where} (first on line {line(own[key][0])})",
                    key_node,
                )
                continue
            own[key] = (key_node, value_node)
        return {**merged, **own}  # explicit keys override merged ones, as in YAML

    def _merge_sources(self, node: Node, where: str, seen: set[int]) -> list[MappingNode]:
        sources = node.value if isinstance(node, SequenceNode) else [node]
        good = [s for s in sources if isinstance(s, MappingNode) and id(s) not in seen]
        if len(good) != len(sources):
            self.problem(
                f"'<<' in {where} must be followed by an alias of another mapping (or a "
                f"list of them)",
                node,
            )
        return good

    def check_tag(self, node: Node, where: str, expected: str) -> None:
        """Report a tag such as !!set or !!omap on a mapping or list; the value is still read."""
        if node.tag != expected:
            self.problem(f"{where}: unsupported YAML tag {tag_text(node.tag)}", node)

    # ------------------------------------------------------------------------------------- scalars

    def scalar(self, node: Node, key: str, quiet: bool = False) -> Any:
        """A scalar's Python value (COLLECTION for mappings and lists); Bad for tags that don't fit.

        quiet: return the raw text instead of raising (for messages and yes/no checks).
        """
        if not isinstance(node, ScalarNode):
            return COLLECTION
        try:
            if node.tag not in SCALAR_TAGS:
                if node.tag == TAG + "timestamp":
                    raise Bad(
                        f"{key}: {show(node.value)} reads as a date; quote it to make it a string",
                        node,
                    )
                raise Bad(f"{key}: unsupported YAML tag {tag_text(node.tag)}", node)
            try:
                return self._constructor.construct_object(node, deep=True)
            except Exception as e:  # noqa: BLE001 - e.g. `0x_` matches the int pattern but int() rejects it
                digits = sum(c.isdigit() for c in node.value)
                why = f"a number of {digits:,} digits" if digits > MAX_DIGITS else str(e)
                raise Bad(f"{key}: cannot read {show(node.value)}: {why}", node) from None
        except Bad:
            if quiet:
                return node.value
            raise

    def is_null(self, node: Node, key: str) -> bool:
        """An empty value (`key:`, `null`, `~`), e.g. a block whose lines are all commented out."""
        return isinstance(node, ScalarNode) and self.scalar(node, key, quiet=True) is None

    def given(self, node: Node, key: str) -> str:
        """What the user wrote, for 'expected X, got Y' messages."""
        if isinstance(node, MappingNode):
            return "a mapping"
        if isinstance(node, SequenceNode):
            return "a list"
        value = self.scalar(node, key, quiet=True)
        text = node.value if len(node.value) <= 40 else node.value[:37] + "..."
        if value is None:
            return "an empty value"
        if isinstance(value, bool):
            return f"{text} (a boolean)"
        if isinstance(value, (int, float)):
            return f"{text} (a number)"
        return f"the string {show(value)}"


def _problem_key(problem: ConfigProblem) -> tuple[object, ...]:
    return problem.message, problem.line, problem.column, problem.model
