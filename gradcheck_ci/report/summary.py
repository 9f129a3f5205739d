"""Markdown for $GITHUB_STEP_SUMMARY: verdict, a phone-sized table, details for what went wrong.

GitHub drops a step's whole summary above 1 MiB, so the output is kept under max_bytes whatever the
number of models: detail sections go first, then the least important rows, and the text says what
was left out.
"""

from __future__ import annotations

import html
import math
import re

from ..core.extra import Profile
from ..core.results import ModelResult, RunReport
from .common import (
    clean_text,
    confirmation,
    error_location,
    inconclusive_text,
    index_text,
    located,
    measured,
    model_score,
    now_passes,
    num,
    one_line,
    over_tolerance,
    positive_line,
    repo_path,
    shape_text,
    shown_param,
    stack_text,
    status_counts,
    where,
    worst_param,
)

_BADGE = {
    "pass": "✅ pass",
    "fail": "❌ fail",
    "expected-fail": "☑️ xfail",
    "error": "💥 error",
    "cancelled": "⏹️ cancelled",
    "xpass": "⚠️ xpass",
    "skipped": "⏭️ skipped",
    "inconclusive": "❔ inconclusive",
}
# Which rows survive a cut: errors and failures before the models that behaved.
_IMPORTANCE = {
    "error": 0,
    "fail": 1,
    "xpass": 2,
    "inconclusive": 3,
    "cancelled": 3,
    "expected-fail": 4,
    "pass": 5,
    "skipped": 6,
}
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")
_NOTES_RESERVE = 2048  # bytes kept free for the "left out" notes
_DETAIL_TENSORS = 20
_DETAIL_MESSAGE = 1500


def md(value: object, limit: int = 60) -> str:
    """User text as one Markdown table cell / inline text: no line breaks, no HTML, no formatting,
    '|' escaped."""
    return _MD_SPECIAL.sub(r"\\\1", html.escape(one_line(value, limit), quote=False))


def _plain_html(value: object, limit: int = 80) -> str:
    # Inside <summary> Markdown is not rendered, so only HTML escaping applies.
    return html.escape(one_line(value, limit), quote=False)


def _state(model: ModelResult) -> str:
    return "xpass" if now_passes(model) else model.status


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _verdict(report: RunReport, counts: dict[str, int]) -> str:
    failing = counts["fail"] - sum(1 for m in report.models if m.status == "fail" and now_passes(m))
    if report.status == "pass":
        checked = len(report.models) - counts["skipped"]
        skipped = f", {counts['skipped']} skipped (unchanged)" if counts["skipped"] else ""
        verdict = (
            f"✅ gradcheck-ci: {checked} model(s) checked{skipped}, no unexpected gradient mismatch"
        )
        if counts["inconclusive"]:
            verdict += f" ({counts['inconclusive']} inconclusive)"
    elif report.status == "fail":
        verdict = f"❌ gradcheck-ci: {counts['fail']} model(s) with an unexpected result"
        if failing == counts["fail"]:
            verdict = f"❌ gradcheck-ci: gradient mismatch in {failing} model(s)"
        if counts["inconclusive"] and report.fail_on_inconclusive:
            verdict = (
                f"❌ gradcheck-ci: {counts['fail'] + counts['inconclusive']} model(s) "
                f"failing or inconclusive "
                "(--fail-on-inconclusive)"
            )
    else:
        problems = [
            f"{counts['error']} model(s) could not be checked" if counts["error"] else "",
            f"{counts['cancelled']} not reached (cancelled)" if counts["cancelled"] else "",
            f"{len(report.config_errors)} configuration error(s)" if report.config_errors else "",
        ]
        verdict = "💥 gradcheck-ci: " + ", ".join(p for p in problems if p)
    return verdict


def _headline(report: RunReport) -> str:
    counts = status_counts(report)
    verdict = _verdict(report, counts)
    parts = [f"**{len(report.models)} models**"]
    for status in (
        "pass",
        "fail",
        "inconclusive",
        "expected-fail",
        "error",
        "cancelled",
        "skipped",
    ):
        if counts[status] or status in ("pass", "fail"):
            parts.append(
                f"{_BADGE[status].split()[0]} {counts[status]} {_BADGE[status].split()[1]}"
            )
    xpass = sum(1 for m in report.models if now_passes(m))
    if xpass:
        parts.append(f"⚠️ {xpass} xpass (expected to fail, now passes)")
    config = repo_path(report.config_file) or report.config_file
    parts.append(md(config, 80))
    if report.shard:
        parts.append(f"shard {md(report.shard, 20)}")
    parts.append(f"{report.seconds:.1f} s · exit {report.exit_code}")
    lines = [f"### {verdict}", "", " · ".join(parts), ""]
    for error in report.config_errors[:10]:
        loc = where(
            repo_path(error.file) or repo_path(report.config_file), positive_line(error.line)
        )
        lines.append(f"- 💥 {md(loc, 120)}: {md(error.message, 300)}")
    if len(report.config_errors) > 10:
        lines.append(f"- … and {len(report.config_errors) - 10} more configuration error(s)")
    if report.config_errors:
        lines.append("")
    return "\n".join(lines) + "\n"


_TABLE_HEAD = (
    "| Status | Model | Worst tensor | Rel err (×tol) | Cause | s |\n|---|---|---|---|---|--:|\n"
)


def _row(model: ModelResult) -> str:
    state = _state(model)
    shown = shown_param(model)
    tensor = md(shown.id, 40) if shown is not None else ""
    err = f"{num(shown.max_rel_err)} ({num(over_tolerance(shown))}×)" if shown is not None else ""
    if model.status == "error":
        cause = md(model.error.kind if model.error else "error", 24)
    elif model.status == "skipped":
        cause = md(model.skipped.reason if model.skipped else "skipped", 24)
    elif model.diagnoses:
        cause = md(model.diagnoses[0].code, 32) + (
            f" +{len(model.diagnoses) - 1}" if len(model.diagnoses) > 1 else ""
        )
    else:
        cause = ""
    seconds = (model.seconds or {}).get("total", 0.0) or 0.0
    badge = _BADGE.get(state, md(state, 12))
    return f"| {badge} | {md(model.name, 48)} | {tensor} | {err} | {cause} | {seconds:.1f} |\n"


def _fence(text: str) -> str:
    # A fence longer than any backtick run inside, so user text cannot close the code block.
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}\n"


def _what(model: ModelResult) -> str:
    """What went wrong, in a few words, for a details heading."""
    worst = worst_param(model)
    if model.status == "error":
        return f"{one_line(model.error.kind, 24) if model.error else 'model'} error"
    if model.status == "inconclusive":
        return "could not be judged"
    return (
        f"{one_line(worst.id, 60)} {num(over_tolerance(worst))}× tolerance" if worst else "mismatch"
    )


def _details(model: ModelResult, report: RunReport) -> str:
    state = _state(model)
    what = _what(model)
    out = [
        f"<details><summary>{_BADGE.get(state, '')} {_plain_html(model.name, 60)}: "
        f"{_plain_html(what, 90)}"
        "</summary>\n\n"
    ]
    stack = f"{md(stack_text(model), 20)} · " if stack_text(model) else ""
    out.append(
        f"Replay: seed={model.seed} · {md(model.precision, 12)} · {md(model.mode, 12)} · "
        f"{stack}{model.evaluations} evaluations\n\n"
    )
    if model.status == "inconclusive":
        out.append(md(inconclusive_text(model), 600) + "\n\n")
    if model.error is not None:
        loc = where(*error_location(model, report))
        message = clean_text(model.error.message).strip()
        if len(message) > _DETAIL_MESSAGE:
            message = message[:_DETAIL_MESSAGE] + "…"
        out.append(
            (f"At {md(loc, 120)}:\n\n" if loc else "") + _fence(message or "(no message)") + "\n"
        )
    params = sorted(model.params, key=lambda p: (p.status != "fail", -over_tolerance(p)))
    if params:
        out.append(
            "| Tensor | Shape | Status | Measured | Rel err | Abs err / tol | Worst index | "
            "Where |\n|---|---|---|---|--:|--:|---|---|\n"
        )
        for p in params[:_DETAIL_TENSORS]:
            out.append(
                f"| {md(p.id, 60)} | {md(shape_text(p.shape), 20)} | {md(p.status, 8)} | "
                f"{measured(p)} | {num(p.max_rel_err)} | {num(p.max_abs_err)} / "
                f"{num(p.tolerance)} | {md(index_text(p.worst_index), 24)} | "
                f"{md(located(p), 100)} |\n"
            )
        if len(params) > _DETAIL_TENSORS:
            out.append(f"\n… {len(params) - _DETAIL_TENSORS} more tensor(s) in the JSON report.\n")
        out.append("\n")
    for d in model.diagnoses[:5]:
        confirmed = confirmation(d)
        loc = located(d)
        out.append(
            f"- **{md(d.code, 40)}**{confirmed}"
            + (f" at {md(loc, 120)}" if loc else "")
            + f": {md(d.message, 400)}"
            + (f" **Fix:** {md(d.fix, 300)}" if d.fix else "")
            + "\n"
        )
    if model.diagnoses:
        out.append("\n")
    # the first three layers profiled (a failed profile draws no chart)
    out.extend(profile_chart(p) for p in model.extra.layer_profiles(first=3))
    for n in model.notices[:5]:
        loc = where(repo_path(n.file), positive_line(n.line))
        out.append(
            f"- notice **{md(n.code, 40)}**"
            + (f" at {md(loc, 80)}" if loc else "")
            + f": {md(n.message, 400)}\n"
        )
    if model.notices:
        out.append("\n")
    out.append("</details>\n\n")
    return "".join(out)


_MERMAID_UNSAFE = re.compile(r"[^A-Za-z0-9#._ -]")
_ZERO_FLOOR = 2  # exact zeros are drawn this many decades under the smallest non-zero value


def profile_chart(profile: Profile) -> str:
    """A recurrent layer's gradient-through-time profile as a Mermaid xychart (GitHub renders it in
    job summaries): log10 |dL/dh_t| at the sampled steps, analytic then numeric; exact zeros sit on
    a floor under the smallest value, which is how truncated backpropagation shows. Empty when the
    data are unusable."""
    steps = profile.steps
    series = [[abs(float(v)) for v in values] for values in (profile.analytic, profile.numeric)]
    values = [v for s in series for v in s]
    if (
        not steps
        or any(len(s) != len(steps) for s in series)
        or not all(math.isfinite(v) for v in values)
    ):
        return ""
    positive = [v for v in values if v > 0]
    if not positive:
        return ""
    top = math.ceil(math.log10(max(positive)))
    floor = math.floor(math.log10(min(positive))) - _ZERO_FLOOR
    lines = [[round(math.log10(v), 2) if v > 0 else floor for v in s] for s in series]
    layer = _MERMAID_UNSAFE.sub("", profile.layer)[:60] or "recurrent layer"
    summary = one_line(profile.summary, 300)
    return (
        "```mermaid\n"
        '%%{init: {"themeVariables": {"xyChart": {"plotColorPalette": "#1f6feb, '
        '#d4580f"}}}}%%\n'
        "xychart-beta\n"
        f'    title "{layer}: log10 |dL/dh_t| by time step"\n'
        f'    x-axis "t" [{", ".join(str(t) for t in steps)}]\n'
        f'    y-axis "log10 |dL/dh_t|" {floor} --> {top}\n'
        + "".join(f"    line [{', '.join(str(v) for v in line)}]\n" for line in lines)
        + "```\n\n"
        f"_Blue: analytic (Theano), orange: numeric (finite differences); {floor} stands for "
        f"exactly 0._" + (f" {md(summary, 300)}" if summary else "") + "\n\n"
    )


def _cut_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[: max(max_bytes, 0)].decode("utf-8", "ignore")


def html_link(html_report: str, run_url: str | None = None) -> str:
    """The line that points at the HTML report: a file of the job, found under the run's artifacts
    once a later step uploads it (actions/upload-artifact); the run's page lists them."""
    where = f" ([this run's artifacts]({run_url}#artifacts), once uploaded)" if run_url else ""
    return (
        f"📊 Charts and quoted source lines: the HTML report `{md(html_report, 200)}`{where}; "
        "upload it with `actions/upload-artifact`.\n\n"
    )


def render_step_summary(
    report: RunReport,
    max_bytes: int = 200_000,
    omitted_annotations: int = 0,
    html_report: str | None = None,
    run_url: str | None = None,
) -> str:
    head = _headline(report) + (html_link(html_report, run_url) if html_report else "")
    ranked = sorted(
        enumerate(report.models),
        key=lambda im: (_IMPORTANCE.get(_state(im[1]), 9), -model_score(im[1]), im[0]),
    )
    budget = (
        max_bytes - _NOTES_RESERVE - _size(head) - (_size(_TABLE_HEAD) + 1 if report.models else 0)
    )

    rows: list[str] = []
    for _, model in ranked:
        row = _row(model)
        if _size(row) > budget:
            break
        rows.append(row)
        budget -= _size(row)
    left_rows = [m for _, m in ranked[len(rows) :]]

    wanted = [
        m for _, m in ranked if m.status in ("fail", "error", "inconclusive") and not now_passes(m)
    ]
    details: list[str] = []
    for model in wanted:
        section = _details(model, report)
        if _size(section) <= budget:
            details.append(section)
            budget -= _size(section)

    notes = []
    if left_rows:
        by_state: dict[str, int] = {}
        for m in left_rows:
            by_state[_state(m)] = by_state.get(_state(m), 0) + 1
        breakdown = ", ".join(
            f"{n} {s}"
            for s, n in sorted(by_state.items(), key=lambda kv: _IMPORTANCE.get(kv[0], 9))
        )
        notes.append(
            f"_{len(left_rows)} of {len(report.models)} rows left out to keep this "
            f"summary small ({breakdown}); the job log and the JSON report list every "
            f"model._"
        )
    if len(details) < len(wanted):
        notes.append(
            f"_Details left out for {len(wanted) - len(details)} failing model(s); see "
            f"the job log._"
        )
    if omitted_annotations > 0:
        notes.append(
            f"_{omitted_annotations} annotation(s) not shown (GitHub keeps 10 of each "
            f"kind per step); "
            "see the job log._"
        )
    text = head + (_TABLE_HEAD + "".join(rows) + "\n" if rows else "") + "".join(details)
    text += "\n\n".join(notes) + ("\n" if notes else "")
    if _size(text) > max_bytes:  # only for absurdly small caps: never exceed what we promised
        text = _cut_utf8(text, max_bytes)
    return text
