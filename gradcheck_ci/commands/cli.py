"""The `gradcheck-ci` command: check, validate, merge, init, replay, docker.

Exit codes: 0 every checked model passes (or fails as expected), 1 an unexpected gradient mismatch,
2 a configuration, loading or usage error (2 wins over 1).
"""

from __future__ import annotations

import argparse
import os
import re
import sys
from typing import NoReturn, TextIO

from .. import __version__
from ..core.errors import UsageError, print_debug_traceback
from ..core.results import EXIT_ERROR, EXIT_OK
from ..init.trial import DEFAULT_TIMEOUT
from ..report.formats import REPORT_FORMATS
from ..report.overwrite import output_clash
from . import run
from .console import Console, under_actions, write_step_outputs
from .helptext import exit_codes, subcommand

# (not __doc__'s first line: python -OO, PYTHONOPTIMIZE=2, strips docstrings)
DESCRIPTION = "The `gradcheck-ci` command: check, validate, merge, init, replay, docker."


class ArgumentParser(argparse.ArgumentParser):
    # exit 2 with one line, like every other usage error here
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        raise UsageError(message)


def build_parser() -> ArgumentParser:
    parser = ArgumentParser(
        prog="gradcheck-ci",
        description=DESCRIPTION,
        epilog=exit_codes("check"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"gradcheck-ci {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=ArgumentParser)

    check = subcommand(sub, "check", "check the models named in gradcheck.yml")
    _config_args(check)
    check.add_argument(
        "--model",
        action="append",
        default=[],
        metavar="NAME",
        help="check only this model (a name or a glob; repeatable)",
    )
    for fmt in REPORT_FORMATS:
        check.add_argument(fmt.option, dest=fmt.name, metavar="PATH", help=fmt.help)
    check.add_argument(
        "--shard",
        metavar="I/N",
        help="check only shard I of N (models dealt round-robin in file order)",
    )
    check.add_argument(
        "--changed-since",
        metavar="REF",
        help="check only the models whose files or gradcheck.yml entry changed "
        "since the git commit REF (e.g. the pull request's base); the others "
        "are reported as skipped",
    )
    check.add_argument(
        "--previous-report",
        metavar="PATH",
        help="with --changed-since: the JSON report of an earlier run, which "
        "records what each model imports (default: the --json file, read "
        "before this run rewrites it)",
    )
    check.add_argument(
        "--fail-on-expected",
        action="store_true",
        help="a model marked `expect: fail` that now passes fails the run",
    )
    check.add_argument(
        "--fail-on-inconclusive",
        action="store_true",
        help="a model whose check is inconclusive (tensors no smooth comparison "
        "could judge, or every gradient exactly zero) fails the run (exit 1) instead of "
        "passing with a warning",
    )
    check.add_argument(
        "--format",
        choices=("auto", "text", "github"),
        default="auto",
        help="github: annotations, log groups, job summary (auto: github under GitHub Actions)",
    )
    check.add_argument(
        "--quiet",
        action="store_true",
        help="no headers and no progress lines: each model's result, warnings and the summary",
    )
    check.add_argument(
        "--pass-env",
        action="append",
        default=None,
        metavar="NAME",
        help="give the model's code only this environment variable (a name or a "
        "glob; repeatable) besides what Python and Theano need; default: all "
        "but secret-like ones (tokens, passwords, ACTIONS_*); see "
        "docs/security.md",
    )
    _cache_dir_arg(check)

    validate = subcommand(sub, "validate", "check gradcheck.yml only (does not import Theano)")
    _config_args(validate)

    merge = subcommand(
        sub, "merge", "merge the JSON reports of sharded runs (does not import Theano)"
    )
    merge.add_argument(
        "reports",
        nargs="+",
        metavar="REPORT.json",
        help="the JSON reports of the shards (check --shard I/N --json PATH), each once",
    )
    for fmt in REPORT_FORMATS:
        merge.add_argument(
            fmt.option,
            dest=fmt.name,
            metavar="PATH",
            help=fmt.help.replace("report", "merged report"),
        )
    merge.add_argument(
        "--format",
        choices=("auto", "text", "github"),
        default="auto",
        help="github: the job summary of the merged run (auto: github under GitHub "
        "Actions); the shards' jobs already made the annotations",
    )

    init = subcommand(
        sub, "init", "write a starting gradcheck.yml: one entry per model factory that builds"
    )
    init.add_argument(
        "--config",
        default="gradcheck.yml",
        metavar="PATH",
        help="the file to write (default: gradcheck.yml); never overwritten without --force",
    )
    init.add_argument(
        "--root",
        metavar="DIR",
        help="repository root to search, factory paths relative to it (default: the "
        "config's directory)",
    )
    init.add_argument("--force", action="store_true", help="replace an existing file")
    init.add_argument(
        "--stdout", action="store_true", help="print the proposed file instead of writing it"
    )
    init.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"time to import and build each candidate factory (default: {DEFAULT_TIMEOUT:g})",
    )

    replay = subcommand(
        sub,
        "replay",
        "re-run one model of a JSON report exactly as it recorded "
        "it, compare every element of its failing tensors and save "
        "the arrays to .npz",
    )
    replay.add_argument(
        "report", metavar="REPORT.json", help="the JSON report of a check (check --json PATH)"
    )
    replay.add_argument("--model", required=True, metavar="NAME", help="the model to replay")
    replay.add_argument(
        "--config",
        metavar="PATH",
        help="gradcheck.yml, to say what changed since the report (default: the "
        "report's config file, found as written, beside the report, or below "
        "the current directory)",
    )
    replay.add_argument(
        "--root", metavar="DIR", help="repository root (default: the config's directory)"
    )
    replay.add_argument(
        "--npz",
        metavar="PATH",
        help="where to save the arrays (default: gradcheck-replay-NAME.npz)",
    )
    replay.add_argument(
        "--json", metavar="PATH", help="write the replayed model's JSON report here"
    )
    replay.add_argument(
        "--timeout",
        type=float,
        metavar="SECONDS",
        help="for the whole replay (default: 4 x the model's recorded timeout)",
    )
    replay.add_argument(
        "--quiet",
        action="store_true",
        help="no progress lines and no notes; what differs from the report and the comparison "
        "with it are still shown",
    )
    _cache_dir_arg(replay)

    docker = subcommand(sub, "docker", "run the check in the gradcheck-ci container (Docker SDK)")
    docker.add_argument(
        "args", nargs=argparse.REMAINDER, help="image options, then check arguments"
    )
    return parser


def _cache_dir_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--cache-dir",
        metavar="DIR",
        help="keep gradcheck-ci's caches (Theano's compiled code) in DIR, for CI to "
        "save and restore (default: $GRADCHECK_CI_CACHE_DIR, else "
        "~/.cache/gradcheck-ci; in the image, its baked cache)",
    )


def use_cache_dir(args: argparse.Namespace) -> None:
    """--cache-dir, for this process and the workers, which inherit it."""
    from ..platform import cachedir

    if args.cache_dir is not None:
        if not args.cache_dir.strip():
            raise UsageError("--cache-dir needs a directory")
        os.environ[cachedir.CACHE_DIR_ENV] = os.path.abspath(args.cache_dir)


def _config_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", default="gradcheck.yml", metavar="PATH", help="default: gradcheck.yml"
    )
    parser.add_argument(
        "--root",
        metavar="DIR",
        help="repository root that factory paths are relative to (default: the config's directory)",
    )


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    # a console that cannot encode a character (PYTHONIOENCODING=ascii, a layer named 'recé') shows
    # it escaped: a UnicodeEncodeError there would end the run's reader threads, and with them its
    # results
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="backslashreplace")
    if argv and argv[0] == "docker":  # its own options (--image, --rebuild) come before the check's
        from . import docker as dockerrun

        return dockerrun.main(argv[1:])
    if not (under_actions() or _github_format(argv)):
        return _main(argv)
    # The runner reads stdout and stderr for workflow commands: no line of ours, whatever user text
    # it quotes, may start one (report/logsafe.py); the console's own commands pass through
    # CommandSafeStream.command.
    from ..report.logsafe import CommandSafeStream

    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = CommandSafeStream(sys.stdout), CommandSafeStream(sys.stderr)
    try:
        return _main(argv)
    finally:
        sys.stdout, sys.stderr = saved


def _github_format(argv: list[str]) -> bool:
    return "--format=github" in argv or any(
        a == "--format" and b == "github" for a, b in zip(argv, argv[1:])
    )


def _main(argv: list[str]) -> int:
    try:
        args = build_parser().parse_args(argv)
        if args.command == "validate":
            return cmd_validate(args)
        if args.command == "check":
            return cmd_check(args)
        if args.command == "merge":
            return cmd_merge(args)
        if args.command in ("init", "replay"):  # both run models, as `check` does
            from ..platform import stack

            problem = stack.stack_problem(command=args.command)
            if problem:
                raise UsageError(problem)
        if args.command == "init":
            from ..init.scaffold import init

            return init(args)
        if args.command == "replay":
            from .replay import replay

            use_cache_dir(args)
            return replay(args, Console(sys.stdout, quiet=args.quiet))
    except UsageError as exc:
        print_debug_traceback(exc)
        print(f"gradcheck-ci: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("gradcheck-ci: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # a bug of ours: one clear line and exit 2, not a traceback
        if os.environ.get("GRADCHECK_CI_DEBUG"):
            raise
        print(
            f"gradcheck-ci: internal error (please report it): {type(exc).__name__}: {exc}"
            " (set GRADCHECK_CI_DEBUG=1 for the details)",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return EXIT_ERROR


def cmd_validate(args: argparse.Namespace) -> int:
    from ..config import ConfigError, format_problems, load_config

    try:
        config = load_config(args.config, root=args.root)
    except ConfigError as exc:
        print_debug_traceback(exc)
        print(str(exc), file=sys.stderr)
        return EXIT_ERROR
    # a problem repeated by merges: one line
    lines = format_problems(config.rel_path(), config.problems)
    for line in lines:
        print(line, file=sys.stderr)
    if lines:
        print(f"{config.rel_path()}: {len(lines)} problem(s)", file=sys.stderr)
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


def report_path_clash(args: argparse.Namespace, inputs: list[str]) -> str | None:
    """Why the report paths asked for cannot be written as given: one is an input of the run
    (gradcheck.yml, which a report would replace), two reports share one file (the second would
    replace the first), or one would replace a file that is not a report of ours of its format (a
    model's source: report/overwrite.py). None when they can; `-` (standard output) is not a
    file."""
    outputs = [
        fmt.output(path) for fmt in REPORT_FORMATS if (path := getattr(args, fmt.name, None))
    ]
    return output_clash(outputs, inputs)


def console_stream(args: argparse.Namespace) -> TextIO:
    """Where the run's text goes: standard output, unless a report is written there (`--json -`),
    which it would then interleave: standard error."""
    to_stdout = any(getattr(args, fmt.name, None) == "-" for fmt in REPORT_FORMATS)
    return sys.stderr if to_stdout else sys.stdout


def cmd_check(args: argparse.Namespace) -> int:
    from ..platform import stack

    shard = parse_shard(args.shard)
    if args.root is not None and not os.path.isdir(args.root):
        raise UsageError(f"--root {args.root}: not a directory")
    if args.previous_report and not args.changed_since:
        raise UsageError("--previous-report is only read with --changed-since REF")
    clash = report_path_clash(args, [args.config])
    if clash:
        raise UsageError(clash)
    problem = stack.stack_problem()
    if problem:
        raise UsageError(problem)
    use_cache_dir(args)
    if args.pass_env is not None:
        from ..process.environment import PASS_ENV

        bad = [name for name in args.pass_env if not re.fullmatch(r"[A-Za-z0-9_*?\[\]]+", name)]
        if bad:
            raise UsageError(
                f"--pass-env {bad[0]!r}: give an environment variable's name (or a glob of names)"
            )
        # the workers' allow-list (process/environment.py)
        os.environ[PASS_ENV] = ",".join(args.pass_env)
    github = args.format == "github" or (args.format == "auto" and under_actions())
    return run.check(args, shard, Console(console_stream(args), github=github, quiet=args.quiet))


def cmd_merge(args: argparse.Namespace) -> int:
    from ..report.jsonreport import merge_reports, read_json
    from ..report.shards import check_whole

    if not any(getattr(args, fmt.name) for fmt in REPORT_FORMATS):
        options = ", ".join(fmt.option for fmt in REPORT_FORMATS)
        raise UsageError(f"merge: say where to write the merged report ({options})")
    clash = report_path_clash(args, [])
    if clash:
        raise UsageError(clash)
    named = []
    for path in args.reports:
        try:
            named.append((path, read_json(path)))
        except OSError as exc:
            raise UsageError(f"cannot read report {path}: {exc.strerror or exc}") from None
        except ValueError as exc:  # not a report, or one with a field of the wrong type
            raise UsageError(f"cannot read report {path}: {exc}") from None
    reports = [report for _, report in named]
    try:
        check_whole(named)  # a partial or mixed set of shards must not merge green
        merged = merge_reports(reports)
    except ValueError as exc:  # the reports overlap, or are not one run
        raise UsageError(f"merge: {exc}") from None
    # UsageError names an unwritable path
    written = run.ReportFiles(args, rebase=False).write(merged)
    github = args.format == "github" or (args.format == "auto" and under_actions())
    Console(console_stream(args), github=github, quiet=True).finish(merged, written, annotate=False)
    print(f"merged {len(reports)} report(s), {len(merged.models)} model(s): {merged.status}")
    write_step_outputs(merged, args.json)
    return merged.exit_code


if __name__ == "__main__":
    sys.exit(main())
