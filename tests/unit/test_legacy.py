"""Code from another era (gradcheck_ci/usercode/legacy.py): Python 2 constructs found on the line
Python 3 refuses, Python 2 modules and builtins, Lasagne master's names and arguments, and the
removed CUDA backend."""

from __future__ import annotations

import sys
import types

import pytest

from gradcheck_ci.usercode import legacy


@pytest.mark.parametrize(
    "line, construct",
    [
        ('    print "Building MLP with %d units" % n', "a `print` statement"),
        ("    print", "a `print` statement"),
        ("    print >>sys.stderr, 'epoch', i", "a `print >>file, ...` statement"),
        ("except ImportError, e:", "`except X, e:`"),
        ("    except (IOError, OSError), err:", "`except X, e:`"),
        ("    raise ValueError, 'bad shape'", "`raise E, message`"),
        ("    exec code in namespace", "an `exec` statement"),
        ("    name = 'dense' + `i`", "backticks for repr"),
        ("    os.chmod(path, 0755)", "an octal literal"),
        ("    total = 0L", "a long integer literal"),
        ("    if a <> b:", "the `<>` operator"),
    ],
)
def test_python2_constructs(line, construct):
    assert legacy.construct_on(line).startswith(construct)


@pytest.mark.parametrize(
    "line",
    [
        "    print('building')",
        "    print(x, file=sys.stderr)",
        "except (IOError, OSError) as err:",
        "    raise ValueError('bad shape')",
        "    exec(code, namespace)",
        "    x = '`quoted`'  # `not code`",
        "    os.chmod(path, 0o755)",
        "    printer = 1",
        "    print_function = True",
        "    timeout = 0",
    ],
)
def test_python3_lines_are_not_python2(line):
    assert legacy.construct_on(line) is None


def test_the_construct_on_the_refused_line_else_the_first_in_the_file(tmp_path):
    path = tmp_path / "old.py"
    path.write_text(
        '"""Uses `backticks` in its docstring."""\nimport os\n\n\ndef f(x):\n    print x\n'
        "    try:\n        pass\n    except IOError, e:\n        pass\n"
    )
    assert legacy.python2_construct(str(path), 9) == (
        "`except X, e:` (Python 3: except X as e:)",
        9,
    )
    # a refused line with nothing recognisable on it: the first unambiguous construct elsewhere (not
    # the docstring)
    assert legacy.python2_construct(str(path), 2) == (
        "a `print` statement (Python 3: print(...))",
        6,
    )
    path.write_text("def f(:\n    return 1\n")
    assert (
        legacy.python2_construct(str(path), 1) is None
    )  # a plain syntax error is not called Python 2


@pytest.mark.parametrize(
    "exc, words",
    [
        (
            ModuleNotFoundError("No module named 'urllib2'", name="urllib2"),
            "`import urllib2`, a Python 2 module (Python 3: urllib.request)",
        ),
        (ModuleNotFoundError("No module named 'cPickle'", name="cPickle"), "(Python 3: pickle)"),
        (
            NameError("name 'xrange' is not defined"),
            "`xrange`, a Python 2 builtin (Python 3: range)",
        ),
        (
            AttributeError("'dict' object has no attribute 'iteritems'"),
            "`.iteritems()`, a Python 2 method",
        ),
        (
            TypeError(
                "unsupported operand type(s) for >>: 'builtin_function_or_method' and "
                "'_io.TextIOWrapper'"
            ),
            "a `print >>file, ...` statement",
        ),
    ],
)
def test_python2_at_run_time(exc, words):
    assert words in legacy.python2_runtime(exc)


@pytest.mark.parametrize(
    "exc",
    [
        ModuleNotFoundError("No module named 'tensorflow'", name="tensorflow"),
        NameError("name 'xrang' is not defined"),
        AttributeError("'Model' object has no attribute 'iteritems'"),
    ],
)
def test_python3_errors_are_not_python2(exc):
    assert legacy.python2_runtime(exc) is None


def test_lasagne_master_names_say_what_where_and_the_nearest_way():
    exc = AttributeError("module 'lasagne.nonlinearities' has no attribute 'elu'")
    assert legacy.lasagne_master(exc).startswith(
        "lasagne.nonlinearities.elu does not exist in Lasagne 0.1, the release on the package "
        "index that gradcheck-ci runs (it was added later, on Lasagne's master branch); write it "
        "as a function"
    )
    imported = ImportError("cannot import name 'batch_norm' from 'lasagne.layers'")
    assert "lasagne.layers.batch_norm does not exist" in legacy.lasagne_master(imported)


def test_an_argument_is_blamed_on_the_class_the_user_wrote(monkeypatch):
    fake = types.ModuleType("lasagne.layers")
    fake.MergeLayer = type("MergeLayer", (), {"__module__": "lasagne.layers.base"})
    monkeypatch.setitem(sys.modules, "lasagne.layers", fake)
    exc = TypeError("MergeLayer.__init__() got an unexpected keyword argument 'only_return_final'")
    assert legacy.lasagne_master(exc, user_class="LSTMLayer") == (
        "LSTMLayer(..., only_return_final=...) is Lasagne master's API: Lasagne 0.1's LSTMLayer "
        "has no argument 'only_return_final' (Lasagne 0.1, the release on the package index that "
        "gradcheck-ci runs); to keep only the last step, follow the layer with SliceLayer(layer, "
        "indices=-1, axis=1)"
    )


def test_the_refusing_class_is_the_self_of_the_frame_after_the_users(tmp_path):
    class LSTMLayer:
        def __init__(self, **kwargs):
            raise TypeError("refused")

    user = tmp_path / "model.py"
    code = compile("def build(cls):\n    return cls(only_return_final=True)\n", str(user), "exec")
    namespace: dict = {}
    exec(code, namespace)
    try:
        namespace["build"](LSTMLayer)
    except TypeError as exc:
        tb = exc.__traceback__
    assert legacy.refusing_class(tb, lambda filename: filename == str(user)) == "LSTMLayer"
    assert legacy.refusing_class(tb, lambda filename: False) is None


@pytest.mark.parametrize(
    "exc, words",
    [
        (
            ModuleNotFoundError("No module named 'lasagne.layers.dnn'", name="lasagne.layers.dnn"),
            "Lasagne's GPU layers (lasagne.layers.dnn: Conv2DDNNLayer",
        ),
        (
            ModuleNotFoundError("No module named 'pycuda'", name="pycuda"),
            "Theano's old CUDA backend (pycuda)",
        ),
        (
            ImportError("No module named theano.sandbox.cuda"),
            "Theano's old CUDA backend (theano.sandbox.cuda)",
        ),
    ],
)
def test_gpu_code(exc, words):
    assert words in legacy.gpu(exc)


def test_other_errors_are_not_gpu_code():
    assert legacy.gpu(ModuleNotFoundError("No module named 'mydnn'", name="mydnn")) is None
    assert legacy.gpu(ValueError("cuda")) is None


def test_python2_views_and_division():
    exc = TypeError("'dict_keys' object is not subscriptable")
    assert legacy.python2_runtime(exc) == (
        "indexing the result of dict.keys(), a list in Python 2 (Python 3: list(dict.keys(...)))"
    )
    assert "use `//` for sizes" in legacy.python3_division(
        TypeError("'float' object cannot be interpreted as an integer")
    )
    assert legacy.python3_division(TypeError("unhashable type: 'list'")) is None


def test_lasagne_01_refusing_a_layer_as_initial_state_is_not_called_tied_weights():
    # Lasagne 0.1's create_param refuses both the same way; its frame's `spec` tells them apart
    layer_class = type("Layer", (), {"__module__": "lasagne.layers.base"})
    gru_class = type("GRULayer", (layer_class,), {"__module__": "lasagne.layers.recurrent"})

    def create_param(spec, shape, name=None):
        raise RuntimeError("cannot initialize parameters: 'spec' is not a numpy array, ...")

    def refusal(spec):
        try:
            create_param(spec, (1, 4))
        except RuntimeError as exc:
            return exc

    as_layer, as_expression = refusal(gru_class()), refusal(object())
    assert legacy.master_api(as_layer) == legacy.LAYER_INIT
    assert "not as a layer" in legacy.lasagne_master(as_layer)
    assert legacy.master_api(as_expression) == legacy.TIED
    assert "tied weights" in legacy.lasagne_master(as_expression)
