"""`gradcheck-ci init`: write a starting gradcheck.yml for a repository that has none.

discover.py finds the functions that build and return Lasagne layers, trial.py builds each in a
worker the way `check` loads a model, and this module writes one entry per factory that built, with
small `data:` sizes (the first check evaluates each model without C: no wait for g++), a comment
saying what was found (inputs, output, parameters) and a comment for every candidate it left out and
why. The text is validated by the config reader before it is written; an existing file is never
overwritten without --force.
"""

from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import textwrap
from collections.abc import Callable

from .. import __version__
from ..config import ConfigError, format_problem, load_config
from ..core.errors import UsageError
from ..core.results import EXIT_OK
from ..report.atomic import write_atomic
from .discover import Candidate, Found, Passed, discover
from .trial import DEFAULT_TIMEOUT, Trial, try_candidates

_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")
# plain YAML: no ': ', ' #', nor a trailing ':'
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_./:-]*(?<!:)$")
COMMENT_WIDTH = 110
# What the first check of the proposed file costs: Theano's C compile would take minutes per model
# on a cold cache, small data sizes or not, so the first check goes without (platform/ccode.py).
FIRST_RUN = (
    "evaluates each model with Theano's Python code instead of waiting minutes for g++, and "
    "compiles C in the background where it speeds later checks up"
)


class InitError(UsageError):
    """init cannot go on: one line on stderr and exit 2 (cli.main reports it like a usage error)."""


def init(args: argparse.Namespace, log: Callable[[str], None] | None = None) -> int:
    """Run `gradcheck-ci init` as commands/cli.py parsed it; the exit code."""

    def say(text: str) -> None:
        print(text, file=sys.stderr, flush=True)

    log = log or say
    config = args.config
    root = os.path.abspath(args.root) if args.root else os.path.dirname(os.path.abspath(config))
    if not os.path.isdir(root):
        raise InitError(f"--root {args.root}: not a directory")
    if not args.timeout > 0:
        raise InitError(f"--timeout must be a positive number of seconds, not {args.timeout:g}")
    if os.path.exists(config) and not args.force and not args.stdout:
        raise InitError(
            f"{config} exists; gradcheck-ci init never overwrites it (--force to "
            f"replace it, "
            "--stdout to print the proposal instead)"
        )
    found = discover(root)
    tryable = [c for c in found.candidates if c.why_not_tried is None]
    log(
        f"gradcheck-ci init: {len(found.candidates)} candidate "
        f"factor{'y' if len(found.candidates) == 1 else 'ies'} in {found.files_read} Python "
        f"file(s) under {root}; trying {len(tryable)} in a worker ({args.timeout:g} s each)"
    )
    trials = try_candidates(
        root, tryable, args.timeout, on_progress=lambda trial: log(progress_line(trial))
    )
    built = [t for t in trials if t.built]
    untried = [
        Trial(c, reason=c.why_not_tried or "")
        for c in found.candidates
        if c.why_not_tried is not None
    ]
    for trial in untried:
        log(progress_line(trial))
    left_out = untried + [t for t in trials if not t.built]
    if not built:
        reasons = "; ".join(f"{t.candidate.reference}: {t.reason}" for t in left_out[:5])
        more = "; ".join(
            f"{p.file}: {'' if p.what == p.file else p.what + ': '}{p.reason}"
            for p in found.passed[:3]
        )
        reasons = "; ".join(part for part in (reasons, more) if part)
        raise InitError(
            "no model factory built, so there is nothing to write"
            + (
                f" ({reasons})"
                if reasons
                else ": no function in the repository builds and returns Lasagne layers "
                '(docs/config.md, "Factories", shows what gradcheck-ci needs)'
            )
        )
    relative_root = os.path.relpath(root, os.path.dirname(os.path.abspath(config)))
    text = compose(built, left_out, found.passed, __version__)
    validate(text, root)
    if args.stdout:
        sys.stdout.write(text)
        return EXIT_OK
    write_atomic(config, text)
    hint = f" --root {relative_root}" if relative_root != "." else ""
    log(
        f"wrote {config}: {len(built)} model(s), {len(left_out) + len(found.passed)} left out (see "
        f"its comments); next: gradcheck-ci validate --config {config}{hint} && gradcheck-ci check "
        f"--config {config}{hint} (the first check {FIRST_RUN})"
    )
    return EXIT_OK


def progress_line(trial: Trial) -> str:
    if trial.built:
        return f"  built     {trial.candidate.reference}: {what_it_is(trial)}"
    return f"  left out  {trial.candidate.reference}: {trial.reason}{raised_at(trial)}"


def raised_at(trial: Trial) -> str:
    """' (at file:line)' when the reason points at another line than the candidate's own (the line
    of a script that raised before the network was built) and does not name it already (an import
    stopped at its limit), else ''."""
    candidate = trial.candidate
    if trial.file is None or trial.line is None:
        return ""
    if (trial.file, trial.line) == (candidate.file, candidate.line):
        return ""
    if re.search(rf"\b{re.escape(f'{trial.file}:{trial.line}')}(?!\d)", trial.reason):
        return ""
    return f" (at {trial.file}:{trial.line})"


def validate(text: str, root: str) -> None:
    """The proposal must pass `validate`: anything else is a bug of ours, said as such."""
    handle, path = tempfile.mkstemp(prefix="gradcheck-init-", suffix=".yml")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
        try:
            config = load_config(path, root=root)
        except ConfigError as exc:
            raise InitError(
                f"internal error (please report it): the proposed gradcheck.yml does "
                f"not load: {exc}"
            ) from None
        if config.problems:
            problems = "; ".join(format_problem("gradcheck.yml", p) for p in config.problems[:3])
            raise InitError(
                f"internal error (please report it): the proposed gradcheck.yml is "
                f"invalid: {problems}"
            )
    finally:
        os.unlink(path)


# ---------------------------------------------------------------- the text


def model_names(candidates: list[Candidate]) -> list[str]:
    """Report names: the function's name, or file and function where two files share one."""
    counts: dict[str, int] = {}
    for candidate in candidates:
        counts[candidate.function] = counts.get(candidate.function, 0) + 1
    names = []
    used: set[str] = set()
    for candidate in candidates:
        base = candidate.function
        if counts[base] > 1:
            base = candidate.file.removesuffix(".py").replace("/", ".") + "." + candidate.function
        name = _NAME_CHARS.sub("-", base).strip("-")[:100] or "model"
        unique, n = name, 2
        while unique in used:
            unique = f"{name}-{n}"
            n += 1
        used.add(unique)
        names.append(unique)
    return names


def yaml_scalar(value: object) -> str:
    """A value as YAML flow text that reads back as the same Python value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    text = str(value)
    if _PLAIN.match(text) and text.lower() not in (
        "null",
        "true",
        "false",
        "yes",
        "no",
        "on",
        "off",
        "y",
        "n",
        "~",
    ):
        return text
    return "'" + text.replace("'", "''") + "'"


def flow_mapping(values: dict[str, object]) -> str:
    return "{" + ", ".join(f"{key}: {yaml_scalar(value)}" for key, value in values.items()) + "}"


def _comment(text: str) -> str:
    """Text safe inside a YAML comment: one line, no control characters."""
    return " ".join(re.sub(r"[\x00-\x1f\x7f\u2028\u2029\x85]", " ", text).split())


def shape_text(shape: list[int | None]) -> str:
    return (
        "("
        + ", ".join("None" if s is None else str(s) for s in shape)
        + ("," if len(shape) == 1 else "")
        + ")"
    )


def what_it_is(trial: Trial) -> str:
    inputs = ", ".join(
        f"{i['label']} {shape_text(i['shape'])}" + (" mask" if i["kind"] == "mask" else "")
        for i in trial.inputs
    )
    output = trial.output
    label, kind = str(output.get("label")), str(output.get("class") or "")
    nonlinearity = output.get("nonlinearity")
    if kind and label != kind and not label.startswith(f"{kind}#"):
        # a layer's own name ('softmax'): its class beside it, so it is not read as the nonlinearity
        described = f"{label} ({kind}{f', {nonlinearity}' if nonlinearity else ''})"
    else:
        described = f"{label}{f', {nonlinearity}' if nonlinearity else ''}"
    recurrent = f"; recurrent: {', '.join(trial.recurrent)}" if trial.recurrent else ""
    return (
        f"inputs {inputs}; output {described}; {trial.tensors} tensor(s), "
        f"{trial.parameters} parameter(s){recurrent}"
    )


def heading(candidate: Candidate) -> str:
    """Where the candidate is and what it is: 'model.py:12 build(n_in, n_hidden=8)', 'train.py:30
    l_out'."""
    called = "" if candidate.kind == "variable" else f"({candidate.signature})"
    what = (
        " (a script's network, built at module level)"
        if candidate.kind == "variable"
        else " (set by __init__)"
        if candidate.kind == "attribute"
        else ""
    )
    python2 = " [Python 2: imported through a translation]" if candidate.python2 else ""
    return _comment(
        f"{candidate.file}:{candidate.line} {candidate.function}{called}{what}{python2}"
    )


def proposed_kwargs(candidate: Candidate, indent: str, commented: bool) -> list[str]:
    """The `kwargs:` line for the required arguments, each value's reason in a comment above it; a
    placeholder in capitals for an argument with no value (only in a commented entry: it is not a
    value that checks)."""
    if not candidate.kwargs and not candidate.placeholders:
        return []
    values: dict[str, object] = dict(candidate.kwargs)
    lines = []
    for argument in candidate.required:
        if argument in candidate.reasons:
            lines += textwrap.wrap(
                _comment(f"{argument}: {candidate.reasons[argument]}"),
                COMMENT_WIDTH,
                initial_indent=f"{indent}# ",
                subsequent_indent=f"{indent}#   ",
                break_on_hyphens=False,
            )
    text = flow_mapping(values)
    for argument in candidate.placeholders:
        fields = candidate.fields.get(argument)
        value = (
            "{" + ", ".join(f"{f}: {f.upper()}" for f in fields) + "}"
            if fields
            else argument.upper()
        )
        text = text[:-1] + (", " if len(text) > 2 else "") + f"{argument}: {value}" + "}"
    prefix = "# " if commented else ""
    return lines + [f"{indent}{prefix}kwargs: {text}"]


def proposed_inputs(candidate: Candidate, indent: str) -> list[str]:
    """The `inputs:` line for the arguments that take a layer (a building block's), sizes to choose
    as placeholders in capitals, with what it is in a comment above it."""
    layers = candidate.layer_inputs
    if not layers:
        return []
    lines = textwrap.wrap(
        _comment(
            f"{', '.join(layers)}: the layer{'s' if len(layers) > 1 else ''} it builds on, an "
            "InputLayer gradcheck-ci makes: one size per dimension the block expects, null ones "
            "filled from `data` (capitals: sizes to choose)"
        ),
        COMMENT_WIDTH,
        initial_indent=f"{indent}# ",
        subsequent_indent=f"{indent}#   ",
        break_on_hyphens=False,
    )
    mapping = ", ".join(f"{yaml_scalar(a)}: {{shape: {candidate.input_shape(a)}}}" for a in layers)
    return lines + [f"{indent}inputs: {{{mapping}}}"]


def _entry(trial: Trial, name: str) -> list[str]:
    candidate = trial.candidate
    lines = [f"  # {heading(candidate)}"]
    lines += textwrap.wrap(
        _comment(what_it_is(trial)),
        COMMENT_WIDTH,
        initial_indent="  #   ",
        subsequent_indent="  #     ",
        break_on_hyphens=False,
    )
    lines += [f"  - name: {yaml_scalar(name)}", f"    factory: {yaml_scalar(candidate.reference)}"]
    if trial.lasagne == "master":  # straight there: `auto` would try Lasagne 0.1 first
        needs = trial.master_api or "what only master has"
        where = f" at {trial.master_site}" if trial.master_site else ""
        lines.append(f"    lasagne: master  # {_comment(f'its code uses {needs}{where}')}")
    lines += proposed_kwargs(candidate, "    ", commented=False)
    if candidate.literal_defaults and not candidate.kwargs:
        lines.append("    # its defaults; uncomment and change one to check another setting:")
        lines.append(f"    # kwargs: {_comment(flow_mapping(candidate.literal_defaults))}")
    # check's default reads the output layer, which here only reshapes the classifier
    if trial.explicit_loss:
        lines.append(
            f"    loss: {trial.explicit_loss}  # the softmax under {trial.output.get('label')}"
        )
    lines.append(f"    data: {flow_mapping(trial.data)}")
    return lines


def compose(built: list[Trial], left_out: list[Trial], passed: list[Passed], version: str) -> str:
    names = model_names([t.candidate for t in built])
    lines = [
        "# gradcheck.yml: the models gradcheck-ci checks (reference: docs/config.md of "
        "gradcheck-ci).",
        f"# Written by `gradcheck-ci init` (gradcheck-ci {version}): one entry per factory of "
        "this repository that",
        "# built a Lasagne model as its entry names it: a function or method called with the "
        "entry's `kwargs`",
        "# (without arguments where it has none), or a layer that a script (or a class's __init__) "
        "keeps.",
        "# The `data` sizes are small. The first check evaluates each model with Theano's Python "
        "code",
        "# instead of waiting minutes for g++; later checks load the compiled functions (C where "
        "it pays)",
        "# and take seconds.",
        "# Edit freely: `kwargs` checks other settings of a factory, larger `data` longer "
        "sequences.",
        "version: 1",
        "defaults:",
        "  seed: 0",
        "  precision: float64",
        "models:",
    ]
    for trial, name in zip(built, names, strict=True):
        lines.extend(_entry(trial, name))
    if left_out or passed:
        lines += ["", "# Left out by `gradcheck-ci init` (found, but not checkable as they are):"]
        for trial in left_out:
            candidate = trial.candidate
            called = "" if candidate.kind == "variable" else "()"
            where = f"{candidate.file}:{candidate.line} {candidate.function}{called}"
            lines += textwrap.wrap(
                f"- {_comment(where)}: {_comment(trial.reason + raised_at(trial))}",
                COMMENT_WIDTH,
                initial_indent="# ",
                subsequent_indent="#   ",
                break_on_hyphens=False,
            )
            if candidate.placeholders:  # an entry to complete: the values init could not choose
                lines += [
                    f"#  - name: {yaml_scalar(candidate.function)}",
                    f"#    factory: {yaml_scalar(candidate.reference)}",
                ]
                lines += proposed_inputs(candidate, "#    ")
                lines += proposed_kwargs(candidate, "#    ", commented=False)
        for item in passed:
            where = f"{item.file}:{item.line}" if item.line else item.file
            what = "" if item.what == item.file else f" {item.what}"
            lines += textwrap.wrap(
                f"- {_comment(where + what)}: {_comment(item.reason)}",
                COMMENT_WIDTH,
                initial_indent="# ",
                subsequent_indent="#   ",
                break_on_hyphens=False,
            )
    return "\n".join(lines) + "\n"


__all__ = ["DEFAULT_TIMEOUT", "Found", "InitError", "compose", "init"]
