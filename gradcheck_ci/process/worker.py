"""Check one model, in a process of its own (see runner.py for why).

    python -m gradcheck_ci.process.worker JOB.json RESULT.json

JOB.json holds {"spec": ModelSpec.to_json(), "root": ..., "config_file": ...}. Progress goes as JSON
lines to the file descriptor in GRADCHECK_EVENT_FD; everything the user's code prints goes to
stdout/stderr, which the runner captures separately, so user output can never be mistaken for our
protocol.
"""

from __future__ import annotations

import json
import os
import sys
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any, NoReturn

from ..config import ModelSpec
from ..core.errors import ModelLoadError, exception_chain, print_debug_traceback
from ..core.extra import ReplayRecord
from ..core.results import ErrorInfo, ModelResult
from ..usercode import fallbacks, guard, python2, warned
from ..usercode.blame import network_notices, raised_through_theano, unexpected_error
from ..usercode.float32_sites import float32_inputs_as_float64, recording_float32_sites
from ..usercode.importer import imported_files
from ..usercode.legacy import exception_text
from ..usercode.messages import clean_message

if TYPE_CHECKING:  # annotations only: the diagnosis is imported once Theano is prepared
    from ..diagnose.context import Context


class Events:
    def __init__(self) -> None:
        fd = os.environ.get("GRADCHECK_EVENT_FD")
        self.stream = os.fdopen(int(fd), "w", buffering=1) if fd else None

    def __call__(self, message: str, **extra: Any) -> None:
        if not self.stream:
            return
        try:
            self.stream.write(json.dumps({"progress": message, **extra}) + "\n")
        # the model's code closed the pipe (os.closerange(3, ...), as daemonising code does): the
        # check goes on without progress lines; its result goes to a file of its own
        except (OSError, ValueError):
            self.stream = None


def check_model(
    spec: ModelSpec,
    root: str,
    config_file: str,
    progress: Events,
    after_check: Callable[[Context], None] | None = None,
    job: dict[str, Any] | None = None,
) -> ModelResult:
    """Check one model; `after_check` (replay's element-wise comparison) sees the check before the
    diagnosis; `job` carries the float64 check of a float32 model (its point, where to dump its
    gradients)."""
    from ..platform import compat

    started = time.perf_counter()
    compat.prepare(spec.precision)
    result = ModelResult(
        name=spec.name,
        factory=spec.factory,
        status="error",
        seed=spec.seed,
        precision=spec.precision,
        mode=spec.mode,
        expect=spec.expect,
        config_file=config_file,
        config_line=spec.line,
    )
    result.extra.same_with_c = True  # until the check compiles (_run): see _through_theano
    try:
        # a gradient check needs no network: downloads stop with a clear message
        with guard.no_network(), warned.at_user_lines(root):
            _run(spec, root, config_file, progress, result, after_check, job or {})
    except ModelLoadError as exc:
        print_debug_traceback(exc)  # to stderr, which the runner shows as this model's output
        _through_theano(result, exc)
        if exc.same_with_c:
            result.extra.same_with_c = True
        result.status = "error"
        result.error = ErrorInfo(exc.message, exc.file, exc.line, exc.kind)
        if exc.master_api:  # for the runner: `lasagne: auto` moves the model to Lasagne master
            result.extra.master_api = exc.master_api
    except MemoryError as exc:
        print_debug_traceback(exc)
        result.status = "error"
        result.error = ErrorInfo(
            f"out of memory (limit {spec.memory} MiB, the model's `memory`)",
            config_file,
            spec.key_lines.get("memory", spec.line),
            "memory",
        )
    # the user's code or Theano on the user's graph, if it says so
    except (Exception, KeyboardInterrupt) as exc:
        # (KeyboardInterrupt: no Ctrl-C reaches a worker, which runs in a session of its own; code
        # raised it)
        error = unexpected_error(exc, root, spec, config_file)
        if error is None:
            raise  # ours: main() reports it as an internal error
        print_debug_traceback(exc)
        _through_theano(result, exc)
        if error.same_with_c:
            result.extra.same_with_c = True
        result.status = "error"
        result.error = ErrorInfo(error.message, error.file, error.line, error.kind)
        if error.master_api:
            result.extra.master_api = error.master_api
    # no array dump, no path of gradcheck-ci's installation, whatever raised it
    if result.error is not None:
        result.error.message = clean_message(result.error.message, root)
        # The model never got built: say still which files ran translated, the error may lie in one.
        result.notices += [
            n for n in python2.notices(os.path.realpath(root)) if n not in result.notices
        ]
    result.seconds["total"] = round(time.perf_counter() - started, 3)
    return result


def _through_theano(result: ModelResult, exc: BaseException) -> None:
    """An error before the check compiled that came through Theano's code (a function the factory
    compiled and called, say) may be one C would not have: the runner may check again with C. Not a
    module stopped at its import limit (a module that trains when imported, through Theano's
    code): its fix is the user's either way, and with C it would wait the whole limit again."""
    if (
        result.extra.same_with_c
        and raised_through_theano(exc)
        and not any(isinstance(e, guard.TooSlow) for e in exception_chain(exc))
    ):
        result.extra.same_with_c = None


def _run(
    spec: ModelSpec,
    root: str,
    config_file: str,
    progress: Events,
    result: ModelResult,
    after_check: Callable[[Context], None] | None,
    job: dict[str, Any],
) -> None:
    from ..diagnose import record_diagnoses
    from ..diagnose.context import Context
    from ..engine import check, remembered, verdict
    from ..engine.compile import compile_check
    from ..engine.lowered import lowered_params, unconfirmed
    from ..engine.precision import of
    from ..engine.settings import settings_of
    from ..model.build import build_model
    from ..model.objective import build_objective
    from ..platform import fncache

    progress("importing theano")
    settings = settings_of(spec)
    # The float64 check of a float32 model builds the model's float32 inputs in float64 (the inner
    # context patches over the outer one, which then sees no float32 input to record).
    with (
        recording_float32_sites(root) if spec.precision == "float64" else nullcontext(),
        float32_inputs_as_float64(root) if job.get("point") else nullcontext(),
    ):
        model = build_model(spec, root, config_file, progress)
        result.data = model.data
        result.notices.extend(model.notices)
        objective = build_objective(model, spec, root, config_file)
        result.loss = objective.loss_name
        result.notices.extend(objective.notices)
        compiles = len(fncache.EVENTS)
        # from here on, an error may be one of Theano's Python code that C would not have
        result.extra.same_with_c = None
        compiled = compile_check(model, objective, spec, progress, root, config_file)
    result.seconds["compile"] = round(compiled.seconds["compile"], 3)
    # from the function cache or not
    compile_events = fncache.EVENTS[compiles:]
    result.extra.compile = fncache.summary(compile_events)
    result.notices.extend(network_notices(root))
    result.notices.extend(fallbacks.fallback_notices(root))
    # the float64 check of a float32 model: its parameter values and data, exactly
    if job.get("point"):
        check.move_to_point(compiled, model, job["point"])

    progress("analytic gradient")
    try:
        grads = check.analytic(compiled)
    except Exception as exc:  # the compiled gradient itself may fail where the forward pass runs
        error = _gradient_graph_error(exc, model, objective, compiled, spec, config_file, result)
        if error is None:
            raise
        raise error from None
    result.seconds["analytic"] = round(grads.seconds, 4)
    result.loss_value = grads.loss
    if job.get("dump"):  # for the float32 worker that asked: the analytic gradients at its point
        check.dump_gradients(job["dump"], model, grads)
    try:
        verdict.require_finite_loss(
            grads.loss, spec, config_file, model, objective, root, compiled.data
        )
    # still say which tensor and which input made it non-finite, then report the error
    except ModelLoadError:
        record_diagnoses(
            Context(
                spec,
                settings,
                root,
                config_file,
                model,
                objective,
                compiled,
                grads,
                result,
                progress,
            )
        )
        raise
    # An unchanged model's check replays its last run: the same probe function, and its lines
    # less the attempts that did not judge (engine/remembered.py).
    recalled = remembered.recall(compiled, settings, [e.key for e in compile_events])
    repeat = compiled.choose_probe_function(grads.seconds, recalled.with_gradient)
    result.extra.forward_repeatable = repeat == grads.loss or abs(
        repeat - grads.loss
    ) <= 1e-12 * abs(grads.loss)

    started = time.perf_counter()
    result.mode = settings.mode
    if recalled.saves:
        result.extra.probes_replayed = True
        progress(
            "probing the lines the last run of this unchanged check judged, without its retries"
        )
    result.params = check.check_all(compiled, model, grads, settings, progress)
    # a difference through float32 arithmetic is not confirmed; a model whose every tensor passed
    # (the common case) has none, and its graph is not walked
    unsettled = any(p.status in ("fail", "inconclusive") for p in result.params)
    if spec.precision == "float64" and unsettled:
        params = [p.variable for p in model.params]
        lowered = unconfirmed(result.params, lowered_params(objective.loss, params, root))
        result.notices.extend(filter(None, [lowered]))
    remembered.keep(compiled, recalled.key)
    result.seconds["numeric"] = round(time.perf_counter() - started, 3)
    result.evaluations = compiled.evaluations
    context = Context(
        spec, settings, root, config_file, model, objective, compiled, grads, result, progress
    )
    # what float32 cannot settle is settled in float64, before the verdict
    if not of(spec.precision).settles_itself:
        from ..diagnose.low_precision import settle_in_float64

        settle_in_float64(context)
    result.sensitivity = verdict.model_sensitivity(result)
    result.notices.extend(verdict.sensitivity_notices(result))
    result.notices.extend(filter(None, [verdict.all_zero_notice(result, model, objective)]))
    result.status = verdict.model_status(result, spec)
    progress(verdict.checked_line(result))
    if after_check is not None:
        after_check(context)
    # the float64 check of a float32 model: it localises what it confirms
    settling = bool(job and job.get("point"))
    if not settling or any(p.status == "fail" for p in result.params):
        record_diagnoses(context)
    # The diagnosis may accept differences (the model's `allow:`): the verdict counts what is left.
    result.status = verdict.model_status(result, spec)


def _gradient_graph_error(
    exc: Exception,
    model: Any,
    objective: Any,
    compiled: Any,
    spec: ModelSpec,
    config_file: str,
    result: ModelResult,
) -> ModelLoadError | None:
    """A ModelLoadError (kind gradient-graph) with its diagnosis when the failure is inside the
    gradient graph; otherwise None, and `exc` goes to the usual classification
    (unexpected_error)."""
    from ..diagnose.crash import explain_gradient_crash
    from ..engine.compile import gradient_graph

    explained = explain_gradient_crash(
        exc, model, compiled, gradient_graph(model, objective), spec, config_file
    )
    if explained is None:
        return None
    error, diagnoses = explained
    result.diagnoses = diagnoses
    return error


def replay_hook(options: dict[str, Any] | None) -> Callable[[Context], None] | None:
    """For `gradcheck-ci replay` (the job's "replay" entry): every element of the tensors the report
    recorded failing, and of those failing now, compared and saved with the check's arrays
    (elements.py)."""
    if not options:
        return None

    def hook(context: Context) -> None:
        from ..engine.elements import replay_tensors

        failing = [p.id for p in context.result.params if p.status == "fail"]
        ids = list(dict.fromkeys([*options.get("tensors", []), *failing]))
        summaries = replay_tensors(
            context.compiled,
            context.model,
            context.analytic,
            context.settings,
            ids,
            options["npz"],
            options.get("meta", {}),
            context.progress,
        )
        context.result.extra.replay = ReplayRecord(options["npz"], summaries)

    return hook


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    job_path, result_path = argv
    _dump_stacks_to(result_path + ".stack")
    with open(job_path, encoding="utf-8") as handle:
        job = json.load(handle)
    spec = ModelSpec.from_json(job["spec"])
    events = Events()
    try:
        result = check_model(
            spec, job["root"], job["config_file"], events, replay_hook(job.get("replay")), job
        )
    except BaseException as exc:  # noqa: BLE001 - a bug of ours: still report it as this model's error
        print_debug_traceback(exc)
        where = "; ".join(
            f"{os.path.basename(f.filename)}:{f.lineno} in {f.name}"
            for f in traceback.extract_tb(exc.__traceback__)[-3:]
        )
        result = ModelResult(
            name=spec.name,
            factory=spec.factory,
            status="error",
            seed=spec.seed,
            precision=spec.precision,
            mode=spec.mode,
            expect=spec.expect,
            config_file=job["config_file"],
            config_line=spec.line,
            error=ErrorInfo(
                f"internal error in gradcheck-ci (please report it): "
                f"{type(exc).__name__}: "
                f"{clean_message(exception_text(exc))} [at {where}]",
                job["config_file"],
                spec.line,
                "crash",
            ),
        )
    try:
        # after the whole check: every repository module it imported
        result.files = imported_files(job["root"])
        _record_c_functions(job.get("identity"), result)
    # bookkeeping for the next run, never worth the result (the model's code may still raise:
    # a signal handler it left behind)
    except BaseException as exc:  # noqa: BLE001
        print_debug_traceback(exc)
    from ..report.atomic import write_atomic

    write_atomic(result_path, json.dumps(result.to_json(), allow_nan=True))
    return 0


def _record_c_functions(model: str | None, result: ModelResult) -> None:
    """A check that evaluated with C: say which of its functions the function cache holds, and the
    files they were compiled from, for the next run's choice of C (platform/ccode.py). A function
    the cache cannot keep is left out: every C run compiles it again (its C modules kept by
    Theano), which waiting for would not change."""
    theano = sys.modules.get("theano")
    if not model or theano is None or not theano.config.cxx or result.status == "error":
        return
    from ..platform import ccode, fncache

    directory = fncache.cache_dir()
    keys = [e.key for e in fncache.EVENTS if e.key and (e.outcome == "hit" or e.stored)]
    if directory is not None and keys:
        ccode.write_record(directory, model, keys, result.files)


def _dump_stacks_to(path: str) -> None:
    """Python stacks for the runner: on a fatal signal (segfault in compiled code) and on SIGUSR1
    (timeout).

    The runner reads the file when the worker dies without a result, to name the user's line it was
    on.
    """
    import faulthandler
    import signal

    try:
        handle = open(path, "w", encoding="utf-8")  # must stay open for the process's life
    except OSError:
        return
    faulthandler.enable(file=handle, all_threads=False)
    if hasattr(signal, "SIGUSR1"):
        faulthandler.register(signal.SIGUSR1, file=handle, all_threads=False)

    def exit_saying_where(status: int) -> NoReturn:
        # the model's code ending the process (os._exit in a script): its line, as for a crash
        faulthandler.dump_traceback(file=handle, all_threads=False)
        _REAL_EXIT(status)

    os._exit = exit_saying_where


def _exit(code: int) -> None:
    """Exit once the result is written, without the interpreter's teardown: the atexit handlers
    run (Theano's compile-cache bookkeeping, temporary folders), then the process ends at once.
    Tearing down a process full of Theano graphs takes about a second and changes nothing; the
    runner waits for it before the model's result is shown. When the model's code left a thread
    running that is not a daemon (a data loader, a logger), not even the handlers run: one of them
    could wait for that thread, and the check, its result written, would time out."""
    import atexit
    import threading

    if not any(
        thread.is_alive() and not thread.daemon
        for thread in threading.enumerate()
        if thread is not threading.main_thread()
    ):
        atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    _REAL_EXIT(code)


_REAL_EXIT = os._exit  # the worker's own exit; the model's code gets one that says where it was


if __name__ == "__main__":
    _exit(main())
