"""Terminal output: one block per model, then the verdict.

Under GitHub Actions this text goes to the log the runner parses for workflow commands, so user text
(names, messages) can never produce a line that the runner reads as a command: see _neutralise.
"""

from __future__ import annotations

import unicodedata

from ..core.extra import CompileSummary
from ..core.results import ModelResult, RunReport, resolved
from .common import (
    clean_text,
    inconclusive_params,
    inconclusive_text,
    index_text,
    located,
    measured,
    now_passes,
    num,
    one_line,
    positive_line,
    repo_path,
    sensitivity_text,
    shape_text,
    skip_text,
    stack_text,
    status_counts,
    where,
    worst_param,
)
from .logsafe import neutralise_line

_WORDS = {
    "pass": "PASS",
    "fail": "FAIL",
    "expected-fail": "XFAIL",
    "error": "ERROR",
    "cancelled": "CANCELLED",
    "skipped": "SKIPPED",
    "inconclusive": "INCONCLUSIVE",
}
_COLORS = {
    "PASS": "32",
    "FAIL": "31",
    "XFAIL": "33",
    "XPASS": "33",
    "ERROR": "1;31",
    "CANCELLED": "33",
    "SKIPPED": "36",
    "INCONCLUSIVE": "33",
}
_MAX_NOTES = 10  # tensor notes shown per model
_CONFIRMATION: dict[object, str] = {True: " (confirmed)", False: " (not confirmed by ablation)"}
# tensors listed per model; longer tables keep the failing ones first and hide the rest
_MAX_ROWS = 50


def _neutralise(text: str) -> str:
    """No line may start with '::' (after leading whitespace) nor contain '##[' (the runner's old
    syntax)."""
    # every kind of line break, CR included, becomes '\n'
    return "\n".join(neutralise_line(line) for line in text.splitlines())


def _paint(word: str, color: bool) -> str:
    return f"\x1b[{_COLORS.get(word, '0')}m{word}\x1b[0m" if color else word


def _status_word(model: ModelResult) -> str:
    return (
        "XPASS"
        if now_passes(model)
        else _WORDS.get(model.status, one_line(model.status, 20).upper())
    )


def _block(text: object, indent: str) -> list[str]:
    """A possibly multi-line user message, every line indented under its heading."""
    lines = clean_text(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return [indent + line.rstrip() for line in lines if line.strip()] or [indent + "(no message)"]


def _width(text: str) -> int:
    """The columns `text` takes in a terminal or a CI log: East Asian wide and full-width
    characters take two, combining marks and zero-width characters none (a layer named in Chinese,
    or with an accent written as two code points, would shift every column after it)."""
    width = 0
    for char in text:
        if unicodedata.combining(char) or unicodedata.category(char) in ("Cf", "Mn", "Me"):
            continue
        width += 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1
    return width


def _table(rows: list[list[str]], right: set[int], indent: str = "  ") -> list[str]:
    widths = [max(_width(row[i]) for row in rows) for i in range(len(rows[0]))]
    out = []
    for row in rows:
        cells = []
        for i, (cell, w) in enumerate(zip(row, widths, strict=True)):
            pad = " " * (w - _width(cell))
            cells.append(pad + cell if i in right else cell + pad)
        out.append((indent + "  ".join(cells)).rstrip())
    return out


def _param_rows(model: ModelResult) -> tuple[list[list[str]], int]:
    params = model.params
    hidden = 0
    if len(params) > _MAX_ROWS:  # long tables keep failing tensors first, in their original order
        failing = [p for p in params if p.status == "fail"]
        passing = [p for p in params if p.status != "fail"]
        keep = {id(p) for p in failing[:_MAX_ROWS] + passing[: max(0, _MAX_ROWS - len(failing))]}
        hidden = len(params) - len(keep)
        params = [p for p in params if id(p) in keep]
    rows = [
        [
            "tensor",
            "shape",
            "status",
            "measured",
            "abs err",
            "rel err",
            "tolerance",
            "sensitivity",
            "worst index",
            "location",
        ]
    ]
    for p in params:
        rows.append(
            [
                one_line(p.id, 80),
                shape_text(p.shape),
                one_line(p.status, 12),
                measured(p),
                num(p.max_abs_err),
                num(p.max_rel_err),
                num(p.tolerance),
                num(p.sensitivity),
                index_text(p.worst_index),
                one_line(located(p)),
            ]
        )
    return rows, hidden


def _tensor_notes(m: ModelResult) -> list[str]:
    noted = [p for p in m.params if p.note]
    lines = [f"  note {one_line(p.id, 80)}: " + one_line(p.note, 400) for p in noted[:_MAX_NOTES]]
    if len(noted) > _MAX_NOTES:
        lines.append(f"  ... {len(noted) - _MAX_NOTES} more note(s) in the JSON report")
    return lines


def _diagnosis_lines(m: ModelResult) -> list[str]:
    lines = []
    for d in m.diagnoses:
        confirmed = _CONFIRMATION.get(d.confirmed, "")
        loc = located(d)
        lines.append(
            f"  diagnosis {one_line(d.code, 60)}{confirmed}" + (f" at {loc}" if loc else "")
        )
        lines.extend(_block(d.message, "    "))
        if d.fix:
            fix = _block(d.fix, "    ")
            lines.append("    fix: " + fix[0].strip())
            lines.extend("         " + x.strip() for x in fix[1:])
    return lines


def _data_lines(m: ModelResult) -> list[str]:
    """The shape (and dtype) each input was checked at: a fixed InputLayer shape can differ from
    `data:`."""
    shapes = m.data.get("shapes") if isinstance(m.data, dict) else None
    if not isinstance(shapes, dict) or not shapes:
        return []
    dtypes = m.data.get("dtypes") or {}
    parts = []
    for label, shape in list(shapes.items())[:10]:
        dims = shape_text(shape) if isinstance(shape, list) else one_line(shape, 40)
        dtype = dtypes.get(label) if isinstance(dtypes, dict) else None
        parts.append(f"{one_line(label, 60)} {dims}" + (f" {one_line(dtype, 10)}" if dtype else ""))
    more = f", ... {len(shapes) - 10} more" if len(shapes) > 10 else ""
    return ["  inputs: " + ", ".join(parts) + more]


def _compile_lines(m: ModelResult) -> list[str]:
    """What compiling cost and whether the function cache served it (extra.compile,
    fncache.summary)."""
    compile_info = m.extra.compile
    if compile_info is None:
        return []
    seconds = float((m.seconds or {}).get("compile", 0.0) or 0.0)
    text = f"compile {seconds:.1f}s: " + _cache_text(compile_info)
    diagnosis = m.extra.diagnosis_compile
    if diagnosis is not None and diagnosis.functions:
        text += (
            f"; the diagnosis compiled {diagnosis.functions} more in "
            f"{float(diagnosis.seconds or 0.0):.1f}s ({_cache_text(diagnosis)})"
        )
    return ["  " + one_line(text, 300)]


def _cache_text(info: CompileSummary) -> str:
    cache = info.cache
    if cache == "hit":
        return "loaded from the function cache"
    if cache == "partial":
        return f"{info.hits} of {info.functions} functions loaded from the function cache"
    if cache == "miss":
        kept = " (kept for the next run)" if info.stored else ""
        why = f", {info.reason}" if info.reason else ""
        return f"compiled, not in the function cache{why}{kept}"
    if cache == "uncacheable":
        return f"compiled; the function cache cannot hold it ({info.reason})"
    if cache == "off":
        return "compiled (function cache off)"
    return "nothing to compile"


def _notice_lines(m: ModelResult) -> list[str]:
    lines = []
    for n in m.notices:
        loc = where(repo_path(n.file), positive_line(n.line))
        lines.append(f"  notice {one_line(n.code, 60)}" + (f" at {loc}" if loc else "") + ":")
        lines.extend(_block(n.message, "    "))
    return lines


def _error_lines(m: ModelResult) -> list[str]:
    if m.error is None:
        return []
    if m.status == "cancelled":
        return ["  not checked: " + one_line(m.error.message, 200)]
    if repo_path(m.error.file):
        file, line = repo_path(m.error.file), positive_line(m.error.line)
    else:
        file, line = repo_path(m.config_file), positive_line(m.config_line)
    return [
        f"  {one_line(m.error.kind, 20)} error" + (f" at {where(file, line)}:" if file else ":")
    ] + _block(m.error.message, "    ")


def _tensor_lines(m: ModelResult) -> list[str]:
    """The tensor table, its notes and the sensitivity the check reached."""
    if not m.params:
        return []
    rows, hidden = _param_rows(m)
    lines = _table(rows, right={4, 5, 6, 7})
    if hidden:
        lines.append(f"  ... {hidden} more tensor(s) not shown (see the JSON report)")
    lines.extend(_tensor_notes(m))
    if m.sensitivity is not None and m.status in ("pass", "inconclusive"):
        lines.append("  sensitivity: " + _sensitivity_line(m))
    return lines


def _sensitivity_line(m: ModelResult) -> str:
    """The sensitivity, and which tensors it holds for: those judged (not unjudged, not allowed),
    of those the ones with a nonzero gradient (an all-zero one has no relative error to catch)."""
    unjudged = len(inconclusive_params(m))
    allowed = sum(p.status == "allowed" for p in m.params)
    compared = len(m.params) - unjudged - allowed
    sized = sum(resolved(p.sensitivity) for p in m.params if p.status != "allowed")
    certain = m.mode == "full"
    if not unjudged and not allowed and sized == compared:
        return sensitivity_text(m.sensitivity, certain=certain)
    what = "judged tensors" if unjudged else "tensors"
    if sized < compared:
        what, compared = f"{what} with a gradient above round-off", sized
    aside = f" (the {allowed} allowed aside)" if allowed else ""
    return sensitivity_text(m.sensitivity, compared, what, certain) + aside


def render_model(result: ModelResult, color: bool = False) -> str:
    m = result
    word = _status_word(m)
    total = (m.seconds or {}).get("total", 0.0) or 0.0
    stack = f"  {stack_text(m)}" if stack_text(m) else ""
    header = (
        f"{_paint(word, color)} {one_line(m.name, 200)}  {one_line(m.precision, 20)} "
        f"{one_line(m.mode, 20)}{stack}  evaluations={m.evaluations}  {total:.1f}s  "
        f"seed={m.seed}"
    )
    if m.status == "skipped":  # not checked in this run: no precision, mode or time to show
        header = f"{_paint(word, color)} {one_line(m.name, 200)}"
    lines = [header]
    if word == "XPASS":
        lines.append(
            "  expected to fail (expect: fail) but the gradients now agree: remove `expect: fail`"
        )
    lines.extend(_data_lines(m))
    lines.extend(_compile_lines(m))
    if m.status == "skipped":
        lines.append("  skipped: " + skip_text(m))
    elif m.skipped is not None:  # a known failure, not checked again: its last findings stand
        lines.append(
            f"  {m.status} as last checked: {skip_text(m)}, so it was not checked again; "
            f"the failure "
            "stands until it is (or the entry says `expect: fail`)"
        )
    lines.extend(_error_lines(m))
    lines.extend(_tensor_lines(m))
    if m.status == "inconclusive":
        lines.extend(_block(inconclusive_text(m), "  "))
    lines.extend(_diagnosis_lines(m))
    lines.extend(_notice_lines(m))
    for profile in m.extra.layer_profiles():
        if profile.summary:
            lines.append("  profile: " + one_line(profile.summary, 300))
    if (
        m.status == "fail"
        and word != "XPASS"
        and not m.diagnoses
        and worst_param(m) is not None
        and not m.extra.diagnosis_error  # its notice says why nothing was named
    ):
        lines.append(
            "  no known cause matched; the table shows where analytic and numeric "
            "gradients disagree"
        )
    return _neutralise("\n".join(lines))


def render_config_errors(report: RunReport) -> str:
    """Errors not tied to one model, 'file:line: message' (empty string when there are none)."""
    lines = []
    for error in report.config_errors:
        loc = one_line(where(repo_path(error.file), positive_line(error.line)))
        body = _block(error.message, "")
        lines.append((f"{loc}: " if loc else "") + f"{one_line(error.kind, 20)} error: " + body[0])
        lines.extend("  " + x for x in body[1:])
    return _neutralise("\n".join(lines))


def render_summary(report: RunReport, color: bool = False) -> str:
    counts = status_counts(report)
    parts = [f"{counts[s]} {s}" for s in ("pass", "fail", "expected-fail", "error", "cancelled")]
    if counts["inconclusive"]:
        parts.insert(2, f"{counts['inconclusive']} inconclusive")
    if counts["skipped"]:  # only runs with --changed-since skip models
        parts.append(f"{counts['skipped']} skipped (unchanged)")
    lines = [
        f"gradcheck-ci: {len(report.models)} model(s): " + ", ".join(parts) + f" in "
        f"{report.seconds:.1f}s"
        + (f" (shard {one_line(report.shard, 20)})" if report.shard else "")
    ]

    def names(models: list[ModelResult]) -> str:
        shown = ", ".join(one_line(m.name, 80) for m in models[:10])
        return shown + (f" and {len(models) - 10} more" if len(models) > 10 else "")

    groups = [
        (
            "unexpected gradient mismatch",
            [m for m in report.models if m.status == "fail" and not now_passes(m)],
        ),
        ("could not be checked", [m for m in report.models if m.status == "error"]),
        ("not reached (run cancelled)", [m for m in report.models if m.status == "cancelled"]),
        (
            "expected to fail but now pass (remove `expect: fail`)",
            [m for m in report.models if now_passes(m)],
        ),
        (
            "could not be judged (inconclusive"
            + (
                "; --fail-on-inconclusive fails the run)"
                if report.fail_on_inconclusive
                else ": not a failure)"
            ),
            [m for m in report.models if m.status == "inconclusive"],
        ),
    ]
    for label, models in groups:
        if models:
            lines.append(f"  {label}: {names(models)}")
    if report.config_errors:
        lines.append(f"  configuration errors: {len(report.config_errors)}")
    for problem in report.unwritten:
        lines.append(f"  report not written: {problem}")
    verdict = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[report.status]
    lines.append(f"result: {_paint(verdict, color)} (exit {report.exit_code})")
    return _neutralise("\n".join(lines))
