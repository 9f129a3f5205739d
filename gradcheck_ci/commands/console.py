"""What `gradcheck-ci check` prints while it runs: progress, user output, results, and under GitHub
Actions the log groups, annotations and job summary."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time
from typing import Callable, TextIO

from ..config import ModelSpec
from ..core.results import ModelResult, RunReport

# The sign of life while a step (a Theano compile, mostly) runs with nothing to print: on a
# terminal, a status line rewritten every second once the step has been silent TTY_AFTER seconds; in
# a log (CI), one line per LOG_EVERY seconds of silence, so a log gets at most one such line every
# 15 s.
TTY_AFTER = 2.0
LOG_EVERY = 15.0


def run_url() -> str | None:
    """This workflow run's page under GitHub Actions (its artifacts are listed there), else None."""
    parts = [
        os.environ.get(name, "")
        for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")
    ]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


class Ticker:
    """What the sign of life says, and when; Console runs it from a thread (see tick())."""

    def __init__(self, tty: bool, width: int = 80) -> None:
        self.tty = tty
        self.width = width
        self.model: str | None = None  # None: no model running, nothing to show
        self.model_started = 0.0
        self.step = ""
        self.step_started = 0.0
        self.last_line = 0.0  # when the console last printed a line

    def start(self, model: str, now: float) -> None:
        self.model, self.model_started = model, now
        self.step, self.step_started, self.last_line = "starting", now, now

    def progress(self, message: str, now: float) -> None:
        self.step, self.step_started = message, now

    def printed(self, now: float) -> None:
        self.last_line = now

    def stop(self) -> None:
        self.model = None

    def tick(self, now: float) -> str | None:
        """The status line (TTY) or log line due at `now`, or None."""
        if self.model is None:
            return None
        quiet_for = now - self.last_line
        running = now - self.step_started
        if self.tty:
            if quiet_for < TTY_AFTER:
                return None
            text = f"[{self.model}] {now - self.model_started:6.1f}s  {self.step} ({running:.0f}s)"
            return text[: max(self.width - 1, 20)]
        if quiet_for < LOG_EVERY:
            return None
        return (
            f"[{self.model}] {now - self.model_started:6.1f}s  still {self.step}: "
            f"{running:.0f}s so far"
        )


class Console:
    def __init__(
        self,
        stream: TextIO,
        github: bool = False,
        quiet: bool = False,
        clock: Callable[[], float] = time.perf_counter,
        ticking: bool = True,
    ) -> None:
        """`ticking`: the sign of life (Ticker) from a thread; off with --quiet, and in tests that
        drive tick()."""
        self.stream = stream
        self.github = github
        self.quiet = quiet
        self.clock = clock
        self._model_started = 0.0
        self._end_token: str | None = None
        self._problems_shown = False  # the config's problems were printed before the models ran
        self._lock = threading.Lock()  # the runner's reader threads print too
        self._status = False  # a TTY status line is showing (the next print clears it)
        self.ticker = Ticker(_is_tty(stream), shutil.get_terminal_size().columns)
        self._ticking = ticking and not quiet
        self._stop_ticking: threading.Event | None = None

    def _print(self, text: str = "") -> None:
        with self._lock:
            if self._status:
                self.stream.write("\r\033[K")
                self._status = False
            self.stream.write(text + "\n")
            self.stream.flush()
            self.ticker.printed(self.clock())

    def _command(self, line: str) -> None:
        """A workflow command line built by report/github.py: the one kind of line a
        CommandSafeStream lets through."""
        from ..report.logsafe import CommandSafeStream

        if not isinstance(self.stream, CommandSafeStream):
            self._print(line)
            return
        with self._lock:
            if self._status:
                self.stream.write("\r\033[K")
                self._status = False
            self.stream.command(line)
            self.stream.flush()
            self.ticker.printed(self.clock())

    def tick(self) -> None:
        """Show the sign of life due now, if any (the ticking thread calls this every second)."""
        with self._lock:
            text = self.ticker.tick(self.clock())
            if text is None:
                return
            if self.ticker.tty:
                self.stream.write("\r\033[K" + text)
                self._status = True
            else:
                self.stream.write(text + "\n")
                self.ticker.printed(self.clock())
            self.stream.flush()

    def _start_ticking(self, name: str) -> None:
        self.ticker.start(name, self.clock())
        if not self._ticking or self._stop_ticking is not None:
            return
        stop = self._stop_ticking = threading.Event()

        def run() -> None:
            while not stop.wait(1.0):
                self.tick()

        threading.Thread(target=run, name="gradcheck-ci-ticker", daemon=True).start()

    def _stop(self) -> None:
        self.ticker.stop()
        if self._stop_ticking is not None:
            self._stop_ticking.set()
            self._stop_ticking = None

    def config_problems(self, problems: list[str], config_file: str) -> None:
        """The config's problems, 'file:line:column: message' as `validate` prints them, before any
        model runs."""
        if not problems:
            return
        for line in problems:
            self._print(line)
        self._print(
            f"{config_file}: {len(problems)} problem(s): the run ends with exit 2 (the "
            f"valid models "
            "are still checked)"
        )
        self._problems_shown = True

    def start(self, count: int, config_file: str, not_run: int = 0, skipped: int = 0) -> None:
        """The total agrees with the final count, which lists invalid entries as errors and
        unchanged models (--changed-since) as skipped. Not with --quiet (the summary gives the same
        counts)."""
        if self.quiet:
            return
        if not (not_run or skipped):
            self._print(f"gradcheck-ci: checking {count} model(s) from {config_file}")
            return
        why = ([f"{not_run} not run: problems in their entries"] if not_run else []) + (
            [f"{skipped} skipped: unchanged"] if skipped else []
        )
        self._print(
            f"gradcheck-ci: checking {count} of {count + not_run + skipped} model(s) from "
            f"{config_file} ({'; '.join(why)})"
        )

    def result(self, message: str) -> None:
        """A line of what the command found (replay's comparison with the report), shown even with
        --quiet, which leaves out progress and notes only."""
        self._print(message)

    def note(self, message: str, warning: bool = False) -> None:
        """A line about the run itself (the cache in use, what --changed-since found), shown unless
        --quiet; a warning is always shown, and under GitHub Actions it is also an annotation."""
        if self.quiet and not warning:
            return
        self._print(message)
        if warning and self.github:
            from ..report import github

            self._command(github.command("warning", message, title="gradcheck-ci"))

    def model_start(self, spec: ModelSpec) -> None:
        self._model_started = self.clock()
        if self.github:
            from ..report import github

            self._command(github.group(f"gradcheck-ci: {spec.name} (log)"))
            # Whatever the model's code prints below can never be read as a workflow command.
            start, self._end_token = github.stop_commands()
            self._command(start)
        if not self.quiet:  # the result's own first line names the model, its seed and precision
            self._print(
                f"[{spec.name}] seed={spec.seed} precision={spec.precision} factory={spec.factory}"
            )
        self._start_ticking(spec.name)

    def progress(self, model: str, message: str) -> None:
        if not self.quiet:
            now = self.clock()
            self.ticker.progress(message, now)
            self._print(f"[{model}] {now - self._model_started:6.1f}s  {message}")

    def user_output(self, model: str, line: str) -> None:
        self._print(f"[{model}] | {line}")

    def model_done(self, result: ModelResult) -> None:
        from ..report.text import render_model

        self._stop()
        if self.github:
            from ..report import github

            if self._end_token:
                self._command(self._end_token)
                self._end_token = None
            self._command(github.endgroup())
        self._print(render_model(result))

    def model_skipped(self, result: ModelResult) -> None:
        """A model that is not run because its entry in gradcheck.yml is invalid."""
        from ..report.text import render_model

        self._print(render_model(result))

    def finish(
        self,
        report: RunReport,
        written: list[str],
        html_report: str | None = None,
        annotate: bool = True,
    ) -> None:
        """The end of a run: config errors, annotations (not for `merge`: its shards made them), the
        job summary (linking the HTML report when one was written), the files written and the
        verdict line."""
        from ..report.text import render_config_errors, render_summary

        self._stop()

        if report.config_errors and not self._problems_shown:
            self._print(render_config_errors(report))
        omitted = 0
        if self.github:
            from ..report import github
            from ..report.summary import render_step_summary

            lines, omitted = github.annotations(report) if annotate else ([], 0)
            for line in lines:
                self._command(line)
            summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary_path:
                linked = html_report if html_report in written else None
                try:
                    with open(summary_path, "a", encoding="utf-8") as handle:
                        handle.write(
                            render_step_summary(
                                report,
                                omitted_annotations=omitted,
                                html_report=linked,
                                run_url=run_url(),
                            )
                        )
                except OSError as exc:  # a full disk loses the summary, not the verdict below
                    self._print(
                        f"gradcheck-ci: cannot write the job summary (GITHUB_STEP_SUMMARY="
                        f"{summary_path}): {exc.strerror or exc}"
                    )
        for path in written:
            self._print(f"wrote {path}")
        self._print(render_summary(report))


def _is_tty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # a closed or unusual stream
        return False


def under_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def write_step_outputs(report: RunReport, json_path: str | None) -> bool:
    """Under GitHub Actions, the step outputs the action has (status, failed-models, report) written
    to $GITHUB_OUTPUT, so a `run: gradcheck-ci check` step offers them too. False when not under
    Actions."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not (under_actions() and path):
        return False
    from ..report import github

    try:
        github.write_outputs(
            path, github.step_outputs(report, json_path, os.environ.get("GITHUB_WORKSPACE"))
        )
    except OSError as exc:  # a full disk: the exit code still says what the outputs would have
        print(
            f"gradcheck-ci: error: cannot write the step outputs: {exc.strerror or exc}",
            file=sys.stderr,
        )
        return False
    return True
