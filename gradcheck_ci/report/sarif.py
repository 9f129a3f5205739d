"""SARIF 2.1.0 for code scanning: one result per cause (diagnosis) or per unexplained failing
tensor."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any
from urllib.parse import quote

from ..core.causes import BY_CODE
from ..core.results import Diagnosis, ModelResult, ParamResult, RunReport
from .common import (
    built_via,
    clean_text,
    config_location,
    confirmation,
    diagnosis_location,
    error_location,
    error_phrase,
    failure_location,
    inconclusive_location,
    inconclusive_text,
    notice_location,
    now_passes,
    one_line,
    over_tolerance,
    positive_line,
    qualifying_diagnoses,
    repo_path,
)

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
# The tool's home page comes from the installed package's metadata (pyproject.toml's
# [project.urls]); this is only for a run from a source tree that was never installed.
FALLBACK_INFORMATION_URI = "https://github.com/gradcheck-ci/gradcheck-ci"
SRCROOT = "%SRCROOT%"

# Fixed rules come first so their indexes never move; diagnosis codes follow, sorted.
_FIXED_RULES = {
    "gradient-mismatch": (
        "error",
        "Symbolic gradient disagrees with finite differences",
        "A parameter tensor's analytic (Theano) gradient differs from the "
        "central-difference gradient by more than the tolerance, and no known "
        "cause matched.",
    ),
    "expected-gradient-mismatch": (
        "note",
        "Known gradient mismatch (expect: fail)",
        "A model marked `expect: fail` in the config still has a gradient mismatch.",
    ),
    "expected-failure-passes": (
        "warning",
        "Model marked expect: fail now passes",
        "The gradients of a model marked `expect: fail` now agree; remove "
        "the mark so a regression is caught.",
    ),
    "model-error": (
        "error",
        "Model could not be checked",
        "Loading, building or evaluating the model failed, or the check ran out of time or memory.",
    ),
    "config-error": (
        "error",
        "Invalid gradcheck-ci configuration",
        "The gradcheck-ci configuration file could not be used as written.",
    ),
}
# Rules listed only when a result uses them (after the fixed ones, sorted with the diagnosis codes).
_OCCASIONAL_RULES = {
    "model-notice": (
        "note",
        "Something to know about a model's check",
        "The check ran; something about how it ran does not change the verdict but is "
        "worth knowing (a data size the model's fixed shape overrides, a float32 "
        "check settled in float64).",
    ),
    "inconclusive-check": (
        "warning",
        "Gradient check could not judge some tensors",
        "No tensor's gradient disagrees, but some could not be judged: the loss "
        "has kinks (or round-off) within the reach of every comparison tried, "
        "at the checked point and near it, or every gradient is exactly zero there.",
    ),
}
_HELP = {
    "gradient-mismatch": "Look at the layer named in the message: custom gradients, truncated "
    "backpropagation (gradient_steps), gradient clipping and "
    "non-differentiable points are the usual causes.",
    "expected-gradient-mismatch": "Nothing to do while the mismatch is intended; fix it and remove "
    "`expect: fail`.",
    "expected-failure-passes": "Remove `expect: fail` from the model's entry.",
    "model-error": "Run `gradcheck-ci check` locally with the same seed to see the full error.",
    "config-error": "Fix the configuration entry at the reported line.",
    "model-notice": "Read the message: nothing needs fixing for the verdict to hold.",
    "inconclusive-check": "Check the model with another `seed`; ties at a kink (zero-initialised "
    "weights before a rectifier or max-pooling) are the usual reason.",
}


def information_uri() -> str:
    """The `Homepage` (else the first) Project-URL of the installed gradcheck-ci distribution."""
    from importlib import metadata

    try:
        urls = metadata.metadata("gradcheck-ci").get_all("Project-URL") or []
    except metadata.PackageNotFoundError:
        return FALLBACK_INFORMATION_URI
    pairs = [tuple(part.strip() for part in entry.split(",", 1)) for entry in urls if "," in entry]
    for label, url in pairs:
        if label.lower() == "homepage":
            return str(url)
    return str(pairs[0][1]) if pairs else FALLBACK_INFORMATION_URI


def _source_root(root: str | None) -> dict[str, Any]:
    """run.originalUriBaseIds[%SRCROOT%]: the repository root every result's uri is relative to; its
    absolute file URI when the run knows it (a consumer that reads the log elsewhere resolves the
    uris against its own checkout)."""
    entry: dict[str, Any] = {
        "description": {
            "text": "The root of the repository (the paths in the reports are relative to it)."
        }
    }
    if root:
        entry["uri"] = Path(root).resolve().as_uri().rstrip("/") + "/"
    return entry


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:] + ("" if text.endswith(".") else ".")


def _fingerprint(rule_id: str, model: str, item: str, file: str | None) -> str:
    # No line number: the fingerprint must survive code moving around the file.
    data = "\x00".join([rule_id, model, item, file or ""]).encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()


def _location(file: str | None, line: int | None) -> list[dict[str, Any]]:
    if not file:
        return []
    physical: dict[str, Any] = {
        "artifactLocation": {"uri": quote(file, safe="/"), "uriBaseId": SRCROOT}
    }
    if line:
        physical["region"] = {"startLine": line}
    return [{"physicalLocation": physical}]


def _text(value: object, fallback: str) -> str:
    return clean_text(value).strip() or fallback


def _tensor_message(model: ModelResult, p: ParamResult) -> str:
    return (
        f"{one_line(model.name, 120)}: gradient of {one_line(p.id, 120)} disagrees with finite "
        f"differences: {error_phrase(p)}; "
        f"seed={model.seed} precision={one_line(model.precision, 20)}.{built_via(p)}"
    )


def _diagnosis_message(model: ModelResult, d: Diagnosis) -> str:
    confirmed = confirmation(d)
    text = f"{one_line(model.name, 120)}: {_text(d.message, d.code)}{confirmed}{built_via(d)}"
    return text + (f" Fix: {clean_text(d.fix).strip()}" if d.fix else "")


def _expected_message(model: ModelResult, d: Diagnosis) -> str:
    return (
        f"{one_line(model.name, 120)}: known gradient mismatch (expect: fail), cause "
        f"{one_line(d.code, 100)}{confirmation(d)}: {_text(d.message, d.code)}"
    )


def _covered(d: Diagnosis, p: ParamResult) -> bool:
    # A diagnosis without a layer explains the whole model; one with a layer explains that layer's
    # tensors.
    return d.layer is None or d.layer == p.layer


class _Builder:
    def __init__(self) -> None:
        self.rules: dict[str, dict[str, Any]] = {}
        self.results: list[dict[str, Any]] = []

    def rule(self, rule_id: str, level: str = "error") -> None:
        if rule_id in self.rules:
            return
        if rule_id in _FIXED_RULES or rule_id in _OCCASIONAL_RULES:
            level, short, full = {**_FIXED_RULES, **_OCCASIONAL_RULES}[rule_id]
            help_text = _HELP[rule_id]
        elif rule_id in BY_CODE:  # a known cause: its row in the table of causes
            cause = BY_CODE[rule_id]
            short, full = cause.title, _sentence(cause.means)
            help_text = _sentence(cause.fix) + (
                " The result message names the layer and the fix for it."
            )
        else:
            short = f"Gradient mismatch cause: {rule_id}"
            full = f"gradcheck-ci traced a gradient mismatch to the known cause '{rule_id}'."
            help_text = "The result message names the layer and the fix."
        self.rules[rule_id] = {
            "id": rule_id,
            "name": "".join(w.capitalize() for w in rule_id.split("-")) or rule_id,
            "shortDescription": {"text": short},
            "fullDescription": {"text": full},
            "help": {"text": help_text},
            "defaultConfiguration": {"level": level},
        }

    def add(
        self,
        rule_id: str,
        level: str,
        message: str,
        file: str | None,
        line: int | None,
        model: str,
        item: str,
    ) -> None:
        self.rule(rule_id)
        result: dict[str, Any] = {"ruleId": rule_id, "level": level, "message": {"text": message}}
        locations = _location(file, line)
        if locations:
            result["locations"] = locations
        result["partialFingerprints"] = {
            "gradcheckFingerprint/v1": _fingerprint(rule_id, model, item, file)
        }
        self.results.append(result)


def _mismatch_results(b: _Builder, model: ModelResult, report: RunReport) -> None:
    expected = model.status == "expected-fail"
    level = "note" if expected else "error"
    failing = sorted(
        (p for p in model.params if p.status == "fail"), key=over_tolerance, reverse=True
    )
    fallback = failure_location(model, report)
    for d in model.diagnoses:
        file, line = diagnosis_location(d, fallback)
        # a known mismatch stays under its own rule, whatever its cause: one rule to leave alone
        if expected:
            b.add(
                "expected-gradient-mismatch",
                level,
                _expected_message(model, d),
                file,
                line,
                model.name,
                d.code,
            )
            continue
        b.add(
            one_line(d.code, 100) or "gradient-mismatch",
            level,
            _diagnosis_message(model, d),
            file,
            line,
            model.name,
            d.code,
        )
    for p in failing:
        if any(_covered(d, p) for d in model.diagnoses):
            continue
        file, line = (
            (repo_path(p.file), positive_line(p.line))
            if repo_path(p.file)
            else config_location(model, report)
        )
        b.add(
            "expected-gradient-mismatch" if expected else "gradient-mismatch",
            level,
            _tensor_message(model, p),
            file,
            line,
            model.name,
            p.id,
        )
    # a failing model with no tensor detail still needs a result
    if not failing and not model.diagnoses:
        file, line = fallback
        b.add(
            "expected-gradient-mismatch" if expected else "gradient-mismatch",
            level,
            f"{one_line(model.name, 120)}: gradient mismatch.",
            file,
            line,
            model.name,
            "",
        )


def render_sarif(report: RunReport, tool_version: str) -> dict[str, Any]:
    b = _Builder()
    for rule_id in _FIXED_RULES:
        b.rule(rule_id)
    config = repo_path(report.config_file)
    for error in report.config_errors:
        b.add(
            "config-error",
            "error",
            _text(error.message, "configuration error"),
            repo_path(error.file) or config,
            positive_line(error.line),
            "",
            clean_text(error.message),
        )
    for model in report.models:
        if now_passes(model):
            file, line = config_location(model, report)
            b.add(
                "expected-failure-passes",
                "error" if model.status == "fail" else "warning",
                f"{one_line(model.name, 120)} is marked `expect: fail` but its gradients now "
                f"agree.",
                file,
                line,
                model.name,
                "",
            )
        elif model.status in ("fail", "expected-fail"):
            _mismatch_results(b, model, report)
        elif model.status == "error":
            file, line = error_location(model, report)
            kind = model.error.kind if model.error else "error"
            message = _text(
                model.error.message if model.error else "", "the model could not be checked"
            )
            # the model's entry in the config is wrong
            rule = "config-error" if kind == "config" else "model-error"
            b.add(
                rule,
                "error",
                f"{one_line(model.name, 120)}: {one_line(kind, 30)} error: {message}",
                file,
                line,
                model.name,
                kind,
            )
        elif model.status == "pass":
            # a pass that a diagnosis qualifies (`disconnected`: a tensor's check means nothing)
            for d in qualifying_diagnoses(model):
                file, line = diagnosis_location(d, config_location(model, report))
                b.add(
                    one_line(d.code, 100),
                    "warning",
                    _diagnosis_message(model, d),
                    file,
                    line,
                    model.name,
                    d.code,
                )
        elif model.status == "inconclusive":
            file, line = inconclusive_location(model, report)
            b.add(
                "inconclusive-check",
                "error" if report.fail_on_inconclusive else "warning",
                f"{one_line(model.name, 120)}: {inconclusive_text(model)}",
                file,
                line,
                model.name,
                "inconclusive",
            )
        # "cancelled" is not a property of the code: code scanning would open and close alerts for
        # it.
        for n in model.notices:
            file, line = notice_location(model, n, report)
            b.add(
                "model-notice",
                "note",
                f"{one_line(model.name, 120)}: {_text(n.message, n.code)}",
                file,
                line,
                model.name,
                f"notice:{n.code}:{clean_text(n.message)}",
            )

    # Rule order: fixed rules, then diagnosis codes sorted; ruleIndex points into that list.
    ordered = [b.rules[r] for r in _FIXED_RULES] + sorted(
        (rule for rid, rule in b.rules.items() if rid not in _FIXED_RULES), key=lambda r: r["id"]
    )
    index = {rule["id"]: i for i, rule in enumerate(ordered)}
    for result in b.results:
        result["ruleIndex"] = index[result["ruleId"]]
    run: dict[str, Any] = {
        "tool": {
            "driver": {
                "name": "gradcheck-ci",
                "informationUri": information_uri(),
                "version": str(tool_version),
                "rules": ordered,
            }
        },
        "originalUriBaseIds": {SRCROOT: _source_root(report.root)},
        "results": b.results,
        "invocations": [
            {"executionSuccessful": report.status != "error", "exitCode": report.exit_code}
        ],
    }
    return {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}


def render_sarif_text(report: RunReport, tool_version: str) -> str:
    """The SARIF log as its file holds it: strict JSON (no NaN), indented, UTF-8 text kept as is."""
    return (
        json.dumps(
            render_sarif(report, tool_version), indent=2, ensure_ascii=False, allow_nan=False
        )
        + "\n"
    )
