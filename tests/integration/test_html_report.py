"""The HTML report in a real browser (Debian's chromium, headless): the reported network's page
loads with no console error and no request, shows what a person needs, and its screenshot is kept as
a test artifact (reports/html-report/, the path is printed). README's picture of it
(docs/html-report.png) is taken again only on request (`make docs-screenshot`, which sets
GRADCHECK_UPDATE_SCREENSHOT=1); otherwise the test fails when the picture's outline (headings and
columns, tests/screenshot.py) is no longer the page's, so a picture of an older report is caught
without a test rewriting a tracked file."""

from __future__ import annotations

import os
import re
import struct
import zlib

import pytest

from tests import REPO
from tests.browser import load
from tests.screenshot import outline, outline_of, with_outline, without_outline

ARTIFACTS = REPO / "reports" / "html-report"
DOCS_PICTURE = REPO / "docs" / "html-report.png"
UPDATE = "GRADCHECK_UPDATE_SCREENSHOT"  # set by `make docs-screenshot`


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
    picture = with_outline(page.screenshot, outline(page.headings))
    shot.write_bytes(picture)
    (ARTIFACTS / "seed-rnn-truncated.html").write_bytes((out / "report.html").read_bytes())
    with capsys.disabled():
        print(f"\nHTML report screenshot: {shot}")
    if os.environ.get(UPDATE) == "1":
        DOCS_PICTURE.write_bytes(picture)  # README.md shows it: taken by the test, never by hand
        return
    shown = outline_of(DOCS_PICTURE.read_bytes())
    assert shown == outline(page.headings), (
        "docs/html-report.png shows an older HTML report (its headings and columns differ from "
        "today's page): run `make docs-screenshot` and commit the picture"
    )


def test_the_picture_carries_its_outline_in_a_valid_png():
    """The outline rides in a PNG text chunk: the tracked picture has one, and a chunk written is
    read back as written, with every chunk's checksum right (so the picture opens anywhere README is
    shown)."""
    picture = DOCS_PICTURE.read_bytes()
    assert outline_of(picture), (
        "docs/html-report.png carries no outline: run `make docs-screenshot`"
    )
    lines = ["h1: FAIL gradcheck-ci: # model(s) fail", "th: rel err"]
    marked = with_outline(without_outline(picture), lines)
    assert outline_of(marked) == lines
    kinds = []
    at = 8
    while at < len(marked):
        length, kind = struct.unpack(">I4s", marked[at : at + 8])
        body = marked[at + 4 : at + 8 + length]
        assert struct.unpack(">I", marked[at + 8 + length : at + 12 + length])[0] == zlib.crc32(
            body
        )
        kinds.append(kind)
        at += 12 + length
    assert kinds[0] == b"IHDR" and kinds[-2:] == [b"tEXt", b"IEND"]


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
