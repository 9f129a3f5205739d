"""Errors in the user's code located and explained (gradcheck_ci/usercode/blame.py): the innermost
repository frame, exit/memory/encoding errors, hints for APIs that Lasagne 0.1 or Theano 1.0 lack,
the line of a return."""

from __future__ import annotations

import linecache
import sys
import traceback
import types

import pytest

from gradcheck_ci.usercode import blame, messages, sites
from tests.samples import spec


def _raise_in(code: str, filename: str) -> BaseException:
    namespace: dict = {}
    try:
        exec(compile(code, filename, "exec"), namespace)
    except BaseException as exc:  # noqa: BLE001 - hands back whatever the code raises, SystemExit included
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
    assert sites.user_frame(frames, str(tmp_path)) is None


def test_exit_memory_and_encoding_errors_are_explained(tmp_path):
    fallback = ("gradcheck.yml", 4)
    exited = blame.user_code_error(
        SystemExit("no GPU"), str(tmp_path), "building model 'net'", fallback
    )
    assert "called exit('no GPU')" in exited.message and (exited.file, exited.line) == fallback
    memory = blame.user_code_error(MemoryError(), str(tmp_path), "building model 'net'", fallback)
    assert memory.kind == "memory" and memory.message.startswith(
        "out of memory building model 'net'"
    )
    (tmp_path / "net.py").write_bytes(b'x = "caf\xe9"\n')
    try:
        compile((tmp_path / "net.py").read_bytes(), str(tmp_path / "net.py"), "exec")
    except SyntaxError as exc:
        error = blame.user_code_error(exc, str(tmp_path), "importing", fallback)
    assert (error.file, error.line) == (
        "net.py",
        1,
    ) and "net.py is not valid UTF-8" in error.message


@pytest.mark.parametrize(
    "exc, hint",
    [
        (
            AttributeError("module 'lasagne.layers' has no attribute 'BatchNormLayer'"),
            "BatchNormLayer does not exist in Lasagne 0.1",
        ),
        (
            ImportError("cannot import name 'batch_norm' from 'lasagne.layers'"),
            "batch_norm does not exist in Lasagne 0.1",
        ),
        (
            AttributeError("module 'lasagne.nonlinearities' has no attribute 'sofmax'"),
            "a typo, or an API added later",
        ),
        (
            ModuleNotFoundError(
                "No module named 'theano.sandbox.cuda'", name="theano.sandbox.cuda"
            ),
            "Theano's old CUDA backend (theano.sandbox.cuda), which Theano 1.0 removed",
        ),
        (
            ModuleNotFoundError("No module named 'lasagne.layers.dnn'", name="lasagne.layers.dnn"),
            "Lasagne's GPU layers (lasagne.layers.dnn: Conv2DDNNLayer, MaxPool2DDNNLayer, "
            "Pool2DDNNLayer) need theano.sandbox.cuda, which Theano 1.0 removed",
        ),
        # the user's own class: no hint
        (AttributeError("'ScaleLayer' object has no attribute 'scale'"), ""),
        (ModuleNotFoundError("No module named 'mydnn'", name="mydnn"), ""),
    ],
)
def test_legacy_hints(exc, hint):
    assert (hint in blame.legacy_hint(exc)) if hint else blame.legacy_hint(exc) == ""


def test_float64_weights_loaded_into_a_float32_check_are_said_in_those_words(tmp_path):
    # Theano's set_value refuses them with a tuple whose first item quotes the array
    refused = TypeError(
        "TensorType(float32, 4D) cannot store a value of dtype float64 without risking loss of "
        "precision. If you do not mind this loss, you can: 1) explicitly cast your data to "
        'float32, or 2) set "allow_input_downcast=True" when calling "function". Value: '
        '"array([[[[0.1, 0.2]]]])"',
        'Container name "W"',
    )
    error = blame.user_code_error(
        refused, str(tmp_path), "building model 'cnn'", ("gradcheck.yml", 4)
    )
    assert error.kind == "build" and (error.file, error.line) == ("gradcheck.yml", 4)
    assert error.message == (
        "TypeError: the code gives the float32 parameter W float64 values (building model 'cnn'): "
        "the check builds the network at float32, the model's `precision`; cast the values where "
        "they are loaded (`.astype(theano.config.floatX)`), or check the model at "
        "`precision: float64`"
    )


def test_legacy_hint_for_an_argument_lasagne_01_lacks(monkeypatch):
    fake = types.ModuleType("lasagne.layers")
    fake.LSTMLayer = type("LSTMLayer", (), {"__module__": "lasagne.layers.recurrent"})
    monkeypatch.setitem(sys.modules, "lasagne.layers", fake)
    exc = TypeError("LSTMLayer.__init__() got an unexpected keyword argument 'only_return_final'")
    assert "Lasagne 0.1's LSTMLayer has no argument 'only_return_final'" in blame.legacy_hint(exc)
    mine = TypeError("MyLayer.__init__() got an unexpected keyword argument 'only_return_final'")
    assert blame.legacy_hint(mine) == ""


def test_unexpected_errors_are_the_models_when_theano_or_user_code_says_so(tmp_path):
    s = spec()
    grad_error = type("NullTypeGradError", (TypeError,), {})(
        "tensor.grad encountered a NaN. This variable is Null because the grad method for input 0 "
        "of the RoundOp op is mathematically undefined."
    )
    error = blame.unexpected_error(grad_error, str(tmp_path), s, "gradcheck.yml")
    assert error.kind == "build" and (error.file, error.line) == ("gradcheck.yml", 3)
    assert "Theano cannot differentiate the loss of 'net': NullTypeGradError" in error.message
    user_file = tmp_path / "layers.py"
    user_file.write_text("")
    in_user_code = _raise_in("raise KeyError('W')\n", str(user_file))
    error = blame.unexpected_error(in_user_code, str(tmp_path), s, "gradcheck.yml")
    assert (error.file, error.line) == ("layers.py", 1)
    runtime = ValueError(
        "could not broadcast input array from shape (1,3) into shape (10,2)\n"
        "Apply node that caused the error: Alloc(x, y)\nToposort index: 13\nHINT: "
        "long text"
    )
    error = blame.unexpected_error(runtime, str(tmp_path), s, "gradcheck.yml")
    assert (
        "Theano failed evaluating the compiled loss of 'net': ValueError: could not broadcast"
        in error.message
    )
    assert (
        "Apply node that caused the error: Alloc(x, y)" in error.message
        and "HINT" not in error.message
    )
    assert blame.unexpected_error(KeyError("ours"), str(tmp_path), s, "gradcheck.yml") is None


def _as_theano_raises_it(error: Exception, trace: list) -> BaseException:
    """What a compiled function raises when a node fails (theano/gof/link.py, raise_with_op): the
    node's trace set on the exception, then a new one of its type with a longer message raised while
    the first is handled."""
    try:
        try:
            raise error
        except ValueError as exc:
            exc.__thunk_trace__ = trace  # type: ignore[attr-defined]
            longer = str(exc) + "\nApply node that caused the error: Dot22(input, W)"
            raise type(exc)(longer)  # noqa: B904 - as Theano does
    except ValueError as raised:
        return raised


def test_a_failing_node_points_at_the_users_line_that_built_it(tmp_path):
    layer = tmp_path / "layers.py"
    layer.write_text("import theano.tensor as T\n\n\ndef f(x, W):\n    return T.dot(x, W)\n")
    library = "/usr/lib/python3/site-packages/lasagne/layers/helper.py"
    frame = (str(layer), 5, "f", "return T.dot(x, W)")
    trace = [[(library, 185, "get_output", "layer.get_output_for(inputs)"), frame]]
    runtime = _as_theano_raises_it(ValueError("shapes (3,4) and (5,3) not aligned"), trace)
    error = blame.unexpected_error(runtime, str(tmp_path), spec(), "gradcheck.yml")
    assert (error.file, error.line) == ("layers.py", 5)
    # A function from the function cache keeps the lines of the run that compiled it: a line moved
    # since is found by its text, a line no longer there is not blamed.
    layer.write_text("import theano.tensor as T\n\n\n\ndef f(x, W):\n    return T.dot(x, W)\n")
    linecache.checkcache(str(layer))  # (a worker reads the file once)
    error = blame.unexpected_error(runtime, str(tmp_path), spec(), "gradcheck.yml")
    assert (error.file, error.line) == ("layers.py", 6)
    layer.write_text("import theano.tensor as T\n\n\ndef f(x, W):\n    return T.dot(W, x)\n")
    linecache.checkcache(str(layer))
    error = blame.unexpected_error(runtime, str(tmp_path), spec(), "gradcheck.yml")
    assert (error.file, error.line) == ("gradcheck.yml", 3)
    # ... or of a checkout elsewhere (another CI workspace, another shard's folder)
    elsewhere = [[("/builds/someone/repo/layers.py", 3, "f", "return T.dot(W, x)")]]
    runtime = _as_theano_raises_it(ValueError("shapes (3,4) and (5,3) not aligned"), elsewhere)
    error = blame.unexpected_error(runtime, str(tmp_path), spec(), "gradcheck.yml")
    assert (error.file, error.line) == ("layers.py", 5)


class _Var:
    """A Theano variable as input_shapes reads it: name, type.ndim, owner (an Apply or None)."""

    def __init__(self, name, ndim, owner=None):
        self.name, self.type, self.owner = name, types.SimpleNamespace(ndim=ndim), owner


class Dot22:
    pass


class Elemwise:
    pass


def _node_error(op, operands, first_line, shapes):
    """The ValueError Theano's raise_with_op raises, with the one it replaced (holding the node)
    as its context."""
    original = ValueError(first_line)
    original.__op_instance__ = types.SimpleNamespace(op=op(), inputs=operands)
    try:
        try:
            raise original
        except ValueError:
            raise ValueError(
                f"{first_line}\nApply node that caused the error: {type(op).__name__}(...)\n"
                f"Toposort index: 3\nInputs shapes: {shapes}\nInputs strides: [(40, 8)]"
            ) from None
    except ValueError as exc:
        exc.__suppress_context__ = False
        return exc


def test_a_shape_mismatch_on_an_inputs_layer_is_the_configs_at_its_shape_line(tmp_path):
    from gradcheck_ci.config.spec import InputSpec

    s = spec(inputs={"incoming": InputSpec(shape=[None, 5])})
    s.key_lines.update({"inputs": 9, "inputs.incoming": 10, "inputs.incoming.shape": 11})
    incoming, weights = _Var("incoming", 2), _Var("W_shared", 2)
    dot = _node_error(
        Dot22,
        [incoming, weights],
        "('shapes (4,5) and (6,4) not aligned: 5 (dim 1) != 6 (dim 0)', (4, 5), (6, 4))",
        "[(4, 5), (6, 4)]",
    )
    error = blame.unexpected_error(dot, str(tmp_path), s, "gradcheck.yml")
    assert (error.file, error.line, error.kind) == ("gradcheck.yml", 11, "config")
    assert error.message == (
        "inputs.incoming.shape [null, 5] does not fit the model: it multiplies the input incoming "
        "(4x5) by W_shared (6x4), which needs 6 columns, not 5"
    )
    assert "Apply node" not in error.message and error.same_with_c
    # the input reshaped (a DenseLayer flattens a 3-D input) is still the input
    shape = _Var(None, 1, types.SimpleNamespace(inputs=[incoming]))
    flat = _Var(None, 2, types.SimpleNamespace(inputs=[incoming, shape]))
    dot = _node_error(Dot22, [flat, weights], "shapes not aligned", "[(4, 10), (6, 4)]")
    message = blame.unexpected_error(dot, str(tmp_path), s, "gradcheck.yml").message
    assert "it multiplies the input incoming, as 4x10, by W_shared (6x4)" in message
    assert "which needs 6 columns, not 10" in message
    # another operation: both shapes, Theano's own words, no node
    bias = _Var("b", 1)
    add = _node_error(
        Elemwise,
        [incoming, bias],
        "operands could not be broadcast together with shapes (4,5) (6,)",
        "[(4, 5), (6,)]",
    )
    error = blame.unexpected_error(add, str(tmp_path), s, "gradcheck.yml")
    assert error.line == 11 and error.message == (
        "inputs.incoming.shape [null, 5] does not fit the model: Theano's Elemwise got the input "
        "incoming (4x5) with b (6) and failed (ValueError: operands could not be broadcast "
        "together with shapes (4,5) (6,))"
    )
    # an operand computed from the input and the model's parameters: the model's graph, not the
    # config's
    hidden = _Var(None, 2, types.SimpleNamespace(inputs=[incoming, weights]))
    add = _node_error(Elemwise, [hidden, bias], "could not be broadcast", "[(4, 4), (3,)]")
    error = blame.unexpected_error(add, str(tmp_path), s, "gradcheck.yml")
    assert error.kind == "build" and "Theano failed evaluating the compiled loss" in error.message


def test_the_line_of_the_return_that_produced_a_value():
    def factory(flag):
        if flag:
            return "early"
        return "late"

    first = factory.__code__.co_firstlineno
    assert sites.call_noting_return(factory, {"flag": True}) == ("early", first + 2)
    assert sites.call_noting_return(factory, {"flag": False}) == ("late", first + 3)


# ------------------------------------------------------------------------ messages fit for a report


def test_messages_lose_array_dumps_and_installed_paths(tmp_path):
    theano_text = (
        'Bad input argument with name "x" to theano function at index 0 (0-based). '
        "Data: array([[ 0.1,  0.2],\n       [ 0.3,  0.4]], dtype=float32) (array(1.), "
        "'not shown') " + "[" + " 0.5" * 40 + "]"
    )
    cleaned = messages.clean_message(theano_text)
    assert "0.3" not in cleaned and "0.5" not in cleaned
    assert "Data: array(...) (array(...), 'not shown') [...]" in cleaned
    venv = "/opt/venv/lib/python3.11/site-packages/theano/compile/function_module.py"
    ours = "/usr/src/app/gradcheck_ci/engine/check.py"
    inside = str(tmp_path / "models" / "net.py")
    cleaned = messages.clean_message(
        f"raised at {venv}:903, via {ours}:120 from {inside}:7", str(tmp_path)
    )
    assert cleaned == (
        "raised at theano/compile/function_module.py:903, via "
        "gradcheck_ci/engine/check.py:120 from models/net.py:7"
    )
    assert len(messages.clean_message("x" * 5000)) == messages.MAX_MESSAGE


def test_messages_lose_theanos_backtraces():
    theano_text = (
        "Cannot compute test value: input 0 (input) of Op dot(input, W) missing default value.\n"
        "Backtrace when that variable is created:\n"
        '  File "gradcheck_ci/process/worker.py", line 152, in _run\n'
        "    model = build_model(spec, root, config_file, progress)\n"
        '  File "m.py", line 9, in net\n'
        "    return DenseLayer(InputLayer((None, 3)), 4)\n"
        "\n"
        "HINT: Use the Theano flag 'exception_verbosity=high' for a debugprint."
    )
    cleaned = messages.clean_message(theano_text)
    assert cleaned == (
        "Cannot compute test value: input 0 (input) of Op dot(input, W) missing default value.\n"
        "\n"
        "HINT: Use the Theano flag 'exception_verbosity=high' for a debugprint."
    )
    node = (
        "Apply node that caused the error: Dot22(x, W)\nBacktrace when the node is created(use "
        'Theano flag traceback.limit=N to make it longer):\n  File "a.py", line 3, in f\n    '
        "y = T.dot(x, W)"
    )
    assert messages.clean_message(node) == "Apply node that caused the error: Dot22(x, W)"


def test_error_summaries_unwrap_theanos_tuple_messages():
    exc = ValueError(
        "('shapes (4,3) and (18,4) not aligned: 3 (dim 1) != 18 (dim 0)', (4, 3), "
        "(18, 4))\nApply node that caused the error: Dot22(Reshape{2}.0, Reshape{2}.0)"
    )
    assert messages.error_summary(exc) == (
        "ValueError: shapes (4,3) and (18,4) not aligned: 3 (dim 1) != 18 (dim 0)"
    )
    assert messages.error_summary(KeyError()) == "KeyError"


def test_python2_files_get_one_line_with_the_construct(tmp_path):
    old = tmp_path / "models" / "old.py"
    old.parent.mkdir()
    old.write_text("import lasagne\n\n\ndef build():\n    print 'building'\n")
    try:
        compile(old.read_text(), str(old), "exec")
    except SyntaxError as exc:
        error = blame.user_code_error(exc, str(tmp_path), "importing", ("gradcheck.yml", 4))
    assert error.message == (
        "models/old.py is Python 2; gradcheck-ci runs Python 3.11: a `print` "
        "statement (Python 3: print(...)) at line 5"
    )
    assert (error.file, error.line) == ("models/old.py", 5)
    old.write_text("def build():\n    if True:\n        x = 1\n\ty = 2\n")
    try:
        compile(old.read_text(), str(old), "exec")
    except SyntaxError as exc:  # TabError
        error = blame.user_code_error(exc, str(tmp_path), "importing", ("gradcheck.yml", 4))
    assert (
        "models/old.py is Python 2; gradcheck-ci runs Python 3.11: tabs mixed with spaces"
        in error.message
    )
    assert (error.file, error.line) == ("models/old.py", 4)
    user_file = tmp_path / "models" / "deep.py"
    user_file.write_text("")
    exc = _raise_in("import urllib2\n", str(user_file))
    error = blame.user_code_error(exc, str(tmp_path), "importing", ("gradcheck.yml", 4))
    assert error.message == (
        "models/deep.py is Python 2; gradcheck-ci runs Python 3.11: `import "
        "urllib2`, a Python 2 module (Python 3: urllib.request) at line 1"
    )


def test_a_module_stopped_at_its_import_limit_is_said_to_work_at_import(tmp_path):
    from gradcheck_ci.usercode import guard

    user_file = tmp_path / "train.py"
    user_file.write_text("")
    exc = _raise_in(
        "import gradcheck_ci.usercode.guard as g\nraise g.TooSlow(30)\n", str(user_file)
    )
    error = blame.user_code_error(
        exc, str(tmp_path), "importing the factory module of 'train.py:build'", ("gradcheck.yml", 4)
    )
    assert isinstance(exc, guard.TooSlow)
    assert error.message.startswith(
        "importing the factory module of 'train.py:build' took longer "
        "than 30 s, at train.py:2 when it was stopped: the module does "
        "work when it is imported"
    )
    assert (error.file, error.line) == ("train.py", 2)


def test_a_refused_download_names_the_host_and_the_users_line(tmp_path):
    from gradcheck_ci.usercode import guard

    user_file = tmp_path / "data.py"
    user_file.write_text("")
    guard.attempts.clear()
    try:
        with guard.no_network():
            exc = _raise_in(
                "import "
                "urllib.request\n\nurllib.request.urlopen('http://example.org/weights.pkl')\n",
                str(user_file),
            )
        error = blame.user_code_error(
            exc, str(tmp_path), "importing the factory module", ("gradcheck.yml", 4)
        )
        assert error.message.startswith(
            "the code tried to reach the network (example.org) "
            "importing the factory module: gradcheck-ci runs models "
            "without network access"
        )
        assert (error.file, error.line) == ("data.py", 3)
        notices = blame.network_notices(str(tmp_path))
        assert [(n.code, n.file, n.line) for n in notices] == [("network", "data.py", 3)]
    finally:
        guard.attempts.clear()


def test_what_the_checkout_or_the_environment_lacks_is_said(tmp_path):
    user_file = tmp_path / "vgg.py"
    user_file.write_text("")
    exc = _raise_in("open('vgg16.pkl', 'rb')\n", str(user_file))
    error = blame.user_code_error(exc, str(tmp_path), "building model 'net'", ("gradcheck.yml", 4))
    assert error.message.startswith(
        "FileNotFoundError: [Errno 2] No such file or directory: "
        "'vgg16.pkl' (building model 'net'): the check runs in the "
        "repository as it is checked out"
    )
    assert (error.file, error.line) == ("vgg.py", 1)
    exc = _raise_in("import nolearn.lasagne\n", str(user_file))
    error = blame.user_code_error(exc, str(tmp_path), "importing", ("gradcheck.yml", 4))
    assert (
        "install 'nolearn' where it runs, or import it only where the network is not built"
        in error.message
    )
    exc = _raise_in("size = 7 / 2\nlist(range(size))\n", str(user_file))
    error = blame.user_code_error(exc, str(tmp_path), "building model 'net'", ("gradcheck.yml", 4))
    assert error.message.endswith("use `//` for sizes and indices") and error.line == 2


def test_a_compiled_modules_frame_is_never_the_users_line(tmp_path, monkeypatch):
    """numpy's seed check raises from "_mt19937.pyx": relative, it resolved against the worker's
    directory (the repository) and was reported as the user's file. Only a file that is there is the
    user's."""
    from gradcheck_ci.usercode.sites import CallSite, user_frame

    (tmp_path / "net.py").write_text("def build():\n    pass\n")
    monkeypatch.chdir(tmp_path)
    frames = [
        traceback.FrameSummary(str(tmp_path / "net.py"), 2, "build"),
        traceback.FrameSummary("_mt19937.pyx", 180, "numpy.random._mt19937._legacy_seeding"),
    ]
    assert user_frame(frames, str(tmp_path)) == CallSite("net.py", 2)
