"""Parameters whose path to the loss goes through arithmetic below the check's precision: a float64
check of a model that casts to float32 (`T.nnet.softmax(T.cast(z, 'float32'))`), or whose layers
compute in float32 on their own.

The check's error model allows for float64 round-off (16 eps |L| per evaluation); float32 arithmetic
on the way rounds a move of the parameters by up to 1e-7 of the values it passes through, so the
loss can stay exactly flat over a whole line (a staircase wider than the steps): a smooth line with
slope 0, which the check would confirm as a disagreement. A difference such a tensor shows is
therefore not confirmed here: it is left unjudged, with a note, and `precision: float32` (whose
error model is float32's) checks the model as it computes. Passing lines stand: float32 round-off
hides a gradient error less often than it shows one.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..core.results import Notice, ParamResult
from ..usercode.trace import creation_site

LOWER = ("float32", "float16")
NOTICE_CODE = "float32-arithmetic"


def lowered_params(loss: Any, params: list[Any], root: str) -> dict[int, str]:
    """Index of each parameter (into `params`) whose path to `loss` passes through a variable of a
    float dtype in LOWER, and where that variable was built ('layers.py:64', or the op's name when
    no line of the repository built it). Walks the graph once, forward."""
    from theano.gof.graph import inputs, io_toposort

    index = {id(p): k for k, p in enumerate(params)}
    depends: dict[int, frozenset[int]] = {}
    keep: list[Any] = []  # the variables whose ids key `depends`, alive while it is read
    lowered: dict[int, str] = {}
    for node in io_toposort(list(inputs([loss])), [loss]):
        reach = frozenset().union(
            *(
                depends.get(id(v), frozenset({index[id(v)]} if id(v) in index else ()))
                for v in node.inputs
            )
        )
        for out in node.outputs:
            depends[id(out)] = reach
            keep.append(out)
            new = [k for k in reach if k not in lowered]
            if new and str(getattr(out, "dtype", "")) in LOWER:
                where = _where(out, node, root)  # (a creation trace read once per new tensor)
                lowered.update(dict.fromkeys(new, where))
    return lowered


def _where(variable: Any, node: Any, root: str) -> str:
    site = creation_site(variable, root)
    return f"{site[0]}:{site[1]}" if site else type(node.op).__name__


def unconfirmed(results: list[ParamResult], lowered: dict[int, str]) -> Notice | None:
    """The failing tensors of `results` that `lowered` names become unjudged (changed in place),
    with a note; a notice for every lowered tensor left unjudged, or None when there is none."""
    for k in sorted(lowered):
        if results[k].status == "fail":
            results[k] = replace(
                results[k],
                status="inconclusive",
                sensitivity=None,
                note=(
                    f"its difference is not confirmed: its path to the loss goes through float32 "
                    f"arithmetic (built at {lowered[k]}), whose round-off a float64 check does "
                    "not allow for (set `precision: float32` to check the model as it computes)"
                ),
            )
    unjudged = [k for k in sorted(lowered) if results[k].status == "inconclusive"]
    if not unjudged:
        return None
    first = results[unjudged[0]]
    ids = ", ".join(results[k].id for k in unjudged[:4]) + (" ..." if len(unjudged) > 4 else "")
    where = lowered[unjudged[0]]
    file, _, line = where.partition(":")
    return Notice(
        f"the loss is computed in float32 on the way from {len(unjudged)} unjudged tensor(s) "
        f"({ids}) to it (at {where}): a float64 check cannot tell their gradient from float32 "
        "round-off there; `precision: float32` checks the model with float32's error model",
        NOTICE_CODE,
        file if line.isdigit() else first.file,
        int(line) if line.isdigit() else first.line,
    )
