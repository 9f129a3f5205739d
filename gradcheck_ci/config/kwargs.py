"""Reading `kwargs:`, the factory's keyword arguments, as plain JSON-like data.

Values must survive ModelSpec.to_json, so no sets, dates or bytes. Aliases can multiply values
without end ("billion laughs"), so one mapping may expand to at most MAX_KWARGS_VALUES values and
nest at most MAX_DEPTH levels; past that the keyword argument is blamed, not a spot deep inside the
expansion.
"""

from __future__ import annotations

from typing import Any, cast

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from .nodes import TAG, Bad, Nodes, line

MAX_KWARGS_VALUES = 100_000
MAX_DEPTH = 64


class Budget:
    """How many more values may be read, and which keyword argument to blame when they run out."""

    def __init__(self, left: int, where: str, node: Node):
        self.left = left
        self.where = where
        self.node = node


def keyword_arguments(nodes: Nodes, node: Node, where: str) -> dict[str, tuple[Any, int]]:
    """name -> (value, line of the name); {} when empty. Bad when any part is not allowed: the whole
    mapping is then dropped."""
    if nodes.is_null(node, where):
        return {}
    if not isinstance(node, MappingNode):
        raise Bad(
            f"{where} must be a mapping of keyword arguments, got {nodes.given(node, where)}", node
        )
    entries = {}
    budget = Budget(MAX_KWARGS_VALUES, where, node)
    for name, (name_node, value_node) in nodes.items(node, where).items():
        _string_key(nodes, name_node, where)
        budget.where, budget.node = f"{where}.{name}", value_node
        entries[name] = (plain(nodes, value_node, budget.where, [], budget), line(name_node))
    return entries


def plain(nodes: Nodes, node: Node, where: str, stack: list[int], budget: Budget) -> Any:
    """A value as plain data: str, int, float, bool, None, lists, string-keyed dicts.

    stack: ids of the collections this value lies inside, to catch an alias that contains itself.
    """
    budget.left -= 1
    if budget.left < 0:  # point at the keyword argument, not deep inside the expansion
        raise Bad(
            f"{budget.where} is too large (over {MAX_KWARGS_VALUES} values after expanding "
            f"aliases)",
            budget.node,
        )
    if id(node) in stack:
        raise Bad(f"{where} refers to itself through an alias", node)
    if len(stack) >= MAX_DEPTH:
        raise Bad(f"{where} is nested more than {MAX_DEPTH} levels deep", node)
    if isinstance(node, ScalarNode):
        return nodes.scalar(node, where)
    inner = stack + [id(node)]
    if isinstance(node, SequenceNode):
        nodes.check_tag(node, where, TAG + "seq")
        return [
            plain(nodes, item, f"{where}[{i}]", inner, budget) for i, item in enumerate(node.value)
        ]
    result = {}
    # the third kind
    for name, (name_node, value_node) in nodes.items(cast(MappingNode, node), where).items():
        _string_key(nodes, name_node, where)
        result[name] = plain(nodes, value_node, f"{where}.{name}", inner, budget)
    return result


def _string_key(nodes: Nodes, node: Node, where: str) -> None:
    if node.tag != TAG + "str":
        raise Bad(
            f"keys in {where} must be strings, got {nodes.given(node, where)} "
            "(quote it to make it a string)",
            node,
        )
