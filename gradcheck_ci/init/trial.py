"""Try candidate factories (discover.py) the way `check` would load them, in a worker with a short
timeout each.

    python -m gradcheck_ci.init.trial JOB.json

One worker tries the candidates in turn: it builds each through model.build_model (the loading
`check` uses, so whatever it learns to load, `init` proposes), reads its inputs, output and
parameters, chooses small `data:` sizes and builds the loss once to make sure the entry will check.
It reports on the file descriptor in GRADCHECK_EVENT_FD, one JSON line per event. A candidate that
hangs past its timeout or kills the worker (a segfault, an import that trains or downloads) gets
that as its reason; a new worker goes on with the rest, and the other candidates of a module whose
import never finished share its reason without being tried again.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..core.installation import child_command, child_environment
from ..platform import lasagne_stacks
from ..process import reaper
from ..process.environment import worker_environment
from .discover import Candidate

if TYPE_CHECKING:
    from ..config import ModelSpec
    from ..model.built import BuiltModel

DEFAULT_TIMEOUT = 30.0  # seconds per candidate, its module's import included
# What the parent waits past a candidate's timeout: the worker stops the import of its module, or
# its factory, itself at that timeout (an import at most at check's limit), and says at which line;
# code that does not return to Python (a compile, a C loop) is killed after this.
STOP_GRACE = 5.0
MEMORY_MIB = 4096
# Sizes small enough that every check takes seconds, large enough that truncation and masks show.
SMALL_DATA: dict[str, Any] = {"sequences": 4, "steps": 20, "features": 2, "classes": 2}


@dataclass
class Trial:
    """What trying one candidate found: built (with what `data:` it needs and what it is), or why
    not."""

    candidate: Candidate
    built: bool = False
    reason: str = ""  # why it did not build
    file: str | None = None  # where the reason points
    line: int | None = None
    data: dict[str, Any] = field(default_factory=dict)  # the `data:` keys the entry needs
    inputs: list[dict[str, Any]] = field(default_factory=list)  # label, shape, kind, dtype
    output: dict[str, Any] = field(default_factory=dict)  # label, class, shape, nonlinearity
    loss: str = ""
    # a loss the entry must name: check's default would not see the classifier
    explicit_loss: str = ""
    tensors: int = 0
    parameters: int = 0
    recurrent: list[str] = field(default_factory=list)
    # the stack it was tried on: master when its code needs master (platform/lasagne_stacks.py)
    lasagne: str = "0.1"
    # what it used that only Lasagne master has, when that is why it did not build, and where
    master_api: str | None = None
    master_site: str = ""  # "file:line"


# ---------------------------------------------------------------- the parent: one worker at a time


def try_candidates(
    root: str,
    candidates: list[Candidate],
    timeout: float = DEFAULT_TIMEOUT,
    on_progress: Callable[[Trial], None] = lambda trial: None,
) -> list[Trial]:
    """Every candidate tried (in order), each with at most `timeout` seconds; their Trials, in
    order. Those whose code needs Lasagne master are tried again on master when it is installed, as
    `lasagne: auto` would."""
    trials = _try_on(
        root,
        candidates,
        list(range(len(candidates))),
        timeout,
        lasagne_stacks.RELEASE,
        lambda trial: None if trial.master_api else on_progress(trial),
    )
    again = [i for i, trial in trials.items() if trial.master_api]
    if again and lasagne_stacks.master_problem() is None:
        on_master = _try_on(root, candidates, again, timeout, lasagne_stacks.MASTER, on_progress)
        for index, trial in on_master.items():
            # what made it go there (the scaffold's comment)
            first = trials[index]
            trial.master_api = first.master_api
            trial.master_site = f"{first.file}:{first.line}" if first.file and first.line else ""
        trials.update(on_master)
    else:
        for index in again:
            on_progress(trials[index])
    return [trials[i] for i in range(len(candidates))]


def _try_on(
    root: str,
    candidates: list[Candidate],
    indices: list[int],
    timeout: float,
    stack: str,
    on_progress: Callable[[Trial], None],
) -> dict[int, Trial]:
    trials: dict[int, Trial] = {}
    pending = list(indices)
    while pending:
        finished = _run_worker(root, candidates, pending, timeout, stack)
        for index, trial in finished.items():
            trial.lasagne = stack
            trials[index] = trial
            on_progress(trial)
        pending = [i for i in pending if i not in trials]
    return trials


def _run_worker(
    root: str,
    candidates: list[Candidate],
    indices: list[int],
    timeout: float,
    stack: str = lasagne_stacks.RELEASE,
) -> dict[int, Trial]:
    """Run one worker over `indices`; the trials it finished, plus the one it was on when it died or
    hung (and, when that one's module never finished importing, the pending candidates of that
    module too)."""
    job = {
        "root": root,
        "timeout": timeout,
        "candidates": [_candidate_json(candidates[i]) | {"index": i} for i in indices],
    }
    read_fd, write_fd = os.pipe()
    env = dict(
        worker_environment(os.environ), GRADCHECK_EVENT_FD=str(write_fd), PYTHONUNBUFFERED="1"
    )
    child_environment(lasagne_stacks.worker_env(stack, env), root)
    limit = MEMORY_MIB * 1024 * 1024
    # what a factory starts and leaves behind ends with its trial worker (reaper.py)
    reaper.become_subreaper()
    before = reaper.children()
    proc = subprocess.Popen(
        child_command("gradcheck_ci.init.trial", json.dumps(job)),
        cwd=root,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        pass_fds=(write_fd,),
        start_new_session=True,
        preexec_fn=lambda: _limit_memory(limit),
    )
    os.close(write_fd)
    events = _Events(read_fd)
    finished: dict[int, Trial] = {}
    current: dict[str, Any] = {}
    # The current candidate's deadline; the first one also covers the worker's own start (Theano's
    # import).
    deadline = [time.monotonic() + timeout + 30]
    hung = False
    for event in events.follow(lambda: deadline[0]):
        if event is None:
            hung = True
            break
        if "start" in event:
            current = event
            deadline[0] = time.monotonic() + timeout + STOP_GRACE
        elif "trial" in event:
            index = event["trial"]["index"]
            finished[index] = _trial_from_json(candidates[index], event["trial"])
            current = {}
    if proc.poll() is None:
        _kill_group(proc)
    proc.wait()
    reaper.end_leftovers(before)
    if current:
        _lost(candidates, indices, current, finished, proc.returncode, hung, timeout)
    # died before it started a candidate: nothing else would go better
    elif not finished and indices:
        for index in indices:
            finished[index] = Trial(
                candidates[index],
                reason=f"the trial worker could not start (exit code {proc.returncode})",
            )
    return finished


class _Events:
    """The worker's JSON lines, read by a thread; `follow` yields them, or None once a deadline
    passes."""

    def __init__(self, fd: int) -> None:
        self.lines: list[dict[str, Any]] = []
        self.closed = False
        self.lock = threading.Condition()
        threading.Thread(target=self._read, args=(fd,), daemon=True).start()

    def _read(self, fd: int) -> None:
        with os.fdopen(fd, encoding="utf-8", errors="replace") as stream:
            for line in stream:
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                with self.lock:
                    self.lines.append(event)
                    self.lock.notify_all()
        with self.lock:
            self.closed = True
            self.lock.notify_all()

    def follow(self, deadline: Callable[[], float]) -> Iterator[dict[str, Any] | None]:
        seen = 0
        while True:
            with self.lock:
                while seen == len(self.lines) and not self.closed and time.monotonic() < deadline():
                    self.lock.wait(min(max(deadline() - time.monotonic(), 0.0), 1.0))
                fresh, seen = self.lines[seen:], len(self.lines)
                closed = self.closed
            yield from fresh
            if closed and not fresh:
                return
            if not fresh and time.monotonic() >= deadline():
                yield None
                return


def _lost(
    candidates: list[Candidate],
    indices: list[int],
    current: dict[str, Any],
    finished: dict[int, Trial],
    returncode: int,
    hung: bool,
    timeout: float,
) -> None:
    index, phase = current["start"], current.get("phase", "building")
    what = (
        f"importing {candidates[index].file}"
        if phase == "importing"
        else (f"building {candidates[index].function}()")
    )
    if hung:
        reason = too_slow(what, timeout)
    elif returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        reason = f"the worker died ({name}) while {what}"
        if -returncode == signal.SIGKILL:
            # its own limit raises MemoryError and kills nothing: a SIGKILL came from outside
            # (process/memory.py)
            reason += (
                " (killed from outside: by the machine's out-of-memory killer, a CI runner "
                "or a person)"
            )
    elif phase == "importing":
        reason = (
            f"the process ended (exit code {returncode}) while {what}: does the module exit "
            f"when imported?"
        )
    else:
        reason = (
            f"the process ended (exit code {returncode}) while {what}: does it call os._exit()?"
        )
    finished[index] = Trial(candidates[index], reason=reason)
    # its module never finished importing: its other candidates would not either
    if phase == "importing":
        for other in indices:
            if other not in finished and _imports(candidates[other]) == _imports(candidates[index]):
                finished[other] = Trial(candidates[other], reason=reason)


def too_slow(what: str, seconds: float, where: str = "") -> str:
    """Why a candidate was left out that took too long: `where` the worker stopped it ("file:line",
    as `check` says it), when it could."""
    stopped = f", at {where} when it was stopped" if where else ""
    when = "at import" if what.startswith("importing") else "before it returns"
    return (
        f"{what} took longer than {seconds:g} s{stopped} (does it train, load data or download "
        f"{when}?); a factory for gradcheck-ci only builds the network"
    )


def _imports(candidate: Candidate) -> str:
    return import_key(candidate.file, candidate.function, candidate.kind)


def _limit_memory(limit: int) -> None:
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        resource.setrlimit(
            resource.RLIMIT_AS, (limit if hard == resource.RLIM_INFINITY else min(limit, hard),) * 2
        )
    except (ValueError, OSError):
        pass


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _candidate_json(candidate: Candidate) -> dict[str, Any]:
    return {
        "file": candidate.file,
        "function": candidate.function,
        "kwargs": candidate.kwargs,
        "imports": import_key(candidate.file, candidate.function, candidate.kind),
    }


def import_key(file: str, function: str, kind: str) -> str:
    """Candidates that share one import of their module: a script's layer variable is imported
    apart, as the script runs only up to it (python2.cut), where its functions' import runs all of
    it."""
    return f"{file}:{function}" if kind == "variable" else file


def _trial_from_json(candidate: Candidate, data: dict[str, Any]) -> Trial:
    known = set(Trial.__dataclass_fields__) - {"candidate", "index"}
    return Trial(candidate, **{k: v for k, v in data.items() if k in known})


# ---------------------------------------------------------------- the worker


def _emit(stream: Any, **event: Any) -> None:
    if stream is not None:
        stream.write(json.dumps(event) + "\n")
        stream.flush()


def worker(job: dict[str, Any]) -> None:
    from ..platform import compat
    from ..usercode import guard

    compat.prepare("float64")
    fd = os.environ.get("GRADCHECK_EVENT_FD")
    stream = os.fdopen(int(fd), "w", buffering=1) if fd else None
    root = os.path.realpath(job["root"])
    # as `check` runs a model: a download stops at once, with the line that tried
    with guard.no_network():
        _try_each(root, job, stream)


def _try_each(root: str, job: dict[str, Any], stream: Any) -> None:
    imported: set[str] = set()
    for entry in job["candidates"]:
        index = entry["index"]
        if entry["imports"] not in imported:
            _emit(stream, start=index, phase="importing")
            problem = _import(root, entry, job.get("timeout", DEFAULT_TIMEOUT))
            imported.add(entry["imports"])
            if problem is not None:
                _emit(stream, trial=dict(problem, index=index))
                continue
        _emit(stream, start=index, phase="building")
        _emit(
            stream, trial=dict(_try(root, entry, job.get("timeout", DEFAULT_TIMEOUT)), index=index)
        )


def _reference(entry: dict[str, Any]) -> str:
    return f"{entry['file']}:{entry['function']}"


def _failure(exc: BaseException, root: str, doing: str) -> dict[str, Any]:
    from ..core.errors import ModelLoadError, exception_chain
    from ..usercode.blame import user_code_error
    from ..usercode.guard import TooSlow

    if isinstance(exc, ModelLoadError):
        error = exc
    else:
        error = user_code_error(exc, root, doing, fallback=("gradcheck.yml", None))
    file = error.file if error.file != "gradcheck.yml" else None
    reason = error.message
    stopped = next((e for e in exception_chain(exc) if isinstance(e, TooSlow)), None)
    if stopped is not None:  # the import limit: init's words, the line as check names it
        where = f"{file}:{error.line}" if file and error.line else ""
        reason = too_slow(doing, stopped.seconds, where)
    return {
        "built": False,
        "reason": reason,
        "file": file,
        "line": error.line,
        "master_api": error.master_api,
    }


def _spec(entry: dict[str, Any], timeout: float = DEFAULT_TIMEOUT) -> ModelSpec:
    """The candidate as a model of gradcheck.yml, on small data; its `timeout` makes check's import
    limit (half of it, at most 60 s) the candidate's own timeout, so that the worker stops an import
    that takes longer itself, and says where it was, before the parent would kill it."""
    from ..config import DataSpec, ModelSpec

    return ModelSpec(
        name=entry["function"],
        factory=_reference(entry),
        data=DataSpec(**SMALL_DATA),
        kwargs=dict(entry.get("kwargs") or {}),
        timeout=2 * timeout,
    )


def _import(root: str, entry: dict[str, Any], timeout: float) -> dict[str, Any] | None:
    """The candidate's module imported as `check` imports it (build.factory_run), or why not."""
    from ..model.build import factory_run
    from ..model.factory import import_factory

    spec = _spec(entry, timeout)
    try:
        with factory_run(spec, root):
            import_factory(spec, root, "gradcheck.yml")
    except BaseException as exc:  # whatever the module does at import is the candidate's reason
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _failure(exc, root, f"importing {entry['file']}")
    return None


def _try(root: str, entry: dict[str, Any], timeout: float) -> dict[str, Any]:
    from ..config import DataSpec
    from ..model.build import build_model
    from ..model.objective import build_objective
    from ..usercode.guard import time_limit

    spec = _spec(entry, timeout)
    try:
        # a factory that trains or loads data is stopped here, at its line, as an import is
        with time_limit(timeout):
            model = build_model(spec, root, "gradcheck.yml")
            described = describe(model)
            spec.data = DataSpec(**{**SMALL_DATA, **described["data"]})
            spec.loss = described["explicit_loss"] or None
            described["loss"] = build_objective(model, spec, root, "gradcheck.yml").loss_name
    except BaseException as exc:  # the factory's code, or a shape `data` cannot fill: its reason
        if isinstance(exc, KeyboardInterrupt):
            raise
        return _failure(exc, root, f"building {entry['function']}()")
    return dict(described, built=True)


def describe(model: BuiltModel) -> dict[str, Any]:
    """Inputs, output, parameters and the `data:` keys this model needs, as plain data (its inputs
    at the shapes the build drew them at)."""
    import lasagne

    from ..model.objective import default_loss

    shapes = {info.layer: shape for info, shape in zip(model.inputs, model.shapes, strict=True)}
    inputs = [
        {
            "label": info.label,
            "shape": [s if s is None else int(s) for s in info.layer.shape],
            "kind": info.kind,
            "dtype": str(info.layer.input_var.dtype),
        }
        for info in model.inputs
    ]
    try:
        out_shape = [int(s) for s in lasagne.layers.get_output_shape(model.output, shapes)]
    except Exception:  # noqa: BLE001 - a layer that cannot infer its shape statically: units stay unknown
        out_shape = []
    nonlinearity = getattr(getattr(model.output, "nonlinearity", None), "__name__", None)
    units = out_shape[-1] if len(out_shape) > 1 else (1 if out_shape else None)
    loss = default_loss(model.output)
    explicit = ""
    under = classifier_under_reshape(model.output, shapes)
    # A tagger: a softmax over rows, reshaped back to (sequences, steps, classes) (its shape may be
    # symbolic).
    if loss == "squared_error" and under is not None and units in (None, under):
        loss, explicit, units = "categorical_crossentropy", "categorical_crossentropy", under
    return {
        "data": _data_keys(model.inputs, loss, units),
        "explicit_loss": explicit,
        "inputs": inputs,
        "output": {
            "label": model.label(model.output),
            "class": type(model.output).__name__,
            "shape": out_shape,
            "nonlinearity": nonlinearity,
        },
        "tensors": len(model.all_params),
        "parameters": int(sum(int(p.variable.get_value().size) for p in model.all_params)),
        "recurrent": [
            model.label(layer)
            for layer in model.layers
            if type(layer).__module__.startswith("lasagne.layers.recurrent")
            or "Recurrent" in type(layer).__name__
        ],
    }


# layers that move a classifier's rows, not its class axis
SHAPE_ONLY = ("ReshapeLayer", "FlattenLayer")


def classifier_under_reshape(output: Any, shapes: dict[Any, Any]) -> int | None:
    """The units of a softmax layer under the output's reshapes (a tagger's DenseLayer over
    (sequences x steps, hidden), reshaped back to (sequences, steps, classes)); None when there is
    none."""
    import lasagne

    layer = output
    while type(layer).__name__ in SHAPE_ONLY and hasattr(layer, "input_layer"):
        layer = layer.input_layer
    if (
        layer is output
        or getattr(layer, "nonlinearity", None) is not lasagne.nonlinearities.softmax
    ):
        return None
    try:
        shape = lasagne.layers.get_output_shape(layer, shapes)
    except Exception:  # noqa: BLE001 - its units stay unknown
        return None
    return int(shape[-1]) if len(shape) > 1 and shape[-1] is not None else None


def _data_keys(inputs: list[Any], loss: str, units: int | None) -> dict[str, Any]:
    """The `data:` keys worth writing: the sizes data fills into this model's inputs, classes for
    labels, random mask lengths when there is a mask."""
    keys: dict[str, Any] = {"sequences": SMALL_DATA["sequences"]}
    for info in inputs:
        shape = list(info.layer.shape)
        ndim = len(shape)
        if info.kind == "mask" or ndim == 3 and shape[1] is None or ndim == 4 and None in shape[2:]:
            keys["steps"] = SMALL_DATA["steps"]
        tokens = ndim == 2 and info.is_integer  # word ids (sequences, steps): no features axis
        if tokens and shape[1] is None:
            keys["steps"] = SMALL_DATA["steps"]
        if (
            (ndim == 3 and shape[2] is None)
            or (ndim == 2 and info.kind != "mask" and not tokens and shape[1] is None)
            or (ndim == 4 and shape[1] is None)
        ):
            keys["features"] = SMALL_DATA["features"]
        if info.kind == "mask":
            keys["mask"] = "random"
    if loss == "categorical_crossentropy" and units is not None and units >= 2:
        keys["classes"] = int(units)
    return keys


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    worker(json.loads(argv[0]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
