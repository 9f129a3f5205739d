"""Files in the function cache's directory, written whole or not at all, so that concurrent workers
and a killed writer never leave half a file: its entries (fncache.py) and the small JSON records
beside them (which models were checked with C: ccode.py; how a check was probed: probe_plans.py),
read as None when missing or unreadable (a record only ever saves work; the work done without it is
the same)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from . import cachedir


def write(path: str, record: Any) -> bool:
    """Write `record` (JSON) to `path`, whole or not at all; whether it was written."""
    return write_whole(path, [json.dumps(record, sort_keys=True).encode("utf-8")])


def write_whole(path: str, chunks: list[bytes], suffix: str = "") -> bool:
    """Write `chunks` to `path`, one after the other, through a temporary file (`.tmp-*` + `suffix`,
    beside it) renamed into place: readers see the old file or the new one, whole. Whether it was
    written."""
    temporary = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temporary = tempfile.mkstemp(
            prefix=".tmp-", suffix=suffix, dir=os.path.dirname(path)
        )
        # mkstemp's 0600 would keep a CI cache step from reading it
        os.fchmod(handle, cachedir.shared_file_mode())
        with os.fdopen(handle, "wb") as out:
            for chunk in chunks:
                out.write(chunk)
        os.replace(temporary, path)
        return True
    except OSError:
        if temporary:
            try:
                os.unlink(temporary)
            except OSError:
                pass
        return False


def read(path: str) -> Any:
    """The record at `path`, or None when it is missing or not JSON."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None
