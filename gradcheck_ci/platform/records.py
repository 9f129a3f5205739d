"""Small JSON records kept in the function cache's directory beside its entries (which models were
checked with C: ccode.py; how a check was probed: probe_plans.py): written whole or not at all, so
that concurrent workers and a killed writer never leave half a record, and read as None when missing
or unreadable (a record only ever saves work; the work done without it is the same)."""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any

from . import cachedir


def write(path: str, record: Any) -> bool:
    """Write `record` (JSON) to `path` through a temporary file renamed into place; whether it was
    written."""
    temporary = None
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=".tmp-", dir=os.path.dirname(path))
        os.fchmod(handle, cachedir.shared_file_mode())
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(record, out, sort_keys=True)
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
