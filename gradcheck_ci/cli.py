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
from typing import TextIO

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
    try:
        args = build_parser().parse_args(argv)
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "merge":
            return cmd_merge(args)
        if args.command == "docker":
            from . import dockerrun
            return dockerrun.main(args.args)
    except UsageError as exc:
        print(f"gradcheck-ci: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("gradcheck-ci: interrupted", file=sys.stderr)
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


def select_models(specs: list, patterns: list[str], shard: tuple[int, int] | None) -> list:
    if patterns:
        unknown = [p for p in patterns if not any(fnmatch.fnmatchcase(s.name, p) for s in specs)]
        if unknown:
            names = ", ".join(s.name for s in specs[:20])
            raise UsageError(f"--model {', '.join(unknown)}: no such model in the config (models: {names})")
        specs = [s for s in specs if any(fnmatch.fnmatchcase(s.name, p) for p in patterns)]
    if shard:
        index, count = shard
        specs = [s for position, s in enumerate(specs) if position % count == index - 1]
    return specs


def cmd_check(args: argparse.Namespace) -> int:
    from .config import ConfigError, load_config
    from .output import Console

    shard = parse_shard(args.shard)
    github = args.format == "github" or (args.format == "auto" and os.environ.get("GITHUB_ACTIONS") == "true")
    console = Console(sys.stdout, github=github, quiet=args.quiet)
    started = time.perf_counter()
    try:
        config = load_config(args.config, root=args.root)
    except ConfigError as exc:
        report = RunReport(config_file=_display_path(args.config, args.root),
                           config_errors=[ErrorInfo(exc.message, _display_path(exc.file, args.root), exc.line, "config")],
                           shard=args.shard)
        return finish(report, args, console, started)

    config_file = config.rel_path()
    report = RunReport(config_file=config_file, shard=args.shard)
    specs = select_models(config.models, args.model, shard)
    problem_models = {p.model for p in config.problems if p.model}
    for problem in config.problems:
        error = ErrorInfo(problem.message, config_file, problem.line, "config")
        if problem.model and _selected(problem.model, args.model):
            report.models.append(_config_error_result(problem.model, error))
        elif not problem.model:
            report.config_errors.append(error)
    specs = [s for s in specs if s.name not in problem_models]

    from .runner import Runner

    runner = Runner(config.root, config_file, on_event=console.progress, on_output=console.user_output,
                    fail_on_expected=args.fail_on_expected)
    previous = signal.signal(signal.SIGTERM, lambda *_: runner.cancel())
    console.start(len(specs), config_file)
    try:
        def on_result(result: ModelResult) -> None:
            report.models.append(result)
            console.model_done(result)
        for spec in specs:
            console.model_start(spec)
            runner.run([spec], on_result)
    except KeyboardInterrupt:
        runner.cancel()
        done = {m.name for m in report.models}
        from .runner import cancelled_result
        report.models.extend(cancelled_result(s, config_file) for s in specs if s.name not in done)
    finally:
        signal.signal(signal.SIGTERM, previous)
    return finish(report, args, console, started)


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


def finish(report: RunReport, args: argparse.Namespace, console, started: float) -> int:
    from .report import write_reports

    report.seconds = time.perf_counter() - started
    written = write_reports(report, json_path=args.json, junit_path=args.junit, sarif_path=args.sarif,
                            tool_version=__version__)
    console.finish(report, written)
    return report.exit_code


def cmd_merge(args: argparse.Namespace) -> int:
    from .report.jsonreport import merge_reports, read_json, write_json

    reports = []
    for path in args.reports:
        try:
            reports.append(read_json(path))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read report {path}: {exc}") from None
    merged = merge_reports(reports)
    write_json(merged, args.json)
    print(f"merged {len(reports)} report(s), {len(merged.models)} model(s): {merged.status}")
    return merged.exit_code


if __name__ == "__main__":
    sys.exit(main())
