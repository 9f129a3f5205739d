"""How a check was probed, kept for its next run: one small JSON record per check
(engine/remembered.py says what it holds and makes its key), in the function cache's directory, so
it lives, travels and is switched off with the function cache. A record only saves evaluations:
without one the check probes as it always did."""

from __future__ import annotations

import os
import sys
from typing import Any

from . import fncache, records

RECORDS = "probe-plans"  # in the function cache's directory: one record per check
SUFFIX = ".json"


def record_path(directory: str, key: str) -> str:
    return os.path.join(directory, RECORDS, key + SUFFIX)


def load(key: str) -> Any:
    """The record kept under `key`, or None (none kept, unreadable, or the function cache off). A
    record read is touched, so that prune() keeps what is used."""
    directory = fncache.cache_dir()
    if directory is None:
        return None
    path = record_path(directory, key)
    record = records.read(path)
    if record is not None:
        try:
            os.utime(path)
        except OSError:
            pass
    return record


def store(key: str, record: Any) -> bool:
    """Keep `record` under `key` (not when the function cache is off); whether it was written."""
    directory = fncache.cache_dir()
    return directory is not None and records.write(record_path(directory, key), record)


def prune(
    directory: str, now: float | None = None, keep_seconds: float = fncache.KEEP_SECONDS
) -> int:
    """Delete the records unused for `keep_seconds`, and a killed writer's temporary files, as
    fncache.prune does its entries (records are small: no size bound); how many records."""
    folder = os.path.join(directory, RECORDS)
    return fncache.prune(folder, now, keep_seconds, keep_bytes=sys.maxsize, suffix=SUFFIX)
