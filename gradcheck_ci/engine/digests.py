"""Keys for exact arrays: a point's parameter values or a direction's parts, digested, for the lines
a re-check reads again (probing.Prober.line_key) and for the record of a check (remembered.key)."""

from __future__ import annotations

import hashlib

import numpy as np


def digest(arrays: list[tuple[int, np.ndarray]]) -> bytes:
    """A key for exact parameter values (a point, or a direction's parts)."""
    h = hashlib.blake2b(digest_size=16)
    for k, value in arrays:
        h.update(f"{k}:{value.dtype.str}:{value.shape}".encode())
        h.update(np.ascontiguousarray(value).view(np.uint8).data)
    return h.digest()
