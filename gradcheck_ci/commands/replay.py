"""`gradcheck-ci replay REPORT --model NAME`: re-run one model exactly as a report recorded it, on
this machine.

The report's `spec` (the model's entry as checked: seed, precision, data sizes, mode, directions,
kwargs, tolerances) is run through the same worker as `check`; then every element of each tensor
that failed (in the report or now) is compared (full mode, elements.py), and the inputs, parameters,
analytic and numeric gradients go to an .npz file that plain numpy loads. Before it runs, replay
says what differs from the report: another gradcheck-ci version, a gradcheck.yml entry edited since,
repository files changed since. After, it sets the replayed numbers beside the recorded ones. The
exit code is the replayed check's (0 pass, 1 a gradient mismatch, 2 an error), as `check` would give
for this one model.
"""

from __future__ import annotations

import argparse
import math
import os
import re
import zipfile
from typing import Any

from .. import __version__
from ..core.errors import UsageError
from ..core.results import ModelResult, ParamResult, RunReport
from ..report.common import measured, num
from ..report.formats import report_format
from ..report.jsonreport import read_json, write_json
from ..report.overwrite import Output, output_clash
from .changes import file_digest
from .console import Console

# replayed numbers agreeing to this many significant digits count as reproduced
REPRODUCED_DIGITS = 6


def digits_agreeing(recorded: float | None, replayed: float | None) -> int | None:
    """How many significant digits two numbers share (17: identical); None when either is
    missing."""
    if recorded is None or replayed is None:
        return None
    if recorded == replayed or (math.isnan(recorded) and math.isnan(replayed)):
        return 17
    scale = max(abs(recorded), abs(replayed))
    if not math.isfinite(scale) or scale == 0:
        return 0
    return max(0, min(16, math.floor(-math.log10(abs(recorded - replayed) / scale))))


def load_report(path: str) -> RunReport:
    try:
        return read_json(path)
    except OSError as exc:
        raise UsageError(f"cannot read report {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise UsageError(f"{path}: {exc}") from None


def find_model(report: RunReport, name: str, path: str) -> ModelResult:
    for model in report.models:
        if model.name == name:
            return model
    names = ", ".join(m.name for m in report.models[:20]) or "none"
    raise UsageError(f"--model {name}: no such model in {path} (models: {names})")


def recorded_entry(
    model: ModelResult, current: dict[str, Any] | None, notes: list[str]
) -> dict[str, Any]:
    """The entry to replay: the report's, else (an older report) the current one with the report's
    seed and precision, said in `notes`."""
    if model.spec is not None:
        return dict(model.spec)
    if current is None:
        raise UsageError(
            f"the report does not record the entry of {model.name!r} (an older "
            f"gradcheck-ci wrote it) "
            "and gradcheck.yml has no model of that name to take it from"
        )
    notes.append(
        "the report does not record the model's entry (an older gradcheck-ci wrote it): "
        "kwargs and data come from gradcheck.yml, seed and precision from the report"
    )
    return dict(current, seed=model.seed, precision=model.precision)


def what_differs(
    report: RunReport,
    model: ModelResult,
    entry: dict[str, Any],
    current: dict[str, Any] | None,
    root: str,
) -> list[str]:
    """Everything that can make the replay differ from the report, one line each."""
    found = []
    if report.version != __version__:
        found.append(
            f"the report was written by gradcheck-ci "
            f"{report.version or '(an older version)'}; this is {__version__}: the error "
            f"model or the directions may differ"
        )
    if current is None:
        found.append(f"gradcheck.yml has no model {model.name!r} now: replaying the report's entry")
    else:
        for key in sorted(set(entry) | set(current)):
            if entry.get(key) != current.get(key):
                found.append(
                    f"gradcheck.yml now says {key}: {current.get(key)!r} (the report: "
                    f"{entry.get(key)!r}); replaying the report's"
                )
    for path, digest in sorted(model.files.items()):
        now = file_digest(root, path)
        if now != digest:
            found.append(
                f"{path} {'is gone' if now is None else 'changed'} since the report: the "
                f"replay runs "
                "today's code"
            )
    return found


def current_entry(config_path: str, root: str, name: str) -> dict[str, Any] | None:
    from ..config import ConfigError, load_config

    if not os.path.isfile(config_path):
        return None
    try:
        config = load_config(config_path, root=root)
    except ConfigError:
        return None
    return next((spec.as_checked() for spec in config.models if spec.name == name), None)


_SKIPPED_DIRS = {".git", ".venv", "venv", "node_modules", "__pycache__", ".tox", "site-packages"}
SEARCH_DEPTH = 4  # directories below the current one searched for the report's config


def locate_config(report: RunReport, model: ModelResult, report_path: str) -> str:
    """The report's gradcheck.yml here. The report records it relative to the repository root it was
    checked from, which need not be the current directory (`--config
    examples/seed-rnn/gradcheck.yml`): tried as written, beside the report, then below the current
    directory among the configs that define the model, the one whose directory holds the files the
    report recorded unchanged (most of them) wins."""
    name = report.config_file or "gradcheck.yml"
    for candidate in (name, os.path.join(os.path.dirname(os.path.abspath(report_path)), name)):
        if os.path.isfile(candidate):
            return candidate
    found = []
    for directory, subdirs, files in os.walk("."):
        depth = 0 if directory == "." else directory.count(os.sep)
        subdirs[:] = (
            []
            if depth >= SEARCH_DEPTH
            else sorted(d for d in subdirs if d not in _SKIPPED_DIRS and not d.startswith("."))
        )
        if os.path.basename(name) in files:
            path = os.path.normpath(os.path.join(directory, os.path.basename(name)))
            root = os.path.dirname(os.path.abspath(path))
            if current_entry(path, root, model.name) is not None:
                same = sum(file_digest(root, f) == digest for f, digest in model.files.items())
                found.append((-same, path))
    return min(found)[1] if found else name


def data_text(model: ModelResult, spec_data: Any) -> str:
    """The inputs as the report recorded them ('sequences 4x20x3, mask 4x20'); the entry's sizes for
    a report without them."""
    shapes = model.data.get("shapes") if isinstance(model.data, dict) else None
    if isinstance(shapes, dict) and shapes:
        return ", ".join(
            f"{label} {'x'.join(str(s) for s in shape) or 'scalar'}"
            for label, shape in shapes.items()
        )
    return f"{spec_data.sequences} x {spec_data.steps} x {spec_data.features} (the entry's sizes)"


def directions_text(model: ModelResult, configured: int) -> str:
    """How many comparisons judged each tensor in the report, beside the entry's `directions`."""
    counts = sorted({p.directions for p in model.params if p.directions})
    if not counts:
        return f"directions: {configured}"
    judged = str(counts[0]) if len(counts) == 1 else f"{counts[0]}-{counts[-1]}"
    return f"directions: {configured}, {judged} comparison(s) judged each tensor"


def _err(p: ParamResult) -> str:
    if p.max_abs_err is not None:
        return repr(p.max_abs_err)
    return (
        "none of its own (passed with its band)"
        if p.method == "grouped"
        else ("none (not measured)")
    )


def comparison_lines(recorded: list[ParamResult], replayed: list[ParamResult]) -> list[str]:
    now = {p.id: p for p in replayed}
    lines = []
    for before in recorded:
        after = now.get(before.id)
        if after is None:
            lines.append(f"  {before.id}: not in the replay (its parameters changed)")
            continue
        if before.max_abs_err is None and after.max_abs_err is None:
            verdict = (
                "reproduced"
                if before.status == after.status
                else f"differs ({before.status} in the report, {after.status} now)"
            )
            lines.append(
                f"  {before.id}: {before.status}, abs err {_err(before)} in the report "
                f"and now: {verdict}"
            )
            continue
        if before.max_abs_err is None or after.max_abs_err is None:  # one passed with its band
            verdict = (
                "the same verdict (no error of its own to compare)"
                if before.status == after.status
                else f"differs ({before.status} in the report, {after.status} now)"
            )
            lines.append(
                f"  {before.id}: {before.status}, abs err ({measured(before)}) {_err(before)} "
                f"in the report, {_err(after)} now: {verdict}"
            )
            continue
        digits = digits_agreeing(before.max_abs_err, after.max_abs_err)
        same = before.status == after.status and digits is not None and digits >= REPRODUCED_DIGITS
        verdict = (
            "reproduced exactly"
            if same and digits == 17
            else f"reproduced to {digits} significant digits"
            if same
            else f"differs ({before.status} in the report, {after.status} now)"
            if before.status != after.status
            else f"differs after {digits} significant digit(s)"
        )
        lines.append(
            f"  {before.id}: {before.status}, abs err ({measured(before)}) {_err(before)} "
            f"in the report, {_err(after)} now: {verdict}"
        )
    return lines


def element_lines(result: ModelResult) -> list[str]:
    replay = result.extra.replay
    if replay is None:
        return []
    lines = []
    for t in replay.tensors:
        shape = "x".join(str(s) for s in t.shape) or "scalar"
        lines.append(
            f"  {t.id} ({shape}): {t.disagree} of {t.elements} element(s) "
            f"disagree; worst element {t.worst_index}: analytic {num(t.analytic)}, "
            f"numeric {num(t.numeric)} (abs err "
            f"{num(abs(t.numeric - t.analytic))}, tolerance {num(t.tolerance)})"
        )
    return lines


def config_and_root(
    args: argparse.Namespace, report: RunReport, model: ModelResult
) -> tuple[str, str]:
    """The gradcheck.yml to replay against and the repository root (--config, --root, else where the
    report was checked from)."""
    config_path = args.config or locate_config(report, model, args.report)
    # its files would all look "gone": say what is missing
    if not args.config and not os.path.isfile(config_path):
        raise UsageError(
            f"cannot find the report's {config_path} with model {model.name!r} "
            f"(looked in the current directory, beside the report and up to "
            f"{SEARCH_DEPTH} levels below here): run replay "
            "from the repository the report was checked in, or name it with --config "
            "PATH"
        )
    root = (
        os.path.abspath(args.root) if args.root else os.path.dirname(os.path.abspath(config_path))
    )
    if not os.path.isdir(root):
        raise UsageError(f"--root {args.root}: not a directory")
    return config_path, root


def _say_results(console: Console, model: ModelResult, result: ModelResult, npz: str) -> None:
    """What the replay found against the report, every element of its failing tensors, and the
    .npz it wrote: the command's result, shown even with --quiet."""
    if model.params:
        console.result("against the report:")
        for line in comparison_lines(model.params, result.params):
            console.result(line)
    elements = element_lines(result)
    if elements:
        console.result("every element of the failing tensors (full mode):")
        for line in elements:
            console.result(line)
    if os.path.isfile(npz) and result.extra.replay is not None:
        console.result(
            f"wrote {npz}: inputs/, targets, params/, analytic/ for every tensor; "
            f"numeric/, abs_err/, "
            "tolerance/, agree/ for those compared (numpy.load; no pickles)"
        )


def replay_npz(path: str) -> bool:
    """Whether `path` holds arrays a replay saved: a zip with the `meta` array elements.py writes
    (its central directory is read, not the arrays)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "meta.npy" in archive.namelist()
    except zipfile.BadZipFile:
        return False


def output_refusal(args: argparse.Namespace, npz: str, config_path: str) -> str | None:
    """Why replay must not write its .npz or --json where asked (overwrite.py), before it runs."""
    outputs = [Output("--npz", npz, "replay .npz", replay_npz)]
    if args.json:
        outputs.append(report_format("json").output(args.json))
    return output_clash(outputs, [args.report, config_path])


def recorded_evaluation(model: ModelResult) -> str:
    """How the report's check evaluated the model, C or Python (platform/ccode.py), for the replay
    to do the same: the two can part in the last digits. A report without the record came from
    C."""
    evaluation = model.extra.evaluation
    return "python" if evaluation is not None and evaluation.code == "python" else "c"


def replay(args: argparse.Namespace, console: Console) -> int:
    from ..config import ModelSpec
    from ..platform import ccode
    from ..process.runner import Runner

    if args.timeout is not None and not args.timeout > 0:
        raise UsageError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    report = load_report(args.report)
    model = find_model(report, args.model, args.report)
    config_path, root = config_and_root(args, report, model)
    current = current_entry(config_path, root, model.name)
    notes: list[str] = []
    entry = recorded_entry(model, current, notes)
    differs = notes + what_differs(report, model, entry, current, root)
    try:
        spec = ModelSpec.from_json(entry)
    # a report edited or written by something else
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise UsageError(
            f"{args.report}: the entry recorded for model {model.name!r} is malformed ({exc})"
        ) from None
    spec.line = model.config_line or 0
    # the element-wise comparison comes on top of the check
    spec.timeout = args.timeout or spec.timeout * 4
    npz = args.npz or f"gradcheck-replay-{re.sub(r'[^A-Za-z0-9._-]+', '-', model.name)}.npz"
    refusal = output_refusal(args, npz, config_path)
    if refusal:
        raise UsageError(refusal)
    console.note(
        f"gradcheck-ci replay: {model.name} from {args.report} (written by gradcheck-ci "
        f"{report.version or 'unknown'}; seed {spec.seed}, {spec.precision}, mode "
        f"{spec.mode}, {directions_text(model, spec.directions)}; data "
        f"{data_text(model, spec.data)}; config {os.path.relpath(config_path)})"
    )
    for line in differs:  # what makes the replay not the report's check: said even with --quiet
        console.note(f"  {line}", warning=True)
    if not differs:
        console.note("  nothing differs from the report: same gradcheck-ci, same entry, same files")
    recorded_failing = [p.id for p in model.params if p.status == "fail"]
    meta = {
        "model": model.name,
        "report": os.path.basename(args.report),
        "spec": entry,
        "gradcheck_ci": __version__,
        "report_version": report.version,
    }
    if ccode.MODE_ENV not in os.environ:  # else the user's choice stands, in their words
        evaluated = recorded_evaluation(model)
        os.environ[ccode.MODE_ENV] = evaluated
        os.environ[ccode.MODE_WHY_ENV] = (
            f"the report's check evaluated it {'with C' if evaluated == 'c' else 'without C'}, "
            "and a replay evaluates as it did"
        )
    runner = Runner(
        root,
        model.config_file or "gradcheck.yml",
        on_event=console.progress,
        on_output=console.user_output,
        job_extra={
            "replay": {"npz": os.path.abspath(npz), "tensors": recorded_failing, "meta": meta}
        },
    )
    console.model_start(spec)
    result = runner.run_one(spec)
    result.spec = entry  # as recorded: the longer timeout is the replay's, not the model's
    console.model_done(result)
    _say_results(console, model, result, npz)
    replayed = RunReport(
        config_file=model.config_file or "gradcheck.yml", models=[result], version=__version__
    )
    if args.json:
        try:
            write_json(replayed, args.json)
        except OSError as exc:
            raise UsageError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    return replayed.exit_code
