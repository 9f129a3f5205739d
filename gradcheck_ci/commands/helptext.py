"""The help pages of the subcommands: what each does and its exit codes, in one place for
`--help`."""

from __future__ import annotations

import argparse
import textwrap
from typing import Any

WIDTH = 100
USAGE_ERROR = "2  a usage error (an unknown option, a missing argument)"
EXIT_CODES: dict[str, tuple[str, ...]] = {
    "check": (
        "0  every checked model passes (or fails as expected; inconclusive models pass with "
        "a warning)",
        "1  an unexpected gradient mismatch (with --fail-on-inconclusive or "
        "--fail-on-expected, also an inconclusive model or an expected failure that now "
        "passes)",
        "2  a configuration, loading or usage error: a model could not be checked (2 wins over 1)",
    ),
    "validate": (
        "0  gradcheck.yml is valid",
        "2  a problem in gradcheck.yml (each printed as file:line:column: message), or a "
        "usage error",
    ),
    "merge": (
        "0, 1, 2  the merged run's verdict, as `check` gives it",
        "2  also: a report that cannot be read, reports that overlap, or a usage error",
    ),
    "init": (
        "0  gradcheck.yml written (or printed with --stdout)",
        "2  nothing in the repository built a network, the file exists (without --force), or "
        "a usage error",
    ),
    "replay": (
        "0  the replayed model passes",
        "1  it has a gradient mismatch",
        "2  it could not be checked, the report cannot be read or has no such model, or a "
        "usage error",
    ),
    "docker": (
        "0, 1, 2  the check's own exit code, from the container",
        "2  also: Docker cannot build or run the image, or a usage error",
    ),
}
DESCRIPTIONS: dict[str, str] = {
    "check": "Check the models named in gradcheck.yml: each model's Theano gradient against finite "
    "differences, in a worker process of its own; when they differ, why (confirmed by "
    "ablation). Reports go to the console and to the files asked for.",
    "validate": "Read gradcheck.yml and report every problem in it, without importing Theano or "
    "any model.",
    "merge": "Merge the JSON reports of a sharded run (check --shard I/N) into one, and write it "
    "in the formats asked for. Does not import Theano.",
    "init": "Write a starting gradcheck.yml: find the functions of the repository that build "
    "Lasagne networks, build each in a worker, and propose one entry per function that "
    "built (the others are listed with the reason). The first `check` of it evaluates every "
    "model with Theano's Python code, without waiting minutes for g++ on a cold cache.",
    "replay": "Re-run one model of a JSON report exactly as the report recorded it (seed, "
    "precision, data, directions), say what differs from the report, compare every "
    "element of its failing tensors and save the arrays to an .npz file.",
    "docker": "Run `check` (or validate, merge) in the gradcheck-ci container, so a laptop gets "
    "CI's verdict: build the image when it is missing, mount the current directory as "
    "the workspace and pass the arguments after the docker options to the container's "
    "gradcheck-ci.",
}


def description(name: str) -> str:
    return textwrap.fill(DESCRIPTIONS[name], WIDTH)


def exit_codes(name: str) -> str:
    """The 'exit codes:' section of a help page (a usage error's code added where the table leaves
    it out)."""
    lines = list(EXIT_CODES[name])
    if not any("usage error" in line for line in lines):
        lines.append(USAGE_ERROR)
    wrapped = [
        textwrap.fill(line, WIDTH, initial_indent="  ", subsequent_indent="     ") for line in lines
    ]
    return "exit codes:\n" + "\n".join(wrapped)


def subcommand(sub: Any, name: str, help: str) -> Any:
    """A subcommand's parser whose help page has a description and the exit codes."""
    return sub.add_parser(
        name,
        help=help,
        description=description(name),
        epilog=exit_codes(name),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )


def docker_parser() -> argparse.ArgumentParser:
    """The help page of `gradcheck-ci docker`, built like the other subcommands' (docker.py parses
    the arguments itself: everything from the first word that is not its own option goes to the
    container)."""
    parser = argparse.ArgumentParser(
        prog="gradcheck-ci docker",
        description=description("docker"),
        epilog=exit_codes("docker"),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--image",
        metavar="NAME",
        help="the image to run (default: $GRADCHECK_IMAGE, else "
        "gradcheck-ci:VERSION; built from the source tree when missing)",
    )
    parser.add_argument(
        "--rebuild", action="store_true", help="build the image even when the tag exists"
    )
    parser.add_argument(
        "--context",
        metavar="DIR",
        help="gradcheck-ci's source tree to build from (default: "
        "$GRADCHECK_CI_SOURCE, else the checkout this package was installed "
        "from)",
    )
    parser.add_argument(
        "args",
        nargs="*",
        metavar="CHECK_ARGS",
        help="the subcommand (check, validate or merge; default check) and its arguments",
    )
    return parser
