"""Warm Theano's compile cache with every stock Lasagne layer family the check can meet, in float64
and float32, on both Lasagne stacks, so that a first run on a stock-layer model compiles no C (the
Dockerfile's warm stage runs this).

    python ci/warm_cache.py [--families all|tests] [--precision float64] [--lasagne 0.1|master]
    [--only NAME ...] [--no-examples]

On Lasagne master (`lasagne: master`) it checks the same stock networks, whose master layers build
other graphs, and those of ci/warm/stock_master.py, the families only master has (MASTER_FAMILIES).

It checks the bundled examples and the networks of ci/warm/stock.py (one per family and variant, see
FAMILIES) with `gradcheck-ci check`, exactly as a user's run would, so the same graphs are optimised
and the same C modules compiled: the check's loss-and-gradient and loss functions, and for the
variants that fail on purpose (truncated backpropagation) the diagnosis's functions too. Theano's
cache is wherever the check puts it (GRADCHECK_THEANO_CACHE in the image). Exits non-zero when a
network cannot be built or compiled (an error): a family that no longer builds must not pass
silently. Verdicts other than expected are listed.

`--families tests` warms only TEST_FAMILIES (and the examples): the container tests' image
(tests/container/image.py) is built that way, in about half the time; a release warms every family
(the default).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
PRECISIONS = ("float64", "float32")
SEQUENCES = {"sequences": 3, "steps": 5, "features": 3, "classes": 3}

# (name, stock.build kwargs, data, expect). Sizes are tiny: compiled code depends on ops, dtypes and
# ranks.
FAMILIES: list[tuple[str, dict, dict, str]] = [
    *[
        (f"mlp-{nl}", {"family": "mlp", "nonlinearity": nl}, {}, "pass")
        for nl in (
            "rectify",
            "tanh",
            "sigmoid",
            "leaky_rectify",
            "very_leaky_rectify",
            "linear",
            "softmax",
        )
    ],
    ("mlp-deep-no-bias", {"family": "mlp", "depth": 2, "bias": False}, {}, "pass"),
    ("mlp-dropout-noise", {"family": "mlp", "noise": True, "depth": 2}, {}, "pass"),
    ("mlp-sigmoid-output", {"family": "mlp", "output": "sigmoid"}, {}, "pass"),
    (
        "mlp-linear-output",
        {"family": "mlp", "nonlinearity": "tanh", "output": "linear"},
        {},
        "pass",
    ),
    ("image-mlp", {"family": "image-mlp"}, {}, "pass"),
    ("nin", {"family": "nin"}, {}, "pass"),
    ("conv1d", {"family": "conv1d"}, {}, "pass"),
    (
        "conv1d-same-strided",
        {"family": "conv1d", "pad": "same", "stride": 2, "pool": False},
        {},
        "pass",
    ),
    ("conv1d-full", {"family": "conv1d", "pad": "full", "nonlinearity": "tanh"}, {}, "pass"),
    ("conv2d", {"family": "conv2d"}, {}, "pass"),
    ("conv2d-same", {"family": "conv2d", "pad": "same", "pool": False}, {}, "pass"),
    # tanh: with full padding a rectifier's border units sit on its kink (output = bias = 0): no
    # gradient there
    (
        "conv2d-full-strided",
        {"family": "conv2d", "pad": "full", "stride": 2, "pool": False, "nonlinearity": "tanh"},
        {},
        "pass",
    ),
    ("conv2d-stacked", {"family": "conv2d", "depth": 2}, {}, "pass"),
    ("conv2d-stacked-same", {"family": "conv2d", "depth": 2, "pad": "same"}, {}, "pass"),
    (
        "conv2d-untied-tanh",
        {"family": "conv2d", "untie_biases": True, "nonlinearity": "tanh"},
        {},
        "pass",
    ),
    ("conv2d-average-pool", {"family": "conv2d", "pool": "average_inc_pad"}, {}, "pass"),
    ("conv2d-average-exc-pool", {"family": "conv2d", "pool": "average_exc_pad"}, {}, "pass"),
    ("global-mean-pool", {"family": "global-pool"}, {}, "pass"),
    ("global-max-pool", {"family": "global-pool", "pool": "max"}, {}, "pass"),
    ("feature-layers", {"family": "feature-layers"}, {}, "pass"),
    ("merges", {"family": "merges"}, {}, "pass"),
    ("embedding", {"family": "embedding"}, SEQUENCES, "pass"),
    *[
        (f"{family}{suffix}", {"family": family, **options}, {**SEQUENCES, **data}, expect)
        for family in ("rnn", "lstm", "gru")
        for suffix, options, data, expect in (
            ("", {}, {}, "pass"),
            ("-masked", {"masked": True}, {"mask": "random"}, "pass"),
            ("-backwards", {"backwards": True}, {}, "pass"),
            ("-clipped", {"grad_clipping": 100.0}, {}, "pass"),
            ("-learned-init", {"learn_init": True}, {}, "pass"),
            ("-tokens", {"integer": True}, {}, "pass"),
            # Theano issue 4652: a truncated RecurrentLayer that precomputes its input has a
            # gradient Theano cannot evaluate (an error of kind gradient-graph, whose diagnosis
            # compiles without the rewrite)
            (
                "-truncated",
                {"gradient_steps": 2},
                {},
                "gradient-graph" if family == "rnn" else "fail",
            ),
        )
    ],
    (
        "rnn-truncated-unprecomputed",
        {"family": "rnn", "gradient_steps": 2, "precompute_input": False},
        SEQUENCES,
        "fail",
    ),
    (
        "rnn-tanh-unprecomputed",
        {"family": "rnn", "nonlinearity": "tanh", "precompute_input": False},
        SEQUENCES,
        "pass",
    ),
    # Theano keys a module by the constants its node reads: each gradient clipping bound is a module
    # of its own. Lasagne's examples write GRAD_CLIP = 100 (an integer); 1, 5 and 10 are the other
    # common ones.
    *[
        (f"{family}-clipped-{bound}", {"family": family, "grad_clipping": bound}, SEQUENCES, "pass")
        for family in ("lstm", "gru", "rnn")
        for bound in (100, 10, 5, 1)
    ],
    ("lstm-no-peepholes", {"family": "lstm", "peepholes": False}, SEQUENCES, "pass"),
    (
        "lstm-masked-clipped",
        {"family": "lstm", "masked": True, "grad_clipping": 100.0},
        {**SEQUENCES, "mask": "random"},
        "pass",
    ),
    ("bilstm", {"family": "bidirectional"}, SEQUENCES, "pass"),
    (
        "bilstm-masked",
        {"family": "bidirectional", "masked": True},
        {**SEQUENCES, "mask": "random"},
        "pass",
    ),
    ("bigru", {"family": "bidirectional", "layer": "GRULayer"}, SEQUENCES, "pass"),
    ("lstm-last-step", {"family": "last-step"}, SEQUENCES, "pass"),
    (
        "gru-last-step-masked",
        {"family": "last-step", "layer": "GRULayer", "masked": True},
        {**SEQUENCES, "mask": "random"},
        "pass",
    ),
    ("custom-recurrent", {"family": "custom-recurrent"}, SEQUENCES, "pass"),
]


# The families only Lasagne master has (ci/warm/stock_master.py), warmed on the master stack only.
MASTER_FAMILIES: list[tuple[str, dict, dict, str]] = [
    *[
        (f"dense-bn-{nl}", {"family": "dense-bn", "nonlinearity": nl}, {}, "pass")
        for nl in ("rectify", "tanh")
    ],
    ("dense-bn-deep", {"family": "dense-bn", "depth": 2}, {}, "pass"),
    ("conv-bn", {"family": "conv-bn"}, {}, "pass"),
    ("conv-bn-deep", {"family": "conv-bn", "depth": 2}, {}, "pass"),
    ("transposed", {"family": "transposed", "nonlinearity": "tanh"}, {}, "pass"),
    ("transposed-cropped", {"family": "transposed", "nonlinearity": "tanh", "crop": 1}, {}, "pass"),
    ("dilated", {"family": "dilated", "nonlinearity": "tanh"}, {}, "pass"),
    ("upscale", {"family": "upscale", "nonlinearity": "tanh"}, {}, "pass"),
    ("expression-bias-scale", {"family": "expression", "nonlinearity": "tanh"}, {}, "pass"),
    ("prelu", {"family": "prelu"}, {}, "pass"),
    *[
        (f"dense-bn-{nl}", {"family": "dense-bn", "nonlinearity": nl}, {}, "pass")
        for nl in ("elu", "softplus")
    ],
    *[
        (
            f"{layer.lower()}-final{suffix}",
            {"family": "last-step", "layer": layer, **options},
            {**SEQUENCES, **data},
            "pass",
        )
        for layer in ("LSTMLayer", "GRULayer", "RecurrentLayer")
        for suffix, options, data in (
            ("", {}, {}),
            ("-masked", {"masked": True}, {"mask": "random"}),
            ("-clipped", {"grad_clipping": 100}, {}),
        )
    ],
]
STACKS = ("0.1", "master")

# (name, precision, stack) of what the container tests' image warms (`--families tests`): the
# container tests' repositories (tests/fixtures/repos) must compile no C on their first run there,
# as in a release image, which warms every family (a superset of these). stock-layers is on Lasagne
# 0.1 (a float32 model settled in float64 needs both precisions), so the 0.1 stack is warmed as a
# release warms it; on master, the master-layers repository needs only dense-bn-rectify (measured:
# its first run on a cache warmed with this family and part of the 0.1 stack's compiled no module).
# Leaving out the other 187 networks of master's warm-up roughly halves the warm stage.
TEST_FAMILIES: list[tuple[str, str, str]] = [
    *[(name, precision, "0.1") for name, _, _, _ in FAMILIES for precision in PRECISIONS],
    ("dense-bn-rectify", "float64", "master"),
]

# The models that must end in an error of this kind rather than a verdict.
ERRORS = {
    f"{name}-{precision}{suffix}": expect
    for name, _, _, expect in FAMILIES
    if expect not in ("pass", "fail")
    for precision in PRECISIONS
    for suffix in ("", "-master")
}


def config_text(
    precisions: list[str],
    only: list[str],
    lasagne: str = "0.1",
    chosen: list[tuple[str, str, str]] | None = None,
) -> str:
    """gradcheck.yml for the stock networks (JSON is YAML), one model per family and precision, on
    one stack; on master, the names end in -master. `chosen`: only these (name, precision,
    stack)."""
    models = []
    families = [(f, "stock.py") for f in FAMILIES]
    if lasagne == "master":
        families += [(f, "stock_master.py") for f in MASTER_FAMILIES]
    suffix = "-master" if lasagne == "master" else ""
    for precision in precisions:
        for (name, kwargs, data, expect), module in families:
            if only and name not in only:
                continue
            if chosen is not None and (name, precision, lasagne) not in chosen:
                continue
            model = {
                "name": f"{name}-{precision}{suffix}",
                "factory": f"{module}:build",
                "precision": precision,
                "lasagne": lasagne,
                "kwargs": kwargs,
                "expect": "pass" if expect == "pass" else "fail",
            }
            if data:
                model["data"] = data
            models.append(model)
    return json.dumps(
        {"version": 1, "defaults": {"seed": 0, "timeout": 1800}, "models": models}, indent=1
    )


def check(config: Path, report: Path) -> tuple[int, list[str], list[str]]:
    """Run the check on `config`; (exit code, the problems: unexpected errors, the surprises:
    verdicts other than expected). A verdict does not stop the build: what is warmed is compiled
    either way, and a small network can fail for reasons that are no bug (float32 round-off, a
    rectifier unit on its kink)."""
    command = [
        sys.executable,
        "-m",
        "gradcheck_ci",
        "check",
        "--config",
        str(config),
        "--quiet",
        "--format",
        "text",
        "--json",
        str(report),
    ]
    code = subprocess.run(command, stdin=subprocess.DEVNULL).returncode
    if not report.is_file():
        return code, [f"{config}: no report (exit {code})"], []
    problems, surprises = [], []
    for model in json.loads(report.read_text())["models"]:
        expected = model.get("expect", "pass")
        verdicts = (
            ("pass",) if expected == "pass" else ("expected-fail", "pass")
        )  # truncation may go unseen
        if model["status"] == "error":
            if ERRORS.get(model["name"]) != (model.get("error") or {}).get("kind"):
                problems.append(f"{model['name']}: {model['error']['message']}")
        elif model["status"] not in verdicts:
            causes = ", ".join(d["code"] for d in model.get("diagnoses", [])) or "no cause found"
            surprises.append(f"{model['name']}: {model['status']}, expected {expected} ({causes})")
    return code, problems, surprises


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--families",
        choices=("all", "tests"),
        default="all",
        help="every family (default), or TEST_FAMILIES only (the container tests' image)",
    )
    parser.add_argument("--precision", action="append", choices=PRECISIONS, help="default: both")
    parser.add_argument(
        "--only", action="append", default=[], help="only this family (a FAMILIES name)"
    )
    parser.add_argument("--lasagne", action="append", choices=STACKS, help="default: both")
    parser.add_argument("--no-examples", action="store_true", help="skip examples/*/gradcheck.yml")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    started = time.perf_counter()
    problems: list[str] = []
    surprises: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gradcheck-ci-warm-") as tmp:
        folder = Path(tmp)
        shutil.copy(HERE / "warm" / "stock.py", folder / "stock.py")
        shutil.copy(HERE / "warm" / "stock_master.py", folder / "stock_master.py")
        stock = []
        for lasagne in args.lasagne or list(STACKS):
            chosen = TEST_FAMILIES if args.families == "tests" else None
            stock.append(folder / f"gradcheck-{lasagne}.yml")
            stock[-1].write_text(
                config_text(args.precision or list(PRECISIONS), args.only, lasagne, chosen)
            )
        configs = [] if args.no_examples else sorted((REPO / "examples").glob("*/gradcheck.yml"))
        for number, config in enumerate([*configs, *stock]):
            code, found, unexpected = check(config, folder / f"report-{number}.json")
            print(f"warm-up: {config.parent.name}/{config.name} exited {code}", flush=True)
            problems += found
            surprises += unexpected
    print(
        f"warm-up: {len(problems)} problem(s), {len(surprises)} other verdict(s) than expected, in "
        f"{time.perf_counter() - started:.0f} s"
    )
    for line in [*problems, *surprises]:
        print(f"  {line}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
