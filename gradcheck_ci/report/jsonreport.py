"""The JSON report: the machine-readable record of a run, and the input of `gradcheck-ci merge`."""

from __future__ import annotations

import json
import math
import os
import re
import stat
from collections import Counter
from typing import Any

from ..core.extra import NON_FINITE
from ..core.results import REPORT_SCHEMA, ErrorInfo, ModelResult, RunReport
from .atomic import write_atomic
from .validity import check_report

# Strict JSON has no NaN/Infinity. A NaN gradient is a finding, so it is kept as a string rather
# than lost as null (core.extra.NON_FINITE); read_json turns these strings back into floats in the
# fields that are floats, ModelExtra.from_json in `extra`.
_SURROGATES = re.compile("[\ud800-\udfff]")
_PARAM_FLOATS = ("max_abs_err", "max_rel_err", "tolerance", "analytic", "numeric")


def _float(value: float) -> float | str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return value


def to_strict(value: Any) -> Any:
    """A JSON-serialisable copy: non-finite floats as strings, numpy scalars/arrays as Python
    values."""
    if isinstance(value, str):
        # lone surrogates are not valid UTF-8 (nor portable JSON)
        return _SURROGATES.sub("\ufffd", value)
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, dict):
        return {to_strict(str(k)): to_strict(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [to_strict(v) for v in value]
    if hasattr(value, "tolist"):  # numpy scalar or array (evidence from the diagnosis stage)
        return to_strict(value.tolist())
    return str(value)


def render_json(report: RunReport) -> str:
    return (
        json.dumps(to_strict(report.to_json()), indent=2, ensure_ascii=False, allow_nan=False)
        + "\n"
    )


def write_json(report: RunReport, path: str) -> None:
    write_atomic(path, render_json(report))


def _restore(value: Any) -> Any:
    if isinstance(value, str) and value in NON_FINITE:
        return NON_FINITE[value]
    return value


def _restore_floats(data: dict[str, Any]) -> None:
    """Back to floats where floats belong; anything of the wrong shape is left for check_report to
    name."""
    if "seconds" in data and not isinstance(data["seconds"], dict):
        data["seconds"] = _restore(data["seconds"])
    models = data.get("models")
    for model in models if isinstance(models, list) else []:
        if not isinstance(model, dict):
            continue
        model["loss_value"] = _restore(model.get("loss_value"))
        if isinstance(model.get("seconds"), dict):
            model["seconds"] = {k: _restore(v) for k, v in model["seconds"].items()}
        params = model.get("params")
        for param in params if isinstance(params, list) else []:
            for key in _PARAM_FLOATS:
                if isinstance(param, dict) and key in param:
                    param[key] = _restore(param[key])


def read_json(path: str) -> RunReport:
    """Load a report written by render_json. Raises ValueError, one sentence, for anything that is
    not one."""
    # a FIFO or a device would be read for ever (OSError: missing)
    mode = os.stat(path).st_mode
    if stat.S_ISDIR(mode):
        raise ValueError("is a directory, not a report file")
    if not stat.S_ISREG(mode):
        raise ValueError("not a regular file (a pipe, a device or a socket)")
    with open(path, encoding="utf-8") as handle:
        try:
            data = json.load(handle)  # JSONDecodeError is a ValueError
        except RecursionError:
            raise ValueError("not a gradcheck-ci report (nested too deeply)") from None
    if not isinstance(data, dict):
        raise ValueError("not a gradcheck-ci report (top level is not an object)")
    schema = data.get("schema")
    if schema is not None and schema != REPORT_SCHEMA:
        raise ValueError(f"unsupported report schema {schema!r} (expected {REPORT_SCHEMA!r})")
    _restore_floats(data)
    check_report(data)
    try:
        return RunReport.from_json(data)
    except (TypeError, KeyError, AttributeError) as exc:
        # e.g. a field this version does not know, or a missing required one
        raise ValueError(f"malformed gradcheck-ci report: {exc}") from None


def merge_reports(reports: list[RunReport]) -> RunReport:
    """One report from the shards of a matrix run: models by config line then name, config errors
    once.

    Raises ValueError when there is nothing to merge or when the reports overlap (a model checked
    twice). Whether the shards make one whole run is shards.check_whole's job, before this. Linear
    in the models.
    """
    if not reports:
        raise ValueError("nothing to merge")
    models = [m for r in reports for m in r.models]
    models.sort(key=lambda m: (m.config_line is None, m.config_line or 0, m.name))
    models = _invalid_entries_once(models)
    counts = Counter(m.name for m in models)
    twice = sorted(name for name, count in counts.items() if count > 1)
    if twice:
        raise ValueError(
            f"the reports overlap: {', '.join(twice[:10])} checked more than once "
            "(merge the reports of one run's shards, each once)"
        )
    errors: list[ErrorInfo] = []
    seen: set[tuple[object, ...]] = set()
    for error in (e for r in reports for e in r.config_errors):
        key = (error.message, error.file, error.line, error.kind)
        if key not in seen:
            seen.add(key)
            errors.append(error)
    # Shards run side by side; the merged time is the machine time they spent together.
    versions = {r.version for r in reports}
    return RunReport(
        config_file=reports[0].config_file,
        models=models,
        config_errors=errors,
        shard=None,
        seconds=sum(r.seconds for r in reports),
        version=versions.pop() if len(versions) == 1 else None,
        changed_since=reports[0].changed_since,
        fail_on_inconclusive=any(r.fail_on_inconclusive for r in reports),
        plan=reports[0].plan,
    )


def _invalid_entries_once(models: list[ModelResult]) -> list[ModelResult]:
    """Every shard reports the models whose gradcheck.yml entry is invalid: keep each such error
    once."""
    seen: set[tuple[object, ...]] = set()
    kept = []
    for model in models:
        error = model.error
        key = (model.name, error.message, error.line) if error and error.kind == "config" else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        kept.append(model)
    return kept
