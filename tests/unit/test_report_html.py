"""The HTML report: self-contained (nothing a browser would fetch), escaped, and its pictures say
what they show.

The real browser's view of it (no console errors, no requests, a screenshot) is
tests/integration/test_html_report.py.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

from gradcheck_ci.core.extra import ModelExtra, Profile
from gradcheck_ci.core.results import Notice, SkipInfo
from gradcheck_ci.report.html import CSP, profile_chart, render_html, value_bars
from tests.samples import HOSTILE, hostile_report, model, param, sample_report, truncated_diagnosis

VOID = {
    "meta",
    "br",
    "hr",
    "img",
    "input",
    "link",
    "area",
    "base",
    "col",
    "embed",
    "source",
    "track",
    "wbr",
}
SVG_LEAVES = {"line", "rect", "circle", "polyline", "path"}


class Tags(HTMLParser):
    """Every start tag with its attributes, and whether the elements nest properly."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()

    def handle_data(self, data):
        self.text.append(data)


def parse(text: str) -> Tags:
    tags = Tags()
    tags.feed(text)
    tags.close()
    return tags


def profile(analytic=None, numeric=None, steps=None, total=10000, layer="RecurrentLayer#0"):
    steps = steps or [0, 1, 2, 6862, 9015, 9691, 9903, 9970, 9990, 9997, 9998, 9999]
    return Profile(
        layer=layer,
        file="models/rnn.py",
        line=14,
        input="InputLayer#0",
        steps_total=total,
        steps=steps,
        analytic=analytic or [0.0] * (len(steps) - 1) + [4.15e-08],
        numeric=numeric
        or [
            4e-08,
            -3e-08,
            3.6e-09,
            7.7e-08,
            1.2e-08,
            -2.2e-08,
            -4.7e-08,
            -2.8e-08,
            5.2e-08,
            3.8e-09,
            -2.4e-08,
            4.15e-08,
        ],
        agree=[False] * (len(steps) - 1) + [True],
        analytic_nonzero_steps=[total - 1, total - 1],
        summary="analytic gradient is zero before the last 1",
    )


def reported_network():
    failing = model(
        "seed-rnn-truncated",
        "fail",
        diagnoses=[truncated_diagnosis()],
        params=[
            param(
                "RecurrentLayer#0.W_in_to_hid", "fail", abs_err=2.3e-3, rel=1.0, tol=2.4e-8, line=21
            )
        ],
    )
    failing.extra.profiles = [profile()]
    failing.sources = {
        "models/rnn.py": {
            "21": "    l_rnn = RecurrentLayer(",
            "22": "        l_in, 2,",
            "23": "        gradient_steps=gradient_steps)",
        }
    }
    report = sample_report()
    report.models[1] = failing
    return report


def test_one_self_contained_page_with_a_section_per_model():
    report = reported_network()
    text = render_html(report, "0.1.0")
    tags = parse(text)
    assert tags.problems == [] and tags.stack == []
    assert text.startswith("<!DOCTYPE html>")
    assert ("meta", {"http-equiv": "Content-Security-Policy", "content": CSP}) in tags.tags
    assert "default-src 'none'" in CSP and "script" not in CSP
    names = [tag for tag, _ in tags.tags]
    assert not {
        "script",
        "link",
        "img",
        "iframe",
        "object",
        "embed",
        "audio",
        "video",
        "base",
        "form",
    } & set(names)
    for tag, attrs in tags.tags:
        assert "src" not in attrs and "srcset" not in attrs, tag
        if "href" in attrs:
            assert attrs["href"].startswith("#"), attrs  # in-page links only
    assert "url(" not in text and "@import" not in text and "@font-face" not in text
    sections = [attrs["id"] for tag, attrs in tags.tags if tag == "section"]
    assert sections and len(sections) == len(report.models)
    for i, _ in enumerate(report.models):
        assert ("a", {"href": f"#model-{i}"}) in tags.tags


def test_the_failing_model_shows_its_table_cause_quoted_line_and_profile():
    text = render_html(reported_network(), "0.1.0")
    assert "RecurrentLayer#0.W_in_to_hid" in text and "truncated-bptt" in text
    assert (
        '<span class="l hit"><span class="ln">21</span>    l_rnn = RecurrentLayer(</span>' in text
    )
    assert '<span class="ln">23</span>        gradient_steps=gradient_steps)' in text
    assert "Gradient through time" in text and "|dL/dh_t| against t for RecurrentLayer#0" in text


def test_hostile_text_is_escaped_everywhere():
    report = hostile_report()
    report.models[0].sources = {HOSTILE: {"9": HOSTILE}}
    report.models[0].extra.profiles = [profile(layer=HOSTILE)]
    text = render_html(report, "0.1.0")
    tags = parse(text)
    assert tags.problems == [] and tags.stack == []
    assert "<b>|</b>" not in text and "&lt;b&gt;|&lt;/b&gt;" in text
    assert not re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u2028]", text)
    assert "\ud800" not in text
    assert {tag for tag, _ in tags.tags} <= {
        "html",
        "head",
        "meta",
        "title",
        "style",
        "body",
        "main",
        "h1",
        "h2",
        "h3",
        "p",
        "span",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "code",
        "a",
        "section",
        "details",
        "summary",
        "div",
        "b",
        "pre",
        "footer",
        "figure",
        "figcaption",
        "svg",
        "line",
        "rect",
        "circle",
        "polyline",
        "text",
    }


def zero_band_and_points(svg: str) -> tuple[float, list[float]]:
    """The y of the chart's 0 line and of the analytic markers (rects drawn 3 px above their
    point)."""
    zero = float(
        re.search(r'<line x1="\d+" y1="([\d.]+)" x2="\d+" y2="[\d.]+" stroke="#d1d9e0"', svg).group(
            1
        )
    )
    points = [float(y) + 3 for y in re.findall(r'<rect x="[\d.]+" y="([\d.]+)" width="6"', svg)]
    return zero, points


def test_truncation_shows_as_the_analytic_curve_on_zero_and_the_numeric_one_above_it():
    svg = profile_chart(profile())
    zero, analytic = zero_band_and_points(svg)
    assert len(analytic) == 12
    assert all(abs(y - zero) < 0.1 for y in analytic[:-1])  # exact zeros sit on the 0 band
    assert analytic[-1] < zero - 20  # the last step carries gradient
    numeric = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert len(numeric) == 12 and all(y < zero - 20 for y in numeric)  # no numeric value is zero


def test_a_correct_profile_draws_the_curves_together():
    values = [1e-3 * (0.9**k) for k in range(8)]
    svg = profile_chart(profile(analytic=values, numeric=values, steps=list(range(8)), total=8))
    zero, analytic = zero_band_and_points(svg)
    numeric = [float(y) for y in re.findall(r'<circle cx="[\d.]+" cy="([\d.]+)"', svg)]
    assert all(abs(a - n) < 0.05 for a, n in zip(analytic, numeric, strict=True))
    assert all(y < zero - 10 for y in analytic)


def test_unusable_profiles_draw_nothing():
    # not a profile at all: read from a report, it is kept as written, and no reader sees it
    assert ModelExtra.from_json({"profiles": [{"layer": "x"}]}).layer_profiles() == []
    assert profile_chart(profile(steps=[0, 1], total=2)) == ""  # 12 values for 2 steps


def bar_widths(svg: str) -> list[float]:
    return [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]


def test_value_bars_show_a_gradient_orders_of_magnitude_too_small():
    analytic, numeric = bar_widths(value_bars(-8.2e-06, 2.47e-3))
    assert numeric > 50 * analytic and numeric > 50
    same = bar_widths(value_bars(0.5, 0.5))
    assert same[0] == same[1]
    assert value_bars(None, 0.16) == '<span class="mono">-</span>'


def test_skipped_models_and_notices_have_their_text():
    report = sample_report()
    skipped = model("unchanged", "skipped")
    skipped.skipped = SkipInfo("unchanged", "nothing it imports changed since main", "pass")
    report.models.append(skipped)
    report.models[0].notices.append(
        Notice("data.steps is 100 but the InputLayer fixes 20", "data-override")
    )
    text = render_html(report, "0.1.0")
    assert "Skipped: nothing it imports changed since main (last checked: pass)" in text
    assert "data-override" in text and "the InputLayer fixes 20" in text
