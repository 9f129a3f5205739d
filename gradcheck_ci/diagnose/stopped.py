"""What a report says when a diagnosis (or one probe of it) stops on an error of its own: one
sentence.

A traceback holds installation paths and belongs in the log, and there only with GRADCHECK_CI_DEBUG
(to stderr, which the runner shows as the model's output); the check's verdict stands either way.
"""

from __future__ import annotations

from ..core.errors import print_debug_traceback
from ..usercode.messages import clean_message, error_summary


def diagnosis_error(exc: BaseException, root: str | None, what: str = "the diagnosis") -> str:
    print_debug_traceback(exc)
    return clean_message(f"{what} stopped early: {error_summary(exc)}", root)
