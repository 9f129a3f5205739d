"""The mutation benchmark: `python -m benchmarks.mutation` (or `make bench-mutation`).

Backward-pass errors of known relative size injected into dense, convolutional and recurrent models,
and hard but correct models, each checked over many seeds (a seed draws the parameters, the data and
the directions, as `seed:` does in gradcheck.yml). Prints, per error size, the share of seeds whose
model the check fails (caught), and over every correct model and seed the number of false alarms
(fail) and of inconclusive verdicts, with the numeric check's cost over one gradient evaluation on
the passing ones.

Relative size: |e| / |g| of the most affected tensor, where g is its true gradient and e the change
the injected error makes to it (measured with the same compiled function, the error switched off and
on; see benchmarks/mutation_worker.py). Float32 cases include the float64 stage the check runs for
what float32 cannot settle. Targets (issue 12): no false alarm; float64 errors of 1e-5 caught in >=
99% of seeds, float32 errors of 1e-2 too; numeric cost <= 4x one gradient on the benchmark suite
(benchmarks.run). `--lasagne master` (or `both`) runs the cases on Lasagne master, the second stack
(issue 20): the no-false-alarm guarantee must hold there too. `--compile python` evaluates with
Theano's Python code instead of its C code, as a check does for a model whose C code is not compiled
yet (issue 23): the same catches and no false alarm, or that first verdict is not the verdict.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from gradcheck_ci.engine.precision import of

REPO = Path(__file__).resolve().parent.parent
ROOT = REPO / "benchmarks" / "suite"
SIZES = {"float64": (1e-2, 1e-3, 1e-4, 1e-5, 1e-6), "float32": (1e-1, 1e-2, 1e-3)}


@dataclass(frozen=True)
class Case:
    name: str
    factory: str  # a function of benchmarks/suite/models/mutation.py
    data: dict[str, Any]
    kwargs: dict[str, Any] = field(default_factory=dict)
    precision: str = "float64"
    inject: str | None = (
        None  # the error's pattern (see the models' docstring); None: a hard correct model
    )
    what: str = ""


DENSE = {"sequences": 32, "features": 20, "classes": 5}
WIDE = {"sequences": 32, "features": 200, "classes": 3}
IMAGES = {"sequences": 16, "features": 1, "steps": 12, "classes": 4}

CASES: tuple[Case, ...] = (
    # injected errors, float64
    Case(
        "dense-uniform",
        "mlp",
        DENSE,
        inject="uniform",
        what="a hidden weight's whole gradient scaled",
    ),
    Case(
        "dense-element",
        "mlp",
        WIDE,
        {"features": 200, "hidden": 200, "classes": 3, "layer": 1},
        inject="element",
        what="one element of a 200x200 weight",
    ),
    Case(
        "dense-column", "mlp", DENSE, {"layer": 1}, inject="column", what="one column of a weight"
    ),
    Case(
        "negative-inputs",
        "negative_inputs",
        DENSE,
        inject="negative",
        what="a backward pass wrong only where its input < 0",
    ),
    Case(
        "tiny-beside-big",
        "tiny_beside_big",
        WIDE,
        inject="uniform",
        what="a 3-element bias beside a 200x200 weight",
    ),
    Case("maxout-column", "maxout", DENSE, inject="column", what="a column before a maxout"),
    Case(
        "cnn-uniform", "cnn", IMAGES, inject="uniform", what="a conv filter bank (ReLU, max-pool)"
    ),
    Case("cnn-element", "cnn", IMAGES, inject="element", what="one conv weight (ReLU, max-pool)"),
    Case(
        "rnn-scan",
        "rnn",
        {"sequences": 6, "steps": 30, "features": 2, "classes": 2},
        inject="uniform",
        what="inside a scan step (tanh RNN, 30 steps)",
    ),
    Case(
        "gru-scan",
        "rnn",
        {"sequences": 4, "steps": 20, "features": 2, "classes": 2},
        {"gated": True},
        inject="uniform",
        what="inside a gated (GRU-like) scan step",
    ),
    # injected errors, float32
    Case(
        "rnn32-scan",
        "rnn",
        {"sequences": 6, "steps": 120, "features": 2, "classes": 2},
        {"units": 16},
        precision="float32",
        inject="uniform",
        what="inside a scan step, float32, 120 steps",
    ),
    Case(
        "cnn32-uniform",
        "cnn",
        IMAGES,
        precision="float32",
        inject="uniform",
        what="a conv filter bank, float32 (ReLU, max-pool)",
    ),
    # hard correct models
    Case("relu-mlp", "mlp", DENSE, {"nonlinearity": "relu"}),
    Case("maxout", "maxout", DENSE),
    Case("saturated", "saturated", {"sequences": 32, "features": 20, "classes": 3}),
    Case("relu-at-zero", "relu_at_zero", {"sequences": 8, "features": 3, "classes": 2}),
    Case("tied", "tied", {"sequences": 16, "features": 16, "classes": 4}),
    Case("unused", "unused", {"sequences": 16, "features": 10, "classes": 3}),
    Case("tiny-gradients", "mlp", DENSE, {"gain": 1e-4}),
    Case("conv1d", "conv1d", {"sequences": 16, "classes": 3}),
    Case("rnn-200", "lasagne_rnn", {"sequences": 4, "steps": 200, "features": 2, "classes": 2}),
    Case("lstm-50", "lstm", {"sequences": 4, "steps": 50, "features": 2, "classes": 2}),
    Case(
        "rnn32-120",
        "lasagne_rnn",
        {"sequences": 6, "steps": 120, "features": 2, "classes": 2},
        {"units": 16},
        precision="float32",
    ),
    Case(
        "lstm32-100",
        "lstm",
        {"sequences": 4, "steps": 100, "features": 2, "classes": 2},
        precision="float32",
    ),
    Case("cnn32", "cnn", IMAGES, precision="float32"),
    Case("conv1d32", "conv1d", {"sequences": 16, "classes": 3}, precision="float32"),
)
BY_NAME = {case.name: case for case in CASES}


def run_case(
    case: Case,
    seeds: list[int],
    sizes: tuple[float, ...],
    tmp: str,
    lasagne: str = "0.1",
    compile: str = "c",
    replay: bool = False,
) -> dict[str, Any]:
    """The case's seeds on one Lasagne stack ("0.1" or "master": its worker has master first on its
    path, as a model with `lasagne: master` has in a check)."""
    from gradcheck_ci.core.installation import with_package_on_path
    from gradcheck_ci.platform import lasagne_stacks

    tag = f"{case.name}-{lasagne}"
    job_path, out_path = os.path.join(tmp, f"{tag}.json"), os.path.join(tmp, f"{tag}.out.json")
    job = {
        "name": case.name,
        "factory": f"models/mutation.py:{case.factory}",
        "kwargs": {**case.kwargs, **({"inject": case.inject} if case.inject else {})},
        "data": case.data,
        "precision": case.precision,
        "seeds": seeds,
        "sizes": list(sizes),
        "root": str(ROOT),
        "replay": replay,
    }
    Path(job_path).write_text(json.dumps(job))
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
    )
    with_package_on_path(lasagne_stacks.worker_env(lasagne, env))
    if compile == "python":  # as a check's worker evaluates a model with no C compiled yet
        from gradcheck_ci.platform import ccode

        env["THEANO_FLAGS"] = ccode.python_flags(env)
    if lasagne == lasagne_stacks.MASTER and lasagne_stacks.master_problem():
        return {"name": case.name, "lasagne": lasagne, "error": lasagne_stacks.master_problem()}
    steps = [["benchmarks.mutation_worker", job_path, out_path]]
    for step in steps:
        proc = subprocess.run(
            [sys.executable, "-m", *step], env=env, capture_output=True, text=True, cwd=str(REPO)
        )
        if proc.returncode != 0:
            return {
                "name": case.name,
                "lasagne": lasagne,
                "error": (proc.stderr.strip().splitlines() or ["no output"])[-1],
            }
    result = json.loads(Path(out_path).read_text())
    if any(o.get("float64") for o in result["outcomes"]):
        proc = subprocess.run(
            [sys.executable, "-m", "benchmarks.mutation_worker", "--float64", job_path, out_path],
            env=env,
            capture_output=True,
            text=True,
            cwd=str(REPO),
        )
        if proc.returncode != 0:
            return {
                "name": case.name,
                "lasagne": lasagne,
                "error": (proc.stderr.strip().splitlines() or ["no output"])[-1],
            }
        result = json.loads(Path(out_path).read_text())
    result["lasagne"] = lasagne
    expected = lasagne_stacks.MASTER_VERSION if lasagne == lasagne_stacks.MASTER else "0.1"
    if result.get("lasagne_version", expected) != expected:  # the worker imported the other stack
        return {
            "name": case.name,
            "lasagne": lasagne,
            "error": f"ran on Lasagne {result['lasagne_version']}",
        }
    return result


def label(result: dict[str, Any]) -> str:
    """The case's name, and its stack when it ran on Lasagne master."""
    return result["name"] + (" @master" if result.get("lasagne") == "master" else "")


def percent(caught: int, total: int) -> str:
    return f"{100.0 * caught / total:.0f}%" if total else "-"


def table(rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(
            c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths, strict=True))
        ).rstrip()
        for r in rows
    )


def summarise(
    results: list[dict[str, Any]], sizes: dict[str, tuple[float, ...]]
) -> tuple[str, dict[str, Any]]:
    lines = []
    summary: dict[str, Any] = {"detection": {}, "correct": {}}
    for precision in ("float64", "float32"):
        mutants = [
            r
            for r in results
            if "error" not in r and r["precision"] == precision and BY_NAME[r["name"]].inject
        ]
        if not mutants:
            continue
        head = ["caught (share of seeds)"] + [f"{s:.0e}" for s in sizes[precision]]
        rows = [head]
        totals = {s: [0, 0] for s in sizes[precision]}
        for r in mutants:
            row = [f"{label(r)}: {BY_NAME[r['name']].what}"]
            for s in sizes[precision]:
                outs = [o for o in r["outcomes"] if o["size"] == s]
                caught = sum(o["status"] == "fail" for o in outs)
                totals[s][0] += caught
                totals[s][1] += len(outs)
                row.append(f"{caught}/{len(outs)}")
            rows.append(row)
        rows.append([f"all {precision} cases"] + [percent(*totals[s]) for s in sizes[precision]])
        summary["detection"][precision] = {
            f"{s:g}": {"caught": totals[s][0], "seeds": totals[s][1]} for s in sizes[precision]
        }
        lines.append(
            f"{precision}: injected backward-pass errors, relative size |e|/|g| of the most "
            f"affected tensor (target: {of(precision).target:g} caught in >= 99% of seeds)\n"
            + table(rows)
        )
    rows = [
        [
            "correct model (and every mutant with its error off)",
            "seeds",
            "pass",
            "inconclusive",
            "FAIL",
            "evals (median)",
            "numeric/grad (median)",
        ]
    ]
    false_alarms = inconclusive = total = 0
    for r in results:
        if "error" in r:
            continue
        outs = [o for o in r["outcomes"] if o["size"] is None]
        fails = sum(o["status"] == "fail" for o in outs)
        incon = sum(o["status"] == "inconclusive" for o in outs)
        passing = [o for o in outs if o["status"] == "pass"]
        ratio = (
            statistics.median(o["seconds"] for o in passing) / r["one_gradient_seconds"]
            if passing and r.get("one_gradient_seconds")
            else None
        )
        evals = statistics.median(o["evaluations"] for o in outs) if outs else 0
        false_alarms += fails
        inconclusive += incon
        total += len(outs)
        rows.append(
            [
                f"{label(r)} ({r['precision']})",
                str(len(outs)),
                str(len(passing)),
                str(incon),
                str(fails),
                f"{evals:g}",
                f"{ratio:.1f}x" if ratio is not None else "-",
            ]
        )
        summary["correct"][label(r).replace(" @", "@")] = {
            "seeds": len(outs),
            "pass": len(passing),
            "inconclusive": incon,
            "fail": fails,
            "numeric_over_gradient": ratio,
        }
    rows.append(
        [
            "all correct models",
            str(total),
            str(total - false_alarms - inconclusive),
            str(inconclusive),
            str(false_alarms),
            "",
            "",
        ]
    )
    summary["false_alarms"] = false_alarms
    summary["inconclusive"] = inconclusive
    lines.append(
        "correct models: false alarms (FAIL) and inconclusive verdicts; numeric check time over "
        "one gradient evaluation on the passing seeds\n" + table(rows)
    )
    errors = [r for r in results if "error" in r]
    if errors:
        lines.append(
            "cases that could not run:\n" + "\n".join(f"  {label(r)}: {r['error']}" for r in errors)
        )
    return "\n\n".join(lines), summary


def replay_summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    """Over every outcome checked again by replaying its record: how many said something else, and
    the evaluations of the first checks and of their replays."""
    pairs = [
        (o["evaluations"], o["replay"])
        for r in results
        for o in r.get("outcomes", [])
        if o.get("replay") is not None
    ]
    differ = sum(1 for _, replay in pairs if not replay["identical"])
    first = sum(evaluations for evaluations, _ in pairs)
    again = sum(replay["evaluations"] for _, replay in pairs)
    return {
        "checks": len(pairs),
        "differ": differ,
        "evaluations_first": first,
        "evaluations_replayed": again,
        "line": f"replayed {len(pairs)} checks: {differ} said something else; evaluations "
        f"{first} on the first checks, {again} replayed",
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.mutation", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--seeds", type=int, default=30, help="seeds per case (default 30)")
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--case", action="append", default=[], help="only these cases (repeatable)")
    parser.add_argument(
        "--sizes", default="", help="comma-separated float64 error sizes (default 1e-2..1e-6)"
    )
    parser.add_argument("--json", default=str(REPO / "reports" / "mutation.json"))
    parser.add_argument(
        "--lasagne",
        choices=("0.1", "master", "both"),
        default="0.1",
        help="the Lasagne stack the cases run on (master: installed beside 0.1, `make "
        "lasagne-master`)",
    )
    parser.add_argument(
        "--compile",
        choices=("c", "python"),
        default="c",
        help="evaluate with Theano's C code (default) or its Python code, as a check does for a "
        "model whose C code is not compiled yet (GRADCHECK_CI_COMPILE)",
    )
    parser.add_argument(
        "--replay",
        action="store_true",
        help="check every outcome again as the next run of an unchanged check does (replaying "
        "the first check's record) and count those whose numbers differ",
    )
    args = parser.parse_args(argv)
    unknown = [c for c in args.case if c not in BY_NAME]
    if unknown:
        parser.error(f"unknown case(s) {', '.join(unknown)}; cases: {', '.join(BY_NAME)}")
    sizes = dict(SIZES)
    if args.sizes:
        sizes["float64"] = tuple(float(s) for s in args.sizes.split(","))
    cases = [BY_NAME[c] for c in args.case] if args.case else list(CASES)
    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    results = []
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="gradcheck-mutation-") as tmp:
        for lasagne in ("0.1", "master") if args.lasagne == "both" else (args.lasagne,):
            for case in cases:
                print(
                    f"{case.name} ({case.precision}, Lasagne {lasagne}, {args.compile}, "
                    f"{len(seeds)} seeds) ...",
                    file=sys.stderr,
                    flush=True,
                )
                results.append(
                    run_case(
                        case, seeds, sizes[case.precision], tmp, lasagne, args.compile, args.replay
                    )
                )
    text, summary = summarise(results, sizes)
    print(text)
    if args.replay:
        summary["replay"] = replay_summary(results)
        print(summary["replay"]["line"])
    print(
        f"\n{len(cases)} cases x {len(seeds)} seeds in {time.perf_counter() - started:.0f} s",
        file=sys.stderr,
    )
    document = {
        "schema": "gradcheck-ci/mutation/v1",
        "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "lasagne": args.lasagne,
        "compile": args.compile,
        "seeds": seeds,
        "cases": [asdict(c) for c in cases],
        "summary": summary,
        "results": results,
    }
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(document, indent=1))
    print(f"wrote {args.json}", file=sys.stderr)
    return 1 if any("error" in r for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
