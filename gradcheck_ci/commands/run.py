"""The run lifecycle of `gradcheck-ci check`: read the config, choose the models (--model, --shard),
check them one by one in a worker, keep the report files current after every model, stop cleanly on
SIGTERM or Ctrl-C, and finish with the reports written and the exit code.
"""

from __future__ import annotations

import argparse
import copy
import errno
import fnmatch
import os
import shutil
import signal
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..core.errors import UsageError, print_debug_traceback
from ..core.results import ErrorInfo, ModelResult, RunReport
from ..report.atomic import is_stream
from ..report.formats import REPORT_FORMATS
from .console import Console, write_step_outputs

if TYPE_CHECKING:  # annotations only: config and runner are imported once a check starts
    from ..config import Config, ConfigError, ConfigProblem, ModelSpec
    from ..process.runner import Runner


def select_models(
    specs: list[ModelSpec],
    patterns: list[str],
    shard: tuple[int, int] | None,
    other_names: tuple[str, ...] | list[str] = (),
) -> list[ModelSpec]:
    """The models to run; other_names: models the config names but cannot run (their entry is
    invalid)."""
    if patterns:
        known = [s.name for s in specs] + list(other_names)
        unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(name, p) for name in known)]
        if unknown:
            names = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise UsageError(
                f"--model {', '.join(unknown)}: no such model in the config (models: {names})"
            )
        specs = [s for s in specs if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]
    if shard:
        index, count = shard
        specs = [s for position, s in enumerate(specs) if position % count == index - 1]
    return specs


def repository_prefix(root: str) -> str:
    """Under GitHub Actions, where the config's directory sits inside the checked-out repository
    ("sub/")."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return ""
    relative = os.path.relpath(os.path.realpath(root), os.path.realpath(workspace))
    if relative == "." or relative == ".." or relative.startswith(".." + os.sep):
        return ""
    return relative.replace(os.sep, "/") + "/"


class _Stop:
    """SIGTERM (a cancelled CI job) and the first Ctrl-C: stop the running worker, report what
    finished.

    Installed before the config is read, so a signal at any moment ends in complete reports; a
    second Ctrl-C interrupts for good.
    """

    def __init__(self) -> None:
        self.requested = False
        self.runner: Runner | None = None  # cancelled on a signal, once there is one
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stop:
        for signum in (signal.SIGTERM, signal.SIGINT):
            try:
                self._previous[signum] = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread (embedded use): keep the defaults
                pass
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)

    def _handle(self, signum: int, frame: object) -> None:
        if signum == signal.SIGINT and self.requested:
            raise KeyboardInterrupt
        self.requested = True
        if self.runner is not None:
            self.runner.cancel()


class ReportFiles:
    """The report files asked for (args.json, args.junit, ...: one attribute per report format),
    rewritten atomically after every model, so that even a run killed outright (SIGKILL, a lost
    machine) leaves valid reports: the finished models, the rest marked cancelled."""

    def __init__(self, args: argparse.Namespace, rebase: bool = True) -> None:
        """rebase=False: the report's paths are repository-relative already (merge reads the shards'
        reports)."""
        self.paths = {fmt.name: getattr(args, fmt.name, None) for fmt in REPORT_FORMATS}
        self.wanted = any(self.paths.values())
        self._said: set[str] = set()  # write failures the console has reported already
        config = getattr(args, "config", "gradcheck.yml")
        root = getattr(args, "root", None) or os.path.dirname(os.path.abspath(config))
        self.prefix = repository_prefix(root) if rebase else ""
        # The directory the written paths are relative to: the checkout under Actions, else the
        # config's root (merge: the checkout, when it runs under Actions; unknown otherwise).
        workspace = os.environ.get("GITHUB_WORKSPACE")
        if rebase:
            self.source_root: str | None = os.path.abspath(
                workspace if self.prefix and workspace else root
            )
        else:
            self.source_root = os.path.abspath(workspace) if workspace else None

    def rebased(self, report: RunReport) -> RunReport:
        """The report with paths relative to the repository (GITHUB_WORKSPACE), not to the config's
        directory."""
        report.root = self.source_root
        if not self.prefix:
            return report
        copied = copy.deepcopy(report)
        copied.prefix_paths(self.prefix)
        return copied

    def interim(
        self,
        report: RunReport,
        pending: list[ModelSpec],
        config_file: str,
        console: Console | None = None,
        first: bool = False,
    ) -> None:
        """Write the reports as they stand, the models still `pending` marked cancelled. A stream
        (`-`, /dev/stdout) is written once, at the end. A path that cannot be a report (a directory,
        no permission) stops the run on the `first` write, before any model; a full disk never does:
        the check goes on, the console says so once, and every later write tries again."""
        if not self.wanted:
            return
        from ..process.runner import error_result

        snapshot = RunReport(
            config_file=report.config_file,
            models=list(report.models),
            config_errors=report.config_errors,
            shard=report.shard,
            seconds=report.seconds,
            version=report.version,
            changed_since=report.changed_since,
            fail_on_inconclusive=report.fail_on_inconclusive,
            plan=report.plan,
        )
        for spec in pending:
            snapshot.models.append(
                error_result(
                    spec,
                    config_file,
                    ErrorInfo(
                        "not checked: the run ended before this model (it was killed, or is still "
                        "running)",
                        config_file,
                        spec.line,
                        "cancelled",
                    ),
                )
            )
        _, failures = self.write_each(snapshot, streams=False)
        for failure in failures:
            if first and not failure.transient:
                raise UsageError(failure.message)
            if console is not None and failure.message not in self._said:
                self._said.add(failure.message)
                console.note(
                    f"gradcheck-ci: {failure.message}; the check goes on, and the report "
                    f"is written "
                    "again after every model",
                    warning=True,
                )

    def write(self, report: RunReport) -> list[str]:
        """Write every report asked for; the paths written. UsageError names the option whose path
        failed."""
        written, failures = self.write_each(report)
        if failures:
            raise UsageError(failures[0].message)
        return written

    def write_each(
        self, report: RunReport, streams: bool = True
    ) -> tuple[list[str], list[WriteFailure]]:
        """Write every report asked for (streams too, unless `streams` is False), each whatever
        happened to the others: the paths written, and what failed."""
        report = self.rebased(report)
        written: list[str] = []
        failures: list[WriteFailure] = []
        for fmt in REPORT_FORMATS:
            path = self.paths[fmt.name]
            if not path or (not streams and is_stream(path)):
                continue
            try:
                fmt.write(report, path, __version__)
            except OSError as exc:
                failures.append(
                    WriteFailure(
                        f"cannot write the report {fmt.option} {path}: "
                        f"{_unwritable_reason(path, exc)}",
                        exc.errno in _TRANSIENT,
                    )
                )
                continue
            # a bug of a renderer costs its report, not the run: the models still to come are
            # checked and the other reports written (the run then exits 2, naming it)
            except Exception as exc:  # noqa: BLE001
                print_debug_traceback(exc)
                failures.append(
                    WriteFailure(
                        f"cannot write the report {fmt.option} {path}: internal error in "
                        f"gradcheck-ci (please report it): {type(exc).__name__}: "
                        f"{str(exc)[:200]}",
                        True,
                    )
                )
                continue
            written.append(path)
        return written, failures


@dataclass(frozen=True)
class WriteFailure:
    message: str  # one sentence: the option, the path and why
    transient: bool  # the disk (full, over quota, failing), not the path: worth trying again later


# A full disk, a quota, an I/O error, a file-size limit: the path is fine, the space or the device
# is not.
_TRANSIENT = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EIO, errno.EFBIG})


def _unwritable_reason(path: str, exc: OSError) -> str:
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        return "it is a directory"
    if os.path.exists(folder) and not os.path.isdir(folder):
        return f"{folder} is not a directory"
    return exc.strerror or str(exc)


def check(args: argparse.Namespace, shard: tuple[int, int] | None, console: Console) -> int:
    """Run `gradcheck-ci check` as parsed by cli.build_parser (shard: --shard, already parsed); the
    exit code."""
    from ..config import ConfigError, format_problems, load_config
    from ..platform import ccode
    from ..process.runner import Runner, cancelled_result

    # a bad GRADCHECK_CI_COMPILE is a usage error, before anything
    ccode.mode(), ccode.pays_after()
    reports = ReportFiles(args)
    started = time.perf_counter()
    with _Stop() as stop:
        try:
            config = load_config(args.config, root=args.root)
        except ConfigError as exc:
            print_debug_traceback(exc)
            return _finish(_unreadable_config(exc, args), reports, console, started)

        config_file = config.rel_path()
        report, specs, problems = _plan(config, args.model, shard, args.shard)
        # Every problem the config has, and the exit code it means, before the first model starts.
        console.config_problems(format_problems(config_file, problems), config_file)
        report.fail_on_inconclusive = bool(getattr(args, "fail_on_inconclusive", False))
        not_run = len(report.models)  # invalid entries, reported as errors
        if getattr(args, "changed_since", None):
            specs = _only_changed(args, config, report, specs, console)
        console.start(
            len(specs), config_file, not_run=not_run, skipped=len(report.models) - not_run
        )
        for result in report.models:
            console.model_skipped(result)

        runner = Runner(
            config.root,
            config_file,
            on_event=console.progress,
            on_output=console.user_output,
            fail_on_expected=args.fail_on_expected,
        )
        stop.runner = runner
        if stop.requested:
            runner.cancel()
        pending = list(specs)
        # fails fast on a path that cannot be
        reports.interim(report, pending, config_file, console, first=True)
        temporary_cache = _prepare_cache(console) if specs else None
        runner.no_compile_later = _no_compile_later(temporary_cache)

        def on_result(result: ModelResult) -> None:
            report.models.append(result)
            if pending and pending[0].name == result.name:
                pending.pop(0)
            console.model_done(result)
            report.seconds = time.perf_counter() - started
            reports.interim(report, pending, config_file, console)

        try:
            for spec in specs:
                if runner.cancelled:
                    break
                console.model_start(spec)
                runner.run([spec], on_result)
        except KeyboardInterrupt:  # a second Ctrl-C
            runner.cancel()
        finally:
            if temporary_cache:
                shutil.rmtree(temporary_cache, ignore_errors=True)
        report.models.extend(cancelled_result(s, config_file) for s in pending)
        # invalid and skipped entries joined the report first; it lists gradcheck.yml's order
        report.models.sort(key=lambda m: (m.config_line is None, m.config_line or 0))
        if runner.compile_later and not runner.cancelled:
            _compile_later(runner, console)
        return _finish(report, reports, console, started)


def _no_compile_later(temporary_cache: str | None) -> str:
    """Why C cannot be compiled after this run for the next ("": it can: process/background.py)."""
    from ..platform import ccode

    if temporary_cache:
        return "is not compiled for later runs: this run's cache directory is a temporary one"
    if shutil.which("g++") is None:  # Theano's compiler when THEANO_FLAGS names none
        return "is not compiled for later runs: there is no g++ on this machine"
    if os.environ.get("GITHUB_ACTIONS") == "true":
        return (
            "is not compiled for later runs under GitHub Actions, where nothing outlives the job "
            f"({ccode.MODE_ENV}=c compiles it in the run)"
        )
    return ""


def _compile_later(runner: Runner, console: Console) -> None:
    """Start the background compile of the models the run evaluated with Python, and say so."""
    from ..process import background

    pid, names = background.start(runner.compile_later, runner.root, runner.config_file)
    if pid is not None:
        console.note(
            f"gradcheck-ci: compiling C in the background (process {pid}) for the next run of "
            f"{', '.join(names)}; until it ends, runs evaluate with Python"
        )


def _only_changed(
    args: argparse.Namespace,
    config: Config,
    report: RunReport,
    specs: list[ModelSpec],
    console: Console,
) -> list[ModelSpec]:
    """--changed-since: the models to check; the others join the report as skipped (see changes.py).
    The record is --previous-report, else the --json file as this run finds it (read before it is
    rewritten)."""
    from . import changes

    found = changes.changes_since(args.changed_since, config.root, config.rel_path())
    previous, problem = (
        (None, None) if found.problem else changes.read_records(args.previous_report or args.json)
    )
    selection = changes.select(
        specs, found, previous, problem, config.root, config.rel_path(), __version__
    )
    report.changed_since = selection.summary
    report.models.extend(selection.skipped)
    console.note(
        f"--changed-since {args.changed_since}: {selection.message}",
        warning=bool(found.problem or problem),
    )
    if selection.skipped:
        for name, reason in selection.reasons.items():
            console.note(f"  checking {name}: {reason}")
    return selection.to_check


def _prepare_cache(console: Console) -> str | None:
    """Ready the cache directory before the first worker; a cache that cannot be used is never
    fatal: the workers then get a temporary one, deleted at the end of the run (returned, for the
    caller to delete), so that what the run says ("nothing compiled now is kept") is what it
    does."""
    from ..platform import cachedir

    temporary = None
    try:
        state = cachedir.prepare_cache()
    except cachedir.CacheDirError as exc:
        print_debug_traceback(exc)
        # in the image: its own cache, which the container takes with it
        if cachedir.baked_theano_cache():
            os.environ.pop(cachedir.CACHE_DIR_ENV, None)
            console.note(
                f"gradcheck-ci: {exc}; checking with the image's cache (nothing compiled "
                f"now is kept)"
            )
            return None
        temporary = cachedir.make_temporary_root()
        os.environ[cachedir.CACHE_DIR_ENV] = temporary  # the workers inherit it
        console.note(
            f"gradcheck-ci: {exc}; checking with a temporary cache directory, deleted at "
            f"the end "
            "(nothing compiled now is kept)"
        )
        try:
            state = cachedir.prepare_cache()
        # no usable temporary directory either: Theano's own errors will say
        except cachedir.CacheDirError:
            return temporary
    if state is not None:
        from ..platform import fncache, probe_plans

        pruned = fncache.prune(state.functions_dir)
        probe_plans.prune(state.functions_dir)  # tiny records: not worth a word
        functions = fncache.count(state.functions_dir)
        console.note(
            f"gradcheck-ci: {state.describe()}; {functions} compiled function(s) in the "
            f"function cache"
            + (
                f" (deleted {pruned} unused for {fncache.KEEP_SECONDS // 86400} days or "
                f"beyond {fncache.KEEP_BYTES >> 20} MB)"
                if pruned
                else ""
            )
        )
    return temporary


def _unreadable_config(exc: ConfigError, args: argparse.Namespace) -> RunReport:
    """The report of a run whose config could not be read at all: one configuration error."""
    message = exc.message
    # name it as given: relative to the root it would be a bare name
    if not os.path.isfile(args.config):
        message += f": {args.config}"
    if exc.message == "file not found":  # most likely a repository that has none yet
        option = "" if args.config == "gradcheck.yml" else f" --config {args.config}"
        message += (
            f"; `gradcheck-ci init{option}` writes a starting one from the functions that "
            f"build your networks"
        )
    error = ErrorInfo(message, _display_path(exc.file, args.root), exc.line, "config")
    return RunReport(
        config_file=_display_path(args.config, args.root),
        config_errors=[error],
        shard=args.shard,
        version=__version__,
    )


def _plan(
    config: Config, patterns: list[str], shard: tuple[int, int] | None, shard_text: str | None
) -> tuple[RunReport, list[ModelSpec], list[ConfigProblem]]:
    """The report as it starts (the config's problems in it), the models to check, and the problems
    that count for this run (file-level ones, and those of the selected models).

    A model whose entry is invalid is not run: it is reported once, as an error holding all its
    problems.
    """
    config_file = config.rel_path()
    problem_models = {p.model for p in config.problems if p.model}
    # every shard's models
    whole = select_models(config.models, patterns, None, sorted(problem_models))
    planned = list(
        dict.fromkeys(
            [s.name for s in whole] + sorted(n for n in problem_models if _selected(n, patterns))
        )
    )
    report = RunReport(
        config_file=config_file,
        shard=shard_text,
        version=__version__,
        plan={"config_sha256": config.sha256, "models": planned},
    )
    specs = select_models(config.models, patterns, shard, sorted(problem_models))
    counted = []
    # model -> its problems after the first (one result per model, all in it)
    messages: dict[str, list[str]] = {}
    for problem in config.problems:
        error = ErrorInfo(problem.message, config_file, problem.line, "config")
        if problem.model and _selected(problem.model, patterns):
            counted.append(problem)
            if problem.model in messages:
                messages[problem.model].append(f"line {problem.line}: {problem.message}")
            else:
                messages[problem.model] = []
                report.models.append(_config_error_result(problem.model, error))
        elif not problem.model:
            counted.append(problem)
            report.config_errors.append(error)
    # joined once: adding to a message per problem was quadratic in its problems
    for model in report.models:
        if messages.get(model.name) and model.error is not None:
            model.error.message = "; ".join([model.error.message, *messages[model.name]])
    return report, [s for s in specs if s.name not in problem_models], counted


def _selected(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _config_error_result(name: str, error: ErrorInfo) -> ModelResult:
    return ModelResult(
        name=name,
        factory="",
        status="error",
        seed=0,
        precision="float64",
        mode="auto",
        error=error,
        config_file=error.file,
        config_line=error.line,
    )


def _display_path(path: str | None, root: str | None) -> str:
    if not path:
        return "gradcheck.yml"
    base = root or os.path.dirname(os.path.abspath(path))
    return os.path.relpath(os.path.abspath(path), base).replace(os.sep, "/")


def _finish(report: RunReport, reports: ReportFiles, console: Console, started: float) -> int:
    report.seconds = time.perf_counter() - started
    written, failures = reports.write_each(report)
    report.unwritten = [
        failure.message.removeprefix("cannot write the report ") for failure in failures
    ]
    console.finish(reports.rebased(report), written, html_report=reports.paths.get("html"))
    for failure in failures:
        print(f"gradcheck-ci: error: {failure.message}", file=sys.stderr)
    write_step_outputs(
        report, reports.paths.get("json") if reports.paths.get("json") in written else None
    )
    return report.exit_code
