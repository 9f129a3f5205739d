"""Did-you-mean hints for names the user mistyped (config keys, choices, factory functions, loss
functions)."""

from __future__ import annotations

import difflib
from collections.abc import Iterable

MAX_WORD = 100  # longer "words" are not typos of a name; difflib would only spend time on them


def did_you_mean(word: str, options: Iterable[str]) -> str | None:
    """'did you mean 'x'?' for the closest option, or None when nothing is close."""
    if len(word) > MAX_WORD:
        return None
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"did you mean {close[0]!r}?" if close else None


def with_hint(message: str, hint: str | None) -> str:
    """'message (hint)', or the message alone when there is no hint."""
    return f"{message} ({hint})" if hint else message
