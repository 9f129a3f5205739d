"""`check --changed-since REF`: check only the models a change can have touched.

A model is checked again when any of these holds, and skipped (status `skipped`, reason `unchanged`)
otherwise:
- there is no usable record of it: the previous report (`--previous-report`, else the `--json` file
  as the run finds it) lacks it, its check ended in an error or was cancelled, or the report comes
from
  another gradcheck-ci version;
- a repository file its check imported (ModelResult.files: the factory's module, what it imported
  from the repository, a custom loss) changed since REF (`git diff REF`, untracked files included),
or differs
  from the content the record saw (so a record older than REF is never trusted for what changed in
  between);
- its gradcheck.yml entry differs from the one at REF, or from the one the record checked (defaults
  included).

When the answer cannot be known (REF is not in the clone, which a shallow checkout causes; no git;
no readable previous report) every model is checked and the run says why. Skipped models carry their
record forward, so the next run can skip them again; a skipped model whose record failed keeps
status `fail` and its findings (a known failure stays one until it is checked again or marked
`expect: fail`). The changed files the run counts and lists leave out untracked files no model
imported (scratch files).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..config import ConfigError, ModelSpec, load_config
from ..core.results import ModelResult, RunReport, SkipInfo
from ..report.jsonreport import read_json

_GIT_SAFETY = [
    "-c",
    "safe.directory=*",
    "-c",
    "core.fsmonitor=false",
    "-c",
    "core.hooksPath=/dev/null",
]
_SKIPPABLE = ("pass", "fail", "expected-fail", "skipped", "inconclusive")
MAX_LISTED = 200  # changed files kept in the report


@dataclass
class Changes:
    """What changed since REF, relative to the config's directory; `files` None when it cannot be
    known."""

    ref: str
    commit: str | None = None
    files: set[str] | None = None
    problem: str | None = None  # why nothing can be skipped
    # the entries at REF, when gradcheck.yml changed
    old_specs: dict[str, dict[str, Any]] | None = None
    # of `files`: new files git does not track (scratch, mostly)
    untracked: set[str] = field(default_factory=set)


@dataclass
class Selection:
    to_check: list[ModelSpec]
    skipped: list[ModelResult] = field(default_factory=list)
    reasons: dict[str, str] = field(default_factory=dict)  # model -> why it is checked
    summary: dict[str, Any] = field(default_factory=dict)  # RunReport.changed_since

    @property
    def message(self) -> str:
        return str(self.summary.get("message", ""))


def git(root: str, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = dict(os.environ, GIT_TERMINAL_PROMPT="0", GIT_OPTIONAL_LOCKS="0", LC_ALL="C")
    return subprocess.run(
        ["git", *_GIT_SAFETY, *args],
        cwd=root,
        env=env,
        capture_output=True,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
    )


def changes_since(ref: str, root: str, config_file: str) -> Changes:
    """The files changed since `ref` (committed, staged, unstaged and untracked), relative to
    `root`."""
    changes = Changes(ref)
    if shutil.which("git") is None:
        changes.problem = "git is not installed here, so what changed is unknown"
        return changes
    if git(root, "rev-parse", "--show-toplevel").returncode != 0:
        changes.problem = f"{root} is not in a git repository, so what changed is unknown"
        return changes
    resolved = git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if resolved.returncode != 0:
        shallow = git(root, "rev-parse", "--is-shallow-repository").stdout.strip() == b"true"
        changes.problem = f"{ref!r} is not in this clone" + (
            " (a shallow clone: check out with fetch-depth: 0, or fetch that commit)"
            if shallow
            else ""
        )
        return changes
    changes.commit = resolved.stdout.decode().strip()
    diff = git(
        root,
        "diff",
        "--name-only",
        "-z",
        "--no-renames",
        "--no-ext-diff",
        "--relative",
        changes.commit,
        "--",
    )
    untracked = git(root, "ls-files", "--others", "--exclude-standard", "-z")
    if diff.returncode != 0 or untracked.returncode != 0:
        error = (diff.stderr or untracked.stderr).decode(errors="replace").strip().splitlines()
        changes.problem = f"git diff {ref} failed ({error[-1] if error else 'no message'})"
        return changes

    def names(out: bytes) -> set[str]:
        return {name for name in out.decode("utf-8", errors="surrogateescape").split("\0") if name}

    changes.untracked = names(untracked.stdout)
    changes.files = names(diff.stdout) | changes.untracked
    if config_file in changes.files:
        changes.old_specs = _specs_at(root, changes.commit, config_file)
    return changes


def _specs_at(root: str, commit: str, config_file: str) -> dict[str, dict[str, Any]]:
    """The model entries of gradcheck.yml at `commit` ({} when it did not exist or cannot be
    read)."""
    shown = git(root, "show", f"{commit}:./{config_file}")
    if shown.returncode != 0:
        return {}
    handle, path = tempfile.mkstemp(prefix="gradcheck-ref-", suffix=".yml")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(shown.stdout)
        config = load_config(path, root=root)
    except ConfigError:
        return {}
    finally:
        os.unlink(path)
    return {spec.name: spec.as_checked() for spec in config.models}


def read_records(path: str | None) -> tuple[RunReport | None, str | None]:
    """The previous report, or why there is none."""
    if not path:
        return None, (
            "no previous report to compare with (--previous-report, or the --json file "
            "of the last run)"
        )
    if not os.path.exists(path):
        return None, f"no previous report at {path} (the first run, or the cache missed)"
    try:
        return read_json(path), None
    except (OSError, ValueError) as exc:
        return None, (
            f"cannot read the previous report {path}: {getattr(exc, 'strerror', None) or exc}"
        )


def file_digest(root: str, path: str) -> str | None:
    try:
        with open(os.path.join(root, *path.split("/")), "rb") as handle:
            return hashlib.sha256(handle.read()).hexdigest()
    except OSError:
        return None


def why_check(
    spec: ModelSpec, record: ModelResult | None, changes: Changes, root: str
) -> str | None:
    """Why `spec` must be checked again; None when nothing it depends on changed."""
    if record is None:
        return "no record of it in the previous report"
    if record.status not in _SKIPPABLE:
        return f"its last check ended {record.status}"
    if not record.files or record.spec is None:
        return "the previous report does not record what it imports"
    current = spec.as_checked()
    if changes.old_specs is not None and changes.old_specs.get(spec.name) != current:
        return f"its gradcheck.yml entry changed since {changes.ref}"
    if record.spec != current:
        return "its gradcheck.yml entry differs from the one last checked"
    for path, digest in sorted(record.files.items()):
        if changes.files is not None and path in changes.files:
            return f"{path} changed since {changes.ref}"
        if file_digest(root, path) != digest:
            return f"{path} changed since it was last checked"
    return None


def select(
    specs: list[ModelSpec],
    changes: Changes,
    previous: RunReport | None,
    record_problem: str | None,
    root: str,
    config_file: str,
    version: str,
) -> Selection:
    """Which of `specs` to check, and the `skipped` results of the others."""
    counted = counted_changes(changes, previous)
    summary: dict[str, Any] = {
        "ref": changes.ref,
        "commit": changes.commit,
        "files": sorted(counted)[:MAX_LISTED],
    }
    problem = changes.problem or record_problem
    if problem is None and previous is not None and previous.version != version:
        problem = (
            f"the previous report was written by gradcheck-ci "
            f"{previous.version or '(unknown)'}, not {version}"
        )
    if problem is not None:
        summary["message"] = f"{problem}: checking every model"
        return Selection(list(specs), summary=summary, reasons={s.name: problem for s in specs})
    assert previous is not None
    records = {m.name: m for m in previous.models}
    selection = Selection([], summary=summary)
    for spec in specs:
        reason = why_check(spec, records.get(spec.name), changes, root)
        if reason is None:
            selection.skipped.append(skipped_result(spec, records[spec.name], changes, config_file))
        else:
            selection.to_check.append(spec)
            selection.reasons[spec.name] = reason
    summary["message"] = (
        f"{len(counted)} file(s) changed since {changes.ref}"
        + (f" ({changes.commit[:12]})" if changes.commit else "")
        + f": checking {len(selection.to_check)} of {len(specs)} model(s), "
        f"{len(selection.skipped)} unchanged"
    )
    summary["checked"] = selection.reasons
    return selection


def counted_changes(changes: Changes, previous: RunReport | None) -> set[str]:
    """The changed files the run reports: tracked ones, and untracked ones only when a model
    imported them (an untracked scratch file changes no model)."""
    imported = {path for model in (previous.models if previous else []) for path in model.files}
    return {
        path for path in changes.files or set() if path not in changes.untracked or path in imported
    }


def skipped_result(
    spec: ModelSpec, record: ModelResult, changes: Changes, config_file: str
) -> ModelResult:
    """The result of a model not checked again. A known failure keeps its status and its findings:
    skipping it must not turn the run green (it stays a failure until it is checked again or marked
    `expect: fail`)."""
    previous = record.skipped.previous_status if record.skipped else record.status
    count = len(record.files)
    result = ModelResult(
        name=spec.name,
        factory=spec.factory,
        status="skipped",
        seed=spec.seed,
        precision=spec.precision,
        mode=record.mode,
        expect=spec.expect,
        config_file=config_file,
        config_line=spec.line,
        spec=spec.as_checked(),
        files=dict(record.files),
        skipped=SkipInfo(
            "unchanged",
            f"none of the {count} file(s) it imports nor its "
            f"gradcheck.yml entry changed since {changes.ref}",
            previous,
        ),
    )
    if previous == "fail":
        result.status = "fail"
        for kept in (
            "params",
            "diagnoses",
            "notices",
            "data",
            "loss",
            "loss_value",
            "sensitivity",
            "sources",
            "evaluations",
        ):
            setattr(result, kept, getattr(record, kept))
    return result
