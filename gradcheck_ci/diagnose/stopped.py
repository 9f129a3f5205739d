"""What a report says when a diagnosis (or one probe of it) stops on an error of its own: one
sentence.

A traceback holds installation paths and belongs in the log, and there only with GRADCHECK_CI_DEBUG
(to stderr, which the runner shows as the model's output); the check's verdict stands either way.
"""

from __future__ import annotations

from ..config import ModelSpec
from ..core.errors import print_debug_traceback
from ..core.results import ModelResult, Notice
from ..usercode.messages import clean_message, error_summary

NOTICE_STOPPED = "diagnosis-stopped"


def diagnosis_error(exc: BaseException, root: str | None, what: str = "the diagnosis") -> str:
    print_debug_traceback(exc)
    return clean_message(f"{what} stopped early: {error_summary(exc)}", root)


def stopped_notices(result: ModelResult, spec: ModelSpec, config_file: str | None) -> list[Notice]:
    """What every format says when the diagnosis, or the proof of an `allow:`, stopped on an error
    of its own: a FAIL with no cause named is then not "no known cause matched"."""
    notices = []
    if result.extra.diagnosis_error:
        notices.append(
            Notice(
                f"{result.extra.diagnosis_error}; the verdict stands, the causes named (if any) "
                "may be incomplete (GRADCHECK_CI_DEBUG=1 prints the traceback)",
                NOTICE_STOPPED,
                config_file,
                spec.line,
            )
        )
    if result.extra.allow_error:
        notices.append(
            Notice(
                f"{result.extra.allow_error}; without that proof the tensors the allowed causes "
                "would explain keep their verdict (GRADCHECK_CI_DEBUG=1 prints the traceback)",
                NOTICE_STOPPED,
                config_file,
                spec.key_lines.get("allow", spec.line),
            )
        )
    return notices
