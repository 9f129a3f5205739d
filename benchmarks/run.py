"""The benchmark suite: `python -m benchmarks.run` (or `make bench`).

For each model of benchmarks/suite/gradcheck.yml (the fixed suite) and of benchmarks/suite/detection.yml
(bugs that must stay caught) it prints parameters, loss evaluations, seconds (compile / analytic / numeric
/ total; numeric is the median of three runs of the deterministic check), one gradient and one loss
evaluation (medians), peak memory and two ratios measured in the same run:
(a) numeric-check time over one analytic gradient evaluation, and (b) our time (analytic + numeric, compile
excluded) over the plain per-element central-difference method on the same compiled functions and data
(run for at most 30 s per model, then extrapolated linearly: the table marks those with '~').
Writes the same numbers as JSON (--json, default reports/benchmark.json) so runs can be compared.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SUITE = REPO / "benchmarks" / "suite" / "gradcheck.yml"  # the fixed suite: the targets apply to these
DETECTION = REPO / "benchmarks" / "suite" / "detection.yml"  # bugs that must stay caught; no ratio target


def run_model(spec, root: str, config_file: str, plain: bool) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        job, out = Path(tmp) / "job.json", Path(tmp) / "out.json"
        job.write_text(json.dumps({"spec": spec.to_json(), "root": root, "config_file": config_file,
                                   "plain": plain}))
        env = dict(os.environ, PYTHONPATH=str(REPO))
        proc = subprocess.run([sys.executable, "-m", "benchmarks.measure", str(job), str(out)], env=env,
                              capture_output=True, text=True)
        if proc.returncode != 0 or not out.exists():
            return {"name": spec.name, "error": proc.stderr.strip().splitlines()[-1:] or ["no output"]}
        return json.loads(out.read_text())


def render(rows: list[dict]) -> str:
    header = ("model", "params", "evals", "compile", "analytic", "numeric", "total", "1 grad", "1 loss",
              "peak MiB", "(a) num/grad", "(b) ours/plain", "verdict")
    lines = [header]
    for r in rows:
        if "error" in r:
            lines.append((r["name"], "error: " + " ".join(r["error"]), *[""] * (len(header) - 2)))
            continue
        s = r["seconds"]
        plain = r["plain"]
        ratio_b = "" if plain is None else f"{'~' if plain['extrapolated'] else ''}{r['ratio_ours_over_plain']:.4f}"
        verdict = r["status"] + ("" if (r["status"] == "fail") == (r["expect"] == "fail") else " (UNEXPECTED)")
        lines.append((r["name"], str(r["parameters"]), str(r["evaluations"]), f"{s['compile']:.1f}s",
                      f"{s['analytic']:.3f}s", f"{s['numeric']:.2f}s", f"{s['total']:.1f}s",
                      f"{r['one_gradient_seconds'] * 1000:.1f}ms", f"{r['one_loss_seconds'] * 1000:.1f}ms",
                      f"{r['peak_memory_mib']:.0f}",
                      f"{r['ratio_numeric_over_gradient']:.1f}x", ratio_b, verdict))
    widths = [max(len(row[i]) for row in lines) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.splitlines()[0])
    parser.add_argument("--model", action="append", default=[], help="only these suite models")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain-method comparison")
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
            row = run_model(spec, config.root, config.rel_path(), not args.no_plain)
            row["role"] = role
            role_rows.append(row)
        if role_rows:
            title = ("suite (targets: (a) <= 20x for every model)" if role == "suite"
                     else "detection cases (bugs that must stay caught; ratio (a) is not a target here)")
            printed.append(f"{title}\n{render(role_rows)}")
        rows += role_rows
    print("\n\n".join(printed))
    document = {"schema": "gradcheck-ci/benchmark/v1", "date": time.strftime("%Y-%m-%dT%H:%M:%S"),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                            "platform": platform.platform()}, "models": rows}
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(document, indent=2))
    print(f"wrote {args.json}", file=sys.stderr)
    unexpected = [r["name"] for r in rows if "error" in r or (r["status"] == "fail") != (r["expect"] == "fail")]
    return 1 if unexpected else 0


if __name__ == "__main__":
    sys.exit(main())
