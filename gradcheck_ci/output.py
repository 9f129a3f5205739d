"""What `gradcheck-ci check` prints while it runs: progress, user output, results, and under GitHub Actions
the log groups, annotations and job summary."""
from __future__ import annotations

import os
import time
from typing import TextIO

from .results import ModelResult, RunReport


def run_url() -> str | None:
    """This workflow run's page under GitHub Actions (its artifacts are listed there), else None."""
    parts = [os.environ.get(name, "") for name in ("GITHUB_SERVER_URL", "GITHUB_REPOSITORY", "GITHUB_RUN_ID")]
    return f"{parts[0]}/{parts[1]}/actions/runs/{parts[2]}" if all(parts) else None


class Console:
    def __init__(self, stream: TextIO, github: bool = False, quiet: bool = False) -> None:
        self.stream = stream
        self.github = github
        self.quiet = quiet
        self._model_started = 0.0
        self._end_token: str | None = None
        self._problems_shown = False  # the config's problems were printed before the models ran

    def _print(self, text: str = "") -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def config_problems(self, problems: list[str], config_file: str) -> None:
        """The config's problems, 'file:line:column: message' as `validate` prints them, before any model runs."""
        if not problems:
            return
        for line in problems:
            self._print(line)
        self._print(f"{config_file}: {len(problems)} problem(s): the run ends with exit 2 (the valid models "
                    "are still checked)")
        self._problems_shown = True

    def start(self, count: int, config_file: str, not_run: int = 0, skipped: int = 0) -> None:
        """The total agrees with the final count, which lists invalid entries as errors and unchanged models
        (--changed-since) as skipped."""
        if not (not_run or skipped):
            self._print(f"gradcheck-ci: checking {count} model(s) from {config_file}")
            return
        why = ([f"{not_run} not run: problems in their entries"] if not_run else []) + (
            [f"{skipped} skipped: unchanged"] if skipped else [])
        self._print(f"gradcheck-ci: checking {count} of {count + not_run + skipped} model(s) from {config_file} "
                    f"({'; '.join(why)})")

    def note(self, message: str, warning: bool = False) -> None:
        """A line about the run itself (the cache in use, what --changed-since found), shown unless --quiet;
        a warning is always shown, and under GitHub Actions it is also an annotation."""
        if self.quiet and not warning:
            return
        self._print(message)
        if warning and self.github:
            from .report import github

            self._print(github.command("warning", message, title="gradcheck-ci"))

    def model_start(self, spec) -> None:
        self._model_started = time.perf_counter()
        if self.github:
            from .report import github

            self._print(github.group(f"gradcheck-ci: {spec.name} (log)"))
            # Whatever the model's code prints below can never be read as a workflow command.
            start, self._end_token = github.stop_commands()
            self._print(start)
        self._print(f"[{spec.name}] seed={spec.seed} precision={spec.precision} factory={spec.factory}")

    def progress(self, model: str, message: str) -> None:
        if not self.quiet:
            self._print(f"[{model}] {time.perf_counter() - self._model_started:6.1f}s  {message}")

    def user_output(self, model: str, line: str) -> None:
        self._print(f"[{model}] | {line}")

    def model_done(self, result: ModelResult) -> None:
        from .report.text import render_model

        if self.github:
            from .report import github

            if self._end_token:
                self._print(self._end_token)
                self._end_token = None
            self._print(github.endgroup())
        self._print(render_model(result))

    def model_skipped(self, result: ModelResult) -> None:
        """A model that is not run because its entry in gradcheck.yml is invalid."""
        from .report.text import render_model

        self._print(render_model(result))

    def finish(self, report: RunReport, written: list[str], html_report: str | None = None,
               annotate: bool = True) -> None:
        """The end of a run: config errors, annotations (not for `merge`: its shards made them), the job
        summary (linking the HTML report when one was written), the files written and the verdict line."""
        from .report.text import render_config_errors, render_summary

        if report.config_errors and not self._problems_shown:
            self._print(render_config_errors(report))
        omitted = 0
        if self.github:
            from .report import github
            from .report.summary import render_step_summary

            lines, omitted = github.annotations(report) if annotate else ([], 0)
            for line in lines:
                self._print(line)
            summary_path = os.environ.get("GITHUB_STEP_SUMMARY")
            if summary_path:
                linked = html_report if html_report in written else None
                with open(summary_path, "a", encoding="utf-8") as handle:
                    handle.write(render_step_summary(report, omitted_annotations=omitted, html_report=linked,
                                                     run_url=run_url()))
        for path in written:
            self._print(f"wrote {path}")
        self._print(render_summary(report))


def under_actions() -> bool:
    return os.environ.get("GITHUB_ACTIONS") == "true"


def write_step_outputs(report: RunReport, json_path: str | None) -> bool:
    """Under GitHub Actions, the step outputs the action has (status, failed-models, report) written to
    $GITHUB_OUTPUT, so a `run: gradcheck-ci check` step offers them too. False when not under Actions."""
    path = os.environ.get("GITHUB_OUTPUT")
    if not (under_actions() and path):
        return False
    from .report import github

    github.write_outputs(path, github.step_outputs(report, json_path, os.environ.get("GITHUB_WORKSPACE")))
    return True
