"""Whether a parsed JSON document is a gradcheck-ci report, field by field, before anything trusts
it.

`merge`, `replay` and `check --changed-since` read reports that another job wrote (a shard, an
artifact, a restored cache): a field of the wrong type must be a one-sentence error naming the
field, never a crash later on or a report accepted as valid. Numbers are checked after jsonreport
restored NaN and Infinity.
"""

from __future__ import annotations

from typing import Any

from ..core.results import MODEL_STATUSES

_NUMBER = (int, float)
_NONE = type(None)

_TOP: dict[str, tuple[type, ...]] = {
    "schema": (str, _NONE),
    "status": (str, _NONE),
    "version": (str, _NONE),
    "config_file": (str,),
    "shard": (str, _NONE),
    "seconds": _NUMBER,
    "changed_since": (dict, _NONE),
    "config_errors": (list,),
    "models": (list,),
    "plan": (dict, _NONE),
    "fail_on_inconclusive": (bool,),
}
_MODEL: dict[str, tuple[type, ...]] = {
    "name": (str,),
    "factory": (str,),
    "status": (str,),
    "seed": (int,),
    "precision": (str,),
    "mode": (str,),
    "expect": (str,),
    "evaluations": (int,),
    "seconds": (dict,),
    "params": (list,),
    "diagnoses": (list,),
    "error": (dict, _NONE),
    "notices": (list,),
    "data": (dict,),
    "loss": (str, _NONE),
    "loss_value": (*_NUMBER, _NONE),
    "config_file": (str, _NONE),
    "config_line": (int, _NONE),
    "sensitivity": (*_NUMBER, _NONE),
    "allowed": (list,),
    "extra": (dict,),
    "spec": (dict, _NONE),
    "files": (dict,),
    "sources": (dict,),
    "skipped": (dict, _NONE),
}
_MODEL_REQUIRED = ("name", "status")
_ERROR: dict[str, tuple[type, ...]] = {
    "message": (str,),
    "file": (str, _NONE),
    "line": (int, _NONE),
    "kind": (str,),
}
_PARAM: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "shape": (list,),
    "status": (str,),
    "max_abs_err": (*_NUMBER, _NONE),
    "max_rel_err": (*_NUMBER, _NONE),
    "tolerance": (*_NUMBER, _NONE),
    "worst_index": (list, _NONE),
    "method": (str,),
    "evaluations": (int,),
    "file": (str, _NONE),
    "line": (int, _NONE),
    "via": (list,),
}
_DIAGNOSIS: dict[str, tuple[type, ...]] = {
    "code": (str,),
    "message": (str,),
    "fix": (str,),
    "file": (str, _NONE),
    "line": (int, _NONE),
    "evidence": (dict,),
    "via": (list,),
}
_NOTICE: dict[str, tuple[type, ...]] = {
    "message": (str,),
    "code": (str,),
    "file": (str, _NONE),
    "line": (int, _NONE),
}
_PLAN: dict[str, tuple[type, ...]] = {"config_sha256": (str, _NONE), "models": (list,)}
_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "true or false",
    dict: "an object",
    list: "a list",
    _NONE: "null",
}


def check_report(data: Any) -> None:
    """ValueError naming the first field that no gradcheck-ci report could hold."""
    if not isinstance(data, dict):
        raise ValueError("not a gradcheck-ci report (top level is not an object)")
    _fields(data, _TOP, "")
    for i, error in enumerate(data.get("config_errors", [])):
        _record(error, _ERROR, f"config_errors[{i}]", ("message",))
    plan = data.get("plan")
    if plan is not None:
        _fields(plan, _PLAN, "plan.")
        if not all(isinstance(name, str) for name in plan.get("models", [])):
            raise ValueError("plan.models holds something that is not a model name")
    for i, model in enumerate(data.get("models", [])):
        _model(model, f"models[{i}]")


def _model(model: Any, where: str) -> None:
    _record(model, _MODEL, where, _MODEL_REQUIRED)
    if model["status"] not in MODEL_STATUSES:
        raise ValueError(f"{where}.status is {_shown(model['status'])}, not a model status")
    if not all(
        isinstance(v, _NUMBER) and not isinstance(v, bool)
        for v in model.get("seconds", {}).values()
    ):
        raise ValueError(f"{where}.seconds holds something that is not a number")
    if model.get("error") is not None:
        _record(model["error"], _ERROR, f"{where}.error", ("message",))
    if model.get("skipped") is not None and not isinstance(
        model["skipped"].get("message", ""), str
    ):
        raise ValueError(f"{where}.skipped.message is not a string")
    for key, table in (("params", _PARAM), ("diagnoses", _DIAGNOSIS), ("notices", _NOTICE)):
        for j, item in enumerate(model.get(key, [])):
            _record(item, table, f"{where}.{key}[{j}]", ())
    if not all(
        isinstance(k, str) and isinstance(v, str) for k, v in model.get("files", {}).items()
    ):
        raise ValueError(f"{where}.files must map file names to their sha256")
    if not all(isinstance(v, dict) for v in model.get("sources", {}).values()):
        raise ValueError(f"{where}.sources must map file names to their quoted lines")


def _record(
    value: Any, table: dict[str, tuple[type, ...]], where: str, required: tuple[str, ...]
) -> None:
    if not isinstance(value, dict):
        raise ValueError(f"{where} is {_shown(value)}, not an object")
    for key in required:
        if key not in value:
            raise ValueError(f"{where} has no {key!r}")
    _fields(value, table, where + ".")


def _fields(value: dict[str, Any], table: dict[str, tuple[type, ...]], prefix: str) -> None:
    for key, types in table.items():
        if key not in value:
            continue
        field = value[key]
        # JSON true is no count, seed or line
        wrong_bool = isinstance(field, bool) and bool not in types
        if wrong_bool or not isinstance(field, types):
            wanted = " or ".join(dict.fromkeys(_TYPE_NAMES[t] for t in types))
            raise ValueError(f"{prefix}{key} is {_shown(field)}, not {wanted}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
