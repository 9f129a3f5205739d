"""The HTML report in a real browser (Debian's chromium, headless): the reported network's page
loads with no console error and no request, shows what a person needs, and its screenshot is kept as
a test artifact (reports/html-report/, the path is printed) and as README's picture of it
(docs/html-report.png), so the picture shows what the report shows today."""

from __future__ import annotations

import re

import pytest

from tests import REPO
from tests.browser import load

ARTIFACTS = REPO / "reports" / "html-report"
DOCS_PICTURE = REPO / "docs" / "html-report.png"


@pytest.mark.slow
def test_the_reported_networks_page_loads_clean_in_chromium(reported_network, capsys):
    run, out = reported_network
    page = load(out / "report.html")
    assert page.errors == [], page.errors
    assert page.other_requests == [], page.other_requests
    assert page.requests == [page.url]
    text = page.text
    assert "seed-rnn-truncated" in text and "RecurrentLayer#0.W_in_to_hid" in text
    assert "truncated-bptt" in text and "gradient_steps=1" in text
    assert "l_rnn = RecurrentLayer(" in text  # the layer's line, quoted from the user's file
    assert "Gradient through time" in text
    assert page.screenshot.startswith(b"\x89PNG\r\n\x1a\n") and len(page.screenshot) > 20_000
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "seed-rnn-truncated.png"
    shot.write_bytes(page.screenshot)
    DOCS_PICTURE.write_bytes(page.screenshot)  # README.md shows it: regenerated, never hand-kept
    (ARTIFACTS / "seed-rnn-truncated.html").write_bytes((out / "report.html").read_bytes())
    with capsys.disabled():
        print(f"\nHTML report screenshot: {shot}")


def test_the_browser_check_sees_requests_and_errors(tmp_path):
    """The harness itself: a page that fetches an image and runs a script is caught both ways, so
    the clean result above means something."""
    page = tmp_path / "bad.html"
    page.write_text(
        '<!DOCTYPE html><html><head><meta charset="utf-8"><title>t</title></head><body>'
        "<img "
        'src="http://gradcheck-ci.invalid/x.png"><script>console.error("boom")</script>'
        "</body></html>",
        encoding="utf-8",
    )
    loaded = load(page)
    assert loaded.other_requests == ["http://gradcheck-ci.invalid/x.png"]
    assert any("boom" in error for error in loaded.errors), loaded.errors
    # The report's own Content-Security-Policy blocks the same page's fetch and script, and says so.
    from gradcheck_ci.report.html import CSP

    guarded = tmp_path / "guarded.html"
    guarded.write_text(
        page.read_text(encoding="utf-8").replace(
            "<title>", f'<meta http-equiv="Content-Security-Policy" content="{CSP}"><title>'
        ),
        encoding="utf-8",
    )
    blocked = load(guarded)
    assert not any("boom" in text for _, text in blocked.console)
    assert any(re.search(r"Content Security Policy", error) for error in blocked.errors), (
        blocked.errors
    )
