"""The HTML report: one self-contained page for people (`check --html report.html`, action input
`html-report`).

One file with everything inline: no scripts, no fonts, no images to fetch, and a
Content-Security-Policy that forbids the browser to load anything at all, so the page opens from an
artifact, a mail or a laptop offline and makes no request. It shows the run's summary, then a
section per model: its tensor table with the analytic and the numeric value of each tensor's worst
probe drawn side by side, the diagnosis with the line of the user's code quoted
(ModelResult.sources, quoted when the model was checked), and for a recurrent layer the
gradient-through-time profile, |dL/dh_t| against t, analytic and numeric together: truncation shows
as the analytic curve dropping to zero while the numeric one does not.

Every piece of text that comes from the report is escaped; numbers are formatted, never interpolated
raw.
"""

from __future__ import annotations

import html
import math

from ..core.extra import Profile
from ..core.results import ModelResult, ParamResult, RunReport
from .common import (
    clean_text,
    confirmation,
    error_location,
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
    skip_text,
    stack_text,
    status_counts,
    where,
    worst_param,
)

CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"
ANALYTIC_COLOR = "#1f6feb"
NUMERIC_COLOR = "#d4580f"
MAX_TENSOR_ROWS = 200  # per model; the JSON report has all of them
_STATE_WORDS = {
    "pass": "pass",
    "fail": "fail",
    "expected-fail": "expected fail",
    "error": "error",
    "cancelled": "cancelled",
    "skipped": "skipped",
    "inconclusive": "inconclusive",
    "xpass": "now passes",
}
_ORDER = {
    "error": 0,
    "fail": 1,
    "xpass": 2,
    "inconclusive": 3,
    "cancelled": 4,
    "expected-fail": 5,
    "pass": 6,
    "skipped": 7,
}

_STYLE = """
:root { --fg: #1f2328; --muted: #59636e; --line: #d1d9e0; --bg: #ffffff; --soft: #f6f8fa;
  --pass: #1a7f37; --fail: #cf222e; --warn: #9a6700; --skip: #0969da; }
* { box-sizing: border-box; }
body { margin: 0; padding: 24px; color: var(--fg); background: var(--bg);
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", "Noto Sans", "Liberation Sans", sans-serif; }
main { max-width: 1100px; margin: 0 auto; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 0; }
h3 { font-size: 15px; margin: 18px 0 6px; }
code, pre, .mono { font-family: ui-monospace, "SFMono-Regular", "DejaVu Sans Mono", Menlo,
  Consolas, monospace;
  font-size: 12.5px; }
.meta { color: var(--muted); margin: 2px 0 10px; }
.badge { display: inline-block; min-width: 76px; padding: 1px 8px; border-radius: 10px;
  color: #fff;
  font-size: 12px; font-weight: 600; text-align: center; vertical-align: 2px; }
.s-pass { background: var(--pass); } .s-fail, .s-error { background: var(--fail); }
.s-expected-fail, .s-xpass, .s-cancelled, .s-inconclusive { background: var(--warn); }
.s-skipped { background: var(--skip); }
table { border-collapse: collapse; width: 100%; margin: 6px 0; }
th, td { border-bottom: 1px solid var(--line); padding: 4px 8px; text-align: left;
  vertical-align: middle; }
th { background: var(--soft); font-weight: 600; font-size: 12.5px; }
td.n { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.bad td { background: #fff5f5; }
section.model { border: 1px solid var(--line); border-radius: 8px; padding: 14px 16px;
  margin: 16px 0; }
section.model > details > summary { cursor: pointer; list-style: none; }
section.model > details > summary::-webkit-details-marker { display: none; }
.message { white-space: pre-wrap; margin: 4px 0; }
.fix { margin: 4px 0; } .fix b { color: var(--pass); }
pre.src { background: var(--soft); border: 1px solid var(--line); border-radius: 6px;
  padding: 6px 0;
  overflow-x: auto; margin: 6px 0; }
pre.src span.l { display: block; padding: 0 10px; white-space: pre; }
pre.src span.l.hit { background: #fff8c5; }
pre.src span.ln { display: inline-block; min-width: 3.5em; color: var(--muted); user-select: none; }
.cause { border-left: 3px solid var(--fail); padding: 2px 0 2px 12px; margin: 10px 0; }
.cause.ok { border-left-color: var(--warn); }
.notice { border-left: 3px solid var(--skip); padding: 2px 0 2px 12px; margin: 8px 0; }
.error { border-left: 3px solid var(--fail); padding: 2px 0 2px 12px; }
.chart { margin: 6px 0 2px; } .chart svg { max-width: 100%; height: auto; }
.legend { color: var(--muted); font-size: 12.5px; }
.key { display: inline-block; width: 18px; height: 3px; vertical-align: middle;
  margin: 0 4px 0 10px; }
.counts span { margin-right: 14px; }
footer { color: var(--muted); margin-top: 24px; font-size: 12.5px; }
"""


def esc(value: object) -> str:
    """Report text made safe for HTML text and attribute values alike."""
    return html.escape(clean_text(value), quote=True)


def esc_line(value: object, limit: int | None = None) -> str:
    return html.escape(one_line(value, limit), quote=True)


def fmt(value: float) -> str:
    """An axis or tooltip number: 3 significant digits, scientific when small or large."""
    if value == 0:
        return "0"
    if not math.isfinite(value):
        return num(value)
    exponent = math.floor(math.log10(abs(value)))
    return f"{value:.3g}" if -3 <= exponent <= 4 else f"{value:.2e}"


def _state(model: ModelResult) -> str:
    return "xpass" if now_passes(model) else model.status


def _badge(state: str) -> str:
    return f'<span class="badge s-{esc(state)}">{esc(_STATE_WORDS.get(state, state))}</span>'


# ---------------------------------------------------------------- pictures


def value_bars(
    analytic: float | None, numeric: float | None, width: int = 132, height: int = 26
) -> str:
    """The analytic (top, blue) and numeric (bottom, orange) value of a probe as bars from a shared
    zero line, on one linear scale: a gradient that is orders of magnitude too small shows as a
    missing top bar."""
    values = [v for v in (analytic, numeric) if v is not None and math.isfinite(v)]
    if len(values) < 2:
        return '<span class="mono">-</span>'
    scale = max(abs(v) for v in values) or 1.0
    middle, half = width / 2, width / 2 - 2
    parts = [
        f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg"><title>analytic {esc(fmt(values[0]))}, '
        f"numeric {esc(fmt(values[1]))}</title>",
        f'<line x1="{middle}" y1="1" x2="{middle}" y2="{height - 1}" stroke="#8c959f" '
        f'stroke-width="1"/>',
    ]
    for row, (value, color) in enumerate(((values[0], ANALYTIC_COLOR), (values[1], NUMERIC_COLOR))):
        length = abs(value) / scale * half
        x = middle if value >= 0 else middle - length
        y = 3 + row * (height - 4) / 2
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{max(length, 0.6):.1f}" '
            f'height="{(height - 10) / 2:.1f}" fill="{color}"/>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _profile_series(profile: Profile) -> tuple[list[int], list[float], list[float]] | None:
    steps, analytic, numeric = profile.steps, profile.analytic, profile.numeric
    if not steps or not len(steps) == len(analytic) == len(numeric):
        return None
    return steps, [abs(float(a)) for a in analytic], [abs(float(n)) for n in numeric]


class _Axes:
    """Plot coordinates: t (linear, or log of the distance from the last step when the profile
    samples a long sequence sparsely, as diagnose/profile.py does) and log10 |value|, with a band
    below for exact zeros."""

    left, right, top, bottom = 64, 14, 14, 40

    def __init__(
        self, steps: list[int], total: int, values: list[float], width: int, height: int
    ) -> None:
        self.width, self.height = width, height
        self.total = max(total, max(steps) + 1)
        self.log_t = self.total > 4 * len(steps) and self.total > 20
        positive = [v for v in values if v > 0 and math.isfinite(v)]
        high = max(positive) if positive else 1.0
        low = min(positive) if positive else 1.0
        self.y_max = math.ceil(math.log10(high) + 0.05)
        self.y_min = min(math.floor(math.log10(low) - 0.05), self.y_max - 1)
        # exact zeros sit on this band, under the lowest decade
        self.zero_y = height - self.bottom + 2
        self.plot_bottom = height - self.bottom - 14

    def _t_position(self, t: int) -> float:
        if not self.log_t:
            return t / max(self.total - 1, 1)
        span = math.log10(self.total)
        return 1.0 - math.log10(1 + (self.total - 1 - t)) / span

    def x(self, t: int) -> float:
        return self.left + self._t_position(t) * (self.width - self.left - self.right)

    def y(self, value: float) -> float:
        if not value > 0 or not math.isfinite(value):
            return float(self.zero_y)
        share = (math.log10(value) - self.y_min) / max(self.y_max - self.y_min, 1e-9)
        return self.plot_bottom - share * (self.plot_bottom - self.top)

    def t_ticks(self) -> list[int]:
        last = self.total - 1
        if not self.log_t:
            count = min(last, 6) or 1
            return sorted({round(last * k / count) for k in range(count + 1)})
        ticks = {0, last}
        distance = 1
        while distance < last:
            ticks.add(last - distance)
            distance *= 10
        return sorted(t for t in ticks if t >= 0)

    def y_ticks(self) -> list[int]:
        decades = list(range(self.y_min, self.y_max + 1))
        stride = max(1, math.ceil(len(decades) / 6))
        return decades[::-1][::stride]


def profile_chart(profile: Profile, width: int = 720, height: int = 260) -> str:
    """The gradient-through-time profile of one recurrent layer as an inline SVG line chart."""
    series = _profile_series(profile)
    if series is None:
        return ""
    steps, analytic, numeric = series
    axes = _Axes(steps, profile.steps_total, analytic + numeric, width, height)
    label = esc_line(profile.layer, 80)
    out = [
        f'<svg role="img" viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="system-ui, sans-serif" font-size="11">'
        f"<title>|dL/dh_t| against t for {label}: analytic and numeric</title>"
    ]
    plot_right = width - axes.right
    for decade in axes.y_ticks():
        y = axes.y(10.0**decade)
        out.append(
            f'<line x1="{axes.left}" y1="{y:.1f}" x2="{plot_right}" y2="{y:.1f}" '
            f'stroke="#eaeef2"/><text x="{axes.left - 6}" y="{y + 4:.1f}" text-anchor="end" '
            f'fill="#59636e">1e{decade}</text>'
        )
    out.append(
        f'<line x1="{axes.left}" y1="{axes.zero_y}" x2="{plot_right}" y2="{axes.zero_y}" '
        'stroke="#d1d9e0" stroke-dasharray="3 3"/>'
        f'<text x="{axes.left - 6}" y="{axes.zero_y + 4}" text-anchor="end" '
        f'fill="#59636e">0</text>'
    )
    for t in axes.t_ticks():
        x = axes.x(t)
        out.append(
            f'<line x1="{x:.1f}" y1="{axes.zero_y + 4}" x2="{x:.1f}" y2="{axes.zero_y + 8}" '
            f'stroke="#8c959f"/><text x="{x:.1f}" y="{axes.zero_y + 20}" '
            f'text-anchor="middle" fill="#59636e">{t}</text>'
        )
    axis_name = (
        "t (time step; spaced by log of the distance from the last step)"
        if axes.log_t
        else "t (time step)"
    )
    out.append(
        f'<text x="{(axes.left + plot_right) / 2:.0f}" y="{height - 4}" '
        f'text-anchor="middle" fill="#59636e">{axis_name}</text>'
        f'<text x="12" y="{(axes.top + axes.plot_bottom) / 2:.0f}" fill="#59636e" '
        f'text-anchor="middle" transform="rotate(-90 12 '
        f'{(axes.top + axes.plot_bottom) / 2:.0f})">|dL/dh_t|</text>'
    )
    for values, color, dash, marker in (
        (numeric, NUMERIC_COLOR, "5 3", "circle"),
        (analytic, ANALYTIC_COLOR, "", "square"),
    ):
        points = " ".join(f"{axes.x(t):.1f},{axes.y(v):.1f}" for t, v in zip(steps, values))
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        out.append(
            f'<polyline points="{points}" fill="none" stroke="{color}" stroke-width="1.8"{dashes}/>'
        )
        for t, v in zip(steps, values):
            x, y = axes.x(t), axes.y(v)
            tip = (
                f"<title>t={t}: {'numeric' if marker == 'circle' else 'analytic'} "
                f"{esc(fmt(v))}</title>"
            )
            if marker == "circle":
                out.append(
                    f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.2" fill="{color}">{tip}</circle>'
                )
            else:
                out.append(
                    f'<rect x="{x - 3:.1f}" y="{y - 3:.1f}" width="6" height="6" '
                    f'fill="{color}">{tip}</rect>'
                )
    out.append("</svg>")
    return "".join(out)


# ---------------------------------------------------------------- sections


def quote(model: ModelResult, file: str | None, line: int | None) -> str:
    """The quoted statement at file:line from the model's recorded sources, the recorded line
    highlighted."""
    if not file or not line:
        return ""
    lines = model.sources.get(file) or {}
    if str(line) not in lines:
        return ""
    rows = []
    number = line
    while str(number) in lines:
        text = clean_text(lines[str(number)]).replace("\t", "    ").replace("\n", " ")
        hit = " hit" if number == line else ""
        rows.append(
            f'<span class="l{hit}"><span class="ln">{number}</span>{html.escape(text)}</span>'
        )
        number += 1
    return f'<pre class="src" title="{esc(file)}">' + "".join(rows) + "</pre>"


def _location(file: str | None, line: int | None) -> str:
    loc = where(repo_path(file), positive_line(line))
    return f" at <code>{esc_line(loc, 200)}</code>" if loc else ""


def _tensor_rows(model: ModelResult) -> str:
    params = sorted(model.params, key=lambda p: (p.status != "fail", -over_tolerance(p)))
    shown = params[:MAX_TENSOR_ROWS]
    out = [
        "<table><thead><tr><th>tensor</th><th>shape</th><th>status</th>"
        '<th title="what the errors are errors of: an element, a random direction, or the '
        "tensor's band\">measured</th><th>abs err</th><th>tolerance</th><th>rel "
        'err</th><th>worst index</th><th title="the analytic (blue) and numeric (orange) '
        'derivative of the worst probe">analytic vs '
        "numeric</th><th>where</th></tr></thead><tbody>"
    ]
    for p in shown:
        out.append(_tensor_row(p))
    out.append("</tbody></table>")
    if len(params) > len(shown):
        out.append(
            f'<p class="meta">{len(params) - len(shown)} more tensor(s) in the JSON report.</p>'
        )
    return "".join(out)


def _tensor_row(p: ParamResult) -> str:
    bad = ' class="bad"' if p.status == "fail" else ""
    index = index_text(p.worst_index)
    probe = (
        f"{fmt(p.analytic)} vs {fmt(p.numeric)}"
        if p.analytic is not None and p.numeric is not None
        else ""
    )
    return (
        f"<tr{bad}><td><code>{esc_line(p.id, 120)}</code></td><td "
        f'class="mono">{esc(shape_text(p.shape))}</td><td>{esc_line(p.status, 12)}</td>'
        f"<td>{esc(measured(p))}</td>"
        f'<td class="n">{esc(num(p.max_abs_err))}</td>'
        f'<td class="n">{esc(num(p.tolerance))}</td><td '
        f'class="n">{esc(num(p.max_rel_err))}</td><td class="mono">{esc(index)}</td>'
        f'<td title="{esc(probe)}">{value_bars(p.analytic, p.numeric)}</td>'
        f"<td "
        f'class="mono">{esc_line(located(p), 120)}</td></tr>'
    )


def _diagnoses(model: ModelResult) -> str:
    if not model.diagnoses:
        return ""
    out = ["<h3>Diagnosis</h3>"]
    for d in model.diagnoses:
        ok = " ok" if model.status == "expected-fail" else ""
        out.append(
            f'<div class="cause{ok}"><b>{esc_line(d.code, 60)}</b>{esc(confirmation(d))}'
            + (f" at <code>{esc_line(located(d), 200)}</code>" if located(d) else "")
            + f'<p class="message">{esc(clean_text(d.message).strip())}</p>'
            + (f'<p class="fix"><b>Fix:</b> {esc(clean_text(d.fix).strip())}</p>' if d.fix else "")
            + quote(model, repo_path(d.file), positive_line(d.line))
            + "</div>"
        )
    return "".join(out)


def _profiles(model: ModelResult) -> str:
    charts = []
    for profile in model.extra.layer_profiles():
        chart = profile_chart(profile)
        if not chart:
            continue
        summary = one_line(profile.summary, 400)
        charts.append(
            f'<figure class="chart">{chart}<figcaption class="legend">'
            f'<span class="key" style="background:{ANALYTIC_COLOR}"></span>analytic '
            f'(Theano)<span class="key" '
            f'style="background:{NUMERIC_COLOR}"></span>numeric (finite differences)'
            + (f" — {esc(summary)}" if summary else "")
            + "</figcaption></figure>"
        )
    if not charts:
        return ""
    return (
        "<h3>Gradient through time</h3><p class=\"meta\">The loss's sensitivity to the layer's "
        "input at each sampled step t, along a random direction. Truncated backpropagation "
        "shows as the analytic curve dropping to zero where the numeric one does not.</p>"
        + "".join(charts)
    )


def _notices(model: ModelResult) -> str:
    out = []
    for n in model.notices:
        out.append(
            f'<div class="notice"><b>notice '
            f"{esc_line(n.code, 60)}</b>{_location(n.file, n.line)}<p "
            f'class="message">{esc(clean_text(n.message).strip())}</p>'
            + quote(model, repo_path(n.file), positive_line(n.line))
            + "</div>"
        )
    return "".join(out)


def _error(model: ModelResult, report: RunReport) -> str:
    if model.error is None:
        return ""
    file, line = error_location(model, report)
    what = (
        "not checked"
        if model.status == "cancelled"
        else (f"{one_line(model.error.kind, 30)} error")
    )
    return (
        f'<div class="error"><b>{esc(what)}</b>{_location(file, line)}'
        f"<p "
        f'class="message">{esc(clean_text(model.error.message).strip() or "(no message)")}</p>'
        + quote(model, file, line)
        + "</div>"
    )


def model_section(index: int, model: ModelResult, report: RunReport) -> str:
    state = _state(model)
    seconds = float((model.seconds or {}).get("total", 0.0) or 0.0)
    worst = worst_param(model)
    headline = ""
    if worst is not None:
        headline = (
            f" — <code>{esc_line(worst.id, 100)}</code> {esc(num(over_tolerance(worst)))}× "
            f"tolerance"
        )
    meta = [
        f"factory <code>{esc_line(model.factory, 120)}</code>" if model.factory else "",
        f"seed {model.seed}",
        esc_line(model.precision, 20),
        esc_line(model.mode, 20),
        esc_line(stack_text(model), 30),
        f"{model.evaluations} evaluations" if model.evaluations else "",
        f"loss {esc_line(model.loss, 60)}" if model.loss else "",
        f"{seconds:.1f} s",
    ]
    body = [f'<p class="meta">{" · ".join(m for m in meta if m)}</p>']
    if model.status == "skipped":
        body.append(f'<p class="message">Skipped: {esc(skip_text(model))}</p>')
    if state == "xpass":
        body.append(
            '<p class="message">Marked <code>expect: fail</code> but the gradients now '
            "agree: remove the "
            "mark so a regression is caught.</p>"
        )
    body.append(_error(model, report))
    if model.params:
        body.append("<h3>Tensors</h3>" + _tensor_rows(model))
    body.append(_diagnoses(model))
    body.append(_profiles(model))
    body.append(_notices(model))
    open_attr = " open" if state in ("fail", "error", "xpass", "expected-fail") else ""
    return (
        f'<section class="model" '
        f'id="model-{index}"><details{open_attr}><summary><h2>{_badge(state)} '
        f"{esc_line(model.name, 200)}{headline}</h2></summary>"
        + "".join(body)
        + "</details></section>"
    )


def _overview(report: RunReport, order: list[int]) -> str:
    rows = []
    for i in order:
        model = report.models[i]
        shown = shown_param(model)
        cause = ""
        if model.status == "error" and model.error:
            cause = model.error.kind
        elif model.diagnoses:
            cause = ", ".join(d.code for d in model.diagnoses[:3])
        elif model.status == "skipped" and model.skipped:
            cause = model.skipped.reason
        seconds = float((model.seconds or {}).get("total", 0.0) or 0.0)
        rows.append(
            f"<tr><td>{_badge(_state(model))}</td><td><a "
            f'href="#model-{i}">{esc_line(model.name, 100)}</a></td>'
            f"<td><code>{esc_line(shown.id, 80) if shown else ''}</code></td>"
            f'<td class="n">{esc(num(over_tolerance(shown))) + "×" if shown else ""}</td>'
            f'<td>{esc_line(cause, 80)}</td><td class="n">{seconds:.1f}</td></tr>'
        )
    return (
        "<table><thead><tr><th>status</th><th>model</th><th>worst tensor</th><th>error / "
        "tolerance</th><th>cause</th><th>s</th></tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table>"
    )


def _header(report: RunReport, tool_version: str) -> str:
    counts = status_counts(report)
    verdict = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[report.status]
    config = repo_path(report.config_file) or report.config_file
    parts = [
        f"<span>{counts[s]} {esc(_STATE_WORDS[s])}</span>"
        for s in counts
        if counts[s] or s in ("pass", "fail")
    ]
    lines = [
        f"<h1>{_badge(report.status)} gradcheck-ci: {verdict}</h1>",
        f'<p class="meta">{esc_line(config, 200)} · {len(report.models)} model(s) · '
        f"{report.seconds:.1f} s · "
        f"exit {report.exit_code}"
        + (f" · shard {esc_line(report.shard, 20)}" if report.shard else "")
        + f" · gradcheck-ci {esc_line(report.version or tool_version, 40)}</p>",
        f'<p class="counts">{"".join(parts)}</p>',
    ]
    changed = report.changed_since
    if isinstance(changed, dict) and changed.get("message"):
        lines.append(
            f'<p class="meta">--changed-since: {esc_line(changed.get("message"), 400)}</p>'
        )
    for error in report.config_errors:
        loc = where(repo_path(error.file) or config, positive_line(error.line))
        lines.append(
            f'<div class="error"><b>{esc_line(error.kind, 30)} error</b> at '
            f"<code>{esc_line(loc, 200)}</code><p "
            f'class="message">{esc(clean_text(error.message).strip())}</p></div>'
        )
    return "".join(lines)


def render_html(report: RunReport, tool_version: str) -> str:
    order = sorted(
        range(len(report.models)),
        key=lambda i: (_ORDER.get(_state(report.models[i]), 9), -model_score(report.models[i]), i),
    )
    verdict = {"pass": "PASS", "fail": "FAIL", "error": "ERROR"}[report.status]
    title = (
        f"gradcheck-ci: {verdict} · "
        f"{one_line(repo_path(report.config_file) or report.config_file, 120)}"
    )
    sections = "".join(model_section(i, report.models[i], report) for i in order)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{esc(title)}</title><style>{_STYLE}</style></head><body><main>"
        + _header(report, tool_version)
        + (_overview(report, order) if report.models else "")
        + sections
        + f"<footer>Written by gradcheck-ci {esc_line(tool_version, 40)}. Analytic: Theano's "
        f"symbolic gradient; "
        "numeric: central finite differences. Paths are relative to the repository "
        "root.</footer>" + "</main></body></html>\n"
    )
