"""JUnit XML, for CI systems other than GitHub (GitLab reads testcase classname/name/file/time and
failure text).

There is no official schema; this follows what Jenkins, GitLab and junitparser read: one <testsuite>
per config file, one <testcase> per model.
"""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET

from ..core.results import ModelResult, Notice, RunReport
from .common import (
    clean_text,
    config_location,
    confirmation,
    error_location,
    error_phrase,
    inconclusive_text,
    index_text,
    located,
    measured,
    now_passes,
    num,
    one_line,
    positive_line,
    repo_path,
    shape_text,
    skip_text,
    status_counts,
    tensors_failing,
    where,
    worst_param,
)

# Characters outside XML 1.0's Char production cannot appear even escaped; ElementTree would write
# them.
_XML_ILLEGAL = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def xml_text(value: object) -> str:
    return _XML_ILLEGAL.sub("", clean_text(value))


def _attr(value: object, limit: int = 500) -> str:
    return xml_text(one_line(value, limit))


def _seconds(model: ModelResult) -> float:
    return float((model.seconds or {}).get("total", 0.0) or 0.0)


def _tensor_table(model: ModelResult) -> str:
    rows = [
        [
            "tensor",
            "shape",
            "status",
            "measured",
            "abs err",
            "rel err",
            "tolerance",
            "worst index",
            "location",
        ]
    ]
    for p in model.params:
        rows.append(
            [
                one_line(p.id, 120),
                shape_text(p.shape),
                one_line(p.status, 10),
                measured(p),
                num(p.max_abs_err),
                num(p.max_rel_err),
                num(p.tolerance),
                index_text(p.worst_index),
                located(p),
            ]
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _diagnoses(model: ModelResult) -> str:
    lines = []
    for d in model.diagnoses:
        confirmed = confirmation(d)
        loc = located(d)
        lines.append(
            f"cause {one_line(d.code, 80)}{confirmed}" + (f" at {loc}" if loc else "") + ":"
        )
        lines.append("  " + clean_text(d.message).strip().replace("\n", "\n  "))
        if d.fix:
            lines.append("  fix: " + clean_text(d.fix).strip().replace("\n", "\n  "))
    return "\n".join(lines)


def _mismatch(model: ModelResult) -> tuple[str, str]:
    """(one-line message, full text) for a model whose gradients disagree."""
    worst = worst_param(model)
    failing = sum(1 for p in model.params if p.status == "fail")
    if worst is not None:
        message = (
            f"{one_line(worst.id, 120)}: {error_phrase(worst)}; "
            f"{tensors_failing(failing, len(model.params))}"
        )
    else:
        message = "gradient mismatch"
    if model.diagnoses:
        message += "; cause: " + ", ".join(one_line(d.code, 60) for d in model.diagnoses)
    stack = f"lasagne={one_line(model.lasagne, 20)} " if model.lasagne else ""
    parts = [
        f"seed={model.seed} precision={one_line(model.precision, 20)} "
        f"mode={one_line(model.mode, 20)} {stack}evaluations={model.evaluations}"
    ]
    if model.params:
        parts.append(_tensor_table(model))
    if model.diagnoses:
        parts.append(_diagnoses(model))
    return message, "\n\n".join(parts)


def _testcase(suite: ET.Element, model: ModelResult, report: RunReport, classname: str) -> None:
    file, line = config_location(model, report)
    case = ET.SubElement(suite, "testcase", classname=classname, name=_attr(model.name))
    if file:
        case.set("file", _attr(file))
    if line:
        case.set("line", str(line))
    case.set("time", f"{_seconds(model):.3f}")
    _verdict(case, model, report)
    if model.notices:
        notes = xml_text("\n".join(_notice_line(n) for n in model.notices))
        out = case.find("system-out")
        if out is None:
            ET.SubElement(case, "system-out").text = notes
        else:
            out.text = (out.text or "") + "\n" + notes


def _verdict(case: ET.Element, model: ModelResult, report: RunReport) -> None:
    """The element that says how the model's check ended (none for a pass)."""
    if now_passes(model):
        note = "expected to fail (expect: fail) but the gradients now agree: remove `expect: fail`"
        if model.status == "fail":  # --fail-on-expected
            ET.SubElement(case, "failure", message=note, type="unexpected-pass").text = note
        else:
            ET.SubElement(case, "system-out").text = note
    elif model.status == "fail":
        message, text = _mismatch(model)
        ET.SubElement(
            case, "failure", message=_attr(message), type="gradient-mismatch"
        ).text = xml_text(text)
    elif model.status == "expected-fail":
        message, text = _mismatch(model)
        ET.SubElement(
            case, "skipped", message=_attr("expected failure: " + message)
        ).text = xml_text(text)
    elif model.status == "skipped":
        ET.SubElement(case, "skipped", message=_attr("skipped: " + skip_text(model)))
    elif model.status == "inconclusive":
        _inconclusive(case, model, report)
    elif model.status in ("error", "cancelled"):
        error = model.error
        kind = error.kind if error else model.status
        message = (
            clean_text(error.message).strip()
            if error
            else ("the run was cancelled before this model")
        )
        err_file, err_line = error_location(model, report)
        text = (f"{where(err_file, err_line)}: " if err_file else "") + message
        element = ET.SubElement(
            case, "error", message=_attr(message.split("\n", 1)[0] or kind), type=_attr(kind, 40)
        )
        element.text = xml_text(
            text + f"\n\nseed={model.seed} precision={one_line(model.precision, 20)}"
        )


def _inconclusive(case: ET.Element, model: ModelResult, report: RunReport) -> None:
    """Not judged either way: "skipped" (CI systems show it apart from passes), or a failure when
    the run was asked to fail on it (--fail-on-inconclusive)."""
    _, text = _mismatch(model)
    message = "inconclusive: " + inconclusive_text(model)
    tag = "failure" if report.fail_on_inconclusive else "skipped"
    element = ET.SubElement(case, tag, message=_attr(message))
    if tag == "failure":
        element.set("type", "inconclusive")
    element.text = xml_text(text)


def _notice_line(n: Notice) -> str:
    loc = where(repo_path(n.file), positive_line(n.line))
    return (
        f"notice {one_line(n.code, 60)}"
        + (f" at {loc}" if loc else "")
        + ": "
        + clean_text(n.message).strip()
    )


def render_junit(report: RunReport) -> str:
    counts = status_counts(report)
    config = repo_path(report.config_file) or "gradcheck.yml"
    stem = posixpath.splitext(posixpath.basename(config))[0] or "gradcheck"
    classname = _attr(f"gradcheck-ci.{stem}")
    failures = sum(
        1
        for m in report.models
        if m.status == "fail" or (m.status == "inconclusive" and report.fail_on_inconclusive)
    )
    errors = counts["error"] + counts["cancelled"] + (1 if report.config_errors else 0)
    tests = len(report.models) + (1 if report.config_errors else 0)
    time = sum(_seconds(m) for m in report.models)
    totals = {
        "tests": str(tests),
        "failures": str(failures),
        "errors": str(errors),
        "skipped": str(
            counts["expected-fail"]
            + counts["skipped"]
            + (0 if report.fail_on_inconclusive else counts["inconclusive"])
        ),
        "time": f"{max(time, report.seconds):.3f}",
    }

    root = ET.Element("testsuites", {"name": "gradcheck-ci", **totals})
    suite = ET.SubElement(root, "testsuite", {"name": _attr(f"gradcheck-ci: {config}"), **totals})
    if report.shard:
        props = ET.SubElement(suite, "properties")
        ET.SubElement(props, "property", name="shard", value=_attr(report.shard))
    if report.config_errors:
        # Errors not tied to a model still have to fail the CI system's test view: one synthetic
        # testcase.
        case = ET.SubElement(
            suite,
            "testcase",
            classname=classname,
            name="configuration",
            file=_attr(config),
            time="0.000",
        )
        lines = []
        for e in report.config_errors:
            loc = where(repo_path(e.file) or config, positive_line(e.line))
            lines.append(f"{loc}: {clean_text(e.message).strip()}")
        first = report.config_errors[0]
        if positive_line(first.line):
            case.set("line", str(first.line))
        ET.SubElement(
            case, "error", message=_attr(first.message), type=_attr(first.kind, 40)
        ).text = xml_text("\n".join(lines))
    for model in report.models:
        _testcase(suite, model, report, classname)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
