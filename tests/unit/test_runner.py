"""The runner's account of a worker that died (gradcheck_ci/process/runner.py): timeout, crash,
kill, exit and cancel described and pointed at the right line, the faulthandler dump read, the
memory limit set; no worker is started here."""

from __future__ import annotations

import signal

from gradcheck_ci.process import runner
from tests.samples import spec


def test_describe_timeout_points_at_the_timeout_line_and_names_where_it_was():
    outcome = runner.Outcome(
        -9,
        True,
        False,
        "compiling loss and gradient",
        runner.StackSite("models/net.py", 12, "build"),
    )
    error = outcome.describe(spec(timeout=3.0), "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 5, "timeout")
    assert error.message.startswith(
        "timed out after 3 s while compiling loss and gradient; "
        "it was in build() at models/net.py:12"
    )


def test_describe_a_segfault_points_at_the_users_line():
    outcome = runner.Outcome(
        -signal.SIGSEGV,
        False,
        False,
        "importing theano and the model factory",
        runner.StackSite("models/net.py", 9, "build"),
    )
    error = outcome.describe(spec(), "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("models/net.py", 9, "crash")
    assert "segmentation fault (SIGSEGV)" in error.message


def test_describe_kill_exit_cancel_and_unknown_signals():
    s = spec(memory=600)
    killed = runner.Outcome(-signal.SIGKILL, False, False, "probing W").describe(s, "gradcheck.yml")
    assert (killed.line, killed.kind) == (3, "killed")  # the model's entry, not its `memory` line
    assert killed.message == (
        "the worker was killed by SIGKILL from outside gradcheck-ci while probing W (its memory "
        "is unknown; its own limit, 600 MiB, would have raised MemoryError, not SIGKILL)"
    )
    exited = runner.Outcome(3, False, False, "probing W").describe(s, "gradcheck.yml")
    assert (exited.file, exited.line) == (
        "gradcheck.yml",
        3,
    ) and "exited with code 3" in exited.message
    cancelled = runner.Outcome(-9, False, True, "probing W").describe(s, "gradcheck.yml")
    assert cancelled.kind == "cancelled" and cancelled.message == "cancelled while probing W"
    odd = runner.Outcome(-63, False, False, "probing W").describe(s, "gradcheck.yml")
    assert "signal 63" in odd.message


FAULT_DUMP = """Stack (most recent call first):
  File "{lib}/theano/compile/function_module.py", line 903 in __call__
  File "{root}/models/old.py", line 3 in build
Fatal Python error: Segmentation fault

Current thread 0x00007f3a (most recent call first):
  File "{lib}/ctypes/__init__.py", line 519 in string_at
  File "{root}/models/net.py", line 9 in build
  File "{pkg}/gradcheck_ci/model/build.py", line 300 in call_factory
  File "{root}/models/helpers.py", line 2 in outer

Extension modules: numpy.core._multiarray_umath (total: 1)
"""


def test_read_stack_takes_the_last_dump_and_its_innermost_user_frame(tmp_path):
    (tmp_path / "models").mkdir()
    for name in ("net.py", "helpers.py"):
        (tmp_path / "models" / name).write_text("def build():\n    pass\n")
    path = tmp_path / "result.json.stack"
    path.write_text(
        FAULT_DUMP.format(root=tmp_path, lib="/usr/lib/python3.11/site-packages", pkg="/src")
    )
    site = runner.read_stack(str(path), str(tmp_path))
    assert (site.file, site.line, site.function) == ("models/net.py", 9, "build")
    path.write_text(
        'Stack (most recent call first):\n  File "/usr/lib/python3.11/threading.py", line 1 in '
        "run\n"
    )
    assert runner.read_stack(str(path), str(tmp_path)) is None
    assert runner.read_stack(str(tmp_path / "missing"), str(tmp_path)) is None


def test_the_memory_limit_never_exceeds_an_existing_hard_limit(monkeypatch):
    calls = []
    monkeypatch.setattr(runner.resource, "getrlimit", lambda what: (2**40, 2**30))
    monkeypatch.setattr(runner.resource, "setrlimit", lambda what, limits: calls.append(limits))
    runner._limit_memory(2**33)
    assert calls == [(2**30, 2**30)]


def test_read_stack_never_names_a_frame_that_is_no_file_of_the_users(tmp_path):
    """A worker stopped while Python's own frozen code ran: "<frozen runpy>" joined to the root
    looked inside it."""
    path = tmp_path / "result.json.stack"
    path.write_text(
        "Stack (most recent call first):\n"
        '  File "<frozen runpy>", line 88 in _run_code\n'
        '  File "models/gone.py", line 3 in build\n'
        '  File "<string>", line 1 in <module>\n'
    )
    assert runner.read_stack(str(path), str(tmp_path)) is None


def test_a_kill_from_outside_says_the_memory_at_the_time_and_the_limit():
    from gradcheck_ci.process.memory import MemorySample

    s = spec(memory=600)
    roomy = runner.Outcome(
        -signal.SIGKILL, False, False, "probing W", memory=MemorySample(0.3, 120, 410, 5000, 8000)
    )
    error = roomy.describe(s, "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 3, "killed")
    assert error.message == (
        "the worker was killed by SIGKILL from outside gradcheck-ci while probing W, 0.3 s after "
        "it started: it used 120 MiB (410 MiB of address space, below its limit of 600 MiB, the "
        "model's `memory`); the machine had 5000 MiB available: the machine's out-of-memory "
        "killer, a CI runner, a person or the model's own code"
    )
    short = runner.Outcome(
        -signal.SIGKILL, False, False, "probing W", memory=MemorySample(9.5, 500, 590, 100, 8000)
    )
    assert short.describe(s, "gradcheck.yml").message.endswith(
        "most likely the machine's out-of-memory killer"
    )


def evaluated_with_python(seconds: dict[str, float], no_compile_later: str = ""):
    from gradcheck_ci.core.results import ModelResult
    from gradcheck_ci.platform import ccode

    model = spec()
    result = ModelResult(model.name, model.factory, "pass", 0, "float64", "auto", seconds=seconds)
    keeper = runner.Runner("repo", "gradcheck.yml", lambda *a: None, lambda *a: None)
    keeper.no_compile_later = no_compile_later
    keeper._evaluation(result, model, ccode.Choice(False, "no C code was compiled yet"))
    return keeper, result


def test_a_python_check_whose_evaluation_took_long_gets_c_compiled_for_the_next_run():
    keeper, result = evaluated_with_python({"analytic": 0.5, "numeric": 25.0})
    assert [s.name for s in keeper.compile_later] == [spec().name]
    assert result.to_json()["extra"]["evaluation"] == {
        "code": "python",
        "why": "no C code was compiled yet",
        "compile_later": True,
    }
    assert result.notices[-1].message.endswith(
        "C is being compiled in the background after this run, for the next"
    )


def test_a_quick_python_check_or_a_run_that_cannot_keep_c_compiles_none():
    keeper, result = evaluated_with_python({"analytic": 0.01, "numeric": 0.2})
    assert not keeper.compile_later and not result.to_json()["extra"]["evaluation"]["compile_later"]
    assert "it would save less than it costs" in result.notices[-1].message
    keeper, result = evaluated_with_python({"numeric": 60.0}, "is not compiled under CI")
    assert not keeper.compile_later
    assert result.notices[-1].message.endswith("C is not compiled under CI")


def test_an_error_without_c_is_checked_again_with_c_unless_it_says_nothing_about_c():
    from gradcheck_ci.core.extra import ModelExtra
    from gradcheck_ci.core.results import ErrorInfo, ModelResult

    def failed(kind: str, **extra) -> ModelResult:
        model = spec()
        result = runner.error_result(model, "gradcheck.yml", ErrorInfo("x", "net.py", 3, kind))
        result.extra = ModelExtra(**extra)
        return result

    assert runner._may_need_c(failed("build"))  # MethodNotDefined: an op with C code only
    assert not runner._may_need_c(failed("timeout"))
    assert not runner._may_need_c(failed("cancelled"))
    assert not runner._may_need_c(failed("build", master_api="lasagne.layers.batch_norm"))
    model = spec()
    assert not runner._may_need_c(
        ModelResult(model.name, model.factory, "fail", 0, "float64", "auto")
    )


def test_a_models_output_is_relayed_line_by_line_with_long_lines_cut():
    import io

    from gradcheck_ci.process.runner import output_lines

    stream = io.BytesIO(b"epoch 1\n\nx" + b"y" * 5_000_000 + b"\nloss \xc3\xa9\r\nno end")
    lines = list(output_lines(stream, limit=10))
    assert lines == [
        "epoch 1",
        "",
        "xyyyyyyyyy ... (4,999,991 more bytes of this line not shown)",
        "loss \u00e9",
        "no end",
    ]
    assert list(output_lines(io.BytesIO(b""))) == []
