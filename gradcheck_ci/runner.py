"""Run each model's check in a worker process of its own.

Why a process per model: a model that segfaults in compiled Theano code, hangs, or exhausts memory must
become that model's error while the others complete; each worker also gets Theano flags (floatX) of its
own model's precision, which can only be set before Theano is imported. The cost is one Theano import
per model (about a second).
"""
from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

from .config import ModelSpec
from .results import ErrorInfo, ModelResult

OnEvent = Callable[[str, str], None]  # (model name, progress message)
OnOutput = Callable[[str, str], None]  # (model name, a line the model's code printed)


@dataclass
class Runner:
    root: str
    config_file: str  # relative to root
    on_event: OnEvent
    on_output: OnOutput
    fail_on_expected: bool = False
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
        with tempfile.TemporaryDirectory(prefix="gradcheck-ci-") as tmp:
            job_path = os.path.join(tmp, "job.json")
            result_path = os.path.join(tmp, "result.json")
            with open(job_path, "w", encoding="utf-8") as handle:
                json.dump({"spec": spec.to_json(), "root": self.root, "config_file": self.config_file}, handle)
            started = time.perf_counter()
            outcome = self._spawn(spec, job_path, result_path)
            elapsed = time.perf_counter() - started
            if os.path.exists(result_path):
                with open(result_path, encoding="utf-8") as handle:
                    result = ModelResult.from_json(json.load(handle))
            else:
                result = error_result(spec, self.config_file, outcome.describe(spec, self.config_file))
            result.seconds["total"] = round(elapsed, 3)
        return self._expectations(result, spec)

    def _expectations(self, result: ModelResult, spec: ModelSpec) -> ModelResult:
        if spec.expect == "fail" and result.status == "pass":
            result.extra["unexpected_pass"] = True
            if self.fail_on_expected:
                result.status = "fail"
        return result

    def _spawn(self, spec: ModelSpec, job_path: str, result_path: str) -> "Outcome":
        read_fd, write_fd = os.pipe()
        env = dict(os.environ, GRADCHECK_EVENT_FD=str(write_fd), PYTHONUNBUFFERED="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [_package_parent(), env.get("PYTHONPATH")]))
        limit = spec.memory * 1024 * 1024
        proc = subprocess.Popen(
            [sys.executable, "-m", "gradcheck_ci.worker", job_path, result_path],
            cwd=self.root, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
            pass_fds=(write_fd,), start_new_session=True, preexec_fn=lambda: _limit_memory(limit))
        os.close(write_fd)
        self._current = proc
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
            for raw in proc.stdout:
                self.on_output(spec.name, raw.decode("utf-8", errors="replace").rstrip("\r\n"))

        threads = [threading.Thread(target=read_events, daemon=True), threading.Thread(target=read_output, daemon=True)]
        for thread in threads:
            thread.start()
        timed_out = False
        try:
            proc.wait(timeout=spec.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _kill_group(proc)
            proc.wait()
        for thread in threads:
            thread.join(timeout=5)
        self._current = None
        return Outcome(proc.returncode, timed_out, self.cancelled, last_event[0])


@dataclass
class Outcome:
    returncode: int
    timed_out: bool
    cancelled: bool
    last_step: str

    def describe(self, spec: ModelSpec, config_file: str) -> ErrorInfo:
        if self.cancelled:
            return ErrorInfo(f"cancelled while {self.last_step}", config_file, spec.line, "cancelled")
        if self.timed_out:
            return ErrorInfo(f"timed out after {spec.timeout:g} s while {self.last_step} "
                             "(raise `timeout` for this model, or make it smaller with `data`)",
                             config_file, spec.key_lines.get("timeout", spec.line), "timeout")
        if self.returncode < 0:
            name = signal.Signals(-self.returncode).name
            if -self.returncode == signal.SIGKILL:
                return ErrorInfo(f"the worker was killed ({name}) while {self.last_step}: most likely out of "
                                 f"memory (limit {spec.memory} MiB)", config_file,
                                 spec.key_lines.get("memory", spec.line), "memory")
            return ErrorInfo(f"the worker crashed with {name} while {self.last_step} (a crash in compiled "
                             "Theano code or a C extension)", config_file, spec.line, "crash")
        return ErrorInfo(f"the worker exited with code {self.returncode} while {self.last_step} without a result",
                         config_file, spec.line, "crash")


def error_result(spec: ModelSpec, config_file: str, error: ErrorInfo) -> ModelResult:
    status = "cancelled" if error.kind == "cancelled" else "error"
    return ModelResult(name=spec.name, factory=spec.factory, status=status, seed=spec.seed,
                       precision=spec.precision, mode=spec.mode, expect=spec.expect, error=error,
                       config_file=config_file, config_line=spec.line)


def cancelled_result(spec: ModelSpec, config_file: str) -> ModelResult:
    return error_result(spec, config_file, ErrorInfo("not run: the check was cancelled", config_file,
                                                     spec.line, "cancelled"))


def _limit_memory(limit: int) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))


def _kill_group(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _package_parent() -> str:
    return os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
