"""The diagnosis stage: why analytic and numeric gradients differ, where, and proof by ablation.

    diagnose(context) -> list[Diagnosis]

Runs in the worker after the check of one model (context.Context holds the built model, the
objective, the compiled check and the result). The causes, their codes and their run order are the
table in gradcheck_ci/core/causes.py; each cause is the module of this package named after its code,
its docstring the documentation (docs/diagnosis.md summarises them). What a cause's module provides
depends on its phase (the Protocols Finder, LossFinder and suspects.GraphCause):

    always, non-finite, float32, general   find(session) -> list[Diagnosis]
    non-finite also (the loss not finite)  for_loss(session) -> list[Diagnosis]
    graph (suspects.py)                    suspects(session), describe(session, suspect, outcome)

Order matters: causes that can be switched off are tried first, each ablation changing only its own
cause; the tensors an ablation fixes are "explained", and the general causes (a kink, a wrong
backward pass) only look at what is left. Correct models get no diagnosis; the ablations and probes
run only when a tensor fails, so a passing model costs one symbolic theano.grad and a walk over its
graph. Last, failing models with recurrent layers get a gradient-through-time profile (profile.py).
"""

from __future__ import annotations

import importlib
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Protocol

from ..core import causes
from ..core.causes import CODES
from ..core.results import Diagnosis
from ..engine.precision import of
from ..platform import fncache
from . import allow, low_precision, non_differentiable, suspects
from .context import Context
from .low_precision import NO_DIAGNOSIS_ENV
from .profile import abandon, attach_profiles, start_profiles
from .session import Session, skipped_notice
from .stopped import diagnosis_error, stopped_notices
from .suspects import GraphCause

__all__ = ["CODES", "PHASES", "diagnose", "finder", "record_diagnoses"]


def diagnose(context: Context) -> list[Diagnosis]:
    """Every cause found for this model's mismatch (or untrustworthy check); [] for a correct
    model."""
    if os.environ.get(NO_DIAGNOSIS_ENV):
        return []
    session = Session(context)
    found: list[Diagnosis] = []
    try:
        _run(session, found)
    except Exception as exc:  # noqa: BLE001 - a diagnosis bug must never cost the user the check's result
        context.result.extra.diagnosis_error = diagnosis_error(exc, getattr(context, "root", None))
    seconds = round(time.perf_counter() - session.started, 3)
    if session.failing or found:
        context.result.seconds["diagnosis"] = seconds
    return found


def record_diagnoses(context: Context) -> None:
    """diagnose(context) into the model's result, with what the diagnosis compiled (the ablations'
    and the layer-by-layer functions), apart from the check's own compiles."""
    compiles = len(fncache.EVENTS)
    context.result.diagnoses = diagnose(context)
    if len(fncache.EVENTS) > compiles:
        context.result.extra.diagnosis_compile = fncache.summary(fncache.EVENTS[compiles:])
    context.result.notices.extend(
        stopped_notices(context.result, context.spec, context.config_file)
    )


def _run(session: Session, found: list[Diagnosis]) -> None:
    loss = session.result.loss_value
    # nothing can be compared: only where the NaN/Inf starts
    if loss is not None and not math.isfinite(loss):
        session.progress("the loss is not finite: locating the first NaN/Inf")
        loss_finders: list[LossFinder] = _finders("non-finite")
        for module in loss_finders:
            found.extend(module.for_loss(session))
        return
    # what float64 confirmed, it localised (float32 cannot see it)
    if not of(session.precision).settles_itself:
        found.extend(low_precision.localised_in_float64(session))
    background = None
    try:
        for phase in causes.PHASES:
            if phase == "general" and session.spec.allow:
                # before the general causes: an allowed difference needs no other
                allow.accept(session, found)
            found.extend(PHASES[phase].run(session, _finders(phase)))
            if phase == "always" and not session.unexplained:
                if session.spec.allow:  # a cause found here (stochastic-forward) explained it all
                    allow.accept(session, found)
                found.extend(_kinks(session))
                # nothing failed, or the always-on causes explained it all: no probes, no profiles
                return
            if phase == "always":
                # the profile needs no ablation: a second core runs it
                background = start_profiles(session)
        attach_profiles(session, found, background)
        background = None
    finally:
        if background is not None:  # a diagnosis error on the way: the child's answer is not wanted
            abandon(background)
    if session.skipped:
        session.result.extra.diagnosis_skipped = session.skipped
        spec = session.spec
        session.result.notices.append(
            skipped_notice(
                session.skipped,
                spec.timeout,
                session.context.config_file,
                spec.key_lines.get("timeout", spec.line),
            )
        )


# ---------------------------------------------------------------- the phases (causes.PHASES)


def _kinks(session: Session) -> list[Diagnosis]:
    """An inconclusive model (nothing fails): where the kink that kept its tensors from being judged
    is."""
    if not session.inconclusive:
        return []
    session.progress("locating the kink the comparisons could not get past")
    try:
        return non_differentiable.detect(session, list(session.inconclusive))
    except Exception as exc:  # noqa: BLE001 - a courtesy: the verdict stands without it
        session.result.extra.diagnosis_error = diagnosis_error(
            exc, getattr(session.context, "root", None), "the non-differentiable probe"
        )
        return []


class Finder(Protocol):
    """What the module of a cause in the always, non-finite, float32 and general phases provides
    (the graph phase's: suspects.GraphCause)."""

    CODE: str

    def find(self, session: Session) -> list[Diagnosis]: ...


class LossFinder(Finder, Protocol):
    """A non-finite cause's module: also where a loss that is not finite starts."""

    def for_loss(self, session: Session) -> list[Diagnosis]: ...


def _always(session: Session, modules: list[Finder]) -> list[Diagnosis]:
    session.progress("looking for disconnected parameters and noise in the graph")
    found: list[Diagnosis] = []
    for module in modules:
        found.extend(module.find(session))
    return found


def _each_while_unexplained(session: Session, modules: list[Finder]) -> list[Diagnosis]:
    found: list[Diagnosis] = []
    for module in modules:
        if session.unexplained:
            found.extend(module.find(session))
    return found


def _graph(session: Session, modules: list[GraphCause]) -> list[Diagnosis]:
    return suspects.confirm(session, modules) if session.unexplained else []


def _float32(session: Session, modules: list[Finder]) -> list[Diagnosis]:
    return [] if of(session.precision).settles_itself else _each_while_unexplained(session, modules)


@dataclass(frozen=True)
class Phase:
    # runs the phase's cause modules, in table order (each a Finder, or a suspects.GraphCause in
    # the graph phase: _load checks the interface when the package is imported)
    run: Callable[[Session, list[Any]], list[Diagnosis]]
    interface: tuple[str, ...]  # the functions each of its cause modules defines


PHASES: dict[str, Phase] = {
    "always": Phase(_always, ("find",)),
    "non-finite": Phase(_each_while_unexplained, ("find", "for_loss")),
    "graph": Phase(_graph, ("suspects", "describe")),
    "float32": Phase(_float32, ("find",)),
    "general": Phase(_each_while_unexplained, ("find",)),
}


# ---------------------------------------------------------------- the cause modules


def _load(cause: causes.Cause) -> ModuleType:
    module = importlib.import_module(f"{__name__}.{cause.module}")
    missing = [
        name for name in ("CODE", *PHASES[cause.phase].interface) if not hasattr(module, name)
    ]
    if missing or module.CODE != cause.code:
        raise ImportError(
            f"{module.__name__} does not implement the {cause.phase!r} cause "
            f"{cause.code!r}: {', '.join(missing) or 'CODE differs'}"
        )
    return module


# Imported with the package: a cause module that is missing or incomplete fails loudly, here.
_FINDERS: dict[str, ModuleType] = {cause.code: _load(cause) for cause in causes.CAUSES}


def finder(code: str) -> ModuleType:
    """The module that looks for the cause `code`."""
    return _FINDERS[code]


def _finders(phase: str) -> list[Any]:
    return [_FINDERS[cause.code] for cause in causes.in_phase(phase)]
