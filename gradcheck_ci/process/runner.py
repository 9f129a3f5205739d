"""Run each model's check in a worker process of its own.

Why a process per model: a model that segfaults in compiled Theano code, hangs, or exhausts memory
must become that model's error while the others complete; each worker also gets Theano flags
(floatX) of its own model's precision, which can only be set before Theano is imported. The cost is
one Theano import per model (about a second).
"""

from __future__ import annotations

import json
import os
import re
import resource
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ..config import ModelSpec
from ..core import steps
from ..core.errors import print_debug_traceback
from ..core.extra import Evaluation
from ..core.installation import child_command, child_environment
from ..core.results import ErrorInfo, ModelResult, Notice
from ..platform import ccode, lasagne_stacks
from ..usercode.sites import is_inside, is_library, quote_source, relative
from . import reaper
from .environment import worker_environment
from .memory import MemorySample, MemoryWatch

OnEvent = Callable[[str, str], None]  # (model name, progress message)
OnOutput = Callable[[str, str], None]  # (model name, a line the model's code printed)


@dataclass
class Runner:
    root: str
    config_file: str  # relative to root
    on_event: OnEvent
    on_output: OnOutput
    fail_on_expected: bool = False
    # more for the worker's job (replay's "replay")
    job_extra: dict[str, Any] = field(default_factory=dict)
    # why C will not be compiled after this run for a model evaluated with Python ("": it will be,
    # for the models in `compile_later`: process/background.py)
    no_compile_later: str = "is not compiled for later runs by this command (`check` compiles it)"
    compile_later: list[ModelSpec] = field(default_factory=list)
    cancelled: bool = False
    _current: subprocess.Popen | None = field(default=None, repr=False)

    def cancel(self) -> None:
        """Called from a signal handler: stop the running worker; the rest are marked cancelled."""
        self.cancelled = True
        if self._current is not None and self._current.poll() is None:
            _kill_group(self._current)

    def run(self, specs: list[ModelSpec], on_result: Callable[[ModelResult], None]) -> None:
        for spec in specs:
            if self.cancelled:
                on_result(cancelled_result(spec, self.config_file))
                continue
            on_result(self.run_one(spec))

    def run_one(self, spec: ModelSpec) -> ModelResult:
        """The model's check on the Lasagne stack its `lasagne:` key chooses
        (platform/lasagne_stacks.py)."""
        if spec.lasagne == lasagne_stacks.MASTER:
            problem = lasagne_stacks.master_problem()
            if problem:
                line = spec.key_lines.get("lasagne", spec.line)
                result = error_result(
                    spec,
                    self.config_file,
                    ErrorInfo(
                        f"model {spec.name!r} asks for `lasagne: master`, but {problem}",
                        self.config_file,
                        line,
                        "config",
                    ),
                )
                result.lasagne = lasagne_stacks.MASTER
                result.spec = spec.as_checked()
                return result
            return self._run_on(spec, lasagne_stacks.MASTER)
        result = self._run_on(spec, lasagne_stacks.RELEASE)
        needs, result.extra.master_api = result.extra.master_api, None
        if not needs or self.cancelled:
            return result
        if spec.lasagne == lasagne_stacks.RELEASE:
            return with_pinned_hint(result, spec, self.config_file)
        problem = lasagne_stacks.master_problem()
        if problem:  # the 0.1 error stands; say what would check it
            return with_master_hint(result, problem)
        self.on_event(
            spec.name,
            f"the code uses {needs}, which Lasagne 0.1 does not have: checking it on master",
        )
        moved = self._run_on(spec, lasagne_stacks.MASTER)
        moved.extra.master_api = None
        moved.notices.insert(0, moved_notice(needs, result.error, _lacks_it_too(moved, needs)))
        moved.sources = quoted_sources(moved, self.root)  # the notice's line too
        return moved

    def _run_on(self, spec: ModelSpec, stack: str) -> ModelResult:
        result = self._run_worker(spec, stack)
        result.lasagne = stack
        return result

    def _run_worker(self, spec: ModelSpec, stack: str) -> ModelResult:
        """The model's check in a worker that evaluates with C or Python (platform/ccode.py); an
        error without C is checked again with C, whose verdict stands (an op with C code only)."""
        model = ccode.identity(spec.to_json(), stack)
        choice = ccode.choose(model, self.root)
        python = choice.chosen and not choice.c
        if python:
            self.on_event(spec.name, f"{choice.why}: evaluating with Theano's Python code, no g++")
        result = self._run_job(spec, stack, model, python)
        if python and ccode.mode() == "auto" and _may_need_c(result) and not self.cancelled:
            self.on_event(spec.name, "the check without C ended in an error: checking again with C")
            assert result.error is not None
            why = result.error.message.split("; ")[0]
            choice = ccode.Choice(True, f"{ccode.WITHOUT_C_FAILED} ({why})")
            result = self._run_job(spec, stack, model, False)
        result.extra.same_with_c = None  # the worker's word to the runner, in no report
        if choice.chosen:
            self._evaluation(result, spec, choice)
        result.spec = spec.as_checked()
        result.sources = quoted_sources(result, self.root)
        return self._expectations(result, spec)

    def _run_job(self, spec: ModelSpec, stack: str, model: str, python: bool) -> ModelResult:
        with tempfile.TemporaryDirectory(prefix="gradcheck-ci-") as tmp:
            job_path = os.path.join(tmp, "job.json")
            result_path = os.path.join(tmp, "result.json")
            with open(job_path, "w", encoding="utf-8") as handle:
                json.dump(
                    {
                        "spec": spec.to_json(),
                        "root": self.root,
                        "config_file": self.config_file,
                        "identity": model,
                        **self.job_extra,
                    },
                    handle,
                )
            started = time.perf_counter()
            try:
                outcome = self._spawn(spec, job_path, result_path, stack, python)
            except (OSError, subprocess.SubprocessError) as exc:
                print_debug_traceback(exc)
                return error_result(
                    spec,
                    self.config_file,
                    ErrorInfo(
                        f"cannot start the worker process: {exc}",
                        self.config_file,
                        spec.line,
                        "crash",
                    ),
                )
            elapsed = time.perf_counter() - started
            result = None
            if os.path.exists(result_path) and not (outcome.timed_out or outcome.cancelled):
                try:
                    with open(result_path, encoding="utf-8") as handle:
                        result = ModelResult.from_json(json.load(handle))
                except (OSError, ValueError, TypeError, KeyError) as exc:
                    outcome.last_step += f" (its result file was unreadable: {exc})"
            if result is None:
                outcome.stack = read_stack(result_path + ".stack", self.root)
                result = error_result(
                    spec, self.config_file, outcome.describe(spec, self.config_file)
                )
                # ended (os._exit, a crash) before the check compiled: C would not change that
                result.extra.same_with_c = outcome.last_step in steps.BEFORE_THEANO or None
            result.seconds["total"] = round(elapsed, 3)
        return result

    def _evaluation(self, result: ModelResult, spec: ModelSpec, choice: ccode.Choice) -> None:
        """Say in the result whether C or Python evaluated it, and for Python, whether C is
        compiled after the run for the next (it pays: the Python evaluation took long enough)."""
        evaluation = Evaluation("c" if choice.c else "python", choice.why)
        result.extra.evaluation = evaluation
        # (the same error with C is the model's own: nothing to say about C)
        same = result.error is not None and result.error.message.split("; ")[0] in choice.why
        if choice.c and choice.why.startswith(ccode.WITHOUT_C_FAILED) and not same:
            result.notices.append(
                Notice(
                    f"evaluated with C: {choice.why}, so it ran again with C, whose verdict this "
                    f"is"
                    + ("" if result.status == "error" else "; later runs use C from the start"),
                    "python-evaluation",
                    self.config_file,
                    spec.line,
                )
            )
        if choice.c or result.status in ("error", "cancelled"):
            return
        spent = ccode.python_seconds(result.seconds, result.extra)
        later = self.no_compile_later
        if choice.why.startswith(ccode.C_FAILED):
            later = ccode.NOT_AGAIN
        elif not ccode.pays(spent):
            later = ccode.NOT_PAYING
        elif not later:
            self.compile_later.append(spec)
            later = ccode.COMPILING_LATER
        evaluation.compile_later = later == ccode.COMPILING_LATER
        result.notices.append(
            ccode.python_notice(choice.why, spent, later, self.config_file, spec.line)
        )

    def _expectations(self, result: ModelResult, spec: ModelSpec) -> ModelResult:
        if spec.expect == "fail" and result.status == "pass":
            result.extra.unexpected_pass = True
            if self.fail_on_expected:
                result.status = "fail"
        return result

    def _spawn(
        self, spec: ModelSpec, job_path: str, result_path: str, stack: str, python: bool = False
    ) -> Outcome:
        read_fd, write_fd = os.pipe()
        env = dict(
            worker_environment(os.environ), GRADCHECK_EVENT_FD=str(write_fd), PYTHONUNBUFFERED="1"
        )
        if python:  # Theano reads it at import: no C code in this worker (platform/ccode.py)
            env["THEANO_FLAGS"] = ccode.python_flags(env)
        child_environment(lasagne_stacks.worker_env(stack, env), self.root)
        limit = spec.memory * 1024 * 1024
        # what the worker starts and leaves behind is re-parented here, and ended
        reaper.become_subreaper()
        before = reaper.children()
        proc = subprocess.Popen(
            child_command("gradcheck_ci.process.worker", job_path, result_path),
            cwd=self.root,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            pass_fds=(write_fd,),
            start_new_session=True,
            preexec_fn=lambda: _prepare_worker(limit),
        )
        os.close(write_fd)
        self._current = proc
        # a SIGTERM between the caller's check and Popen: cancel() found no worker to stop
        if self.cancelled:
            _kill_group(proc)
        memory = MemoryWatch(proc.pid)
        last_event = ["starting the worker"]

        def read_events() -> None:
            with os.fdopen(read_fd, encoding="utf-8", errors="replace") as stream:
                for line in stream:
                    try:
                        message = json.loads(line).get("progress", "")
                    except ValueError:
                        continue
                    last_event[0] = message
                    self.on_event(spec.name, message)

        def read_output() -> None:
            assert proc.stdout is not None
            with proc.stdout:
                relay_output(proc.stdout, lambda line: self.on_output(spec.name, line))

        threads = [
            threading.Thread(target=read_events, daemon=True),
            threading.Thread(target=read_output, daemon=True),
        ]
        for thread in threads:
            thread.start()
        timed_out = not _wait_unreaped(proc, spec.timeout)
        if timed_out and not self.cancelled:
            _dump_stack(proc, result_path + ".stack")
        # Ended or not, the worker is not reaped yet, so its PID still names its group: no other can
        # take it.
        _kill_group(proc)
        proc.wait()
        # what left the group (setsid, a double fork) and was re-parented here
        reaper.end_leftovers(before)
        sample = memory.stop()
        for thread in threads:  # the pipes close once every process holding them has ended
            thread.join(timeout=5)
        self._current = None
        return Outcome(proc.returncode, timed_out, self.cancelled, last_event[0], memory=sample)


# bytes of one line of a model's output relayed to the console; a longer line (a 5 MB print, a
# progress bar redrawn with \r) is cut there, with the size of what was left out
OUTPUT_LINE_BYTES = 2000
# lines of a model's output relayed to the console (a factory that prints every batch of an epoch
# would fill the CI log); the rest are counted
OUTPUT_LINES = 2000


def relay_output(stream: IO[bytes], show: Callable[[str], None], lines: int = OUTPUT_LINES) -> None:
    """The worker's output to `show`, line by line (output_lines), the first `lines` of it, then
    how many more there were; read to its end either way (the worker must not block on a full
    pipe)."""
    count = 0
    for line in output_lines(stream):
        count += 1
        if count <= lines:
            show(line)
    if count > lines:
        show(f"... ({count - lines:,} more lines of the model's output not shown)")


def _lacks_it_too(moved: ModelResult, needs: str) -> bool:  # (a name, not an argument)
    """The check on master ended in the error of a missing name too, the one 0.1 lacked
    (`needs`: "lasagne.layers.ElemSumLayer"; not an argument, "LSTMLayer(..., x=...)")."""
    name = needs.rsplit(".", 1)[-1]
    if moved.status != "error" or moved.error is None or not name.isidentifier():
        return False
    return re.search(rf"'{re.escape(name)}'", moved.error.message) is not None


def output_lines(stream: IO[bytes], limit: int = OUTPUT_LINE_BYTES) -> Iterator[str]:
    """The lines of a worker's output as the console shows them: decoded, each cut at `limit` bytes
    with a note of how much was left out; read `limit` bytes at a time, so a line with no end is
    never held whole."""
    head, size = b"", 0
    while True:
        chunk = stream.readline(limit)
        if not chunk:
            break
        ended = chunk.endswith(b"\n")
        body = chunk[:-1] if ended else chunk
        head += body[: max(limit - len(head), 0)]
        size += len(body)
        if ended:
            yield _shown(head, size)
            head, size = b"", 0
    if size:
        yield _shown(head, size)


def _shown(head: bytes, size: int) -> str:
    cut = size - len(head)
    text = head.decode("utf-8", errors="replace").rstrip("\r")
    return text + (f" ... ({cut:,} more bytes of this line not shown)" if cut else "")


# Errors that say nothing about C or Python: a check stopped from outside, or out of time or memory.
NOT_ABOUT_C = frozenset({"cancelled", "timeout", "killed", "memory", "config"})


def _may_need_c(result: ModelResult) -> bool:
    """Whether an error of a check without C may be one that C would not have (an op of the model
    with C code only), so that the check runs again with C."""
    return (
        result.status == "error"
        and result.error is not None
        and result.error.kind not in NOT_ABOUT_C
        and result.extra.master_api is None  # Lasagne 0.1 lacks what the code uses
        # C would end in it too: raised while the model was imported and built, through no code
        # of Theano's, or a shape mismatch
        and not result.extra.same_with_c
    )


def _wait_unreaped(proc: subprocess.Popen, timeout: float | None) -> bool:
    """Wait for the worker to end, at most `timeout` seconds, without reaping it; whether it ended.

    A pidfd becomes readable when its process ends (Linux 5.3+); elsewhere Popen.wait, which
    reaps."""
    try:
        fd = os.pidfd_open(proc.pid)  # Linux only
    except (AttributeError, OSError):
        try:
            proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            return False
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:  # in slices of a day: select() refuses a timeout beyond what its C type holds
            left = 86400.0 if deadline is None else min(deadline - time.monotonic(), 86400.0)
            if left <= 0:
                return False
            if select.select([fd], [], [], left)[0]:
                return True
    finally:
        os.close(fd)


def _dump_stack(proc: subprocess.Popen, path: str, wait: float = 2.0) -> None:
    """Ask a worker that overran its timeout where it is (SIGUSR1: the worker's faulthandler dumps
    its stack)."""
    if not hasattr(signal, "SIGUSR1") or proc.poll() is not None:
        return
    try:
        before = os.path.getsize(path) if os.path.exists(path) else 0
        os.kill(proc.pid, signal.SIGUSR1)
    except OSError:
        return
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        time.sleep(0.05)
        try:
            size = os.path.getsize(path)
        except OSError:
            continue
        # faulthandler writes the whole dump in one go; give it a moment to finish
        if size > before:
            time.sleep(0.1)
            return


_FRAME = re.compile(r'^\s*File "(?P<file>.+)", line (?P<line>\d+) in (?P<function>\S+)')


@dataclass
class StackSite:
    file: str  # relative to the repository root
    line: int
    function: str


def read_stack(path: str, root: str) -> StackSite | None:
    """The innermost frame in the repository's code of the last stack the worker's faulthandler
    dumped."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return None
    root = os.path.realpath(root)
    stacks: list[list[re.Match[str]]] = []  # each dump: its frames, most recent call first
    previous_was_frame = False
    for raw in text.splitlines():
        match = _FRAME.match(raw)
        if match and not previous_was_frame:
            stacks.append([])
        if match:
            stacks[-1].append(match)
        previous_was_frame = bool(match)
    for match in stacks[-1] if stacks else []:
        file = match.group("file")
        # "<frozen runpy>", "<string>": no file of the user's, wherever it would join
        if file.startswith("<"):
            continue
        absolute = file if os.path.isabs(file) else os.path.join(root, file)
        if is_inside(absolute, root) and not is_library(absolute) and os.path.isfile(absolute):
            return StackSite(
                relative(absolute, root), int(match.group("line")), match.group("function")
            )
    return None


@dataclass
class Outcome:
    returncode: int
    timed_out: bool
    cancelled: bool
    last_step: str
    # where the repository's code was when the worker died or was stopped
    stack: StackSite | None = None
    memory: MemorySample | None = None  # the worker's memory at the last look before it ended

    def describe(self, spec: ModelSpec, config_file: str) -> ErrorInfo:
        at = (
            f", in {self.stack.function}() at {self.stack.file}:{self.stack.line}"
            if self.stack
            else ""
        )
        if self.cancelled:
            return ErrorInfo(
                f"cancelled while {self.last_step}{at}", config_file, spec.line, "cancelled"
            )
        if self.timed_out:
            timeout_line = spec.key_lines.get("timeout", spec.line)
            where = f"; it was{at[1:]}" if at else ""
            if self.last_step == steps.CALLING_FACTORY:
                where += (
                    "; a factory should build and return the network, not train it or load "
                    "data (see docs/config.md, 'Scripts that build the network in main()')"
                )
            return ErrorInfo(
                f"timed out after {spec.timeout:g} s while {self.last_step}{where} "
                f"(raise `timeout` for this model, line {timeout_line} of "
                f"{config_file}, or make it smaller with `data`)",
                config_file,
                timeout_line,
                "timeout",
            )
        file, line = (self.stack.file, self.stack.line) if self.stack else (config_file, spec.line)
        if self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            if -self.returncode == signal.SIGKILL:  # not ours (a timeout or a cancel is said above)
                return ErrorInfo(
                    f"the worker was killed by {name} from outside gradcheck-ci while "
                    f"{self.last_step}{at}{killed_memory(self.memory, spec.memory)}",
                    config_file,
                    spec.line,
                    "killed",
                )
            what = {
                "SIGSEGV": "a segmentation fault",
                "SIGBUS": "a bus error",
                "SIGFPE": "a floating-point trap",
                "SIGABRT": "an abort",
                "SIGILL": "an illegal instruction",
            }.get(name, name)
            return ErrorInfo(
                f"the worker crashed with {what} ({name}) while {self.last_step}{at} "
                f"(a crash in "
                "compiled code: a C extension, ctypes, or Theano's generated C code)",
                file,
                line,
                "crash",
            )
        return ErrorInfo(
            f"the worker exited with code {self.returncode} while "
            f"{self.last_step}{at}, without a "
            "result (the model's code ended the process, e.g. with os._exit())",
            file,
            line,
            "crash",
        )


def killed_memory(sample: MemorySample | None, limit: int) -> str:
    """What is known about memory when a worker was killed from outside: its own limit raises
    MemoryError and kills nothing, so only the machine (its out-of-memory killer), a CI runner, a
    person or the model's code itself (os.kill of its own process) sends SIGKILL."""
    if sample is None:
        return (
            f" (its memory is unknown; its own limit, {limit} MiB, would have raised "
            f"MemoryError, not SIGKILL)"
        )
    machine = (
        "" if sample.available is None else (f"; the machine had {sample.available} MiB available")
    )
    who = (
        "most likely the machine's out-of-memory killer"
        if sample.machine_was_short
        else "the machine's out-of-memory killer, a CI runner, a person or the model's own code"
    )
    return (
        f", {sample.seconds:g} s after it started: it used {sample.resident} MiB "
        f"({sample.address_space} MiB of address space, below its limit of {limit} MiB, the "
        f"model's `memory`){machine}: {who}"
    )


def quoted_sources(result: ModelResult, root: str) -> dict[str, dict[str, str]]:
    """The user's lines the result points at (its error, diagnoses, tensors' layers, notices,
    profiled layers), quoted now, while the files are at hand: the HTML report shows them, and
    renders from the JSON alone."""
    places = [(result.error.file, result.error.line)] if result.error else []
    places += [(d.file, d.line) for d in result.diagnoses]
    places += [(p.file, p.line) for p in result.params]
    places += [(n.file, n.line) for n in result.notices]
    places += [(p.file, p.line) for p in result.extra.layer_profiles()]
    sources: dict[str, dict[str, str]] = {}
    for file, line in places:
        if not isinstance(file, str) or not isinstance(line, int):
            continue
        quoted = quote_source(root, file, line)
        if quoted:
            sources.setdefault(file, {}).update(quoted)
    return {
        file: dict(sorted(lines.items(), key=lambda item: int(item[0])))
        for file, lines in sources.items()
    }


def moved_notice(api: str, first: ErrorInfo | None, master_lacks_it: bool = False) -> Notice:
    """`lasagne: auto` moved the model to Lasagne master: which stack checked it, and why (where 0.1
    failed); `master_lacks_it`: master has no such name either (a typo, most likely)."""
    commit = lasagne_stacks.MASTER_COMMIT[:12]
    master = f"Lasagne master ({lasagne_stacks.MASTER_VERSION} at commit {commit})"
    why = (
        f"checked on {master} after Lasagne 0.1, which has no {api}; master has none either "
        "(`lasagne: auto`): a typo, or a name of another copy of Lasagne"
        if master_lacks_it
        else f"checked on {master}, not Lasagne 0.1: the code uses {api}, which Lasagne 0.1 does "
        "not have (`lasagne: auto`; write `lasagne: master` to go there directly)"
    )
    return Notice(
        why, "lasagne-stack", first.file if first else None, first.line if first else None
    )


def with_master_hint(result: ModelResult, problem: str) -> ModelResult:
    """An error of 0.1 that Lasagne master would not have, on a machine without master: say so."""
    if result.error is not None:
        result.error.message += (
            f"; `lasagne: auto` would check the model on Lasagne master, but {problem}"
        )
    return result


def with_pinned_hint(result: ModelResult, spec: ModelSpec, config_file: str) -> ModelResult:
    """An error of 0.1 in a model pinned to it (`lasagne: "0.1"`): the key that keeps it there."""
    if result.error is not None:
        line = spec.key_lines.get("lasagne", spec.line)
        result.error.message += (
            f'; the model\'s `lasagne: "0.1"` (line {line} of {config_file}) '
            f"keeps it on "
            "Lasagne 0.1: `lasagne: master` checks it on master"
        )
    return result


def error_result(spec: ModelSpec, config_file: str, error: ErrorInfo) -> ModelResult:
    status = "cancelled" if error.kind == "cancelled" else "error"
    return ModelResult(
        name=spec.name,
        factory=spec.factory,
        status=status,
        seed=spec.seed,
        precision=spec.precision,
        mode=spec.mode,
        expect=spec.expect,
        error=error,
        config_file=config_file,
        config_line=spec.line,
    )


def cancelled_result(spec: ModelSpec, config_file: str) -> ModelResult:
    return error_result(
        spec,
        config_file,
        ErrorInfo("not run: the check was cancelled", config_file, spec.line, "cancelled"),
    )


def _prepare_worker(limit: int) -> None:
    """In the forked child, before exec: the memory limit, and death with the runner (Linux).

    The worker runs in a session of its own (so a Ctrl-C meant for the CLI does not reach it
    directly); without the parent-death signal a CLI killed outright (SIGKILL, an OOM kill) would
    leave it running.
    """
    _limit_memory(limit)
    reaper.die_with_parent()


def _limit_memory(limit: int) -> None:
    """RLIMIT_AS for the worker; never above a hard limit the environment already set (that would
    fail)."""
    try:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    except (ValueError, OSError):
        pass  # no limit rather than no check


def _kill_group(proc: subprocess.Popen) -> None:
    reaper.kill_group(proc.pid)
