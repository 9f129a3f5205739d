"""The first run on code nobody compiled before: `python -m benchmarks.first_run`.

For each target model, the CLI as a user runs it, twice in one cache directory of the benchmark's (a
fresh temporary one: Theano's modules and the function cache both empty): cold, then warm. Between
the two it waits for the C compile the cold run left in the background, if any (a model evaluated
without C whose evaluation is worth compiling C for: platform/ccode.py), and says how long that took
after the cold run had ended; the warm run is then what the user's next run is. Printed per target:
seconds to the model's verdict (the "checked: PASS|FAIL" progress line) and to the end of the run,
how each run evaluated (C or Python), and the ratios cold / warm, measured in this one run of the
script.

Targets (issue 23): examples/seed-rnn's failing model (10 x 10,000 steps), a hand-written LSTM layer
with a clipped cell state at the size `init` proposes (tests/fixtures/first-run/custom-lstm), and
research-style factories that compile their own training functions
(tests/fixtures/real/research-model: a recurrent layer, train and validation functions;
tests/fixtures/real/argument-mining: a masked BiLSTM tagger, three functions). Cold / warm <= 3x,
first verdict and total.
`--code DIR` runs another checkout's gradcheck_ci (for a before / after comparison on the same
machine); `--flags THEANO_FLAGS` runs both with these Theano flags (e.g. `cxx=` for Theano's Python
implementations, no g++ at all; `optimizer=fast_compile`); `--compile c|python|auto` sets
GRADCHECK_CI_COMPILE (`c`: every run waits for g++, as before the first verdict went without it).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.run import timed_lines

REPO = Path(__file__).resolve().parent.parent
TARGETS = {
    "seed-rnn": (REPO / "examples" / "seed-rnn" / "gradcheck.yml", "seed-rnn-truncated"),
    "custom-lstm": (
        REPO / "tests" / "fixtures" / "first-run" / "custom-lstm" / "gradcheck.yml",
        "clipped-lstm",
    ),
    "research-factory": (
        REPO / "tests" / "fixtures" / "real" / "research-model" / "gradcheck.yml",
        "secondary-structure",
    ),
    "research-bilstm": (
        REPO / "tests" / "fixtures" / "real" / "argument-mining" / "gradcheck.yml",
        "bio-tagger",
    ),
}
RATIO_TARGET = 3.0


def run_check(config: Path, model: str, env: dict[str, str], report: Path) -> dict[str, Any]:
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-m", "gradcheck_ci", "check", "--config", str(config), "--model", model]
        + ["--json", str(report)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    times = timed_lines(proc.stdout, started)
    proc.wait()
    total = time.perf_counter() - started
    try:
        result = json.loads(report.read_text())["models"][0]
    except (OSError, ValueError, KeyError, IndexError):
        result = {}
    evaluation = result.get("extra", {}).get("evaluation", {}).get("code", "c")
    return {"verdict": times["verdict"], "total": total, "exit": proc.returncode, "by": evaluation}


def wait_for_background(cache: str, limit: float = 3600.0) -> float:
    """Seconds until the C compiles the cold run left in the background end (0: there were none)."""
    from gradcheck_ci.process import background

    started = time.perf_counter()
    folders = list(Path(cache, "functions").glob("*"))
    while any(background.running(str(folder)) for folder in folders):
        if time.perf_counter() - started > limit:
            raise SystemExit(f"the background C compile did not end within {limit:.0f}s")
        time.sleep(1.0)
    return time.perf_counter() - started


def measure(name: str, code: Path, flags: str = "", compile: str = "") -> dict[str, Any]:
    config, model = TARGETS[name]
    with tempfile.TemporaryDirectory(prefix="gradcheck-ci-bench-first-") as cache:
        env = dict(os.environ, PYTHONPATH=str(code), GRADCHECK_CI_CACHE_DIR=cache)
        for variable in (
            "GITHUB_ACTIONS",
            "THEANO_FLAGS",
            "GRADCHECK_CI_COMPILE",
        ):  # the check's own flags and cache, nothing else's
            env.pop(variable, None)
        if flags:
            env["THEANO_FLAGS"] = flags
        if compile:
            env["GRADCHECK_CI_COMPILE"] = compile
        report = Path(cache, "report.json")
        cold = run_check(config, model, env, report)
        background = wait_for_background(cache)
        return {
            "cold": cold,
            "background": background,
            "warm": run_check(config, model, env, report),
        }


def ratio(cold: float | None, warm: float | None) -> float | None:
    return cold / warm if cold is not None and warm else None


def render(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"{'target':18} {'cold verdict':>12} {'cold total':>10} {'C after':>8} "
        f"{'warm verdict':>12} {'warm total':>10} {'verdict c/w':>11} {'total c/w':>9}"
    ]
    for name, r in results.items():
        cold, warm = r["cold"], r["warm"]
        v, t = ratio(cold["verdict"], warm["verdict"]), ratio(cold["total"], warm["total"])
        cells = [cold["verdict"], cold["total"], r["background"], warm["verdict"], warm["total"]]
        shown = [f"{c:.1f}s" if c is not None else "-" for c in cells]
        lines.append(
            f"{name:18} {shown[0]:>12} {shown[1]:>10} {shown[2]:>8} {shown[3]:>12} {shown[4]:>10} "
            f"{f'{v:.1f}x' if v else '-':>11} {f'{t:.1f}x' if t else '-':>9}"
            f"  (cold by {cold['by']}, warm by {warm['by']})"
            + (
                ""
                if cold["exit"] == warm["exit"]
                else f"  (exit {cold['exit']} vs {warm['exit']}!)"
            )
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.first_run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--target", action="append", choices=sorted(TARGETS), default=[])
    parser.add_argument(
        "--code", default=str(REPO), help="the gradcheck-ci checkout whose CLI runs (default: this)"
    )
    parser.add_argument(
        "--flags", default="", help="THEANO_FLAGS for both runs (default: none, the check's own)"
    )
    parser.add_argument(
        "--compile",
        choices=("auto", "c", "python"),
        default="",
        help="GRADCHECK_CI_COMPILE for both runs (default: unset, the check's own auto)",
    )
    parser.add_argument("--json", default=str(REPO / "reports" / "first_run.json"))
    args = parser.parse_args(argv)
    results = {}
    for name in args.target or list(TARGETS):
        print(f"measuring {name} (cold, then warm) ...", file=sys.stderr, flush=True)
        results[name] = measure(name, Path(args.code), args.flags, args.compile)
    print(
        f"code {args.code}, THEANO_FLAGS {args.flags or '(none)'}, GRADCHECK_CI_COMPILE "
        f"{args.compile or '(unset)'}; cpus {os.cpu_count()}, load average "
        f"{os.getloadavg()[0]:.1f} at the end; target: c/w <= {RATIO_TARGET:.0f}x; C after: the "
        "background C compile's seconds after the cold run ended"
    )
    print(render(results))
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
