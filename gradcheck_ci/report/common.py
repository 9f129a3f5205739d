"""Helpers every report format shares, so that each names the same location for a finding, ranks
tensors the same way and cleans user text the same way."""

from __future__ import annotations

import math
import os
import posixpath
import re

from ..core.results import Diagnosis, ModelResult, Notice, ParamResult, RunReport

_ANSI = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b[@-_]")
# Characters some consumer (a browser, Python's splitlines, a terminal) treats as a line break.
_LINE_BREAKS = str.maketrans({c: "\n" for c in "\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"})
_CONTROLS = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x84\x86-\x9f\ud800-\udfff]")


def clean_text(value: object) -> str:
    """User text made printable: ANSI sequences and control characters dropped, odd line breaks ->
    '\\n'.

    Only TAB, LF and CR survive; each format then escapes those its own way.
    """
    text = value if isinstance(value, str) else str(value)
    text = _ANSI.sub("", text).translate(_LINE_BREAKS)
    return _CONTROLS.sub("", text)


def one_line(value: object, limit: int | None = None) -> str:
    """User text for a single-line slot: all whitespace runs become one space, optionally
    shortened."""
    text = " ".join(clean_text(value).split())
    if limit is not None and len(text) > limit:
        text = text[: max(limit - 1, 0)] + "…"
    return text


def repo_path(path: str | None) -> str | None:
    """A path as CI systems want it: relative to the repository root, '/' separators, no leading
    './'."""
    if not path:
        return None
    # Line breaks cannot be part of a path a CI system links to; dropping them keeps every format
    # one-line.
    text = re.sub(r"[\r\n]", "", clean_text(path)).replace("\\", "/").strip()
    if os.path.isabs(text) or text.startswith("/"):
        # Absolute paths only land on a file when they are inside the checked-out repository.
        root = os.environ.get("GITHUB_WORKSPACE") or os.getcwd()
        rel = posixpath.relpath(text, root.replace("\\", "/"))
        if not rel.startswith("../"):
            text = rel
    text = posixpath.normpath(text) if text else text
    while text.startswith("./"):
        text = text[2:]
    return None if text in ("", ".") else text


def positive_line(line: object) -> int | None:
    """Line numbers are 1-based everywhere we report them; anything else means 'unknown'."""
    return line if isinstance(line, int) and not isinstance(line, bool) and line >= 1 else None


def over_tolerance(param: ParamResult) -> float:
    """How far a tensor is from passing: abs error / tolerance (the tolerance is absolute, see
    numeric)."""
    err, tol = param.max_abs_err, param.tolerance
    # not measured on its own (grouped, inconclusive): nothing over tolerance to rank
    if err is None:
        return math.inf if param.status == "fail" else 0.0
    if isinstance(err, float) and math.isnan(err):
        return math.inf  # NaN gradients are as bad as it gets
    if not tol or tol <= 0 or math.isnan(tol):
        return math.inf if err > 0 else 0.0
    ratio = err / tol
    return math.inf if math.isnan(ratio) else ratio


def worst_param(model: ModelResult) -> ParamResult | None:
    """The failing tensor furthest over tolerance (NaN-safe, unlike ranking on the raw ratio)."""
    failing = [p for p in model.params if p.status == "fail"]
    return max(failing, key=over_tolerance) if failing else None


def shown_param(model: ModelResult) -> ParamResult | None:
    """The tensor a model's row names: the worst failing one, else the one nearest its tolerance of
    those compared on their own (a directional band's members have no error of their own to
    rank)."""
    measured_alone = [p for p in model.params if p.max_abs_err is not None]
    return worst_param(model) or (
        max(measured_alone, key=over_tolerance) if measured_alone else None
    )


def qualifying_diagnoses(model: ModelResult) -> list[Diagnosis]:
    """The diagnoses that qualify a pass (`disconnected`: a tensor's check means nothing), warned
    about: not the causes the model allows (its `allowed-cause` notice says those)."""
    return [d for d in model.diagnoses if not d.evidence.get("allowed")]


def model_score(model: ModelResult) -> float:
    worst = worst_param(model)
    return over_tolerance(worst) if worst else 0.0


def now_passes(model: ModelResult) -> bool:
    """A model marked `expect: fail` whose gradients now agree (status pass, or fail under
    --fail-on-expected).

    The runner flags it in extra.unexpected_pass; the status test covers reports without the flag.
    """
    if model.expect != "fail" or model.status not in ("pass", "fail"):
        return False
    if model.extra.unexpected_pass is True:
        return True
    return model.error is None and not any(p.status == "fail" for p in model.params)


_CONFIRMATION: dict[object, str] = {True: " (confirmed)", False: " (not confirmed)"}


def confirmation(diagnosis: Diagnosis) -> str:
    """' (confirmed)' or ' (not confirmed)' after a cause's name; '' when no ablation was run."""
    return _CONFIRMATION.get(diagnosis.confirmed, "")


def config_location(model: ModelResult, report: RunReport) -> tuple[str | None, int | None]:
    return repo_path(model.config_file or report.config_file), positive_line(model.config_line)


def failure_location(model: ModelResult, report: RunReport) -> tuple[str | None, int | None]:
    """Where a mismatch points: the first located diagnosis, else the worst tensor's layer, else the
    config."""
    found = failure_site(model)
    if found is not None:
        return repo_path(found.file), positive_line(found.line)
    return config_location(model, report)


def diagnosis_location(
    diagnosis: Diagnosis, fallback: tuple[str | None, int | None]
) -> tuple[str | None, int | None]:
    """Where a diagnosis points in the repository, else `fallback` (the config's entry...)."""
    if repo_path(diagnosis.file):
        return repo_path(diagnosis.file), positive_line(diagnosis.line)
    return fallback


def located_diagnosis(model: ModelResult) -> Diagnosis | None:
    """The model's first diagnosis that names a file of the repository."""
    return next((d for d in model.diagnoses if repo_path(d.file)), None)


def failure_site(model: ModelResult) -> ParamResult | Diagnosis | None:
    """What failure_location points at in the user's code: the first located diagnosis, else the
    worst tensor (None: neither has a file)."""
    diagnosis = located_diagnosis(model)
    if diagnosis is not None:
        return diagnosis
    worst = worst_param(model)
    if worst is not None and repo_path(worst.file):
        return worst
    return None


def built_via(found: ParamResult | Diagnosis | None) -> str:
    """' Built at blocks.py:5 (via net.py:40).' for a layer a helper built, else '': a message
    annotated at the helper's line says which call of the helper it is about."""
    if found is None or not found.via or not repo_path(found.file):
        return ""
    return f" Built at {located(found)}."


def notice_location(
    model: ModelResult, notice: Notice, report: RunReport
) -> tuple[str | None, int | None]:
    """Where a notice points: its own file and line, else the model's entry in the config."""
    if repo_path(notice.file):
        return repo_path(notice.file), positive_line(notice.line)
    return config_location(model, report)


def error_location(model: ModelResult, report: RunReport) -> tuple[str | None, int | None]:
    if model.error is not None and repo_path(model.error.file):
        return repo_path(model.error.file), positive_line(model.error.line)
    return config_location(model, report)


def stack_text(model: ModelResult) -> str:
    """The Lasagne the model was checked on ("Lasagne 0.1", "Lasagne master"); "" when the report
    does not say (an older report, a model no worker ran). Semantics that differ between them are
    judged on this one."""
    if not model.lasagne:
        return ""
    return "Lasagne 0.1" if model.lasagne == "0.1" else f"Lasagne {one_line(model.lasagne, 20)}"


def skip_text(model: ModelResult) -> str:
    """Why a skipped model was not checked, e.g. 'unchanged since main (last checked: pass)'."""
    if model.skipped is None:
        return "not checked in this run"
    text = one_line(model.skipped.message, 300) or one_line(model.skipped.reason, 40)
    if model.skipped.previous_status:
        text += f" (last checked: {one_line(model.skipped.previous_status, 20)})"
    return text


def where(file: str | None, line: int | None) -> str:
    """'file:line', 'file' or '' for display."""
    if not file:
        return ""
    return f"{file}:{line}" if line else file


def located(found: ParamResult | Diagnosis) -> str:
    """Where a tensor's layer (or a diagnosis) was built, 'file:line', and for a layer a helper
    built, the calls that led there: 'blocks.py:5 (via net.py:40 > stages.py:22)'."""
    loc = where(repo_path(found.file), positive_line(found.line))
    via = found.via if isinstance(found.via, list) else []  # a report read back may hold anything
    calls = [one_line(call, 120) for call in via[:8] if isinstance(call, str)]
    return f"{loc} (via {' > '.join(calls)})" if loc and calls else loc


def num(value: float | None) -> str:
    """Compact number for tables: 3 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    return f"{value:.3g}"


def shape_text(shape: list[int] | None) -> str:
    if shape is None:
        return "-"
    return "x".join(str(d) for d in shape) if shape else "scalar"


def index_text(index: list[int] | None) -> str:
    return "-" if index is None else "[" + ", ".join(str(i) for i in index) + "]"


# What a tensor's error figures are errors of (ParamResult.method): one element's derivative (mode
# full), the derivative along a random direction in the tensor's parameters (directional: its worst
# element, found by bisection, is the worst index), or nothing of its own (grouped: it passed with
# its band).
MEASURED = {"full": "element", "directional": "direction", "grouped": "band"}


def measured(p: ParamResult) -> str:
    """The column that says what the error figures of a tensor were measured on."""
    if p.max_abs_err is None and p.method != "grouped":
        return "-"
    return MEASURED.get(p.method, p.method)


def error_phrase(p: ParamResult) -> str:
    """A failing tensor's error in words that say what it is the error of (messages,
    annotations)."""
    figures = f"> tolerance {num(p.tolerance)} (rel err {num(p.max_rel_err)}"
    if p.method == "full" and p.worst_index is not None:
        return f"abs err {num(p.max_abs_err)} at element {index_text(p.worst_index)} {figures})"
    if p.method == "directional":
        largest = (
            f"; largest at element {index_text(p.worst_index)}" if p.worst_index is not None else ""
        )
        return f"abs err {num(p.max_abs_err)} along a random direction {figures}{largest})"
    return f"abs err {num(p.max_abs_err)} {figures})"


def inconclusive_params(model: ModelResult) -> list[ParamResult]:
    return [p for p in model.params if p.status == "inconclusive"]


def inconclusive_location(model: ModelResult, report: RunReport) -> tuple[str | None, int | None]:
    """Where an inconclusive model points: the first located diagnosis (why the tensors could not be
    judged: the noise's layer, the kink's), as the text report does; else the layer of its first
    tensor that could not be judged."""
    diagnosis = located_diagnosis(model)
    if diagnosis is not None:
        return repo_path(diagnosis.file), positive_line(diagnosis.line)
    for p in inconclusive_params(model):
        if repo_path(p.file):
            return repo_path(p.file), positive_line(p.line)
    return config_location(model, report)


def inconclusive_text(model: ModelResult) -> str:
    """One sentence: which tensors could not be judged, and why that is not a failure."""
    params = inconclusive_params(model)
    ids = ", ".join(one_line(p.id, 80) for p in params[:4]) + (
        f" and {len(params) - 4} more" if len(params) > 4 else ""
    )
    count = f"{len(params)} of {len(model.params)} tensor{'s' if len(model.params) != 1 else ''}"
    if any(n.code == "float32-arithmetic" for n in model.notices):
        # no seed helps: the error model is float64's, the arithmetic on the way float32's
        return (
            f"{count} could not be judged ({ids}): the loss is computed in float32 on their way "
            "to it (the float32-arithmetic notice says where); no disagreement was confirmed. "
            "Check the model with `precision: float32`."
        )
    if any(n.code == "gradient-all-zero" for n in model.notices):
        # nothing failed to judge: there was nothing to see
        return (
            f"{count} could not be judged ({ids}): every gradient is exactly zero at the checked "
            "point, so the comparison could not see any error (the gradient-all-zero notice says "
            "what usually causes it)."
        )
    if any(d.code == "stochastic-forward" and d.confirmed for d in model.diagnoses):
        # not kinks, and no seed helps: the forward pass draws new noise at every evaluation
        return (
            f"{count} could not be judged ({ids}): the loss differs between evaluations at the "
            "same point (the stochastic-forward diagnosis says where); no disagreement was "
            "confirmed."
        )
    return (
        f"{count} could not be judged ({ids}): the loss has kinks (or round-off) within the "
        f"reach of every "
        "comparison tried, at the checked point and near it; no disagreement was confirmed. "
        "Check with another `seed`, or see the JSON report's notes."
    )


def tensors_failing(failing: int, total: int) -> str:
    """'1 of 5 tensors fails', '3 of 5 tensors fail', '1 of 1 tensor fails'."""
    return (
        f"{failing} of {total} tensor{'s' if total != 1 else ''} "
        f"{'fails' if failing == 1 else 'fail'}"
    )


def sensitivity_text(
    value: float | None,
    judged: int | None = None,
    what: str = "judged tensors",
    certain: bool = False,
) -> str:
    """The model's stated sensitivity, as a phrase ('' when there is none); `judged`: how many
    tensors it holds for, when not every one (it says nothing of the others), `what` they are;
    `certain`: every element was compared (mode: full), so the guarantee is not a probability over
    random directions."""
    if value is None:
        return ""
    which = "any tensor" if judged is None else f"any of the {judged} {what}"
    if judged == 1:
        which = "the 1 " + what.replace("tensors", "tensor", 1)
    how = "for certain (every element compared)" if certain else "with probability >= 99%"
    return f"a relative gradient error of {num(value)} or more in {which} is caught {how}"


def status_counts(report: RunReport) -> dict[str, int]:
    counts = {
        "pass": 0,
        "fail": 0,
        "expected-fail": 0,
        "error": 0,
        "cancelled": 0,
        "skipped": 0,
        "inconclusive": 0,
    }
    for model in report.models:
        counts[model.status] = counts.get(model.status, 0) + 1
    return counts
