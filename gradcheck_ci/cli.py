"""The `gradcheck-ci` command: check, validate, merge, docker.

Exit codes: 0 every checked model passes (or fails as expected), 1 an unexpected gradient mismatch,
2 a configuration, loading or usage error (2 wins over 1).
"""
from __future__ import annotations

import argparse
import fnmatch
import os
import signal
import sys
import time

from . import __version__
from .results import EXIT_ERROR, EXIT_OK, ErrorInfo, ModelResult, RunReport


class UsageError(Exception):
    pass


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # exit 2 with one line, like every other usage error here
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(prog="gradcheck-ci", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"gradcheck-ci {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    check = sub.add_parser("check", help="check the models named in gradcheck.yml")
    _config_args(check)
    check.add_argument("--model", action="append", default=[], metavar="NAME",
                       help="check only this model (a name or a glob; repeatable)")
    check.add_argument("--json", metavar="PATH", help="write the JSON report here")
    check.add_argument("--junit", metavar="PATH", help="write a JUnit XML report here")
    check.add_argument("--sarif", metavar="PATH", help="write a SARIF 2.1.0 report here")
    check.add_argument("--shard", metavar="I/N", help="check only shard I of N (models dealt round-robin in file order)")
    check.add_argument("--fail-on-expected", action="store_true",
                       help="a model marked `expect: fail` that now passes fails the run")
    check.add_argument("--format", choices=("auto", "text", "github"), default="auto",
                       help="github: annotations, log groups, job summary (auto: github under GitHub Actions)")
    check.add_argument("--quiet", action="store_true", help="no progress lines")

    validate = sub.add_parser("validate", help="check gradcheck.yml only (does not import Theano)")
    _config_args(validate)

    merge = sub.add_parser("merge", help="merge the JSON reports of sharded runs")
    merge.add_argument("reports", nargs="+", metavar="REPORT.json")
    merge.add_argument("--json", metavar="PATH", required=True, help="write the merged report here")

    docker = sub.add_parser("docker", help="run the check in the gradcheck-ci container (Docker SDK)")
    docker.add_argument("args", nargs=argparse.REMAINDER, help="image options, then check arguments")
    return parser


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", default="gradcheck.yml", metavar="PATH", help="default: gradcheck.yml")
    parser.add_argument("--root", metavar="DIR",
                        help="repository root that factory paths are relative to (default: the config's directory)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == "docker":  # its own options (--image, --rebuild) come before the check's
        from . import dockerrun
        return dockerrun.main(argv[1:])
    try:
        args = build_parser().parse_args(argv)
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "merge":
            return cmd_merge(args)
    except UsageError as exc:
        print(f"gradcheck-ci: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("gradcheck-ci: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # noqa: BLE001 - a bug of ours: one clear line and exit 2, not a traceback
        if os.environ.get("GRADCHECK_CI_DEBUG"):
            raise
        print(f"gradcheck-ci: internal error (please report it): {type(exc).__name__}: {exc}"
              " (set GRADCHECK_CI_DEBUG=1 for the details)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_ERROR


def cmd_validate(args: argparse.Namespace) -> int:
    from .config import ConfigError, format_problem, load_config

    try:
        config = load_config(args.config, root=args.root)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    for problem in config.problems:
        print(format_problem(config.rel_path(), problem), file=sys.stderr)
    if config.problems:
        print(f"{config.rel_path()}: {len(config.problems)} problem(s)", file=sys.stderr)
        return EXIT_ERROR
    print(f"{config.rel_path()}: valid, {len(config.models)} model(s)")
    return EXIT_OK


def parse_shard(text: str | None) -> tuple[int, int] | None:
    if not text:
        return None
    try:
        index, count = (int(part) for part in text.split("/"))
    except ValueError:
        raise UsageError(f"--shard must look like 1/4, not {text!r}") from None
    if not 1 <= index <= count:
        raise UsageError(f"--shard {text}: the shard number must be between 1 and {max(count, 1)}")
    return index, count


def select_models(specs: list, patterns: list[str], shard: tuple[int, int] | None,
                  other_names: tuple[str, ...] | list[str] = ()) -> list:
    """The models to run; other_names: models the config names but cannot run (their entry is invalid)."""
    if patterns:
        known = [s.name for s in specs] + list(other_names)
        unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(name, p) for name in known)]
        if unknown:
            names = ", ".join(known[:20]) + (" ..." if len(known) > 20 else "")
            raise UsageError(f"--model {', '.join(unknown)}: no such model in the config (models: {names})")
        specs = [s for s in specs if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]
    if shard:
        index, count = shard
        specs = [s for position, s in enumerate(specs) if position % count == index - 1]
    return specs


class _Stop:
    """SIGTERM (a cancelled CI job) and the first Ctrl-C: stop the running worker, report what finished.

    Installed before the config is read, so a signal at any moment ends in complete reports; a second
    Ctrl-C interrupts for good.
    """

    def __init__(self) -> None:
        self.requested = False
        self.runner = None
        self._previous: dict[int, object] = {}

    def __enter__(self) -> "_Stop":
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


class _Reports:
    """The report files, rewritten atomically after every model, so that even a run killed outright
    (SIGKILL, a lost machine) leaves valid reports: the finished models, the rest marked cancelled."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.wanted = bool(args.json or args.junit or args.sarif)
        root = getattr(args, "root", None) or os.path.dirname(os.path.abspath(getattr(args, "config", "gradcheck.yml")))
        self.prefix = repository_prefix(root)

    def rebased(self, report: RunReport) -> RunReport:
        """The report with paths relative to the repository (GITHUB_WORKSPACE), not to the config's directory."""
        if not self.prefix:
            return report
        import copy

        copied = copy.deepcopy(report)
        copied.prefix_paths(self.prefix)
        return copied

    def interim(self, report: RunReport, pending: list, config_file: str) -> None:
        if not self.wanted:
            return
        from .runner import error_result

        snapshot = RunReport(config_file=report.config_file, models=list(report.models),
                             config_errors=report.config_errors, shard=report.shard, seconds=report.seconds)
        for spec in pending:
            snapshot.models.append(error_result(spec, config_file, ErrorInfo(
                "not checked: the run ended before this model (it was killed, or is still running)",
                config_file, spec.line, "cancelled")))
        self.write(snapshot)

    def write(self, report: RunReport) -> list[str]:
        from .report import write_reports

        report = self.rebased(report)
        written = []
        for option, key, path in (("--json", "json_path", self.args.json), ("--junit", "junit_path", self.args.junit),
                                  ("--sarif", "sarif_path", self.args.sarif)):
            if not path:
                continue
            try:
                written += write_reports(report, **{key: path}, tool_version=__version__)
            except OSError as exc:
                reason = exc.strerror or str(exc)
                folder = os.path.dirname(os.path.abspath(path))
                if os.path.isdir(path):
                    reason = "it is a directory"
                elif os.path.exists(folder) and not os.path.isdir(folder):
                    reason = f"{folder} is not a directory"
                raise UsageError(f"cannot write the report {option} {path}: {reason}") from None
        return written


def cmd_check(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config
    from .output import Console

    shard = parse_shard(args.shard)
    if args.root is not None and not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    github = args.format == "github" or (args.format == "auto" and os.environ.get("GITHUB_ACTIONS") == "true")
    console = Console(sys.stdout, github=github, quiet=args.quiet)
    reports = _Reports(args)
    started = time.perf_counter()
    with _Stop() as stop:
        try:
            config = load_config(args.config, root=args.root)
        except ConfigError as exc:
            message = exc.message
            if not os.path.isfile(args.config):  # name it as given: relative to the root it would be a bare name
                message += f": {args.config}"
            report = RunReport(config_file=_display_path(args.config, args.root),
                               config_errors=[ErrorInfo(message, _display_path(exc.file, args.root), exc.line,
                                                        "config")],
                               shard=args.shard)
            return finish(report, reports, console, started)

        config_file = config.rel_path()
        report = RunReport(config_file=config_file, shard=args.shard)
        problem_models = {p.model for p in config.problems if p.model}
        specs = select_models(config.models, args.model, shard, sorted(problem_models))
        for problem in config.problems:
            error = ErrorInfo(problem.message, config_file, problem.line, "config")
            if problem.model and _selected(problem.model, args.model):
                earlier = next((m for m in report.models if m.name == problem.model), None)
                if earlier is not None and earlier.error is not None:  # one result per model, every problem in it
                    earlier.error.message += f"; line {problem.line}: {problem.message}"
                else:
                    report.models.append(_config_error_result(problem.model, error))
            elif not problem.model:
                report.config_errors.append(error)
        specs = [s for s in specs if s.name not in problem_models]
        console.start(len(specs), config_file)
        for result in report.models:
            console.model_skipped(result)

        from .runner import Runner, cancelled_result

        runner = Runner(config.root, config_file, on_event=console.progress, on_output=console.user_output,
                        fail_on_expected=args.fail_on_expected)
        stop.runner = runner
        if stop.requested:
            runner.cancel()
        pending = list(specs)
        reports.interim(report, pending, config_file)  # fails fast on an unwritable report path

        def on_result(result: ModelResult) -> None:
            report.models.append(result)
            if pending and pending[0].name == result.name:
                pending.pop(0)
            console.model_done(result)
            report.seconds = time.perf_counter() - started
            reports.interim(report, pending, config_file)

        try:
            for spec in specs:
                if runner.cancelled:
                    break
                console.model_start(spec)
                runner.run([spec], on_result)
        except KeyboardInterrupt:  # a second Ctrl-C
            runner.cancel()
        report.models.extend(cancelled_result(s, config_file) for s in pending)
        return finish(report, reports, console, started)


def _selected(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


def _config_error_result(name: str, error: ErrorInfo) -> ModelResult:
    return ModelResult(name=name, factory="", status="error", seed=0, precision="float64", mode="auto",
                       error=error, config_file=error.file, config_line=error.line)


def _display_path(path: str | None, root: str | None) -> str:
    if not path:
        return "gradcheck.yml"
    base = root or os.path.dirname(os.path.abspath(path))
    return os.path.relpath(os.path.abspath(path), base).replace(os.sep, "/")


def finish(report: RunReport, reports: "_Reports", console, started: float) -> int:
    report.seconds = time.perf_counter() - started
    try:
        written = reports.write(report)
    except UsageError as exc:
        console.finish(reports.rebased(report), [])
        print(f"gradcheck-ci: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    console.finish(reports.rebased(report), written)
    return report.exit_code


def repository_prefix(root: str) -> str:
    """Under GitHub Actions, where the config's directory sits inside the checked-out repository ("sub/")."""
    workspace = os.environ.get("GITHUB_WORKSPACE")
    if not workspace:
        return ""
    relative = os.path.relpath(os.path.realpath(root), os.path.realpath(workspace))
    if relative == "." or relative == ".." or relative.startswith(".." + os.sep):
        return ""
    return relative.replace(os.sep, "/") + "/"


def cmd_merge(args: argparse.Namespace) -> int:
    from .report.jsonreport import merge_reports, read_json, write_json

    reports = []
    for path in args.reports:
        try:
            reports.append(read_json(path))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read report {path}: {getattr(exc, 'strerror', None) or exc}") from None
    merged = merge_reports(reports)
    # Every shard reports the models whose gradcheck.yml entry is invalid: keep each such error once.
    seen: set[tuple] = set()
    models = []
    for model in merged.models:
        key = (model.name, model.error.message, model.error.line) if model.error and model.error.kind == "config" else None
        if key is not None and key in seen:
            continue
        if key is not None:
            seen.add(key)
        models.append(model)
    merged.models = models
    names = [m.name for m in merged.models]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise UsageError(f"the reports overlap: {', '.join(twice[:10])} checked more than once "
                         "(merge the reports of one run's shards, each once)")
    try:
        write_json(merged, args.json)
    except OSError as exc:
        raise UsageError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    print(f"merged {len(reports)} report(s), {len(merged.models)} model(s): {merged.status}")
    return merged.exit_code


if __name__ == "__main__":
    sys.exit(main())
