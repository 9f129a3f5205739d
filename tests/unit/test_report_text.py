"""Terminal output: per-model block and the final verdict."""

from __future__ import annotations

from dataclasses import replace

from gradcheck_ci.core.extra import CompileSummary, ModelExtra, Profile
from gradcheck_ci.core.results import RunReport
from gradcheck_ci.report.text import render_config_errors, render_model, render_summary
from tests.samples import HOSTILE, hostile_report, model, param, sample_report


def by_name(name):
    return next(m for m in sample_report().models if m.name == name)


def test_failing_model_block():
    out = render_model(by_name("seed-rnn-truncated"))
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["FAIL", "seed-rnn-truncated", "float64", "full"]
    assert "evaluations=80" in lines[0] and "1.5s" in lines[0] and "seed=7" in lines[0]
    header = lines[1].split()
    assert header[:3] == ["tensor", "shape", "status"]
    row = lines[2].split()
    # the sensitivity column shows "-": this hand-built tensor has none
    assert header[3:6] == ["measured", "abs", "err"]  # the errors are an element's (mode full)
    assert row == [
        "RecurrentLayer#0.W_in_to_hid",
        "2x10",
        "fail",
        "element",
        "0.16",
        "0.99",
        "1e-06",
        "-",
        "[0,",
        "3]",
        "models/rnn.py:21",
    ]
    assert "diagnosis truncated-bptt (confirmed) at models/rnn.py:21" in out
    assert "fix: use gradient_steps=-1" in out


def test_table_columns_are_aligned():
    head, fail, ok = render_model(by_name("seed-rnn-truncated")).splitlines()[1:4]
    # text columns share their left edge, number columns their right edge
    assert head.index("status") == fail.index("fail") == ok.index("pass")
    assert head.index("location") == fail.index("models/rnn.py:21") == ok.index("models/rnn.py:12")
    assert head.index("measured") == fail.index("element") == ok.index("element")
    end = head.index("abs err") + len("abs err")
    assert fail[:end].endswith(" 0.16") and ok[:end].endswith(" 1e-09")


def test_failure_without_diagnosis_says_so():
    assert "no known cause matched" in render_model(by_name("no-cause"))


def test_status_words():
    words = {m.name: render_model(m).split()[0] for m in sample_report().models}
    assert words == {
        "good": "PASS",
        "seed-rnn-truncated": "FAIL",
        "no-cause": "FAIL",
        "known-bad": "XFAIL",
        "fixed-now": "XPASS",
        "broken-import": "ERROR",
        "timeout": "ERROR",
        "not-reached": "CANCELLED",
    }
    assert "remove `expect: fail`" in render_model(by_name("fixed-now"))


def test_error_with_and_without_file():
    out = render_model(by_name("broken-import"))
    assert "load error at models/broken.py:3:" in out
    assert "    ModuleNotFoundError: No module named 'lasagne.layers.dnn'" in out
    assert "      at line 3" in out  # the message's own lines stay indented under the heading
    assert "timeout error at gradcheck.yml:29:" in render_model(by_name("timeout"))
    assert "not checked: run cancelled" in render_model(by_name("not-reached"))


def test_long_tables_show_failing_tensors_first():
    params = [param(f"L{i}.W") for i in range(80)] + [param("Bad.W", "fail", abs_err=1.0)]
    out = render_model(model("big", "fail", params=params))
    assert "Bad.W" in out and "31 more tensor(s) not shown" in out


def test_summary_counts_and_exit():
    out = render_summary(sample_report())
    assert out.splitlines()[0] == (
        "gradcheck-ci: 8 model(s): 2 pass, 2 fail, 1 expected-fail, 2 error, "
        "1 cancelled in 12.5s (shard 1/2)"
    )
    assert "unexpected gradient mismatch: seed-rnn-truncated, no-cause" in out
    assert "expected to fail but now pass (remove `expect: fail`): fixed-now" in out
    assert out.splitlines()[-1] == "result: ERROR (exit 2)"
    ok = RunReport(
        config_file="g.yml", models=[model("a", "pass"), model("b", "expected-fail", expect="fail")]
    )
    assert render_summary(ok).splitlines()[-1] == "result: PASS (exit 0)"
    bad = RunReport(config_file="g.yml", models=[model("a", "fail")])
    assert render_summary(bad).splitlines()[-1] == "result: FAIL (exit 1)"


def test_colour_only_when_asked():
    m = by_name("seed-rnn-truncated")
    assert "\x1b[" not in render_model(m) + render_summary(sample_report())
    assert render_model(m, color=True).startswith("\x1b[31mFAIL\x1b[0m ")
    assert "\x1b[1;31mERROR\x1b[0m" in render_summary(sample_report(), color=True)


def test_config_errors():
    assert (
        render_config_errors(sample_report())
        == "gradcheck.yml:3: config error: unknown key 'presicion'"
    )
    assert render_config_errors(RunReport(config_file="g.yml")) == ""


def test_hostile_text_cannot_start_a_command():
    report = hostile_report()
    out = "\n".join(
        [render_summary(report), render_config_errors(report)]
        + [render_model(m) for m in report.models]
    )
    assert "\r" not in out and "\x00" not in out and "\x1b" not in out
    for line in out.splitlines():
        assert not line.lstrip().startswith("::") and "##[" not in line
    assert "é漢字🙂" in out  # non-ASCII survives
    assert (
        render_model(report.models[0])
        .splitlines()[0]
        .startswith("FAIL 100% ::error::pwn ::stop-commands::x")
    )
    assert HOSTILE  # imported for the record


def test_gradient_through_time_profile_is_one_line():
    from gradcheck_ci.core.results import ModelResult
    from gradcheck_ci.report.text import render_model

    m = ModelResult(
        name="rnn",
        factory="m.py:f",
        status="fail",
        seed=0,
        precision="float64",
        mode="full",
        extra=ModelExtra(
            profiles=[
                Profile(
                    layer="RecurrentLayer#0",
                    file=None,
                    line=None,
                    input="InputLayer#0",
                    steps_total=10000,
                    steps=[9999],
                    analytic=[1.0],
                    numeric=[1.0],
                    agree=[True],
                    analytic_nonzero_steps=[9999, 9999],
                    summary="RecurrentLayer#0: analytic gradient is zero before the "
                    "last 1 of 10000 steps\n(numeric is not)",
                )
            ]
        ),
    )
    text = render_model(m)
    lines = [x for x in text.splitlines() if x.startswith("  profile: ")]
    assert lines == [
        "  profile: RecurrentLayer#0: analytic gradient is zero before the last 1 of 10000 steps "
        "(numeric is not)"
    ] or (len(lines) == 1 and "last 1 of 10000 steps" in lines[0])


def test_the_shapes_and_dtypes_a_model_was_checked_at():
    result = model("rnn", "pass", params=[param("RecurrentLayer#0.W_in_to_hid")])
    result.data = {
        "shapes": {"InputLayer#0": [100, 55, 2], "mask": [100, 55]},
        "dtypes": {"InputLayer#0": "float32", "mask": "float64"},
    }
    assert "\n  inputs: InputLayer#0 100x55x2 float32, mask 100x55 float64\n" in render_model(
        result
    )
    result.data = {}
    assert "inputs:" not in render_model(result)


def test_the_compile_line_says_what_compiling_cost_and_whether_the_function_cache_served_it():
    m = model("tagger", "pass", params=[param("lstm.W")])
    assert "compile" not in render_model(m)  # reports written before the function cache: no line
    m.extra.compile = CompileSummary(
        functions=3,
        seconds=0.5,
        cache="hit",
        hits=3,
        misses=0,
        stored=0,
        uncacheable=0,
        reason="",
    )
    assert "  compile 0.5s: loaded from the function cache" in render_model(m).splitlines()
    m.extra.compile = replace(
        m.extra.compile, cache="miss", hits=0, misses=3, stored=3, reason="truncated entry"
    )
    m.extra.diagnosis_compile = CompileSummary(2, 4.25, "partial", 1, 1, 1, 0, "")
    line = next(x for x in render_model(m).splitlines() if x.startswith("  compile"))
    assert line == (
        "  compile 0.5s: compiled, not in the function cache, truncated entry (kept for the next "
        "run); the diagnosis compiled 2 more in 4.2s (1 of 2 functions loaded from the function "
        "cache)"
    )
    m.extra.compile = replace(
        m.extra.compile, cache="uncacheable", reason="an op holds a function defined inside another"
    )
    assert "the function cache cannot hold it (an op holds a function" in render_model(m)


def test_a_pass_with_an_allowed_tensor_does_not_call_it_a_zero_gradient():
    # an allowed tensor has no sensitivity of its own: it differs, for an accepted reason
    judged = [replace(param(f"Dense#{i}.W"), sensitivity=8e-6) for i in range(3)]
    allowed = replace(param("NormalizedDense#0.W"), status="allowed")
    result = replace(
        model("weightnorm", "pass", params=[*judged, allowed]), sensitivity=8e-6, mode="directional"
    )
    assert (
        "sensitivity: a relative gradient error of 8e-06 or more in any of the 3 tensors is caught "
        "with probability >= 99% (the 1 allowed aside)"
    ) in render_model(result)


def test_a_pass_with_an_all_zero_gradient_does_not_claim_its_sensitivity_for_every_tensor():
    sized = replace(param("DenseLayer#1.W"), sensitivity=8e-6)
    zero = param("DenseLayer#0.W")  # all-zero gradient: no relative error to catch
    result = replace(
        model("clipped", "pass", params=[zero, sized]), sensitivity=8e-6, mode="directional"
    )
    assert (
        "sensitivity: a relative gradient error of 8e-06 or more in the 1 tensor with a gradient "
        "above round-off is caught with probability >= 99%"
    ) in render_model(result)


def test_the_full_mode_states_its_sensitivity_as_the_certainty_it_is():
    """Every element compared: an error that large cannot pass, whatever the seed; the random
    directions' 99% belongs to the directional mode."""
    sized = [replace(param(f"Dense#{i}.W"), sensitivity=2e-6) for i in range(2)]
    full = replace(model("every-element", "pass", params=sized), sensitivity=2e-6, mode="full")
    assert (
        "sensitivity: a relative gradient error of 2e-06 or more in any tensor is caught for "
        "certain (every element compared)"
    ) in render_model(full)
    assert "probability" not in render_model(full)


def test_the_table_stays_aligned_with_wide_and_combining_characters_in_names():
    """A layer named in Chinese takes two columns per character in a terminal or CI log, an accent
    written as a combining mark none: the columns after the name line up all the same."""
    import unicodedata

    names = ["编码器#0.W", "Cafe\u0301Layer#0.b", "DenseLayer#0.W"]
    out = render_model(model("wide", "pass", params=[param(n) for n in names]))
    rows = [line for line in out.splitlines() if any(line.lstrip().startswith(n) for n in names)]

    def column_of_shape(line: str) -> int:
        # the display column where the shape cell starts, after the name and its padding
        name, rest = line.lstrip().split(" ", 1)
        before = (
            line[: len(line) - len(line.lstrip())] + name + rest[: len(rest) - len(rest.lstrip())]
        )
        return sum(
            0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) == "W" else 1
            for c in before
        )

    assert len(rows) == 3 and len({column_of_shape(row) for row in rows}) == 1, out
