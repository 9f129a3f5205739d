"""Gradient-through-time profile of a recurrent layer.

For time step t: the analytic sensitivity of the loss to the layer's input at step t, along a random
Gaussian direction (dLoss/d(input)[:, t] . u_t, from one backward pass), against the central
difference of the loss when only step t of the input moves along u_t. Truncated BPTT shows as
analytic zeros before the last `gradient_steps` steps while the numeric sensitivity is not zero;
clipping as a gap that grows towards the early steps.

The analytic side is known at every step for free (one backward pass); the numeric side costs two
loss evaluations per step, so long sequences are sampled: the last 2 steps, the first 2 and 8
log-spaced distances from the end in between (a 10,000-step sequence: 12 steps, not 10,000).

The profile needs nothing the ablations learn, so where the machine has a second core it runs in a
forked child while they run (start_profiles, then attach_profiles collects it): the same computation
on the same arrays, its layer-by-layer function compiled (or loaded from the function cache) in the
child. Without fork, on one core, or when the child fails, it runs here as before.
"""

from __future__ import annotations

import functools
import json
import os
import select
import signal
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from ..core.extra import Profile, ProfileError, profile_from_json
from ..core.results import Diagnosis
from ..engine import forked, numeric, probing
from ..engine.precision import of
from ..platform import fncache
from .graph import LayerNode, input_layers
from .session import Session

EDGE = 2  # steps sampled at each end
LOG_POINTS = 8  # log-spaced distances from the end in between
ALL_STEPS_UP_TO = 2 * EDGE + LOG_POINTS
PROFILE_BATCH = 4  # loss evaluations asked for at once (two steps)


def sample_steps(length: int) -> list[int]:
    if length <= ALL_STEPS_UP_TO:
        return list(range(length))
    steps = set(range(EDGE)) | set(range(length - EDGE, length))
    for distance in np.geomspace(EDGE + 1, length - EDGE, LOG_POINTS):
        steps.add(int(length - round(distance)))
    return sorted(s for s in steps if 0 <= s < length)


def _recurrent(session: Session) -> list[LayerNode]:
    return [n for n in session.structure.nodes if n.has_scan]


def _estimate(session: Session, recurrent: list[LayerNode]) -> float:
    evaluation = float(session.result.seconds.get("numeric", 0.0)) / max(
        session.result.evaluations, 1
    )
    return len(recurrent) * 50 * 2 * evaluation + (
        0 if session.has_instrumented else session.rebuild_estimate()
    )


@dataclass
class Background:
    """The profiles being computed in a forked child: its pid and the pipe its JSON answer comes
    through."""

    pid: int
    pipe: int
    loan: Any  # forked.hold's: lent back to the child once the parent only waits for it


def start_profiles(session: Session) -> Background | None:
    """Fork a child that computes the profiles while the ablations run here; None when they will run
    here afterwards instead (no fork, a single core, nothing to profile, not affordable:
    attach_profiles says)."""
    if not forked.spare():
        return None
    recurrent = _recurrent(session)
    if not recurrent or not session.failing or _estimate(session, recurrent) > session.left():
        return None
    read_end, write_end = os.pipe()
    # until collected or abandoned: the parent's evaluations keep to their own CPU
    loan = forked.hold()
    try:
        pid = os.fork()
    except OSError:
        os.close(read_end)
        os.close(write_end)
        forked.release(loan)
        return None
    # the child: compute, answer through the pipe, leave without running the parent's cleanup
    if pid == 0:
        status = 1
        try:
            os.close(read_end)
            forked.mark_child(loan)  # one CPU, and the parent's once it only waits
            _answer(session, recurrent, write_end)
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    session.progress(
        f"gradient-through-time profile of {', '.join(n.label for n in recurrent)} "
        "(in parallel with the ablations)"
    )
    return Background(pid, read_end, loan)


def _answer(session: Session, recurrent: list[LayerNode], pipe: int) -> None:
    session.progress = lambda message: None  # type: ignore[method-assign]  # the parent reports progress
    compiles, skips, seconds = len(fncache.EVENTS), len(session.skipped), dict(session.seconds)
    profiles: list[Profile | ProfileError | None] = []
    for node in recurrent:
        try:
            profiles.append(layer_profile(session, node))
        except Exception as exc:  # noqa: BLE001 - the profile is extra information
            profiles.append(ProfileError(node.label, f"{type(exc).__name__}: {exc}"))
    answer = {
        "profiles": [p.to_json() if p is not None else None for p in profiles],
        "events": [asdict(e) for e in fncache.EVENTS[compiles:]],
        "seconds": {k: v - seconds.get(k, 0.0) for k, v in session.seconds.items()},
        "skipped": session.skipped[skips:],
    }
    with os.fdopen(pipe, "wb") as out:
        out.write(json.dumps(answer, default=lambda value: value.item()).encode())  # numpy scalars


def _collect(session: Session, background: Background) -> dict[str, Any] | None:
    """The child's answer, waiting at most until the diagnosis' deadline: {"timed_out": True} if it
    came first, None if the child failed (the profile then runs here)."""
    chunks = []
    forked.lend(background.loan)  # nothing left here but waiting: the child may take this CPU too
    if not select.select([background.pipe], [], [], 0)[0]:
        session.progress("finishing the gradient-through-time profile")
    try:
        while True:
            ready, _, _ = select.select([background.pipe], [], [], max(session.left(), 0.0))
            if not ready:
                os.kill(background.pid, signal.SIGKILL)
                session.skipped.append(
                    "the gradient-through-time profile (the model's timeout came first)"
                )
                return {"timed_out": True}
            chunk = os.read(background.pipe, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
    finally:
        os.close(background.pipe)
        os.waitpid(background.pid, 0)
        forked.release(background.loan)
    try:
        answer = json.loads(b"".join(chunks)) if chunks else None
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def abandon(background: Background) -> None:
    """Stop a child whose answer is no longer wanted."""
    try:
        os.kill(background.pid, signal.SIGKILL)
        os.waitpid(background.pid, 0)
    except OSError:
        pass
    os.close(background.pipe)
    forked.release(background.loan)


def attach_profiles(
    session: Session, found: list[Diagnosis], background: Background | None = None
) -> None:
    """Profiles of the recurrent layers of a failing model (result.extra.profiles); each summary
    is also copied into the evidence of a diagnosis on the same layer. `background`: the child
    start_profiles forked."""
    recurrent = _recurrent(session)
    answer = _collect(session, background) if background is not None else None
    if not recurrent or not session.failing or (answer is not None and answer.get("timed_out")):
        return
    if background is not None and answer is None:
        session.progress(
            "the gradient-through-time profile's process gave no answer: computing it here"
        )
    computed = _adopt(session, answer) if answer is not None else _compute(session, recurrent)
    profiles: list[Profile | ProfileError] = []
    for node, profile in zip(recurrent, computed, strict=False):
        if profile is None:
            continue
        profiles.append(profile)
        for diagnosis in found:
            if diagnosis.layer == node.label and isinstance(profile, Profile):
                diagnosis.evidence["profile"] = profile.summary
    if profiles:
        session.result.extra.profiles = profiles


def _adopt(session: Session, answer: dict[str, Any]) -> list[Profile | ProfileError | None]:
    """The child's profiles, with what it compiled, skipped and spent counted as the diagnosis'
    own."""
    session.skipped.extend(answer.get("skipped", []))
    fncache.EVENTS.extend(fncache.Event(**e) for e in answer.get("events", []))
    for key, seconds in answer.get("seconds", {}).items():
        session.seconds[key] = round(session.seconds.get(key, 0.0) + seconds, 3)
    return [_adopted(p) for p in answer.get("profiles", [])]


def _adopted(value: object) -> Profile | ProfileError | None:
    """One of the child's profiles (None: it found nothing to perturb, or sent what is not one)."""
    try:
        return profile_from_json(value) if value is not None else None
    except ValueError:
        return None


def _compute(session: Session, recurrent: list[LayerNode]) -> list[Profile | ProfileError | None]:
    if not session.affordable("the gradient-through-time profile", _estimate(session, recurrent)):
        return []
    computed: list[Profile | ProfileError | None] = []
    for node in recurrent:
        try:
            computed.append(layer_profile(session, node))
        except Exception as exc:  # noqa: BLE001 - the profile is extra information
            computed.append(ProfileError(node.label, f"{type(exc).__name__}: {exc}"))
    return computed


def layer_profile(session: Session, node: LayerNode) -> Profile | None:
    """The profile of one recurrent layer (a structure node), or None when its input cannot be
    perturbed."""
    inst = session.instrumented
    ins = input_layers(node.layer)
    if not ins or id(ins[0]) not in inst.index:
        return None
    k = inst.index[id(ins[0])]
    base = inst.at_base
    grad, out = base.grads[k], base.outputs[k]
    if out.ndim < 3:
        return None
    length = out.shape[1]
    inputs = [info.layer for info in session.model.inputs]
    data_position = next((j for j, layer in enumerate(inputs) if layer is ins[0]), None)
    rng = np.random.RandomState(probing.stable_seed(session.spec.seed, "profile", node.label))
    steps = sample_steps(length)
    analytic, numeric_values, agree = [], [], []
    step_size = numeric.base_step(session.precision, numeric.rms(out))
    session.progress(
        f"gradient-through-time profile of {node.label} ({len(steps)} of {length} steps)"
    )
    units = {t: rng.standard_normal(out[:, t].shape) for t in steps}

    def loss_at(point: tuple[int, float]) -> float:
        """The loss with only step t of the layer's input moved by h along its direction."""
        t, h = point
        direction = np.zeros(out.shape)
        direction[:, t] = units[t]
        if data_position is not None:  # the layer reads the data: move the data, no extra compile
            data = session.compiled.data[data_position]
            return session.compiled.loss_with_input(
                data_position, (data + h * direction).astype(data.dtype)
            )
        return float(inst.loss(perturb={k: h * direction}))

    # The points are independent: forked.split shares them with a spare CPU, a few at a time so that
    # a CPU lent back while they run (forked.lend) is used for the rest.
    points = [(t, h) for t in steps for h in (step_size, -step_size)]
    losses: dict[tuple[int, float], float] = {}
    for first in range(0, len(points), PROFILE_BATCH):
        batch = points[first : first + PROFILE_BATCH]
        losses.update(
            zip(
                batch,
                forked.split(loss_at, batch, session.compiled.evaluation_seconds),
                strict=True,
            )
        )
    for t in steps:
        a = float(np.sum(grad[:, t] * units[t]))
        scale = float(np.linalg.norm(grad[:, t]))
        # one step size (2 evaluations): the profile shows where the sensitivities part, it is not a
        # verdict
        c = numeric.compare(
            a,
            functools.partial(_known, losses, t),
            step_size,
            session.precision,
            of(session.precision).default_rtol,
            session.atol,
            scale,
            refine_failures=False,
        )
        analytic.append(a)
        numeric_values.append(c.numeric)
        agree.append(bool(c.passed))
    nonzero = np.flatnonzero(np.any(grad.reshape(grad.shape[0], length, -1) != 0, axis=(0, 2)))
    site = session.model.site(node.layer)
    profile = Profile(
        layer=node.label,
        file=site.file if site else None,
        line=site.line if site else None,
        input=inst.labels[k],
        steps_total=int(length),
        steps=steps,
        analytic=analytic,
        numeric=numeric_values,
        agree=agree,
        analytic_nonzero_steps=[int(nonzero[0]), int(nonzero[-1])] if nonzero.size else None,
        summary="",
    )
    profile.summary = summarise(profile)
    return profile


def _known(losses: dict[tuple[int, float], float], t: int, h: float) -> float:
    return losses[(t, h)]


def summarise(profile: Profile) -> str:
    """One line for the text report."""
    label, length = profile.layer, profile.steps_total
    steps, analytic, numeric_values, agree = (
        profile.steps,
        profile.analytic,
        profile.numeric,
        profile.agree,
    )
    span = profile.analytic_nonzero_steps
    sampled = f"{len(steps)} sampled step{'s' if len(steps) != 1 else ''}" + (
        f" of {length}" if len(steps) < length else ""
    )
    numeric_outside = [
        abs(n)
        for t, n, ok in zip(steps, numeric_values, agree, strict=True)
        if not ok and span is not None and not (span[0] <= t <= span[1])
    ]
    if span is None and not all(agree):
        return f"{label}: analytic gradient is zero at every step, numeric is not ({sampled})"
    if span is not None and numeric_outside:
        first, last = span
        if last == length - 1 and first > 0:
            kept = length - first
            return (
                f"{label}: analytic gradient is zero before the last {kept} of {length} steps "
                f"(numeric is not: up to {max(numeric_outside):.3g})"
            )
        if first == 0 and last < length - 1:
            return (
                f"{label}: analytic gradient is zero after the first {last + 1} of {length} "
                f"steps (numeric is not: up to {max(numeric_outside):.3g})"
            )
        return (
            f"{label}: analytic gradient is zero outside steps {first}-{last} of {length} "
            f"(numeric is not)"
        )
    if all(agree):
        return f"{label}: analytic and numeric sensitivities agree at all {sampled}"
    bad = [t for t, ok in zip(steps, agree, strict=True) if not ok]
    t = bad[0]
    j = steps.index(t)
    return (
        f"{label}: analytic and numeric sensitivities disagree at {len(bad)} of {sampled}, "
        f"first at step {t} (analytic {analytic[j]:.3g}, numeric {numeric_values[j]:.3g})"
    )
