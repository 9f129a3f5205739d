"""Code from another era: Python 2 files, Lasagne master's APIs and Theano's removed CUDA backend.

Each is recognised from the error it causes and explained in one sentence: what it is, where (the
file and line the caller reports), and the nearest way that works on the stack gradcheck-ci runs
(Python 3.11, Theano 1.0.5, Lasagne 0.1 from the package index).

- `python2_construct(path, line)`: a Python 2 construct on the line a SyntaxError names (or anywhere
  in the file): a print statement, backticks, `except X, e`, `raise E, msg`, an exec statement, an
octal literal...
- `python2_runtime(exc)`: a Python 2 module (`urllib2`, `cPickle`) or builtin (`xrange`,
  `dict.iteritems`).
- `lasagne_master(...)`, `gpu(...)`: a name or argument that Lasagne 0.1 lacks, a GPU module.
"""

from __future__ import annotations

import re
import sys
import traceback
from collections.abc import Callable
from types import TracebackType

PYTHON2 = "is Python 2; gradcheck-ci runs Python 3.11"
# How much of an exception's text any pattern here or in blame reads. The text is the user's and may
# be megabytes; the sentences these patterns look for (Python's, Theano's, Lasagne's) come first.
SCAN_LIMIT = 2000


def exception_text(exc: BaseException) -> str:
    """The start of str(exc), at most SCAN_LIMIT characters; never raises (a user's __str__ may)."""
    try:
        text = str(exc)
    except Exception:  # noqa: BLE001 - a broken __str__ of the user's exception class
        text = f"(a {type(exc).__name__} whose message cannot be shown)"
    return text[:SCAN_LIMIT]


# One pattern per construct, tried on one line of code (comments and strings are stripped first).
_PYTHON2_SYNTAX: tuple[tuple[str, re.Pattern[str], str], ...] = (
    (
        "print_chevron",
        re.compile(r"^\s*print\s*>>"),
        "a `print >>file, ...` statement (Python 3: print(..., file=f))",
    ),
    (
        "print",
        re.compile(r"^\s*print(\s+[^\s(=.,)\]:;]|\s*$)"),
        "a `print` statement (Python 3: print(...))",
    ),
    (
        "except",
        re.compile(r"^\s*except\s+([\w.]+|\([^)]*\))\s*,\s*\w+\s*:"),
        "`except X, e:` (Python 3: except X as e:)",
    ),
    (
        "raise",
        re.compile(r"^\s*raise\s+[\w.]+\s*,"),
        "`raise E, message` (Python 3: raise E(message))",
    ),
    ("exec", re.compile(r"^\s*exec\s+[\w\"']"), "an `exec` statement (Python 3: exec(...))"),
    ("backticks", re.compile(r"`[^`]+`"), "backticks for repr (Python 3: repr(x))"),
    (
        "octal",
        re.compile(r"(?<![\w.])0[0-7]+(?![\w.])"),
        "an octal literal such as 0777 (Python 3: 0o777)",
    ),
    (
        "long",
        re.compile(r"(?<![\w.])\d+[lL](?!\w)"),
        "a long integer literal such as 10L (Python 3: 10)",
    ),
    ("not_equal", re.compile(r"<>"), "the `<>` operator (Python 3: !=)"),
    ("ur_string", re.compile(r"(?<![\w])ur['\"]", re.I), "a ur'...' string (Python 3: r'...')"),
)

_PYTHON2_MODULES = {
    "urllib2": "urllib.request",
    "urlparse": "urllib.parse",
    "cPickle": "pickle",
    "StringIO": "io",
    "cStringIO": "io",
    "ConfigParser": "configparser",
    "Queue": "queue",
    "httplib": "http.client",
    "Tkinter": "tkinter",
    "HTMLParser": "html.parser",
    "SocketServer": "socketserver",
    "xmlrpclib": "xmlrpc.client",
    "commands": "subprocess",
    "__builtin__": "builtins",
    "cookielib": "http.cookiejar",
    "copy_reg": "copyreg",
    "itertools.izip": "zip",
    "md5": "hashlib",
    "sets": "set",
}
_PYTHON2_BUILTINS = {
    "xrange": "range",
    "unicode": "str",
    "basestring": "str",
    "raw_input": "input",
    "unichr": "chr",
    "long": "int",
    "execfile": "exec(open(f).read())",
    "reduce": "functools.reduce",
    "cmp": "(a > b) - (a < b)",
    "file": "open",
    "izip": "zip",
}
_PYTHON2_METHODS = {
    "iteritems": "items()",
    "itervalues": "values()",
    "iterkeys": "keys()",
    "has_key": "`in`",
    "next": "next(iterator)",
}


def _code_part(line: str) -> str:
    """The line without string literals and without its comment (roughly: enough to find
    constructs)."""
    line = re.sub(r"'''.*?'''|\"\"\".*?\"\"\"|'(?:\\.|[^'\\])*'|\"(?:\\.|[^\"\\])*\"", "''", line)
    return line.split("#", 1)[0]


def construct_on(line: str, everything: bool = True) -> str | None:
    """What Python 2 construct this line of code holds (None: none found). `everything`: also the
    patterns that could match valid Python 3 (backticks, octal, long literals) — safe only on a line
    Python 3 refuses."""
    code = _code_part(line)
    for key, pattern, words in _PYTHON2_SYNTAX:
        if not everything and key in ("backticks", "octal", "long", "not_equal", "ur_string"):
            continue
        target = line if key == "ur_string" else code
        if pattern.search(target):
            return words
    return None


def python2_construct(path: str, error_line: int | None) -> tuple[str, int] | None:
    """(construct, line) when the file that Python 3 refused looks like Python 2: the construct on
    the line the SyntaxError names, else the first print statement or `except X, e` elsewhere in the
    file."""
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return None
    if error_line and 1 <= error_line <= len(lines):
        words = construct_on(lines[error_line - 1])
        if words:
            return words, error_line
    in_string = False
    for number, line in enumerate(lines, 1):
        if line.count('"""') % 2 or line.count("'''") % 2:  # a docstring opens or closes here
            in_string = not in_string
            continue
        if not in_string:
            words = construct_on(line, everything=False)
            if words:
                return words, number
    return None


def python2_runtime(exc: BaseException) -> str | None:
    """The Python 2 module or builtin an ImportError, NameError, AttributeError or TypeError is
    about."""
    text = exception_text(exc)
    if isinstance(exc, ImportError):
        name = getattr(exc, "name", None) or ""
        if name.split(".")[0] in _PYTHON2_MODULES:
            return (
                f"`import {name}`, a Python 2 module (Python 3: "
                f"{_PYTHON2_MODULES[name.split('.')[0]]})"
            )
    if isinstance(exc, NameError):
        match = re.search(r"name '(\w+)' is not defined", text)
        if match and match.group(1) in _PYTHON2_BUILTINS:
            return (
                f"`{match.group(1)}`, a Python 2 builtin (Python 3: "
                f"{_PYTHON2_BUILTINS[match.group(1)]})"
            )
    if isinstance(exc, AttributeError):
        match = re.search(
            r"'(dict|dict_\w+|generator|\w*iterator)' object has no attribute '(\w+)'", text
        )
        if match and match.group(2) in _PYTHON2_METHODS:
            return (
                f"`.{match.group(2)}()`, a Python 2 method (Python 3: "
                f"{_PYTHON2_METHODS[match.group(2)]})"
            )
    if (
        isinstance(exc, TypeError)
        and ("unsupported operand type(s) for >>: 'builtin_function_or_method'") in text
    ):
        return "a `print >>file, ...` statement (Python 3: print(..., file=f))"
    view = re.search(
        r"'(dict_keys|dict_values|dict_items|map|filter|zip)' object is not "
        r"subscriptable",
        text,
    )
    if isinstance(exc, TypeError) and view:
        name = view.group(1).replace("dict_", "dict.") + "()"
        return (
            f"indexing the result of {name}, a list in Python 2 (Python 3: "
            f"list({name.rstrip('()')}(...)))"
        )
    return None


def python3_division(exc: BaseException) -> str | None:
    """A hint for a float where an integer is needed: Python 2 code dividing sizes with `/`."""
    text = exception_text(exc)
    if isinstance(exc, TypeError) and (
        "'float' object cannot be interpreted as an integer" in text
        or "slice indices must be integers" in text
    ):
        return (
            "a float where an integer is needed: in Python 3 `/` divides to a float, where "
            "Python 2 divided integers to an integer; use `//` for sizes and indices"
        )
    return None


# ---------------------------------------------------------------- Lasagne master, CUDA

_RELEASE = "Lasagne 0.1, the release on the package index that gradcheck-ci runs"

# A name Lasagne's master branch added -> the nearest way in Lasagne 0.1.
MASTER_NAMES = {
    "BatchNormLayer": "Lasagne 0.1 has no batch normalisation: check the network without it, or "
    "define the layer in your own code",
    "batch_norm": "Lasagne 0.1 has no batch normalisation: check the network without it "
    "(batch_norm(layer) -> layer), or define the layer in your own code",
    "ExpressionLayer": "write a small Layer subclass whose get_output_for applies the expression",
    "BiasLayer": "write a small Layer subclass that adds a parameter made with add_param",
    "ScaleLayer": "write a small Layer subclass that multiplies by a parameter made with add_param",
    "InverseLayer": "Lasagne 0.1 has no equivalent: define the layer in your own code",
    "ParametricRectifierLayer": "Lasagne 0.1 has no equivalent: define the layer in your own code",
    "prelu": "Lasagne 0.1 has no equivalent: define a ParametricRectifierLayer in your own code",
    "Deconv2DLayer": "Lasagne 0.1 has no transposed convolution: define the layer in your own code",
    "TransposedConv2DLayer": "Lasagne 0.1 has no transposed convolution: define the layer in your "
    "own code",
    "DilatedConv2DLayer": "Lasagne 0.1 has no dilated convolution: define the layer in your own "
    "code",
    "Upscale2DLayer": "Lasagne 0.1 has no upscaling layer: define the layer in your own code",
    "Pool1DLayer": "use MaxPool1DLayer",
    "dropout": "use DropoutLayer(layer, p=...)",
    "StandardizationLayer": "Lasagne 0.1 has no equivalent: define the layer in your own code",
    "InstanceNormLayer": "Lasagne 0.1 has no equivalent: define the layer in your own code",
    "LayerNormLayer": "Lasagne 0.1 has no equivalent: define the layer in your own code",
    "TransformerLayer": "Lasagne 0.1 has no spatial transformer: define the layer in your own code",
    "TPSTransformerLayer": (
        "Lasagne 0.1 has no spatial transformer: define the layer in your own code"
    ),
    "SpatialPyramidPoolingLayer": (
        "Lasagne 0.1 has no equivalent: define the layer in your own code"
    ),
    "elu": "write it as a function: lambda x: T.switch(x > 0, x, T.exp(x) - 1)",
    "softplus": "use theano.tensor.nnet.softplus",
    "selu": "write it as a function of theano.tensor",
    "ScaledTanH": "write it as a function: lambda x: b * T.tanh(a * x)",
    "categorical_accuracy": "compute it with T.mean(T.eq(T.argmax(prediction, axis=1), target))",
    "binary_accuracy": "compute it with T.mean(T.eq(prediction > 0.5, target))",
    "adamax": "use lasagne.updates.adam",
}

# An argument Lasagne's master added to a Lasagne 0.1 class -> the nearest way in Lasagne 0.1.
MASTER_ARGUMENTS = {
    "only_return_final": "to keep only the last step, follow the layer with SliceLayer(layer, "
    "indices=-1, axis=1)",
    "num_leading_axes": "DenseLayer in 0.1 flattens every axis after the first: reshape with "
    "ReshapeLayer first",
    "flip_filters": (
        "Lasagne 0.1's Conv2DLayer flips its filters (a convolution): drop the argument"
    ),
}

_LASAGNE_GPU = {
    "dnn": "Conv2DDNNLayer, MaxPool2DDNNLayer, Pool2DDNNLayer",
    "cuda_convnet": "Conv2DCCLayer, MaxPool2DCCLayer",
    "corrmm": "Conv2DMMLayer",
}
_GPU_BACKEND = (
    "theano.sandbox.cuda",
    "theano.sandbox.gpuarray",
    "theano.gpuarray",
    "pygpu",
    "pycuda",
    "cuda_ndarray",
)


def _is_lasagne_layer(name: str) -> bool:
    layers = sys.modules.get("lasagne.layers")
    value = getattr(layers, name, None) if layers is not None else None
    return isinstance(value, type) and (value.__module__ or "").startswith("lasagne.")


def gpu(exc: BaseException) -> str | None:
    """The explanation of an error caused by Theano's removed CUDA backend, or None: Lasagne's GPU
    layer modules (lasagne.layers.dnn, ...) or the backend itself (theano.sandbox.cuda, pycuda,
    ...)."""
    text = exception_text(exc)
    module = getattr(exc, "name", None) or ""
    frames = [f.filename.replace("\\", "/") for f in traceback.extract_tb(exc.__traceback__)]
    for name, layers in _LASAGNE_GPU.items():
        if (
            any(f.endswith(f"lasagne/layers/{name}.py") for f in frames)
            or f"lasagne.layers.{name}" in text + module
        ):
            return (
                f"Lasagne's GPU layers (lasagne.layers.{name}: {layers}) need "
                f"theano.sandbox.cuda, which Theano "
                "1.0 removed; the check runs on the CPU: use lasagne.layers.Conv2DLayer, "
                "MaxPool2DLayer and Pool2DLayer instead, with the same arguments"
            )
    via_backend = any("/sandbox/cuda" in f or "/gpuarray/" in f for f in frames)
    named = next((n for n in _GPU_BACKEND if n in text or module.startswith(n)), None)
    if (isinstance(exc, ImportError) or type(exc).__name__ == "SkipTest") and (
        via_backend or named
    ):
        return (
            f"the code uses Theano's old CUDA backend ({named or 'theano.sandbox.cuda'}), "
            f"which Theano 1.0 "
            "removed; the check runs on the CPU: leave out the GPU import and its use('gpu') "
            "call for the check (Lasagne's CPU layers compute the same gradients)"
        )
    return None


# Lasagne 0.1's create_param refusing a Theano expression, which master takes (tied weights)
_EXPRESSION_PARAM = "cannot initialize parameters: 'spec' is not a numpy array"
TIED = "a Theano expression as a layer's parameter (tied weights: W=other.W.T)"
# the same refusal of a layer given as an initial state, which master's recurrent layers take
LAYER_INIT = "a layer as a recurrent layer's initial state (hid_init=layer)"


def _refused_parameter(exc: BaseException) -> str:
    """What Lasagne 0.1's create_param refused (TIED or LAYER_INIT), from its frame's `spec`."""
    tb = exc.__traceback__
    while tb is not None:
        frame = tb.tb_frame
        if frame.f_code.co_name == "create_param" and any(
            cls.__name__ == "Layer" and cls.__module__.startswith("lasagne.")
            for cls in type(frame.f_locals.get("spec")).__mro__
        ):
            return LAYER_INIT
        tb = tb.tb_next
    return TIED


def master_api(exc: BaseException, user_class: str | None = None) -> str | None:
    """What the code used that Lasagne 0.1 lacks, in a few words ("lasagne.layers.batch_norm",
    "LSTMLayer(..., only_return_final=...)"), or None: the same errors lasagne_master explains.
    `lasagne: auto` checks such a model on Lasagne master instead."""
    text = str(exc)
    module = getattr(exc, "name", None) or ""
    if isinstance(exc, (AttributeError, ImportError)) and "lasagne" in text + module:
        master = next((n for n in MASTER_NAMES if re.search(rf"'{n}'", text)), None)
        owner = re.search(r"(?:module|from) '(lasagne[\w.]*)'", text)
        if master:
            return f"{owner.group(1)}.{master}" if owner else master
        name = re.search(r"(?:attribute|name) '(\w+)'", text)
        return f"{owner.group(1)}.{name.group(1)}" if owner and name else text.split("\n")[0][:120]
    unexpected = re.search(r"(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'", text)
    if isinstance(exc, TypeError) and unexpected and _is_lasagne_layer(unexpected.group(1)):
        return f"{user_class or unexpected.group(1)}(..., {unexpected.group(2)}=...)"
    if isinstance(exc, RuntimeError) and _EXPRESSION_PARAM in text:
        return _refused_parameter(exc)
    return None


def lasagne_master(exc: BaseException, user_class: str | None = None) -> str | None:
    """The explanation of a name or argument that Lasagne 0.1 lacks, or None. `user_class`: the
    class whose constructor refused an argument, as the user's code named it (LSTMLayer, not the
    MergeLayer it calls)."""
    text = exception_text(exc)
    module = getattr(exc, "name", None) or ""
    if isinstance(exc, (AttributeError, ImportError)) and "lasagne" in text + module:
        master = next((n for n in MASTER_NAMES if re.search(rf"'{n}'", text)), None)
        if master:
            owner = re.search(r"(?:module|from) '(lasagne[\w.]*)'", text)
            qualified = f"{owner.group(1)}.{master}" if owner else master
            return (
                f"{qualified} does not exist in {_RELEASE} (it was added later, on Lasagne's "
                f"master branch); {MASTER_NAMES[master]}"
            )
        name = re.search(r"(?:attribute|name) '(\w+)'", text)
        owner = re.search(r"(?:module|from) '(lasagne[\w.]*)'", text)
        missing = name.group(1) if name else "it"
        if name and owner:
            missing = f"{owner.group(1)}.{name.group(1)}"
        return (
            f"{_RELEASE} does not have {missing}: a typo, or an API added later on Lasagne's "
            "master branch"
        )
    if isinstance(exc, RuntimeError) and _EXPRESSION_PARAM in text:
        if _refused_parameter(exc) == LAYER_INIT:
            return (
                f"{_RELEASE} takes a recurrent layer's initial state (hid_init, cell_init) only as "
                "an array, a shared variable or an initializer, not as a layer, which Lasagne's "
                "master branch takes"
            )
        return (
            f"{_RELEASE} takes a layer's parameter only as an array, a shared variable or an "
            "initializer, not a Theano expression (tied weights: W=other.W.T), which Lasagne's "
            "master branch takes"
        )
    unexpected = re.search(
        r"\b(\w+)\.__init__\(\) got an unexpected keyword argument '(\w+)'", text
    )
    if isinstance(exc, TypeError) and unexpected and _is_lasagne_layer(unexpected.group(1)):
        refused, argument = unexpected.groups()
        layer = user_class or refused
        nearest = MASTER_ARGUMENTS.get(argument) or (
            f"remove it, or use the arguments of Lasagne 0.1's {layer}"
        )
        return (
            f"{layer}(..., {argument}=...) is Lasagne master's API: Lasagne 0.1's {layer} has "
            f"no argument {argument!r} ({_RELEASE}); {nearest}"
        )
    return None


def refusing_class(tb: TracebackType | None, is_users: Callable[[str], bool]) -> str | None:
    """The class of the object whose __init__ the user's code called, from a traceback: the `self`
    of the first frame after the innermost frame in the user's code (`is_users(filename) ->
    bool`)."""
    frames = []
    while tb is not None:
        frames.append(tb.tb_frame)
        tb = tb.tb_next
    for position in range(len(frames) - 1, -1, -1):
        if is_users(frames[position].f_code.co_filename):
            for frame in frames[position + 1 :]:
                if frame.f_code.co_name == "__init__" and "self" in frame.f_locals:
                    return type(frame.f_locals["self"]).__name__
            return None
    return None
