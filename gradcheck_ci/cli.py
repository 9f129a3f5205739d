"""The `gradcheck-ci` command: check, validate, merge, docker.

Exit codes: 0 every checked model passes (or fails as expected), 1 an unexpected gradient mismatch,
2 a configuration, loading or usage error (2 wins over 1).
"""
from __future__ import annotations

import argparse
import os
import sys
from typing import NoReturn

from . import __version__, run
from .output import Console
from .report.formats import REPORT_FORMATS
from .results import EXIT_ERROR, EXIT_OK
from .run import UsageError


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # exit 2 with one line, like every other usage error here
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
    for fmt in REPORT_FORMATS:
        check.add_argument(fmt.option, dest=fmt.name, metavar="PATH", help=fmt.help)
    check.add_argument("--shard", metavar="I/N",
                       help="check only shard I of N (models dealt round-robin in file order)")
    check.add_argument("--fail-on-expected", action="store_true",
                       help="a model marked `expect: fail` that now passes fails the run")
    check.add_argument("--fail-on-inconclusive", action="store_true",
                       help="a model whose check is inconclusive (tensors no smooth comparison could judge) "
                            "fails the run (exit 1) instead of passing with a warning")
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
    except Exception as exc:  # a bug of ours: one clear line and exit 2, not a traceback
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


def cmd_check(args: argparse.Namespace) -> int:
    shard = parse_shard(args.shard)
    if args.root is not None and not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    github = args.format == "github" or (args.format == "auto" and os.environ.get("GITHUB_ACTIONS") == "true")
    return run.check(args, shard, Console(sys.stdout, github=github, quiet=args.quiet))


def cmd_merge(args: argparse.Namespace) -> int:
    from .report.jsonreport import merge_reports, read_json, write_json

    reports = []
    for path in args.reports:
        try:
            reports.append(read_json(path))
        except (OSError, ValueError) as exc:
            raise UsageError(f"cannot read report {path}: {getattr(exc, 'strerror', None) or exc}") from None
    try:
        merged = merge_reports(reports)
    except ValueError as exc:  # the reports overlap
        raise UsageError(str(exc)) from None
    try:
        write_json(merged, args.json)
    except OSError as exc:
        raise UsageError(f"cannot write {args.json}: {exc.strerror or exc}") from None
    print(f"merged {len(reports)} report(s), {len(merged.models)} model(s): {merged.status}")
    return merged.exit_code


if __name__ == "__main__":
    sys.exit(main())
