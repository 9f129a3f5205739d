"""Hand-built inputs shared by the unit tests: RunReports for the reporters
(tests/unit/test_report_*.py) and a ModelSpec for the stages that take one.

The reports cover every model status and the hostile text a user's model names and exception
messages can hold.
"""

from __future__ import annotations

import math

from gradcheck_ci.config import ModelSpec
from gradcheck_ci.core.results import Diagnosis, ErrorInfo, ModelResult, ParamResult, RunReport

# Text that would break a naive reporter: workflow commands, their escapes, XML-illegal characters,
# Markdown/HTML, line breaks of every kind, non-ASCII.
HOSTILE = (
    "100% ::error::pwn\r\n::stop-commands::x\n,a:b ##[error]v1 <b>|</b> `x` "
    "\x00\x07\x1b[31mred\x0b\u2028é漢字🙂 \ud800 %0A %25"
)


def param(
    id_: str,
    status: str = "pass",
    abs_err: float = 1e-9,
    rel: float = 1e-8,
    tol: float = 1e-6,
    layer: str = "",
    file: str | None = "models/rnn.py",
    line: int | None = 12,
    index: list[int] | None = None,
    method: str = "full",
) -> ParamResult:
    return ParamResult(
        id=id_,
        shape=[2, 10],
        status=status,
        max_abs_err=abs_err,
        max_rel_err=rel,
        tolerance=tol,
        worst_index=index if index is not None else [0, 3],
        method=method,
        analytic=1e-3,
        numeric=0.16,
        evaluations=40,
        layer=layer or id_.split(".")[0],
        file=file,
        line=line,
    )


def model(
    name: str,
    status: str,
    *,
    expect: str = "pass",
    params=None,
    diagnoses=None,
    error=None,
    line: int | None = 5,
    seconds: float = 1.5,
    seed: int = 7,
) -> ModelResult:
    return ModelResult(
        name=name,
        factory="models/rnn.py:build_model",
        status=status,
        seed=seed,
        precision="float64",
        mode="full",
        expect=expect,
        evaluations=80,
        seconds={"compile": 0.5, "analytic": 0.1, "numeric": 0.9, "total": seconds},
        params=params or [],
        diagnoses=diagnoses or [],
        error=error,
        config_file="gradcheck.yml",
        config_line=line,
    )


def truncated_diagnosis() -> Diagnosis:
    return Diagnosis(
        code="truncated-bptt",
        message="gradient_steps=1 truncates backpropagation through time",
        fix="use gradient_steps=-1",
        layer="RecurrentLayer#0",
        file="models/rnn.py",
        line=21,
        confirmed=True,
        evidence={"truncate_gradient": 1},
    )


def sample_report() -> RunReport:
    """One model of every kind, in config order."""
    models = [
        model("good", "pass", params=[param("Dense#0.W"), param("Dense#0.b")], line=5),
        model(
            "seed-rnn-truncated",
            "fail",
            line=9,
            diagnoses=[truncated_diagnosis()],
            params=[
                param(
                    "RecurrentLayer#0.W_in_to_hid",
                    "fail",
                    abs_err=0.16,
                    rel=0.99,
                    tol=1e-6,
                    line=21,
                ),
                param("RecurrentLayer#0.b", "pass"),
            ],
        ),
        model(
            "no-cause",
            "fail",
            line=13,
            params=[
                param(
                    "Custom#1.W",
                    "fail",
                    abs_err=1e-3,
                    rel=0.5,
                    tol=1e-6,
                    file="models/custom.py",
                    line=40,
                ),
                param(
                    "Custom#1.b",
                    "fail",
                    abs_err=2e-6,
                    rel=0.01,
                    tol=1e-6,
                    file="models/custom.py",
                    line=41,
                ),
            ],
        ),
        model(
            "known-bad",
            "expected-fail",
            expect="fail",
            line=17,
            diagnoses=[truncated_diagnosis()],
            params=[param("RecurrentLayer#0.W_in_to_hid", "fail", abs_err=0.1, rel=0.9)],
        ),
        model("fixed-now", "pass", expect="fail", line=21, params=[param("Dense#0.W")]),
        model(
            "broken-import",
            "error",
            line=25,
            error=ErrorInfo(
                "ModuleNotFoundError: No module named 'lasagne.layers.dnn'\n  at line 3",
                file="models/broken.py",
                line=3,
                kind="load",
            ),
        ),
        model(
            "timeout", "error", line=29, error=ErrorInfo("timed out after 600 s", kind="timeout")
        ),
        model(
            "not-reached", "cancelled", line=33, error=ErrorInfo("run cancelled", kind="cancelled")
        ),
    ]
    return RunReport(
        config_file="gradcheck.yml",
        models=models,
        shard="1/2",
        seconds=12.5,
        config_errors=[
            ErrorInfo("unknown key 'presicion'", file="gradcheck.yml", line=3, kind="config")
        ],
    )


def hostile_report(text: str = HOSTILE) -> RunReport:
    """Every user-controlled string set to `text`."""
    p = param(
        f"{text}.W", "fail", abs_err=math.nan, rel=math.inf, tol=1e-6, layer=text, file=text, line=4
    )
    d = Diagnosis(
        code=text, message=text, fix=text, layer=text, file=text, line=9, evidence={"x": math.nan}
    )
    models = [
        model(text, "fail", params=[p], diagnoses=[d]),
        model(text, "expected-fail", expect="fail", params=[p]),
        model(text, "pass", expect="fail", params=[param(text)]),
        model(text, "error", error=ErrorInfo(text, file=text, line=2, kind=text)),
        model(text, "cancelled"),
    ]
    return RunReport(
        config_file=text,
        models=models,
        config_errors=[ErrorInfo(text, file=text, line=1)],
        shard=text,
    )


def many_models(n: int) -> RunReport:
    """A big report: mostly passing models, a failure every 50th, an error every 97th."""
    models = []
    for i in range(n):
        if i % 97 == 0:
            models.append(
                model(
                    f"model-{i:05d}",
                    "error",
                    line=i + 1,
                    error=ErrorInfo("boom " * 200, file="models/m.py", line=i + 1, kind="crash"),
                )
            )
        elif i % 50 == 0:
            models.append(
                model(
                    f"model-{i:05d}",
                    "fail",
                    line=i + 1,
                    diagnoses=[truncated_diagnosis()],
                    params=[param(f"L{j}.W", "fail", abs_err=i + j, rel=0.5) for j in range(30)],
                )
            )
        else:
            models.append(model(f"model-{i:05d}", "pass", line=i + 1, params=[param("L0.W")]))
    return RunReport(config_file="gradcheck.yml", models=models)


def spec(**kwargs) -> ModelSpec:
    """A model entry 'net' whose keys sit on known lines of gradcheck.yml (name 3, factory 4,
    timeout 5, memory 6, kwargs 7, kwargs.units 8); `kwargs` override any field."""
    defaults = dict(
        name="net",
        factory="models/net.py:build",
        line=3,
        key_lines={
            "name": 3,
            "factory": 4,
            "timeout": 5,
            "memory": 6,
            "kwargs": 7,
            "kwargs.units": 8,
        },
    )
    defaults.update(kwargs)
    return ModelSpec(**defaults)
