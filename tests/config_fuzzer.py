"""The config fuzzer: gradcheck.yml variants made from a valid file by seeded mutations, each read
by `validate` as a user runs it under GitHub Actions, and judged by what every bad input must get.

A case is clean when:
- `validate` exits 0 or 2 and nothing escapes as an exception ("crash", "internal-error");
- no line it prints can start a workflow command ("injection") and none quotes a traceback
  ("traceback");
- every message is one line naming gradcheck.yml, with a line number wherever the file has lines
  ("unlocated");
- what it accepts, `check` can run: a seed numpy takes, a bounded directions count, finite limits
  ("accepts-bad").

A fast sample runs in tests/unit/test_config_fuzz.py; the full campaign is `python -m
benchmarks.config_fuzz`, whose `--check N` also runs the real `check` on N variants `validate`
accepted: none may end in a configuration error about a key `validate` judges alone
("check-refuses"), an internal error ("check-internal-error") or an error pointing anywhere but
gradcheck.yml or the user's files ("check-unlocated"). Both report the counts: cases tried, clean,
and failures by kind (all of them must be zero).
"""

from __future__ import annotations

import contextlib
import io
import os
import random
import re
import tempfile
from collections import Counter
from dataclasses import dataclass, field

from gradcheck_ci.commands import cli
from gradcheck_ci.config import MAX_NAME_LENGTH, MIN_MEMORY, load_config
from gradcheck_ci.config.keys import MAX_DIRECTIONS, MAX_SEED
from tests.actions_log import parsed_as_command, runner_lines

BASE = """\
version: 1
x-shared: &shared
  precision: float64
  data: {sequences: 4, steps: 6, features: 3, classes: 2}
defaults:
  seed: 7
  timeout: 120
models:
  - name: tagger
    <<: *shared
    factory: models/tagger.py:build
    kwargs: {num_units: 8, gradient_steps: -1}
    directions: 2
  - name: classifier
    factory: models/tagger.py:build_classifier
    loss: categorical_crossentropy
    memory: 2048
    params: ["*.W"]
"""
FILES = {
    "models/tagger.py": """import lasagne
from lasagne.layers import DenseLayer, InputLayer


def build(num_units=8, gradient_steps=-1):
    hidden = DenseLayer(InputLayer((None, 3)), num_units)
    return DenseLayer(hidden, 2, nonlinearity=lasagne.nonlinearities.softmax)


def build_classifier():
    return DenseLayer(InputLayer((None, 3)), 2, nonlinearity=lasagne.nonlinearities.softmax)
"""
}

# Values a user (or an attacker) can put anywhere a scalar goes.
HOSTILE_VALUES = [
    "4294967296",
    "-1",
    "0",
    "123456789012345678901234567890",
    "1e400",
    "-.inf",
    ".nan",
    "1.5",
    "true",
    "null",
    "''",
    "'\\0'",
    '"a\\0b"',
    '"\\ud800"',
    '"x\\r::error::forged"',
    '"##[add-mask]x"',
    '"\\u202e"',
    "[1, 2]",
    "{a: 1}",
    "[[[[[[[[[[1]]]]]]]]]]",
    "'" + "a" * 5000 + "'",
    "*shared",
    "!!python/object:os.system x",
    "'../../etc/passwd:f'",
    "'/etc/x.py:f'",
    "'models/tagger.py:build\\0'",
    "0777",
    "~",
    "'1'",
    "2147483648",
]
HOSTILE_KEYS = [
    '"k\\n::error::X\\n##[add-mask]x"',
    '"\\0"',
    "<<",
    "? [a]",
    '"' + "k" * 300 + '"',
    "seed",
    "models",
]
# Config errors only `check` can find: they need the factory's module, its signature or the layers
# it returns.
NEEDS_THE_MODEL = ("kwargs", "inputs", "output", "params", "data.inputs", "loss")
IMPORTING = (" has no function ", "cannot import", "no module named")
SCALAR_LINE = re.compile(r"^(\s*(?:- )?[\w-]+: )(.+)$")


@dataclass
class Tally:
    command: str = "validate"
    tried: int = 0
    clean: int = 0
    valid: int = 0  # of the clean ones: validate said valid
    failures: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)  # kind -> the first case that showed it

    def report(self) -> str:
        kinds = (
            ", ".join(f"{kind} {count}" for kind, count in sorted(self.failures.items())) or "none"
        )
        outcome = (
            f" ({self.valid} valid, {self.clean - self.valid} refused with located messages)"
            if self.command == "validate"
            else ""
        )
        return (
            f"config fuzzer ({self.command}): {self.tried} cases tried, {self.clean} "
            f"clean{outcome}; failures by kind: {kinds}"
        )


def mutate(text: str, rng: random.Random) -> bytes:
    """One variant of `text`: one to three mutations, some of them of the bytes."""
    lines = text.splitlines()
    for _ in range(rng.randint(1, 3)):
        kind = rng.randrange(9)
        at = rng.randrange(len(lines))
        if kind <= 2:  # a scalar replaced by a hostile one
            match = SCALAR_LINE.match(lines[at])
            if match:
                lines[at] = match.group(1) + rng.choice(HOSTILE_VALUES)
        elif kind == 3:  # a hostile key
            indent = " " * (len(lines[at]) - len(lines[at].lstrip(" -")))
            lines.insert(
                at + 1, f"{indent}{rng.choice(HOSTILE_KEYS)}: {rng.choice(HOSTILE_VALUES)}"
            )
        elif kind == 4:  # a line duplicated (duplicate keys, duplicate names)
            lines.insert(at, lines[at])
        elif kind == 5:  # a line removed
            del lines[at]
        elif kind == 6:  # an anchor merged many times with duplicate keys
            lines[1:1] = ["x-dup: &dup"] + [f"  seed: {i}" for i in range(rng.randint(2, 40))]
            lines.extend(
                f"  - {{<<: *dup, name: m{i}, factory: models/tagger.py:build}}"
                for i in range(rng.randint(1, 60))
            )
        elif kind == 7:  # a model entry replaced by something that is not one
            lines.append(f"  - {rng.choice(['1', 'null', '[a, b]', '*shared', 'name: only'])}")
        else:  # an alias bomb
            lines[1:1] = ["x-a: &a [1, 1, 1, 1, 1, 1, 1, 1, 1]"] + [
                f"x-{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]"
                for p, c in zip("abcdefg", "bcdefgh", strict=True)
            ]
            lines.append("    kwargs: {x: *h}")
    data = "\n".join(lines).encode("utf-8", "surrogatepass") + b"\n"
    roll = rng.random()
    if roll < 0.05:
        data = data[: rng.randrange(len(data))]  # cut anywhere, in a character too
    elif roll < 0.08:
        spot = rng.randrange(len(data))
        data = (
            data[:spot]
            + rng.choice([b"\xff", b"\t", b"\x00", b"\xef\xbb\xbf", b"\r"])
            + data[spot:]
        )
    return data


def judge(data: bytes, root: str) -> tuple[list[str], bool]:
    """The failure kinds of one variant (empty: clean), and whether validate called it valid."""
    path = os.path.join(root, "gradcheck.yml")
    with open(path, "wb") as handle:
        handle.write(data)
    out, err = io.StringIO(), io.StringIO()
    found: list[str] = []
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), _actions():
        try:
            code = cli.main(["validate", "--config", path])
        except BaseException as exc:  # noqa: BLE001 - whatever escapes is the finding
            return [f"crash:{type(exc).__name__}"], False
    printed = out.getvalue() + err.getvalue()
    if code not in (0, 2) or "internal error" in printed:
        found.append("internal-error")
    if any(parsed_as_command(line) for line in runner_lines(printed)):
        found.append("injection")
    if "Traceback" in printed or 'File "' in printed:
        found.append("traceback")
    for line in filter(None, printed.splitlines()):
        if not (line.startswith(("gradcheck.yml:", "gradcheck.yml: ")) or line.startswith(path)):
            found.append("unlocated")
            break
    if code == 0:
        found += _accepts_bad(path, root)
    return found, code == 0


def _accepts_bad(path: str, root: str) -> list[str]:
    config = load_config(path, root=root)
    for spec in config.models:
        if not (
            0 <= spec.seed <= MAX_SEED
            and 1 <= spec.directions <= MAX_DIRECTIONS
            and spec.memory >= MIN_MEMORY
            and 0 < spec.timeout < float("inf")
            and 0 < len(spec.name) <= MAX_NAME_LENGTH
        ):
            return ["accepts-bad"]
    return []


def _needs_the_model(message: str) -> bool:
    return message.startswith(NEEDS_THE_MODEL) or any(
        words in message.lower() for words in IMPORTING
    )


def _write_files(root: str) -> None:
    for name, text in FILES.items():
        os.makedirs(os.path.dirname(os.path.join(root, name)), exist_ok=True)
        with open(os.path.join(root, name), "w", encoding="utf-8") as handle:
            handle.write(text)


@contextlib.contextmanager
def _actions():
    saved = os.environ.get("GITHUB_ACTIONS")
    os.environ["GITHUB_ACTIONS"] = "true"
    try:
        yield
    finally:
        if saved is None:
            os.environ.pop("GITHUB_ACTIONS", None)
        else:
            os.environ["GITHUB_ACTIONS"] = saved


def campaign(cases: int, seed: int = 0) -> Tally:
    """Run `cases` variants (seeded, so a failure can be replayed) and count what they got."""
    rng = random.Random(seed)
    tally = Tally()
    with tempfile.TemporaryDirectory(prefix="gradcheck-fuzz-") as root:
        _write_files(root)
        for case in range(cases):
            data = mutate(BASE, rng)
            kinds, valid = judge(data, root)
            tally.tried += 1
            if not kinds:
                tally.clean += 1
                tally.valid += valid
            for kind in kinds:
                tally.failures[kind] += 1
                tally.examples.setdefault(kind, f"case {case} (seed {seed}): {data[:300]!r}")
    return tally


def check_sample(count: int, seed: int = 0, cases: int = 100_000) -> Tally:
    """Run the real `check` (workers, Theano) on the first `count` distinct variants that validate
    accepts."""
    import json
    import subprocess
    import sys

    rng = random.Random(seed)
    tally, done = Tally(command="check"), set()
    with tempfile.TemporaryDirectory(prefix="gradcheck-fuzz-check-") as root:
        _write_files(root)
        for case in range(cases):
            if tally.tried >= count:
                break
            data = mutate(BASE, rng)
            kinds, valid = judge(data, root)
            if kinds or not valid or data in done:
                continue
            done.add(data)
            report = os.path.join(root, "report.json")
            run = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "gradcheck_ci",
                    "check",
                    "--quiet",
                    "--config",
                    os.path.join(root, "gradcheck.yml"),
                    "--json",
                    report,
                ],
                capture_output=True,
                text=True,
                timeout=1800,
                check=False,
            )
            models = (
                json.loads(open(report, encoding="utf-8").read())["models"]
                if os.path.exists(report)
                else []
            )
            errors = [m["error"] for m in models if m.get("error")]
            found = []
            if run.returncode not in (0, 1, 2) or "internal error" in run.stdout + run.stderr:
                found.append("check-internal-error")
            if any(e["kind"] == "config" and not _needs_the_model(e["message"]) for e in errors):
                found.append("check-refuses")
            if any(e["file"] and not os.path.isfile(os.path.join(root, e["file"])) for e in errors):
                # an error must point into gradcheck.yml or the user's code
                found.append("check-unlocated")
            tally.tried += 1
            tally.clean += not found
            for kind in found:
                tally.failures[kind] += 1
                tally.examples.setdefault(kind, f"case {case} (seed {seed}): {data[:300]!r}")
    return tally
