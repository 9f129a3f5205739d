"""Container entrypoint: the adapter between the GitHub Actions runner and the `gradcheck-ci` CLI.

Two modes:
- Action: under Actions (GITHUB_ACTIONS=true) with no arguments. Reads the INPUT_* variables, runs
  `gradcheck-ci check` (or `merge`, with the `merge` input) in `working-directory` with `--format
  github` (the CLI prints the annotations, groups and stop-commands, and writes the job summary),
  then writes the `status`, `failed-models`, `report` and `cache-key` outputs to $GITHUB_OUTPUT and
  exits with the CLI's code. The outputs are the adapter's alone: it also tells a crash from a
  verdict, so the CLI (which writes them itself under Actions) runs without $GITHUB_OUTPUT. Bad
  inputs: `::error::`, exit 2.
- Plain CLI: anything else. Arguments go straight to `gradcheck-ci` (no arguments: `check`), so
  `docker run --rm -v "$PWD:/work" -w /work IMAGE check --config gradcheck.yml` works on a laptop.

The CLI always runs in a child process with the same interpreter: a crash there (a traceback exits
1, which would read as "gradient mismatch"; a signal) is told apart from a verdict by the JSON
report, and SIGTERM/SIGINT reach it even though this process is PID 1 in the container.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

try:  # imported as the package `entrypoint` (tests)
    from . import cache, inputs, workflow
except ImportError:  # run as a script: /opt/gradcheck/entrypoint/main.py
    import cache  # type: ignore[no-redef,import-not-found]  # the same module, imported as a script's sibling
    import inputs  # type: ignore[no-redef,import-not-found]  # as above
    import workflow  # type: ignore[no-redef,import-not-found]  # as above

from gradcheck_ci.report.github import FAILED_STATUSES

EXIT_PASS, EXIT_FAIL, EXIT_ERROR = 0, 1, 2
STATUSES = ("pass", "fail", "error")
FAILED_MODEL_STATUSES = FAILED_STATUSES
# Runs the console entry point in the child: the same code path as the installed `gradcheck-ci`
# script.
BOOT = "import sys; from gradcheck_ci.commands.launch import main; sys.exit(main())"


def cli_command(argv: Sequence[str]) -> list[str]:
    # -P: run in the workspace without it on sys.path (a repository's json.py or tempfile.py would
    # replace the standard module in gradcheck-ci's own imports), as the installed script runs
    return [sys.executable, "-P", "-c", BOOT, *argv]


def run_cli(
    argv: Sequence[str], cwd: str | None = None, env: Mapping[str, str] | None = None
) -> int:
    """Run the CLI as a child, forwarding SIGTERM/SIGINT to it; its exit code (negative: killed)."""
    child = subprocess.Popen(cli_command(argv), cwd=cwd, env=None if env is None else dict(env))

    def forward(signum: int, _frame: object) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous = {sig: signal.signal(sig, forward) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        while True:
            try:
                return child.wait()
            except InterruptedError:  # pragma: no cover - wait() retries by itself on 3.5+
                continue
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def read_report(path: str) -> dict[str, Any] | None:
    try:
        with open(path, encoding="utf-8") as handle:
            report = json.load(handle)
    except (OSError, ValueError):
        return None
    return report if isinstance(report, dict) else None


def failed_models(report: dict[str, Any] | None) -> list[str]:
    if not report:
        return []
    names = []
    for model in report.get("models") or []:
        if isinstance(model, dict) and (
            model.get("status") in FAILED_MODEL_STATUSES
            or (
                model.get("status") == "inconclusive" and report.get("fail_on_inconclusive") is True
            )
        ):
            names.append(str(model.get("name", "?")))
    return names


def fallback_summary(status: str, report: dict[str, Any] | None, problem: str | None) -> str:
    """A minimal job summary, written only when the CLI wrote none (it crashed, or inputs were
    bad)."""
    lines = ["## gradcheck-ci", "", f"**Status: {status}**", ""]
    if problem:
        lines += [f"> {problem}", ""]
    models = (report or {}).get("models") or []
    if models:
        lines += ["| model | status |", "| --- | --- |"]
        for model in models[:200]:
            if isinstance(model, dict):
                name = str(model.get("name", "?")).replace("|", "\\|")
                lines.append(f"| {name} | {model.get('status', '?')} |")
        if len(models) > 200:
            lines.append(f"| … {len(models) - 200} more | |")
    return "\n".join(lines) + "\n"


def finish_cache(plan: inputs.Plan) -> str:
    """After the check: the cache directory made readable for the runner's cache step; the
    `cache-key`."""
    if not plan.cache_dir:
        return ""
    cache.hand_over(plan.cache_dir, plan.workspace)
    from gradcheck_ci.platform import cachedir

    shard = plan.argv[plan.argv.index("--shard") + 1] if "--shard" in plan.argv else None
    return cache.cache_key(plan.workspace, plan.cache_dir, cachedir.cache_tag(), shard)


def action(environ: Mapping[str, str], out: TextIO | None = None) -> int:
    """Action mode; see the module docstring."""
    out = sys.stdout if out is None else out
    handle, temp_report = tempfile.mkstemp(prefix="gradcheck-report-", suffix=".json")
    os.close(handle)
    os.unlink(temp_report)  # the CLI creates it; its absence afterwards means "no report"
    plan = inputs.plan(environ, os.getcwd(), temp_report)
    summary_path = environ.get("GITHUB_STEP_SUMMARY")

    if plan.errors:
        for message in plan.errors:
            workflow.error(message, out, title="gradcheck-ci: bad input")
        workflow.write_outputs(
            {"status": "error", "failed-models": "", "report": "", "cache-key": ""}, environ
        )
        workflow.append_summary(fallback_summary("error", None, "; ".join(plan.errors)), environ)
        return EXIT_ERROR

    previous = keep_previous_report(plan)
    if os.path.isfile(plan.json_report):
        os.unlink(plan.json_report)  # never mistake last run's report for this one's
    summary_before = workflow.file_size(summary_path)
    child_env = {key: value for key, value in environ.items() if key != "GITHUB_OUTPUT"}
    started = time.monotonic()
    rc = run_cli(plan.argv, cwd=plan.cwd, env=child_env)
    elapsed = time.monotonic() - started
    report = read_report(plan.json_report)
    key = finish_cache(plan)

    problem = None
    if rc < 0 or rc > EXIT_ERROR:
        how = f"was killed by signal {-rc}" if rc < 0 else f"exited with unexpected code {rc}"
        problem = f"gradcheck-ci {how} after {elapsed:.0f}s"
    elif rc == EXIT_FAIL and report is None:
        problem = "gradcheck-ci exited 1 without writing its JSON report (a crash, not a verdict)"
    if problem:
        workflow.error(problem, out, title="gradcheck-ci")
        exit_code, status = EXIT_ERROR, "error"
    else:
        exit_code = rc
        reported = report.get("status") if report else None
        status = reported if reported in STATUSES else STATUSES[rc]

    kept_report = plan.report_output if report is not None else ""
    workflow.write_outputs(
        {
            "status": status,
            "failed-models": ",".join(failed_models(report)),
            "report": kept_report,
            "cache-key": key,
        },
        environ,
    )
    if summary_path and workflow.file_size(summary_path) == summary_before:
        workflow.append_summary(fallback_summary(status, report, problem), environ)
    if not plan.report_output and os.path.isfile(plan.json_report):
        os.unlink(plan.json_report)
    if previous and os.path.isfile(previous):
        os.unlink(previous)
    return exit_code


def keep_previous_report(plan: inputs.Plan) -> str | None:
    """With `changed-since`, last run's JSON report (restored by actions/cache, say) is the record
    of what each model imports: move it aside and hand it to the CLI as --previous-report, so it is
    read, never mistaken for this run's report. Its path, or None."""
    if not plan.changed_since or not os.path.isfile(plan.json_report):
        return None
    handle, previous = tempfile.mkstemp(prefix="gradcheck-previous-", suffix=".json")
    os.close(handle)
    shutil.move(plan.json_report, previous)
    plan.argv += ["--previous-report", previous]
    return previous


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    environ = os.environ if environ is None else environ
    if not argv and environ.get("GITHUB_ACTIONS") == "true":
        return action(environ)
    return run_cli(argv or ["check"])


if __name__ == "__main__":
    code = main()
    # A child killed by a signal: exit like a shell would, 128 + signal number.
    sys.exit(128 - code if code < 0 else code)
