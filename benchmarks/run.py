"""The benchmark suite: `python -m benchmarks.run` (or `make bench`).

For each model of benchmarks/suite/gradcheck.yml (the fixed suite) and of
benchmarks/suite/detection.yml (bugs that must stay caught) it prints parameters, loss evaluations
(a run of the unchanged check / a first run), seconds (compile / analytic / numeric / total; numeric
is the median of three runs of the deterministic check, each the next run of an unchanged check,
which replays its first run's record: engine/remembered.py), one gradient and one loss evaluation
(medians), peak memory and three ratios measured in the same run:
(a) numeric-check time over one analytic gradient evaluation, for the next run of an unchanged check
and for a first run (nothing remembered; median of three as well), and (b) our time (analytic +
numeric, compile excluded) over the plain per-element central-difference method on the same compiled
functions and data (run for at most 30 s per model, then extrapolated linearly: the table marks
those with '~'). A repeat run whose numbers differ from the first run's is shown as failing.

Compiling, in the same run, three ways per model, each in a process of its own with a cache
directory of the benchmark's: cold (empty Theano and function caches: g++ and graph optimisation),
warm C cache (Theano's modules cached, no function cache: optimisation and linking) and
function-cache hit (the check's functions loaded: linking). Target: a hit compiles the 2 x LSTM(32)
tagger in <= 3 s. `--no-cold` skips the cold compiles (minutes) and measures "warm" on this
machine's usual Theano cache.

Then the reported network (examples/seed-rnn, the failing model at 10,000 steps) through the CLI as
a user runs it: the time to its verdict (the "checked: FAIL" line) and to its complete result
(verdict, confirmed cause and profile: the model's result block), with Theano's modules cached and
the function cache empty, then with the function cache filled by that run. With `--image IMAGE` also
in the action's container (run as the Actions runner runs it: the baked cache alone, then the
default cache directory twice, the second run restoring the first one's). Targets: the complete
result <= 10 s in the container from a warm cache (the baked cache; the first run with a cache
directory), <= 5 s with its functions in the function cache.

Writes the same numbers as JSON (--json, default reports/benchmark.json) so runs can be compared.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SUITE = (
    REPO / "benchmarks" / "suite" / "gradcheck.yml"
)  # the fixed suite: the targets apply to these
DETECTION = (
    REPO / "benchmarks" / "suite" / "detection.yml"
)  # bugs that must stay caught; no ratio target


COMPILE_HIT_TARGET = 3.0  # seconds, function-cache hit on the 2 x LSTM(32) tagger
COMPILE_HIT_MODEL = "lstm32x2-tagger-50"
COMPLETE_RESULT_TARGET = (
    10.0  # seconds, the reported network's complete result in the container, warm cache
)
COMPLETE_RESULT_CACHED_TARGET = 5.0  # seconds, the same with its functions in the function cache
REPORTED = REPO / "examples" / "seed-rnn"
REPORTED_MODEL = "seed-rnn-truncated"


def run_model(
    spec,
    root: str,
    config_file: str,
    plain: bool,
    env: dict[str, str] | None = None,
    compile_only: bool = False,
) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job.write_text(
            json.dumps(
                {
                    "spec": spec.to_json(),
                    "root": root,
                    "config_file": config_file,
                    "plain": plain,
                    "compile_only": compile_only,
                }
            )
        )
        env = dict(os.environ, **(env or {}), PYTHONPATH=str(REPO))
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.measure", str(job), str(out)],
            env=env,
            capture_output=True,
            text=True,
        )
        if proc.returncode != 0 or not out.exists():
            return {
                "name": spec.name,
                "error": proc.stderr.strip().splitlines()[-1:] or ["no output"],
            }
        return json.loads(out.read_text())


def usual_theano_cache() -> str:
    """This machine's usual Theano cache (the default cache directory's), warm from earlier runs."""
    from gradcheck_ci.platform import cachedir

    return cachedir.theano_cache_dir(
        {k: v for k, v in os.environ.items() if k != cachedir.CACHE_DIR_ENV}
    )


def cache_env(cache: str, theano_dir: str | None = None) -> dict[str, str]:
    """The environment of a check whose cache directory is `cache` (Theano's modules in `theano_dir`
    if given)."""
    # the C path, as these tables always measured it (a cold model's first verdict without C:
    # benchmarks.first_run)
    env = {"GRADCHECK_CI_CACHE_DIR": cache, "GRADCHECK_CI_COMPILE": "c"}
    if theano_dir:
        env["THEANO_FLAGS"] = ",".join(
            filter(None, [os.environ.get("THEANO_FLAGS"), f"base_compiledir={theano_dir}"])
        )
    return env


def forget_functions(cache: str) -> None:
    for entry in Path(cache, "functions").glob("*/*.fn"):
        entry.unlink()


def measure_model(spec, root: str, config_file: str, plain: bool, cold: bool) -> dict:
    """Compile cold, with a warm C cache and from the function cache (each in a process of its own),
    then the full measurement on the function-cache hit."""
    with tempfile.TemporaryDirectory(prefix="gradcheck-ci-bench-cache-") as cache:
        env = cache_env(cache, None if cold else usual_theano_cache())
        phases = {}
        for phase in ("cold", "warm"):
            if phase == "cold" and not cold:
                continue
            forget_functions(cache)
            phases[phase] = run_model(spec, root, config_file, plain, env, compile_only=True)
        row = run_model(spec, root, config_file, plain, env)
    row["compile_phases"] = {name: p.get("compile_seconds") for name, p in phases.items()}
    row["compile_phases"]["hit"] = row.get("seconds", {}).get("compile")
    row["compile_phase_cache"] = {
        **{name: p.get("function_cache") for name, p in phases.items()},
        "hit": row.get("function_cache"),
    }
    return row


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}s"


def render(rows: list[dict]) -> str:
    header = (
        "model",
        "params",
        "evals next/first",
        "compile cold",
        "warm C",
        "fn hit",
        "analytic",
        "numeric",
        "total",
        "1 grad",
        "1 loss",
        "peak MiB",
        "(a) num/grad",
        "(a) first run",
        "(b) ours/plain",
        "verdict",
    )
    lines = [header]
    for r in rows:
        if "error" in r:
            lines.append((r["name"], "error: " + " ".join(r["error"]), *[""] * (len(header) - 2)))
            continue
        s = r["seconds"]
        plain = r["plain"]
        ratio_b = (
            ""
            if plain is None
            else f"{'~' if plain['extrapolated'] else ''}{r['ratio_ours_over_plain']:.4f}"
        )
        verdict = r["status"] + (
            "" if (r["status"] == "fail") == (r["expect"] == "fail") else " (UNEXPECTED)"
        )
        phases = r.get("compile_phases", {})
        hit = _seconds(phases.get("hit")) + (
            "" if r.get("function_cache") in (None, "hit") else " (miss!)"
        )
        lines.append(
            (
                r["name"],
                str(r["parameters"]),
                f"{r['evaluations']}/{r.get('evaluations_first_run', '?')}",
                _seconds(phases.get("cold")),
                _seconds(phases.get("warm")),
                hit,
                f"{s['analytic']:.3f}s",
                f"{s['numeric']:.2f}s",
                f"{s['total']:.1f}s",
                f"{r['one_gradient_seconds'] * 1000:.1f}ms",
                f"{r['one_loss_seconds'] * 1000:.1f}ms",
                f"{r['peak_memory_mib']:.0f}",
                f"{r['ratio_numeric_over_gradient']:.1f}x",
                f"{r['ratio_first_run']:.1f}x",
                ratio_b,
                verdict,
            )
        )
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in lines
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.run", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--model", action="append", default=[], help="only these suite models")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain-method comparison")
    parser.add_argument(
        "--no-cold", action="store_true", help="skip the cold compiles (g++, minutes per model)"
    )
    parser.add_argument(
        "--image", help="also time the reported network in this action image (docker)"
    )
    parser.add_argument("--json", default=str(REPO / "reports" / "benchmark.json"))
    args = parser.parse_args(argv)

    from gradcheck_ci.config import load_config

    rows = []
    printed = []
    for role, path in (("suite", SUITE), ("detection", DETECTION)):
        config = load_config(str(path))
        specs = [s for s in config.models if not args.model or s.name in args.model]
        role_rows = []
        for spec in specs:
            print(f"measuring {spec.name} ...", file=sys.stderr, flush=True)
            row = measure_model(
                spec, config.root, config.rel_path(), not args.no_plain, not args.no_cold
            )
            row["role"] = role
            role_rows.append(row)
        if role_rows:
            title = (
                "suite (targets: (a) <= 20x for every model)"
                if role == "suite"
                else "detection cases (bugs that must stay caught; ratio (a) is not a target here)"
            )
            printed.append(f"{title}\n{render(role_rows)}")
        rows += role_rows
    print("\n\n".join(printed))
    print(compile_target_line(rows))
    print(f"measuring the reported network ({REPORTED_MODEL}) ...", file=sys.stderr, flush=True)
    reported = {"cli": reported_network_cli()}
    if args.image:
        print(f"measuring the reported network in {args.image} ...", file=sys.stderr, flush=True)
        reported["container"] = reported_network_container(args.image)
    print(render_reported(reported))
    document = {
        "schema": "gradcheck-ci/benchmark/v2",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "models": rows,
        "reported_network": reported,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(document, indent=2))
    print(f"wrote {args.json}", file=sys.stderr)
    unexpected = [
        r["name"]
        for r in rows
        if "error" in r or (r["status"] == "fail") != (r["expect"] == "fail")
    ]
    return 1 if unexpected else 0


def compile_target_line(rows: list[dict]) -> str:
    row = next(
        (r for r in rows if r.get("name") == COMPILE_HIT_MODEL and "compile_phases" in r), None
    )
    if row is None:
        return f"{COMPILE_HIT_MODEL}: not measured"
    phases = row["compile_phases"]
    hit, warm = phases.get("hit"), phases.get("warm")
    verdict = "met" if hit is not None and hit <= COMPILE_HIT_TARGET else "MISSED"
    ratio = f", {hit / warm:.2f} of the warm compile" if hit and warm else ""
    return (
        f"{COMPILE_HIT_MODEL}: function-cache hit compiles in {_seconds(hit)}{ratio} "
        f"(target <= {COMPILE_HIT_TARGET:.0f}s: {verdict})"
    )


VERDICT_LINE = re.compile(r"checked: (PASS|FAIL)")
RESULT_LINE = re.compile(r"^(?:\x1b\[[0-9;]*m)?(PASS|FAIL|XFAIL|XPASS|ERROR)\b")


def timed_lines(lines: Any, started: float) -> dict[str, float | None]:
    """Seconds from `started` to the reported model's verdict line and to its result block."""
    times: dict[str, float | None] = {"verdict": None, "complete": None}
    for line in lines:
        now = time.perf_counter() - started
        if times["verdict"] is None and VERDICT_LINE.search(line):
            times["verdict"] = now
        if times["complete"] is None and RESULT_LINE.search(line):
            times["complete"] = now
    return times


def reported_network_cli() -> dict[str, Any]:
    """The CLI on the reported network: Theano's modules cached (this machine's usual cache), the
    function cache empty, then the same again with the function cache the first run filled."""
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gradcheck-ci-bench-reported-") as cache:
        env = dict(os.environ, PYTHONPATH=str(REPO), **cache_env(cache, usual_theano_cache()))
        env.pop("GITHUB_ACTIONS", None)
        for phase in ("warm C cache", "function cache"):
            started = time.perf_counter()
            proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "gradcheck_ci",
                    "check",
                    "--config",
                    str(REPORTED / "gradcheck.yml"),
                    "--model",
                    REPORTED_MODEL,
                ],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            assert proc.stdout is not None
            times = timed_lines(proc.stdout, started)
            proc.wait()
            results[phase] = {
                **times,
                "exit": proc.returncode,
                "run": time.perf_counter() - started,
            }
    return results


def reported_network_container(image: str) -> dict[str, Any]:
    """The action image run as the Actions runner runs it (tests/container/runner.py) on the
    reported network: with the baked cache alone (cache-dir ''), then the default cache directory
    twice, the second run restoring the first one's as actions/cache does."""
    import importlib

    runner = importlib.import_module("tests.container.runner")
    action_yml = (
        (REPO / "action.yml").read_text().replace("image: Dockerfile", f"image: docker://{image}")
    )
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="gradcheck-ci-bench-container-") as tmp:
        runs = [
            ("baked cache", {"cache-dir": ""}, None),
            ("cache dir, first run", {}, None),
            ("function cache", {}, "cache dir, first run"),
        ]
        workspaces: dict[str, Path] = {}
        for phase, inputs, restore in runs:
            preload = (
                {".gradcheck-ci-cache": workspaces[restore] / ".gradcheck-ci-cache"}
                if restore
                else None
            )
            run = runner.run_like_the_runner(
                image,
                Path(tmp) / phase.replace(" ", "-").replace(",", ""),
                REPORTED,
                action_yml,
                inputs={"models": REPORTED_MODEL, **inputs},
                preload=preload,
            )
            lines = run.log.splitlines(keepends=True)
            verdict = next(
                (
                    t
                    for line, t in zip(lines, run.line_seconds, strict=False)
                    if VERDICT_LINE.search(line)
                ),
                None,
            )
            results[phase] = {
                "verdict": verdict,
                "complete": run.first_result,
                "exit": run.exit_code,
                "run": run.seconds,
            }
            workspaces[phase] = run.workspace
    return results


def render_reported(reported: dict[str, Any]) -> str:
    lines = [
        f"the reported network ({REPORTED_MODEL}, 10 x 10,000 steps): seconds from the start of "
        f"the run"
    ]
    lines.append(f"  {'where':10} {'caches':24} {'verdict':>8} {'complete':>9} {'whole run':>10}")
    for where, phases in reported.items():
        for phase, r in phases.items():
            lines.append(
                f"  {where:10} {phase:24} {_seconds(r.get('verdict')):>8} "
                f"{_seconds(r.get('complete')):>9} {_seconds(r.get('run')):>10}"
                + ("" if r.get("exit") == 1 else f"  (exit {r.get('exit')}!)")
            )
    container = reported.get("container", {})
    targets = (
        ("baked cache", COMPLETE_RESULT_TARGET),
        ("cache dir, first run", COMPLETE_RESULT_TARGET),
        ("function cache", COMPLETE_RESULT_CACHED_TARGET),
    )
    for phase, target in targets:
        complete = container.get(phase, {}).get("complete")
        if complete is not None:
            verdict = "met" if complete <= target else f"MISSED by {complete - target:.1f}s"
            lines.append(
                f"complete result in the container, {phase}: {complete:.1f}s "
                f"(target <= {target:.0f}s: {verdict})"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
