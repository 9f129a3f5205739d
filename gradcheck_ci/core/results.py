"""Plain data passed from the engine to the reporters.

Nothing here imports Theano: reporters, the CLI and the Actions adapter read these objects (or the
JSON report they serialise to) without ever touching the engine.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from .extra import ModelExtra

REPORT_SCHEMA = "gradcheck-ci/report/v1"

# Model statuses. "error" covers configuration, loading, crashes and timeouts; "cancelled" marks
# models a run did not reach because it was interrupted (SIGTERM from a cancelled CI job); "skipped"
# marks models `check --changed-since` left out because nothing they import changed (it never
# changes the exit code); "inconclusive": no tensor fails but some could not be judged (the loss has
# kinks within every probe's reach): a warning, exit 0 unless --fail-on-inconclusive.
MODEL_STATUSES = ("pass", "fail", "expected-fail", "error", "cancelled", "skipped", "inconclusive")
# Tensor statuses: "allowed" differs from finite differences by a cause the model's `allow:`
# accepts, proved by the ablation of that cause; "inconclusive" could not be judged by any smooth
# comparison.
PARAM_STATUSES = ("pass", "fail", "inconclusive", "allowed")

EXIT_OK = 0
EXIT_MISMATCH = 1
EXIT_ERROR = 2


@dataclass
class ErrorInfo:
    """Why a model (or the whole config) could not be checked, and where the cause is."""

    message: str
    file: str | None = None  # relative to the repository root, '/' separators
    line: int | None = None
    # config | load | build | gradient-graph | data | loss | nan-or-inf | timeout | memory | crash |
    # cancelled
    kind: str = "error"

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# A tensor whose sensitivity is 1 or more has a gradient the loss's round-off hides: an error as
# large as the gradient itself could pass. No relative statement means anything for it: the model's
# sensitivity (the guarantee for all its tensors) leaves it out, and a notice names it.
RESOLVED_BELOW = 1.0


def resolved(sensitivity: float | None) -> bool:
    """Whether a tensor's sensitivity says something relative (see RESOLVED_BELOW)."""
    return sensitivity is not None and sensitivity < RESOLVED_BELOW


@dataclass
class ParamResult:
    """The comparison for one trainable parameter tensor."""

    id: str  # "<layer>.<param>", e.g. "RecurrentLayer#0.W_in_to_hid"
    shape: list[int]
    status: str  # pass | fail | inconclusive | allowed
    # The tensor's own comparison: None when it was not measured on its own (method "grouped": it
    # passed with its band, whose numbers are in `band`; "inconclusive": nothing smooth to measure).
    max_abs_err: float | None
    max_rel_err: float | None
    tolerance: float | None
    worst_index: list[int] | None
    # full | directional | grouped (passed with its band, see gradcheck_ci/engine/directional.py)
    method: str = "full"
    # at the worst element (full) or along the worst direction (grouped: its part)
    analytic: float | None = None
    numeric: float | None = None
    evaluations: int = 0
    layer: str = ""
    file: str | None = None
    line: int | None = None
    # a layer built by a helper: the calls that led to `line`, outermost first ('file:line')
    via: list[str] = field(default_factory=list)
    # The smallest relative gradient error |e|/|g| this check catches in the tensor with probability
    # >= 99% (docs/numerics.md); None for an all-zero gradient (no relative size) or a tensor not
    # judged.
    sensitivity: float | None = None
    # |g| of Theano's gradient of the tensor (what `sensitivity` is relative to)
    grad_norm: float | None = None
    directions: int = 0  # smooth comparisons (lines or elements) that judged the tensor
    # grouped: {"id", "size", "residual", "tolerance"} of the band's line
    band: dict[str, Any] | None = None
    # how it was measured, when that is unusual (a nearby point, a band's share)
    note: str | None = None

    def to_json(self) -> dict[str, Any]:
        return _without_empty_via(asdict(self))


@dataclass
class Diagnosis:
    """A named cause of a mismatch (see gradcheck_ci/diagnose)."""

    code: str
    message: str
    fix: str = ""
    layer: str | None = None
    file: str | None = None
    line: int | None = None
    confirmed: bool | None = None  # None: no ablation exists for this cause
    evidence: dict[str, Any] = field(default_factory=dict)
    # a layer built by a helper: the calls that led to `line`, outermost first ('file:line')
    via: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return _without_empty_via(asdict(self))


def _without_empty_via(data: dict[str, Any]) -> dict[str, Any]:
    """`via` only where a helper built the layer: reports of layers built in the factory itself
    read as before it existed."""
    if not data.get("via"):
        data.pop("via", None)
    return data


@dataclass
class Notice:
    """Something the user should know that does not change the verdict: a `data:` size the model's
    fixed shape overrides, a float32 check settled in float64, a difference explained by an allowed
    cause."""

    message: str
    code: str = "notice"  # stable, short: what kind of notice (e.g. "data-override")
    file: str | None = None  # relative to the repository root, '/' separators
    line: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class SkipInfo:
    """Why a model was not checked in this run although it was selected (`check
    --changed-since`)."""

    reason: str  # "unchanged": none of its recorded files, nor its gradcheck.yml entry, changed
    message: str
    previous_status: str | None = None  # the verdict of the run its record comes from

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class ModelResult:
    name: str
    factory: str
    status: str
    seed: int
    precision: str
    mode: str  # the mode used: full | directional (auto resolved)
    expect: str = "pass"
    evaluations: int = 0
    seconds: dict[str, float] = field(
        default_factory=lambda: {"compile": 0.0, "analytic": 0.0, "numeric": 0.0, "total": 0.0}
    )
    params: list[ParamResult] = field(default_factory=list)
    diagnoses: list[Diagnosis] = field(default_factory=list)
    error: ErrorInfo | None = None
    notices: list[Notice] = field(default_factory=list)
    # What the model was checked on: {"shapes": {input label: [sizes]}, "dtypes": {input label:
    # dtype}}
    data: dict[str, Any] = field(default_factory=dict)
    loss: str | None = None
    loss_value: float | None = None
    # The Lasagne stack the model was checked on: "0.1" or "master" (None: no worker ran, e.g.
    # skipped). Semantics that differ between the two (grad_clipping=0) are judged on this one.
    lasagne: str | None = None
    config_file: str | None = None  # gradcheck.yml, relative to the repository root
    config_line: int | None = None  # line of this model's entry in gradcheck.yml
    # The largest `sensitivity` of its judged tensors: a relative error of this size in any of them
    # is caught with probability >= 99%, whatever the seed. None when no tensor could be given one.
    sensitivity: float | None = None
    # causes accepted by `allow:`, with evidence
    allowed: list[dict[str, Any]] = field(default_factory=list)
    # what the check recorded beside the verdict: compiles, profiles, the float64 check, ...
    extra: ModelExtra = field(default_factory=ModelExtra)
    # The model's gradcheck.yml entry as checked, defaults applied (ModelSpec.to_json without line
    # numbers): what `replay` re-runs and what `--changed-since` compares.
    spec: dict[str, Any] | None = None
    # The repository files the check imported (the factory's module and what it imported from the
    # repository, a custom loss's module too), relative to the config's directory, each with the
    # sha256 of its content: the record `--changed-since` decides by.
    files: dict[str, str] = field(default_factory=dict)
    # Lines of the user's files the report points at, quoted when the model was checked: {path:
    # {line: text}}.
    sources: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: SkipInfo | None = None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["params"] = [p.to_json() for p in self.params]
        data["diagnoses"] = [d.to_json() for d in self.diagnoses]
        data["notices"] = [n.to_json() for n in self.notices]
        data["error"] = self.error.to_json() if self.error else None
        data["skipped"] = self.skipped.to_json() if self.skipped else None
        data["extra"] = self.extra.to_json()
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelResult:
        data = dict(data)
        data["params"] = [ParamResult(**p) for p in data.get("params", [])]
        data["diagnoses"] = [Diagnosis(**d) for d in data.get("diagnoses", [])]
        data["notices"] = [Notice(**n) for n in data.get("notices", [])]
        data["error"] = ErrorInfo(**data["error"]) if data.get("error") else None
        data["skipped"] = SkipInfo(**data["skipped"]) if data.get("skipped") else None
        data["extra"] = ModelExtra.from_json(data.get("extra", {}))
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class RunReport:
    """Everything one `gradcheck-ci check` run found."""

    config_file: str
    models: list[ModelResult] = field(default_factory=list)
    config_errors: list[ErrorInfo] = field(default_factory=list)  # errors not tied to one model
    shard: str | None = None  # "i/n" when the run was one shard of a matrix
    seconds: float = 0.0
    # the gradcheck-ci version that wrote the report (None: an older report)
    version: str | None = None
    # `check --changed-since`: the reference, what it resolved to and what changed (None: every
    # model checked)
    changed_since: dict[str, Any] | None = None
    # The absolute repository root the paths are relative to, when the run knows it (SARIF's
    # %SRCROOT%). Not part of the JSON report: a report stays the same wherever the repository was
    # checked out.
    root: str | None = field(default=None, compare=False)
    # --fail-on-inconclusive: an inconclusive model fails the run
    fail_on_inconclusive: bool = False
    # What the whole run covers, so `merge` can tell a complete set of shards from a partial or
    # mixed one: {"config_sha256": of gradcheck.yml's text, "models": every model name the run's
    # shards share out}.
    plan: dict[str, Any] | None = None
    # Report files this run could not write (one sentence each: option, path, reason), e.g. on a
    # full disk. Not part of the JSON report (which may be one of them); an error for the exit code
    # and the verdict line.
    unwritten: list[str] = field(default_factory=list, compare=False)

    @property
    def status(self) -> str:
        if (
            self.unwritten
            or self.config_errors
            or any(m.status in ("error", "cancelled") for m in self.models)
        ):
            return "error"
        if any(m.status == "fail" for m in self.models):
            return "fail"
        if self.fail_on_inconclusive and any(m.status == "inconclusive" for m in self.models):
            return "fail"
        return "pass"

    @property
    def exit_code(self) -> int:
        return {"pass": EXIT_OK, "fail": EXIT_MISMATCH, "error": EXIT_ERROR}[self.status]

    def prefix_paths(self, prefix: str) -> None:
        """Make every file path relative to a directory `prefix` levels up (e.g. "sub/"): under
        GitHub Actions paths must be relative to the repository, while the config's directory may be
        below it."""

        def fix(path: str | None) -> str | None:
            return prefix + path if path and prefix and not path.startswith("/") else path

        self.config_file = fix(self.config_file) or self.config_file
        for error in self.config_errors:
            error.file = fix(error.file)
        for model in self.models:
            model.config_file = fix(model.config_file)
            if model.error:
                model.error.file = fix(model.error.file)
            for param in model.params:
                param.file = fix(param.file)
            for diagnosis in model.diagnoses:
                diagnosis.file = fix(diagnosis.file)
            for notice in model.notices:
                notice.file = fix(notice.file)
            model.sources = {fix(path) or path: lines for path, lines in model.sources.items()}

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "schema": REPORT_SCHEMA,
            "status": self.status,
            "version": self.version,
            "config_file": self.config_file,
            "shard": self.shard,
            "seconds": round(self.seconds, 3),
            "changed_since": self.changed_since,
            "plan": self.plan,
            "config_errors": [e.to_json() for e in self.config_errors],
            "models": [m.to_json() for m in self.models],
        }
        # only when asked for, so reports of runs without it keep their shape
        if self.fail_on_inconclusive:
            data["fail_on_inconclusive"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunReport:
        return cls(
            config_file=data.get("config_file", "gradcheck.yml"),
            models=[ModelResult.from_json(m) for m in data.get("models", [])],
            config_errors=[ErrorInfo(**e) for e in data.get("config_errors", [])],
            shard=data.get("shard"),
            seconds=data.get("seconds", 0.0),
            version=data.get("version"),
            changed_since=data.get("changed_since"),
            fail_on_inconclusive=bool(data.get("fail_on_inconclusive", False)),
            plan=data.get("plan"),
        )
