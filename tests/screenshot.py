"""README's picture of the HTML report (docs/html-report.png) and what it shows, kept checkable.

Pixels are no test: the numbers on the page change with the cache's state and the seconds a run
took, and chromium versions draw text differently. What a stale picture gets wrong is the page's
outline: its headings and table columns (digits left out). The picture carries the outline of the
page it shows in a PNG text chunk (`with_outline`); the browser test compares it with the outline of
today's page (`outline_of`), and `make docs-screenshot` takes the picture again.
"""

from __future__ import annotations

import json
import re
import struct
import zlib

KEYWORD = b"gradcheck-ci-outline"
SIGNATURE = b"\x89PNG\r\n\x1a\n"
NUMBER = re.compile(r"\d+(\.\d+)?(e[+-]?\d+)?")


def outline(headings: list[str]) -> list[str]:
    """A page's headings and column headers (browser.PageLoad.headings) with digits masked: model
    sizes, counts and seconds change from run to run, the page's layout does not."""
    masked = []
    for heading in headings:
        tag, _, text = heading.partition(": ")
        masked.append(f"{tag}: {re.sub(NUMBER, '#', text)}")
    return masked


def with_outline(png: bytes, lines: list[str]) -> bytes:
    """`png` with a tEXt chunk holding `lines` (JSON) just before its IEND chunk."""
    assert png.startswith(SIGNATURE), "not a PNG"
    data = KEYWORD + b"\0" + json.dumps(lines).encode("ascii")
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data
    chunk += struct.pack(">I", zlib.crc32(b"tEXt" + data))
    end = next(start for start, _, kind in _chunks(png) if kind == b"IEND")
    return png[:end] + chunk + png[end:]


def _chunks(png: bytes) -> list[tuple[int, int, bytes]]:
    """(start, end, type) of every chunk of `png`."""
    found, at = [], len(SIGNATURE)
    while at + 8 <= len(png):
        length, kind = struct.unpack(">I4s", png[at : at + 8])
        found.append((at, at + 12 + length, kind))
        at += 12 + length
    return found


def without_outline(png: bytes) -> bytes:
    """`png` without the outline chunks `with_outline` added."""
    kept = [
        png[start:end]
        for start, end, kind in _chunks(png)
        if not (kind == b"tEXt" and png[start + 8 :].startswith(KEYWORD + b"\0"))
    ]
    return SIGNATURE + b"".join(kept)


def outline_of(png: bytes) -> list[str] | None:
    """The outline `with_outline` stored in `png`, or None when it has none."""
    for start, end, kind in _chunks(png):
        data = png[start + 8 : end - 4]
        if kind == b"tEXt" and data.startswith(KEYWORD + b"\0"):
            return json.loads(data[len(KEYWORD) + 1 :].decode("ascii"))
    return None
