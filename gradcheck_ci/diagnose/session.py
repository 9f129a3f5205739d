"""State shared by the cause modules while one model is diagnosed."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import numpy as np

from ..core.results import Diagnosis, Notice, ParamResult
from .context import Context


class Session:
    """The check's context plus what the diagnosis has learned so far.

    `unexplained` holds the indices (into model.params / result.params, which are aligned) of
    failing tensors no cause has accounted for yet; each cause that is confirmed removes the tensors
    its ablation fixed, and the later, more general causes (kinks, a wrong backward pass) only look
    at what is left.
    """

    def __init__(self, context: Context) -> None:
        self.context = context
        self.model = context.model
        self.spec = context.spec
        self.result = context.result
        self.compiled = context.compiled
        self.precision = context.compiled.precision
        self.rtol = context.settings.rtol
        self.atol = context.settings.atol
        self.mode = (
            context.result.mode if context.result.mode in ("full", "directional") else "full"
        )
        # what an ablation re-checks with
        self.settings = replace(context.settings, mode=self.mode)
        self.failing = [k for k, p in enumerate(context.result.params) if p.status == "fail"]
        self.unexplained: list[int] = list(self.failing)
        # ablations that ran and did not remove the mismatch
        self.ruled_out: list[dict[str, Any]] = []
        # the random stream is frozen for every later ablation (stochastic-forward)
        self.frozen = False
        self.started = time.perf_counter()
        self.seconds: dict[str, float] = {}
        # The runner kills a worker at the model's timeout, which would lose the check's result: the
        # diagnosis keeps a margin and skips what it cannot afford (see affordable()).
        self.deadline = self.started + diagnosis_budget(
            float(context.spec.timeout) * 0.9 - process_seconds(context.result)
        )
        self.skipped: list[str] = []
        self.graph_groups: list[Any] = []  # suspects.Group per graph cause with ablatable suspects
        # Attribute changes of the graph causes found to explain tensors: the layer-by-layer
        # localisation of what is left runs with them applied, so a confirmed cause is not blamed on
        # a layer again.
        self.ablated: list[tuple[Any, str, Any]] = []
        self.inconclusive = [
            k for k, p in enumerate(context.result.params) if p.status == "inconclusive"
        ]
        self._structure: Any = None
        self._instrumented: Any = None
        self._localising: Any = None

    # ------------------------------------------------------------ helpers for causes

    def progress(self, message: str) -> None:
        self.context.progress(f"diagnosis: {message}")

    @property
    def structure(self) -> Any:
        if self._structure is None:
            from .graph import structure

            self._structure = structure(self.model)
        return self._structure

    @property
    def instrumented(self) -> Any:
        """The instrumented function (graph.Instrumented) of the model as built, compiled on first
        use."""
        if self._instrumented is None:
            self._instrumented = self._compile_instrumented([])
        return self._instrumented

    @property
    def localising(self) -> Any:
        """The instrumented function the layer-by-layer localisation of what is left runs on: with
        the graph causes found to explain tensors switched off (the model as built when there are
        none)."""
        if not self.ablated:
            return self.instrumented
        if self._localising is None:
            self._localising = self._compile_instrumented(self.ablated)
        return self._localising

    def _compile_instrumented(self, changes: list[tuple[Any, str, Any]]) -> Any:
        from .graph import Instrumented

        if not self.affordable(
            "compiling the layer-by-layer gradient function", self.rebuild_estimate()
        ):
            raise TimeoutError(
                "not enough of the model's timeout left to compile the layer-by-layer function"
            )
        self.progress(
            "compiling the layer-by-layer gradient function (Theano)"
            + (" with the confirmed causes switched off" if changes else "")
        )
        started = time.perf_counter()
        with attributes(changes):
            inst = Instrumented(self.context)
        self.seconds["instrumented_compile"] = round(
            self.seconds.get("instrumented_compile", 0.0) + time.perf_counter() - started, 3
        )
        return inst

    @property
    def has_instrumented(self) -> bool:
        """Whether the instrumented function is compiled already (using it costs no compile
        then)."""
        return self._instrumented is not None

    def left(self) -> float:
        return self.deadline - time.perf_counter()

    def affordable(self, what: str, estimate: float) -> bool:
        """Whether `what` (estimated to take `estimate` seconds) fits in the time left; records a
        skip."""
        if estimate <= self.left():
            return True
        self.skipped.append(
            f"{what} (needs ~{estimate:.0f} s, {max(self.left(), 0):.0f} s of the "
            f"model's "
            "timeout left)"
        )
        return False

    def rebuild_estimate(self) -> float:
        """A recompile plus a re-check of the failing tensors, judged by what the check itself
        took."""
        seconds = self.result.seconds
        share = len(self.unexplained) / max(len(self.result.params), 1)
        return (
            1.5 * float(seconds.get("compile", 0.0))
            + float(seconds.get("numeric", 0.0)) * share
            + 1.0
        )

    def param(self, k: int) -> ParamResult:
        return self.result.params[k]

    def explain(self, indices: list[int]) -> None:
        self.unexplained = [k for k in self.unexplained if k not in indices]

    def layer_fields(self, layer: Any, label: str | None = None) -> dict[str, Any]:
        """layer/file/line of a Diagnosis for this layer: the user's construction site."""
        site = self.model.site(layer) if layer is not None else None
        return {
            "layer": label or (self.model.label(layer) if layer is not None else None),
            "file": site.file if site else None,
            "line": site.line if site else None,
            "via": list(site.via) if site else [],
        }

    def config_fields(self, key: str | None = None) -> dict[str, Any]:
        """file/line pointing at this model's entry (or one of its keys) in gradcheck.yml."""
        line = self.spec.key_lines.get(key, self.spec.line) if key else self.spec.line
        return {"layer": None, "file": self.context.config_file, "line": line or None}

    def loss_fields(self, fallback_layer: Any = None) -> dict[str, Any]:
        """Where the loss is defined: a custom loss function's definition, else the layer (or config
        line)."""
        if self.spec.loss:
            # found when the objective was built (None for a built-in loss, or no objective)
            site = getattr(self.context.objective, "custom_site", None)
            if site:
                return {"layer": None, "file": site[0], "line": site[1]}
            return self.config_fields("loss")
        if fallback_layer is not None:
            return self.layer_fields(fallback_layer)
        return self.config_fields()

    def diagnosis(
        self,
        code: str,
        message: str,
        fix: str,
        where: dict[str, Any],
        confirmed: bool | None,
        evidence: dict[str, Any],
    ) -> Diagnosis:
        return Diagnosis(
            code=code, message=message, fix=fix, confirmed=confirmed, evidence=evidence, **where
        )

    def tensor_ids(self, indices: list[int]) -> list[str]:
        return [self.model.params[k].id for k in indices]


def skipped_notice(
    skipped: list[str], timeout: float, config_file: str | None, line: int | None
) -> Notice:
    """What the diagnosis left out for want of time, and what gives it the time (a notice in every
    format)."""
    return Notice(
        f"the diagnosis skipped {'; '.join(skipped)}: the model's timeout ({timeout:g} "
        f"s) ran short, "
        "so what depends on it is not confirmed or not shown. A cold Theano compile can "
        "use most of it: keep the compile cache between runs (--cache-dir; "
        "docs/action.md, the cache steps) or raise `timeout` for this model",
        NOTICE_SKIPPED,
        config_file,
        line,
    )


NOTICE_SKIPPED = "diagnosis-skipped"
# A test seam (CONTRIBUTING.md, "Test seams"): at most this many seconds for the diagnosis, so that
# a test can make "not enough of the model's timeout left" happen without racing a clock.
BUDGET_ENV = "GRADCHECK_CI_TEST_DIAGNOSIS_BUDGET"


def diagnosis_budget(left: float) -> float:
    """The seconds the diagnosis may use: what the model's timeout leaves, capped by BUDGET_ENV."""
    try:
        cap = float(os.environ.get(BUDGET_ENV, "inf"))
    except ValueError:
        return left
    return min(left, cap)


def process_seconds(result: Any) -> float:
    """Seconds this worker process has run (Linux: from /proc; elsewhere: what the check
    recorded)."""
    try:
        with open("/proc/self/stat", encoding="ascii") as handle:
            start_ticks = float(handle.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime", encoding="ascii") as handle:
            uptime = float(handle.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        seconds = result.seconds or {}
        return 2.0 + sum(float(seconds.get(k, 0.0)) for k in ("compile", "analytic", "numeric"))


def param_evidence(p: ParamResult) -> dict[str, Any]:
    return {
        "status": p.status,
        "max_abs_err": p.max_abs_err,
        "tolerance": p.tolerance,
        "analytic": p.analytic,
        "numeric": p.numeric,
        "worst_index": p.worst_index,
    }


def names(ids: list[str], limit: int = 4) -> str:
    shown = ", ".join(ids[:limit])
    return shown + (f" and {len(ids) - limit} more" if len(ids) > limit else "")


def fmt(x: float | None) -> str:
    if x is None:
        return "n/a"
    if not np.isfinite(x):
        return str(x)
    return f"{x:.3g}"


def pair(a: float | None, b: float | None) -> str:
    """'a vs b' with enough significant digits that the two differ, and their relative difference: a
    1e-3 error must not read '-0.249 vs -0.249'."""
    if a is None or b is None or not (np.isfinite(a) and np.isfinite(b)):
        return f"{fmt(a)} vs {fmt(b)}"
    digits = 3
    while digits < 17 and f"{a:.{digits}g}" == f"{b:.{digits}g}":
        digits += 1
    reference = max(abs(a), abs(b))
    relative = f", relative difference {abs(a - b) / reference:.2g}" if reference > 0 else ""
    return f"{a:.{digits}g} vs {b:.{digits}g}{relative}"


def verb(count: int, singular: str, plural: str) -> str:
    """The verb (or pronoun) that agrees with `count` things: verb(1, "fails", "fail")."""
    return singular if count == 1 else plural


@contextmanager
def attributes(changes: list[tuple[Any, str, Any]]) -> Iterator[None]:
    """Set attributes on built layers for the duration of a rebuild, then restore them (a method
    replaced on the instance, such as bypass.without's get_output_for, is removed again so the
    class's serves)."""
    saved = [(obj, name, getattr(obj, name), name in vars(obj)) for obj, name, _ in changes]
    try:
        for obj, name, value in changes:
            setattr(obj, name, value)
        yield
    finally:
        for obj, name, value, own in reversed(saved):
            if own:
                setattr(obj, name, value)
            else:
                delattr(obj, name)
