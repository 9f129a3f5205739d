"""How the check's time grows with sequence length, parameter count and number of models.

    python -m benchmarks.scaling [--json reports/scaling.json]

- steps: a RecurrentLayer(16) tagger, 4 sequences of 1e2, 1e3, 1e4 steps;
- parameters: a 3-layer dense net of about 1e3, 1e4, 1e5, 1e6 parameters;
- models: the whole CLI (a worker process per model) on 1, 2 and 4 copies of a small dense model.
Each row gives compile / analytic / numeric seconds, evaluations and the ratio numeric / one
gradient.
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

from .run import REPO, run_model

SUITE_ROOT = REPO / "benchmarks" / "suite"
STEPS = (100, 1000, 10000)
DENSE_SIZES = {
    "1e3": (10, 25),
    "1e4": (50, 80),
    "1e5": (200, 250),
    "1e6": (700, 700),
}  # (features, hidden)
MODEL_COUNTS = (1, 2, 4)


def _specs(yaml_text: str):
    from gradcheck_ci.config import load_config

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gradcheck.yml"
        path.write_text(yaml_text)
        config = load_config(str(path), root=str(SUITE_ROOT))
    assert not config.problems, config.problems
    return config.models


def steps_series() -> list[dict]:
    entries = "".join(
        f"""
  - name: rnn16-steps-{steps}
    factory: models/suite.py:rnn_steps
    data: {{sequences: 4, steps: {steps}, features: 4, classes: 2}}"""
        for steps in STEPS
    )
    return [
        run_model(spec, str(SUITE_ROOT), "scaling.yml", plain=False)
        for spec in _specs("version: 1\nmodels:" + entries + "\n")
    ]


def params_series() -> list[dict]:
    entries = "".join(
        f"""
  - name: dense-{label}
    factory: models/suite.py:dense_net
    kwargs: {{num_features: {features}, hidden: {hidden}}}
    data: {{sequences: 32, features: {features}, classes: 10}}"""
        for label, (features, hidden) in DENSE_SIZES.items()
    )
    return [
        run_model(spec, str(SUITE_ROOT), "scaling.yml", plain=False)
        for spec in _specs("version: 1\nmodels:" + entries + "\n")
    ]


def models_series() -> list[dict]:
    rows = []
    for count in MODEL_COUNTS:
        entries = "".join(
            f"""
  - name: dense-copy-{k}
    factory: models/suite.py:dense_net
    kwargs: {{num_features: 10, hidden: 25}}
    data: {{sequences: 32, features: 10, classes: 10}}"""
            for k in range(count)
        )
        with tempfile.TemporaryDirectory() as tmp:
            config = SUITE_ROOT / f".scaling-{os.getpid()}.yml"
            config.write_text("version: 1\nmodels:" + entries + "\n")
            try:
                started = time.perf_counter()
                proc = subprocess.run(
                    [
                        sys.executable,
                        "-m",
                        "gradcheck_ci",
                        "check",
                        "--config",
                        str(config),
                        "--quiet",
                        "--json",
                        str(Path(tmp) / "r.json"),
                    ],
                    # the C path throughout, as before C waited for the first run's verdict
                    env=dict(os.environ, PYTHONPATH=str(REPO), GRADCHECK_CI_COMPILE="c"),
                    capture_output=True,
                    text=True,
                )
                seconds = time.perf_counter() - started
            finally:
                config.unlink()
        rows.append(
            {
                "models": count,
                "seconds": seconds,
                "seconds_per_model": seconds / count,
                "exit_code": proc.returncode,
            }
        )
    return rows


def render(title: str, rows: list[dict]) -> str:
    lines = [title]
    for r in rows:
        if "error" in r:
            lines.append(f"  {r['name']}: error {r['error']}")
            continue
        s = r["seconds"]
        lines.append(
            f"  {r['name']:<18} params={r['parameters']:>8} evals={r['evaluations']:>4} "
            f"compile={s['compile']:6.1f}s analytic={s['analytic']:7.3f}s "
            f"numeric={s['numeric']:7.2f}s 1 grad={r['one_gradient_seconds'] * 1000:8.1f}ms  "
            f"numeric/grad={r['ratio_numeric_over_gradient']:5.1f}x"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.scaling", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--json", default=str(REPO / "reports" / "scaling.json"))
    args = parser.parse_args(argv)
    steps, params, models = steps_series(), params_series(), models_series()
    print(render("time against sequence length (RecurrentLayer(16), 4 sequences):", steps))
    print(render("time against parameters (dense nets):", params))
    print("time against number of models (whole CLI, one worker process each):")
    for r in models:
        print(
            f"  {r['models']} model(s): {r['seconds']:.1f}s, {r['seconds_per_model']:.1f}s per "
            f"model (exit {r['exit_code']})"
        )
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(
        json.dumps(
            {
                "schema": "gradcheck-ci/scaling/v1",
                "steps": steps,
                "params": params,
                "models": models,
            },
            indent=2,
        )
    )
    print(f"wrote {args.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
