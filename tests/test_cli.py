"""The CLI's and the runner's error paths, without Theano: usage errors, report writing, merging, how a
dead worker is described, and how errors in the user's code are located and explained."""
from __future__ import annotations

import json
import signal
import sys
import textwrap
import traceback
import types
from pathlib import Path

import pytest

from gradcheck_ci import blame, cli, importer, model, run, runner, verdict
from gradcheck_ci.config import DataSpec, ModelSpec
from gradcheck_ci.errors import ModelLoadError
from gradcheck_ci.results import ErrorInfo, ModelResult, RunReport


def spec(**kwargs) -> ModelSpec:
    defaults = dict(name="net", factory="models/net.py:build", line=3,
                    key_lines={"name": 3, "factory": 4, "timeout": 5, "memory": 6, "kwargs": 7, "kwargs.units": 8})
    defaults.update(kwargs)
    return ModelSpec(**defaults)


def write_repo(root: Path, config: str, files: dict[str, str] | None = None) -> Path:
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(textwrap.dedent(text))
    (root / "gradcheck.yml").write_text(textwrap.dedent(config).lstrip())
    return root


# ------------------------------------------------------------------------------------ usage and selection

@pytest.mark.parametrize("text, expected", [(None, None), ("1/1", (1, 1)), ("2/4", (2, 4))])
def test_parse_shard(text, expected):
    assert cli.parse_shard(text) == expected


@pytest.mark.parametrize("text, message", [("2", "must look like 1/4"), ("a/b", "must look like 1/4"),
                                           ("0/2", "between 1 and 2"), ("3/2", "between 1 and 2"),
                                           ("1/0", "between 1 and 1")])
def test_parse_shard_rejects(text, message):
    with pytest.raises(cli.UsageError, match=message):
        cli.parse_shard(text)


def test_select_models_by_glob_and_shard_and_names_of_invalid_entries():
    specs = [spec(name=n) for n in ("a-1", "a-2", "b-1", "b-2", "c")]
    assert [s.name for s in run.select_models(specs, ["a-*", "c"], None)] == ["a-1", "a-2", "c"]
    assert [s.name for s in run.select_models(specs, [], (2, 2))] == ["a-2", "b-2"]
    assert run.select_models(specs, ["broken"], None, other_names=["broken"]) == []
    with pytest.raises(cli.UsageError, match=r"--model zzz: no such model in the config \(models: a-1, a-2"):
        run.select_models(specs, ["zzz"], None)


def test_usage_errors_exit_2_with_one_line(capsys, tmp_path):
    assert cli.main(["check", "--shard", "x"]) == 2
    assert cli.main(["check", "--root", str(tmp_path / "nowhere")]) == 2
    assert cli.main(["frobnicate"]) == 2
    err = capsys.readouterr().err
    assert "--shard must look like 1/4" in err and "not a directory" in err and "invalid choice" in err
    assert "Traceback" not in err


def test_an_internal_error_is_one_line_and_exit_2(capsys, monkeypatch):
    def boom(args):
        raise RuntimeError("something of ours broke")

    monkeypatch.setattr(cli, "cmd_validate", boom)
    monkeypatch.delenv("GRADCHECK_CI_DEBUG", raising=False)
    assert cli.main(["validate"]) == 2
    err = capsys.readouterr().err
    assert "internal error (please report it): RuntimeError: something of ours broke" in err
    assert "GRADCHECK_CI_DEBUG=1" in err and "Traceback" not in err
    monkeypatch.setenv("GRADCHECK_CI_DEBUG", "1")
    with pytest.raises(RuntimeError):
        cli.main(["validate"])


# ------------------------------------------------------------------------ config problems in `check`

def test_check_prints_each_invalid_entry_and_reports_it_once(tmp_path, capsys, monkeypatch):
    repo = write_repo(tmp_path, """
        version: 1
        models:
          - name: net
            factory: models/net.py:build
            seed: -1
            precision: float46
        """, {"models/net.py": "def build():\n    pass\n"})
    monkeypatch.chdir(repo)
    assert cli.main(["check", "--json", "r.json"]) == 2
    out = capsys.readouterr().out
    assert "ERROR net" in out and "config error at gradcheck.yml:5" in out
    assert "seed must be an integer >= 0" in out and "line 6: precision must be one of" in out
    [model] = json.loads((repo / "r.json").read_text())["models"]
    assert model["status"] == "error" and model["error"]["line"] == 5
    assert "precision must be one of float64, float32" in model["error"]["message"]


def test_unwritable_report_fails_before_any_model_runs(tmp_path, capsys, monkeypatch):
    repo = write_repo(tmp_path, """
        version: 1
        models:
          - name: net
            factory: models/net.py:build
        """, {"models/net.py": "def build():\n    pass\n"})
    (repo / "file").write_text("")
    monkeypatch.chdir(repo)
    monkeypatch.setattr(runner.Runner, "run", lambda *a, **k: pytest.fail("no model may run"))
    assert cli.main(["check", "--json", "file/report.json"]) == 2
    err = capsys.readouterr().err
    assert "cannot write the report --json file/report.json" in err and "is not a directory" in err


def test_interim_reports_mark_pending_models_cancelled(tmp_path):
    args = types.SimpleNamespace(json=str(tmp_path / "r.json"), junit=str(tmp_path / "j.xml"), sarif=None)
    report = RunReport(config_file="gradcheck.yml")
    report.models.append(ModelResult(name="done", factory="f.py:f", status="pass", seed=0, precision="float64",
                                     mode="full"))
    run.ReportFiles(args).interim(report, [spec(name="later")], "gradcheck.yml")
    written = json.loads((tmp_path / "r.json").read_text())
    assert written["status"] == "error"
    assert [(m["name"], m["status"]) for m in written["models"]] == [("done", "pass"), ("later", "cancelled")]
    assert "the run ended before this model" in written["models"][1]["error"]["message"]
    assert [m.name for m in report.models] == ["done"]  # the run's own report is untouched
    assert (tmp_path / "j.xml").read_text().startswith("<?xml")


# ------------------------------------------------------------------------------------------- merge

def _report(models: list[ModelResult]) -> dict:
    return RunReport(config_file="gradcheck.yml", models=models).to_json()


def test_merge_keeps_an_invalid_entry_reported_by_every_shard_once(tmp_path, capsys):
    invalid = ModelResult(name="bad", factory="", status="error", seed=0, precision="float64", mode="auto",
                          error=ErrorInfo("seed must be an integer >= 0", "gradcheck.yml", 5, "config"),
                          config_file="gradcheck.yml", config_line=5)
    ok = [ModelResult(name=n, factory="f.py:f", status="pass", seed=0, precision="float64", mode="full",
                      config_line=line) for n, line in (("a", 3), ("b", 7))]
    (tmp_path / "1.json").write_text(json.dumps(_report([invalid, ok[0]])))
    (tmp_path / "2.json").write_text(json.dumps(_report([invalid, ok[1]])))
    code = cli.main(["merge", str(tmp_path / "1.json"), str(tmp_path / "2.json"), "--json", str(tmp_path / "m.json")])
    assert code == 2
    merged = json.loads((tmp_path / "m.json").read_text())
    assert [m["name"] for m in merged["models"]] == ["a", "bad", "b"]


def test_merge_of_something_else_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "x.json").write_text("[1, 2")
    assert cli.main(["merge", str(tmp_path / "x.json"), "--json", str(tmp_path / "m.json")]) == 2
    assert cli.main(["merge", str(tmp_path / "missing.json"), "--json", str(tmp_path / "m.json")]) == 2
    err = capsys.readouterr().err
    assert "cannot read report" in err and "No such file or directory" in err and "Traceback" not in err


# ------------------------------------------------------------------------------ a worker that died

def test_describe_timeout_points_at_the_timeout_line_and_names_where_it_was():
    outcome = runner.Outcome(-9, True, False, "compiling loss and gradient",
                             runner.StackSite("models/net.py", 12, "build"))
    error = outcome.describe(spec(timeout=3.0), "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 5, "timeout")
    assert error.message.startswith("timed out after 3 s while compiling loss and gradient; "
                                    "it was in build() at models/net.py:12")


def test_describe_a_segfault_points_at_the_users_line():
    outcome = runner.Outcome(-signal.SIGSEGV, False, False, "importing theano and the model factory",
                             runner.StackSite("models/net.py", 9, "build"))
    error = outcome.describe(spec(), "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("models/net.py", 9, "crash")
    assert "segmentation fault (SIGSEGV)" in error.message


def test_describe_kill_exit_cancel_and_unknown_signals():
    s = spec(memory=600)
    killed = runner.Outcome(-signal.SIGKILL, False, False, "probing W").describe(s, "gradcheck.yml")
    assert (killed.line, killed.kind) == (6, "memory") and "limit 600 MiB" in killed.message
    exited = runner.Outcome(3, False, False, "probing W").describe(s, "gradcheck.yml")
    assert (exited.file, exited.line) == ("gradcheck.yml", 3) and "exited with code 3" in exited.message
    cancelled = runner.Outcome(-9, False, True, "probing W").describe(s, "gradcheck.yml")
    assert cancelled.kind == "cancelled" and cancelled.message == "cancelled while probing W"
    odd = runner.Outcome(-63, False, False, "probing W").describe(s, "gradcheck.yml")
    assert "signal 63" in odd.message


FAULT_DUMP = '''Stack (most recent call first):
  File "{lib}/theano/compile/function_module.py", line 903 in __call__
  File "{root}/models/old.py", line 3 in build
Fatal Python error: Segmentation fault

Current thread 0x00007f3a (most recent call first):
  File "{lib}/ctypes/__init__.py", line 519 in string_at
  File "{root}/models/net.py", line 9 in build
  File "{pkg}/gradcheck_ci/model.py", line 300 in call_factory
  File "{root}/models/helpers.py", line 2 in outer

Extension modules: numpy.core._multiarray_umath (total: 1)
'''


def test_read_stack_takes_the_last_dump_and_its_innermost_user_frame(tmp_path):
    (tmp_path / "models").mkdir()
    path = tmp_path / "result.json.stack"
    path.write_text(FAULT_DUMP.format(root=tmp_path, lib="/usr/lib/python3.11/site-packages", pkg="/src"))
    site = runner.read_stack(str(path), str(tmp_path))
    assert (site.file, site.line, site.function) == ("models/net.py", 9, "build")
    path.write_text('Stack (most recent call first):\n  File "/usr/lib/python3.11/threading.py", line 1 in run\n')
    assert runner.read_stack(str(path), str(tmp_path)) is None
    assert runner.read_stack(str(tmp_path / "missing"), str(tmp_path)) is None


def test_the_memory_limit_never_exceeds_an_existing_hard_limit(monkeypatch):
    calls = []
    monkeypatch.setattr(runner.resource, "getrlimit", lambda what: (2**40, 2**30))
    monkeypatch.setattr(runner.resource, "setrlimit", lambda what, limits: calls.append(limits))
    runner._limit_memory(2**33)
    assert calls == [(2**30, 2**30)]


# --------------------------------------------------------------------- locating errors in user code

def _raise_in(code: str, filename: str) -> BaseException:
    namespace: dict = {}
    try:
        exec(compile(code, filename, "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001
        return exc
    raise AssertionError("did not raise")


def test_user_code_error_points_at_the_innermost_repository_frame(tmp_path):
    (tmp_path / "models").mkdir()
    user_file = tmp_path / "models" / "net.py"
    user_file.write_text("")
    exc = _raise_in("x = 1\nraise ValueError('bad units')\n", str(user_file))
    error = blame.user_code_error(exc, str(tmp_path), "building model 'net'", ("gradcheck.yml", 4))
    assert (error.file, error.line) == ("models/net.py", 2)
    assert error.message == "ValueError: bad units (building model 'net')"


def test_pseudo_files_are_never_the_users_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # "<...>" resolved against the cwd would land inside the repository
    frames = [traceback.FrameSummary("<__array_function__ internals>", 180, "prod")]
    assert blame.user_frame(frames, str(tmp_path)) is None


def test_exit_memory_and_encoding_errors_are_explained(tmp_path):
    fallback = ("gradcheck.yml", 4)
    exited = blame.user_code_error(SystemExit("no GPU"), str(tmp_path), "building model 'net'", fallback)
    assert "called exit('no GPU')" in exited.message and (exited.file, exited.line) == fallback
    memory = blame.user_code_error(MemoryError(), str(tmp_path), "building model 'net'", fallback)
    assert memory.kind == "memory" and memory.message.startswith("out of memory building model 'net'")
    (tmp_path / "net.py").write_bytes(b'x = "caf\xe9"\n')
    try:
        compile((tmp_path / "net.py").read_bytes(), str(tmp_path / "net.py"), "exec")
    except SyntaxError as exc:
        error = blame.user_code_error(exc, str(tmp_path), "importing", fallback)
    assert (error.file, error.line) == ("net.py", 1) and "net.py is not valid UTF-8" in error.message


@pytest.mark.parametrize("exc, hint", [
    (AttributeError("module 'lasagne.layers' has no attribute 'BatchNormLayer'"),
     "BatchNormLayer does not exist in Lasagne 0.1"),
    (ImportError("cannot import name 'batch_norm' from 'lasagne.layers'"), "batch_norm does not exist in Lasagne 0.1"),
    (AttributeError("module 'lasagne.nonlinearities' has no attribute 'sofmax'"), "a typo, or an API added later"),
    (ModuleNotFoundError("No module named 'theano.sandbox.cuda'", name="theano.sandbox.cuda"),
     "need theano.sandbox.cuda, which Theano 1.0 removed"),
    (AttributeError("'ScaleLayer' object has no attribute 'scale'"), ""),  # the user's own class: no hint
    (ModuleNotFoundError("No module named 'mydnn'", name="mydnn"), ""),
])
def test_legacy_hints(exc, hint):
    assert (hint in blame.legacy_hint(exc)) if hint else blame.legacy_hint(exc) == ""


def test_legacy_hint_for_an_argument_lasagne_01_lacks(monkeypatch):
    fake = types.ModuleType("lasagne.layers")
    fake.LSTMLayer = type("LSTMLayer", (), {"__module__": "lasagne.layers.recurrent"})
    monkeypatch.setitem(sys.modules, "lasagne.layers", fake)
    exc = TypeError("LSTMLayer.__init__() got an unexpected keyword argument 'only_return_final'")
    assert "Lasagne 0.1's LSTMLayer has no argument 'only_return_final'" in blame.legacy_hint(exc)
    mine = TypeError("MyLayer.__init__() got an unexpected keyword argument 'only_return_final'")
    assert blame.legacy_hint(mine) == ""


def test_a_dotted_factory_that_does_not_exist_is_a_config_error():
    assert importer.missing_target_module(ModuleNotFoundError("x", name="pkg"), "pkg.nets") == "pkg.nets"
    assert importer.missing_target_module(ModuleNotFoundError("x", name="pkg.nets"), "pkg.nets") == "pkg.nets"
    # a module the user's module imports is the user's error, not the config's
    assert importer.missing_target_module(ModuleNotFoundError("x", name="tensorflow"), "pkg.nets") is None


def test_unexpected_errors_are_the_models_when_theano_or_user_code_says_so(tmp_path):
    s = spec()
    grad_error = type("NullTypeGradError", (TypeError,), {})(
        "tensor.grad encountered a NaN. This variable is Null because the grad method for input 0 of the RoundOp op "
        "is mathematically undefined.")
    error = blame.unexpected_error(grad_error, str(tmp_path), s, "gradcheck.yml")
    assert error.kind == "build" and (error.file, error.line) == ("gradcheck.yml", 3)
    assert "Theano cannot differentiate the loss of 'net': NullTypeGradError" in error.message
    user_file = tmp_path / "layers.py"
    user_file.write_text("")
    in_user_code = _raise_in("raise KeyError('W')\n", str(user_file))
    error = blame.unexpected_error(in_user_code, str(tmp_path), s, "gradcheck.yml")
    assert (error.file, error.line) == ("layers.py", 1)
    runtime = ValueError("could not broadcast input array from shape (1,3) into shape (10,2)\n"
                         "Apply node that caused the error: Alloc(x, y)\nToposort index: 13\nHINT: long text")
    error = blame.unexpected_error(runtime, str(tmp_path), s, "gradcheck.yml")
    assert "Theano failed evaluating the compiled loss of 'net': ValueError: could not broadcast" in error.message
    assert "Apply node that caused the error: Alloc(x, y)" in error.message and "HINT" not in error.message
    assert blame.unexpected_error(KeyError("ours"), str(tmp_path), s, "gradcheck.yml") is None


def test_kwargs_that_do_not_fit_point_at_the_offending_kwarg():
    import inspect

    def build(num_units=2, depth=1):
        pass

    try:
        inspect.signature(build).bind(units=3)
    except TypeError as exc:
        error = model.kwargs_error(exc, inspect.signature(build), build, spec(kwargs={"units": 3}), "/nowhere",
                                   "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 8, "config")
    assert "unexpected keyword argument 'units' (did you mean 'num_units'?); it accepts: num_units, depth" in error.message


def test_the_line_of_the_return_that_produced_a_value():
    def factory(flag):
        if flag:
            return "early"
        return "late"

    first = factory.__code__.co_firstlineno
    assert blame.call_noting_return(factory, {"flag": True}) == ("early", first + 2)
    assert blame.call_noting_return(factory, {"flag": False}) == ("late", first + 3)


# ------------------------------------------------------------------------------------ data shapes

class FakeLayer:
    def __init__(self, shape):
        self.shape = shape


@pytest.mark.parametrize("shape, kind, message", [
    ((None, 2, None, None, None), "other", "cannot fill dimension 2 of a 5-D input"),
    ((None, None, 1), "mask", "mask input has 3 dimensions, expected (sequences, steps)"),
    ((None, 0), "matrix", "dimension 1 has size 0"),
])
def test_input_shapes_data_cannot_fill(shape, kind, message):
    info = model.InputInfo(FakeLayer(shape), kind, "InputLayer#0", blame.CallSite("models/net.py", 6))
    with pytest.raises(ModelLoadError) as caught:
        model.input_shape(info, DataSpec())
    assert message in caught.value.message
    assert (caught.value.file, caught.value.line, caught.value.kind) == ("models/net.py", 6, "data")
    unlocated = model.InputInfo(FakeLayer(shape), kind, "InputLayer#0", None)
    with pytest.raises(ModelLoadError) as caught:
        model.input_shape(unlocated, DataSpec(), fallback=("gradcheck.yml", 9))
    assert (caught.value.file, caught.value.line) == ("gradcheck.yml", 9)


def test_input_shapes_data_fills():
    def shape(s, kind="matrix"):
        return model.input_shape(model.InputInfo(FakeLayer(s), kind, "in", None), DataSpec(sequences=3, steps=7,
                                                                                            features=5))
    assert shape((None, None, None), "sequence") == (3, 7, 5)
    assert shape((None, None), "mask") == (3, 7)
    assert shape((None, 4)) == (3, 4)


def test_a_non_finite_loss_without_a_model_points_at_the_config():
    verdict.require_finite_loss(1.5, spec(), "gradcheck.yml")
    with pytest.raises(ModelLoadError) as caught:
        verdict.require_finite_loss(float("nan"), spec(key_lines={"loss": 9}), "gradcheck.yml")
    assert caught.value.kind == "nan-or-inf" and (caught.value.file, caught.value.line) == ("gradcheck.yml", 9)
    assert "the loss of 'net' is nan on the synthetic data (seed 0)" in caught.value.message


# ------------------------------------------------------------------ arbitrary input, end to end

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

YAML_PIECES = st.sampled_from(["version: 1\n", "models:\n", "  - name: m\n", "    factory: models/net.py:build\n",
                               "defaults:\n", "  seed: x\n", "- ", ": ", "{", "}", "[", "]", "&a ", "*a", "<<: ",
                               "\t", "'", '"', "!!python/object:os.system ", "\n", "#", "  ", "é", "\x85"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.one_of(st.lists(YAML_PIECES, max_size=30).map("".join), st.text(max_size=200)),
       raw=st.binary(max_size=40))
def test_validate_never_prints_a_traceback(tmp_path, capsys, text, raw):
    (tmp_path / "models").mkdir(exist_ok=True)
    (tmp_path / "models" / "net.py").write_text("def build():\n    pass\n")
    path = tmp_path / "gradcheck.yml"
    path.write_bytes(text.encode("utf-8", "surrogatepass") + raw)
    code = cli.main(["validate", "--config", str(path)])
    out, err = capsys.readouterr()
    assert code in (0, 2)
    assert "Traceback" not in out + err and "internal error" not in err
    if code == 2:  # every problem names the file
        assert all(line.startswith((str(path), "gradcheck.yml")) for line in err.splitlines()), err
    else:
        assert "valid, " in out


def test_paths_are_relative_to_the_repository_under_actions(tmp_path):
    """With the config in a subdirectory of GITHUB_WORKSPACE, report and annotation paths include it."""
    import os
    import subprocess

    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "gradcheck.yml").write_text("version: 1\nmodels:\n  - name: m\n    factory: nope.py:f\n")
    report = tmp_path / "r.json"
    env = dict(os.environ, GITHUB_WORKSPACE=str(tmp_path), GITHUB_ACTIONS="true")
    env.pop("GITHUB_STEP_SUMMARY", None)
    proc = subprocess.run([sys.executable, "-m", "gradcheck_ci.cli", "check", "--config", str(sub / "gradcheck.yml"),
                           "--json", str(report)], env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "::error file=sub/gradcheck.yml,line=4" in proc.stdout, proc.stdout
    data = json.loads(report.read_text())
    assert data["config_file"] == "sub/gradcheck.yml"
    assert all(m["error"]["file"] == "sub/gradcheck.yml" for m in data["models"])
