"""GitHub Actions workflow commands: annotations, log groups, stop-commands, step outputs.

The one place that writes them, for the CLI's `--format github` and for the action's entrypoint.
Every piece of user text passes through escape_data/escape_property, so a model name or an exception
message can neither end a command early nor start a new one (yamllint's github format does not
escape). Escaping follows the runner's own rules (actions/toolkit `command.ts`): in data `%` first,
then CR and LF; in properties also `:` and `,`.
"""

# No `from __future__ import annotations` here: that import binds the name `annotations`, which type
# checkers then see redefined by this module's annotations(). Unions are spelt Optional[...],
# because the light install (validate, merge) also runs on Python 3.9, which evaluates these
# annotations.
import os
import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Optional

from ..core.results import ModelResult, RunReport
from .common import (
    built_via,
    clean_text,
    config_location,
    confirmation,
    diagnosis_location,
    error_location,
    error_phrase,
    failure_location,
    failure_site,
    inconclusive_location,
    inconclusive_text,
    model_score,
    notice_location,
    now_passes,
    one_line,
    positive_line,
    qualifying_diagnoses,
    repo_path,
    tensors_failing,
    worst_param,
)

MAX_MESSAGE = 4000  # the runner cuts at 4,096 characters; cut ourselves so an escape is never split
_PROPERTY_ORDER = ("file", "line", "endLine", "col", "endColumn", "title")
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]*$")
_KINDS = ("error", "warning", "notice")
_TOKEN = re.compile(r"^[A-Za-z0-9_-]{16,}$")


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def command(kind: str, message: str, **props: object) -> str:
    """One workflow command line, e.g. '::error file=a.py,line=3,title=t::msg'. None-valued props
    are skipped."""
    if not _NAME.match(kind):
        raise ValueError(f"not a workflow command name: {kind!r}")
    for key in props:
        if not _NAME.match(key):
            raise ValueError(f"not a workflow command property: {key!r}")
    keys = [k for k in _PROPERTY_ORDER if k in props] + sorted(
        k for k in props if k not in _PROPERTY_ORDER
    )
    pairs = [f"{k}={escape_property(clean_text(props[k]))}" for k in keys if props[k] is not None]
    text = clean_text(message)
    if len(text) > MAX_MESSAGE:
        text = text[: MAX_MESSAGE - 1] + "…"
    return f"::{kind}" + (" " + ",".join(pairs) if pairs else "") + "::" + escape_data(text)


def stop_commands(token: Optional[str] = None) -> tuple[str, str]:
    """('::stop-commands::TOKEN', '::TOKEN::'): nothing printed in between is read as a command."""
    token = token if token is not None else secrets.token_hex(16)
    if not _TOKEN.match(token):
        raise ValueError("stop-commands token must be a long, random, plain word")
    return f"::stop-commands::{token}", f"::{token}::"


def group(title: str) -> str:
    return "::group::" + escape_data(one_line(title, 200))


def endgroup() -> str:
    return "::endgroup::"


def output_block(name: str, value: str) -> str:
    """One `name<<DELIMITER` ... `DELIMITER` entry of $GITHUB_OUTPUT; the delimiter is random and
    absent from the value (the `ghadelimiter_` form @actions/core uses), so no value can end its
    entry early."""
    if not _NAME.match(name):
        raise ValueError(f"not a valid output name: {name!r}")
    for _ in range(5):
        delimiter = f"ghadelimiter_{secrets.token_hex(16)}"
        if delimiter not in value:
            return f"{name}<<{delimiter}\n{value}\n{delimiter}\n"
    # Unreachable in practice: 128 random bits would have to collide five times.
    raise ValueError(f"could not find a delimiter absent from output {name!r}")  # pragma: no cover


def write_outputs(path: str, outputs: Mapping[str, str]) -> None:
    """Append step outputs to the $GITHUB_OUTPUT file at `path`, each value as a heredoc
    (output_block)."""
    blocks = "".join(output_block(name, str(value)) for name, value in outputs.items())
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "a", encoding="utf-8", newline="") as handle:
        handle.write(blocks)  # one write: outputs from one call never interleave


FAILED_STATUSES = ("fail", "error")  # the models the `failed-models` output names


def step_outputs(
    report: RunReport, json_path: Optional[str], workspace: Optional[str]
) -> dict[str, str]:
    """The action's outputs for a finished run: status, failed-models (comma-separated) and report
    (the JSON report's path relative to `workspace` with '/' separators; absolute outside it; ""
    when none was written)."""
    failed = [m.name for m in report.models if m.status in FAILED_STATUSES]
    where = ""
    if json_path:
        where = os.path.abspath(json_path)
        if workspace:
            relative = os.path.relpath(where, os.path.abspath(workspace))
            if relative != ".." and not relative.startswith(".." + os.sep):
                where = relative
        where = where.replace(os.sep, "/")
    return {"status": report.status, "failed-models": ",".join(failed), "report": where}


# --- annotations
# ----------------------------------------------------------------------------------------


@dataclass
class _Annotation:
    kind: str
    rank: tuple[float, ...]  # smaller first within its kind
    file: Optional[str]
    line: Optional[int]
    title: str
    message: str

    def render(self) -> str:
        return command(
            self.kind,
            self.message,
            file=self.file,
            line=self.line if self.file else None,
            title=self.title,
        )


def _title(model: ModelResult, what: str) -> str:
    return f"gradcheck-ci: {one_line(model.name, 120)} {what}"


def _mismatch_message(model: ModelResult) -> str:
    failing = [p for p in model.params if p.status == "fail"]
    worst = worst_param(model)
    lines = []
    if worst is not None:
        lines.append(
            f"{one_line(worst.id, 200)}: {error_phrase(worst)}; "
            f"{tensors_failing(len(failing), len(model.params))}."
        )
    for d in model.diagnoses[:3]:
        confirmed = confirmation(d)
        lines.append(f"Cause {one_line(d.code, 60)}{confirmed}: {clean_text(d.message).strip()}")
        if d.fix:
            lines.append(f"Fix: {clean_text(d.fix).strip()}")
    if len(model.diagnoses) > 3:
        lines.append(f"{len(model.diagnoses) - 3} more diagnosis(es) in the job log.")
    via = built_via(failure_site(model)).strip()
    if via:
        lines.append(via)
    lines.append(
        f"Replay: seed={model.seed} precision={one_line(model.precision, 20)} "
        f"mode={one_line(model.mode, 20)}"
    )
    return "\n".join(lines)


def _notice_annotations(model: ModelResult, report: RunReport, order: int) -> list[_Annotation]:
    """A model's notices rank after every verdict of the same kind, so they never crowd one out."""
    found = []
    for n in model.notices:
        file, line = notice_location(model, n, report)
        found.append(
            _Annotation(
                "notice",
                (5, order),
                file,
                line,
                _title(model, f"notice ({one_line(n.code, 40)})"),
                clean_text(n.message).strip() or n.code,
            )
        )
    return found


def _model_annotations(model: ModelResult, report: RunReport, order: int) -> list[_Annotation]:
    return _verdict_annotations(model, report, order) + _notice_annotations(model, report, order)


def _verdict_annotations(model: ModelResult, report: RunReport, order: int) -> list[_Annotation]:
    if now_passes(model):
        file, line = config_location(model, report)
        # "fail": run with --fail-on-expected
        kind = "error" if model.status == "fail" else "warning"
        return [
            _Annotation(
                kind,
                (2, order),
                file,
                line,
                _title(model, "now passes"),
                "Marked `expect: fail` but the gradients now agree: remove `expect: "
                "fail` from its entry so a regression is caught.",
            )
        ]
    if model.status == "fail":
        file, line = failure_location(model, report)
        return [
            _Annotation(
                "error",
                (1, -model_score(model), order),
                file,
                line,
                _title(model, "gradient mismatch"),
                _mismatch_message(model),
            )
        ]
    if model.status == "expected-fail":
        file, line = failure_location(model, report)
        return [
            _Annotation(
                "notice",
                (0, order),
                file,
                line,
                _title(model, "expected gradient mismatch"),
                "Fails as expected (`expect: fail`).\n" + _mismatch_message(model),
            )
        ]
    if model.status == "error":
        file, line = error_location(model, report)
        kind = one_line(model.error.kind, 30) if model.error else "error"
        message = (
            clean_text(model.error.message).strip()
            if model.error
            else ("the model could not be checked")
        )
        return [
            _Annotation(
                "error", (0, order), file, line, _title(model, f"{kind} error"), message or kind
            )
        ]
    if model.status == "cancelled":
        file, line = config_location(model, report)
        return [
            _Annotation(
                "warning",
                (3, order),
                file,
                line,
                _title(model, "not checked"),
                "The run was cancelled before this model was checked.",
            )
        ]
    if model.status == "inconclusive":  # an error only when the run was asked to fail on it
        file, line = inconclusive_location(model, report)
        kind = "error" if report.fail_on_inconclusive else "warning"
        return [
            _Annotation(
                kind,
                (1, order) if kind == "error" else (2, order),
                file,
                line,
                _title(model, "inconclusive"),
                inconclusive_text(model) + f"\nReplay: seed={model.seed} "
                f"precision={one_line(model.precision, 20)} "
                f"mode={one_line(model.mode, 20)}",
            )
        ]
    # a pass that a diagnosis qualifies (`disconnected`: a tensor's check means nothing)
    return [
        _Annotation(
            "warning",
            (2, order),
            *diagnosis_location(d, config_location(model, report)),
            _title(model, f"passes, but: {one_line(d.code, 60)}"),
            clean_text(d.message).strip()
            + (f"\nFix: {clean_text(d.fix).strip()}" if d.fix else ""),
        )
        for d in qualifying_diagnoses(model)[:3]
        if model.status == "pass"
    ]


def annotations(report: RunReport, max_per_kind: int = 10) -> tuple[list[str], int]:
    """Workflow-command lines, most important first, at most max_per_kind per kind; and how many
    were left out.

    The runner itself keeps only 10 of each kind per step, so we choose which ones, not the runner.
    """
    found: list[_Annotation] = []
    for i, error in enumerate(report.config_errors):
        file = repo_path(error.file) or repo_path(report.config_file)
        found.append(
            _Annotation(
                "error",
                (-1, i),
                file,
                positive_line(error.line),
                f"gradcheck-ci: {one_line(error.kind, 30)} error",
                clean_text(error.message).strip() or "configuration error",
            )
        )
    for order, model in enumerate(report.models):
        found.extend(_model_annotations(model, report, order))
    lines: list[str] = []
    for kind in _KINDS:
        ranked = sorted((a for a in found if a.kind == kind), key=lambda a: a.rank)
        lines.extend(a.render() for a in ranked[: max(max_per_kind, 0)])
    return lines, len(found) - len(lines)
