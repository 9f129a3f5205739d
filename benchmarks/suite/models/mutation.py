"""Models of the mutation benchmark (python -m benchmarks.mutation): correct but hard models, and models
with a backward-pass error of a size the benchmark sets.

The error sits in `Inject`, an identity op whose grad() adds `ERROR * mask * g` to the gradient `g` flowing
back through it; `ERROR` is one shared scalar, so the benchmark changes the error's size without compiling
again (ERROR = 0 is the correct model). Where the op sits decides the kind of bug:

    uniform    on a parameter: its whole gradient scaled by (1 + ERROR)
    element    on a parameter: one element's gradient scaled
    column     on a 2-D parameter: one column's gradient scaled
    negative   on a pre-activation: the backward message scaled only where the input is below 0
    (scan)     inside a recurrence's step (ScanRNN: on the pre-activation), so it compounds through time

Every factory takes `inject` (one of the patterns above, or None for the correct model).
"""
import lasagne
import numpy as np
import theano
import theano.tensor as T
from lasagne.layers import (
    Conv1DLayer,
    Conv2DLayer,
    DenseLayer,
    FeaturePoolLayer,
    InputLayer,
    Layer,
    LSTMLayer,
    MaxPool1DLayer,
    MaxPool2DLayer,
    RecurrentLayer,
    ReshapeLayer,
)
from lasagne.nonlinearities import rectify, softmax, tanh

ERROR = theano.shared(np.asarray(0.0, dtype="float64"), name="injected_error")


class Inject(theano.Op):
    """The identity on x; its grad() is wrong by `error` times the gradient where `pattern` says. `error` is an
    input (ERROR), not a constant, so that a scan whose step uses the op passes it on to its gradient."""
    __props__ = ("pattern",)

    def __init__(self, pattern):
        self.pattern = pattern

    def make_node(self, x, error):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x, T.as_tensor_variable(error)], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.array(inputs[0], copy=True)

    def infer_shape(self, node, shapes):
        return shapes[:1]

    def grad(self, inputs, output_grads):
        x, error, g = inputs[0], inputs[1], output_grads[0]
        if self.pattern == "uniform":
            mask = T.ones_like(x)
        elif self.pattern == "element":  # the element in the middle of the flattened tensor
            flat = T.zeros_like(x).flatten()
            mask = T.set_subtensor(flat[flat.shape[0] // 2], 1).reshape(x.shape)
        elif self.pattern == "column":  # the middle column of a matrix
            mask = T.set_subtensor(T.zeros_like(x)[:, x.shape[1] // 2], 1)
        elif self.pattern == "negative":
            mask = T.lt(x, 0)
        else:
            raise ValueError(self.pattern)
        return [g + T.cast(error * mask * g, g.dtype), T.zeros_like(error)]


def inject(x, pattern):
    return Inject(pattern)(x, ERROR) if pattern else x


class InjectedDense(DenseLayer):
    """A DenseLayer whose W's gradient goes through Inject."""

    def __init__(self, incoming, num_units, pattern=None, **kwargs):
        super().__init__(incoming, num_units, **kwargs)
        self.pattern = pattern

    def get_output_for(self, input, **kwargs):
        if input.ndim > 2:
            input = input.flatten(2)
        activation = T.dot(input, inject(self.W, self.pattern))
        if self.b is not None:
            activation = activation + self.b.dimshuffle("x", 0)
        return self.nonlinearity(activation)


class InjectedConv2D(Conv2DLayer):
    def __init__(self, incoming, num_filters, filter_size, pattern=None, **kwargs):
        super().__init__(incoming, num_filters, filter_size, **kwargs)
        self.pattern = pattern

    def get_output_for(self, input, **kwargs):
        weights = self.W  # type: ignore[has-type]  # set by Lasagne's untyped Conv2DLayer.__init__
        self.W = inject(weights, self.pattern)
        try:
            return super().get_output_for(input, **kwargs)
        finally:
            self.W = weights


class BiasLayer(Layer):
    """A learned bias added to every row, its gradient through Inject."""

    def __init__(self, incoming, pattern=None, **kwargs):
        super().__init__(incoming, **kwargs)
        self.pattern = pattern
        self.b = self.add_param(lasagne.init.Normal(0.1), (self.input_shape[1],), name="b")

    def get_output_for(self, input, **kwargs):
        return input + inject(self.b, self.pattern).dimshuffle("x", 0)


class NegativeInjected(Layer):
    """A nonlinearity layer whose backward message is wrong where its input is negative."""

    def __init__(self, incoming, nonlinearity, pattern=None, **kwargs):
        super().__init__(incoming, **kwargs)
        self.nonlinearity = nonlinearity
        self.pattern = pattern

    def get_output_for(self, input, **kwargs):
        return self.nonlinearity(inject(input, self.pattern))


class ScanRNN(Layer):
    """A recurrence written with theano.scan (as users write their own): tanh units, optionally gated (GRU-like
    update gate). The error sits inside the step, on the pre-activation, so it compounds through time; ERROR
    reaches the step as a non-sequence, as strict scans require of every shared variable."""

    def __init__(self, incoming, num_units, pattern=None, gated=False, **kwargs):
        super().__init__(incoming, **kwargs)
        features = self.input_shape[2]
        self.num_units, self.pattern, self.gated = num_units, pattern, gated
        init = lasagne.init.GlorotUniform()
        self.W_in = self.add_param(init, (features, num_units), name="W_in")
        self.W_hid = self.add_param(lasagne.init.Orthogonal(), (num_units, num_units), name="W_hid")
        self.b = self.add_param(lasagne.init.Constant(0.0), (num_units,), name="b")
        if gated:
            self.W_in_gate = self.add_param(init, (features, num_units), name="W_in_gate")
            self.W_hid_gate = self.add_param(init, (num_units, num_units), name="W_hid_gate")

    def get_output_shape_for(self, input_shape):
        return input_shape[0], input_shape[1], self.num_units

    def get_output_for(self, input, **kwargs):
        sequence = input.dimshuffle(1, 0, 2)
        params = [self.W_in, self.W_hid, self.b] + ([self.W_in_gate, self.W_hid_gate] if self.gated else [])
        pattern, gated = self.pattern, self.gated

        def step(x, h, W_in, W_hid, b, *rest):
            error = rest[-1]
            candidate = T.tanh(inject_with(T.dot(x, W_in) + T.dot(h, W_hid) + b, pattern, error))
            if not gated:
                return candidate
            z = T.nnet.sigmoid(T.dot(x, rest[0]) + T.dot(h, rest[1]))
            return (1 - z) * h + z * candidate

        h0 = T.zeros((input.shape[0], self.num_units), dtype=input.dtype)
        out, _ = theano.scan(step, sequences=[sequence], outputs_info=[h0], non_sequences=params + [ERROR],
                             strict=True)
        return out.dimshuffle(1, 0, 2)


def inject_with(x, pattern, error):
    return Inject(pattern)(x, error) if pattern else x


# ---------------------------------------------------------------- dense

def mlp(inject=None, features=20, hidden=64, classes=5, nonlinearity="tanh", gain=1.0, layer=0):
    """Two hidden layers; the error (uniform, element or column) on hidden layer `layer`'s W."""
    act = {"tanh": tanh, "relu": rectify}[nonlinearity]
    net = InputLayer((None, features))
    for k in range(2):
        net = InjectedDense(net, hidden, pattern=inject if k == layer else None, nonlinearity=act,
                            W=lasagne.init.GlorotUniform(gain=gain))
    return DenseLayer(net, classes, nonlinearity=softmax)


def negative_inputs(inject=None, features=20, hidden=64, classes=5):
    """tanh hidden units whose backward pass is off only where the pre-activation is negative."""
    net = InputLayer((None, features))
    net = DenseLayer(net, hidden, nonlinearity=None)
    net = NegativeInjected(net, tanh, pattern=inject)
    net = DenseLayer(net, hidden, nonlinearity=tanh)
    return DenseLayer(net, classes, nonlinearity=softmax)


def tiny_beside_big(inject=None, features=200, hidden=200, classes=3):
    """A 200x200 weight and, after the output layer, a 3-element bias whose gradient carries the error."""
    net = InputLayer((None, features))
    net = DenseLayer(net, hidden, nonlinearity=tanh)
    net = DenseLayer(net, classes, nonlinearity=None, b=None)
    net = BiasLayer(net, pattern=inject)
    return lasagne.layers.NonlinearityLayer(net, softmax)


def maxout(inject=None, features=20, hidden=32, pieces=4, classes=5):
    net = InputLayer((None, features))
    net = InjectedDense(net, hidden * pieces, pattern=inject, nonlinearity=None)
    net = FeaturePoolLayer(net, pieces)
    return DenseLayer(net, classes, nonlinearity=softmax)


def relu_at_zero(inject=None, features=3, hidden=4, classes=2):
    """Zero-initialised weights before a rectifier: every hidden unit sits exactly on its kink."""
    net = InputLayer((None, features))
    net = DenseLayer(net, hidden, W=lasagne.init.Constant(0.0), nonlinearity=lambda x: T.maximum(x, 0.0))
    return DenseLayer(net, classes, nonlinearity=softmax)


def tied(inject=None, features=16, hidden=16, classes=4):
    """One weight matrix used by two layers."""
    net = InputLayer((None, features))
    first = DenseLayer(net, hidden, nonlinearity=tanh)
    second = DenseLayer(first, hidden, W=first.W, nonlinearity=tanh)
    return DenseLayer(second, classes, nonlinearity=softmax)


class Unused(Layer):
    """A layer with a parameter its output does not use."""

    def __init__(self, incoming, **kwargs):
        super().__init__(incoming, **kwargs)
        self.scale = self.add_param(lasagne.init.Constant(1.0), (), name="scale")

    def get_output_for(self, input, **kwargs):
        return T.tanh(input)


def unused(inject=None, features=10, hidden=12, classes=3):
    net = InputLayer((None, features))
    net = DenseLayer(net, hidden, nonlinearity=None)
    net = Unused(net)
    return DenseLayer(net, classes, nonlinearity=softmax)


# ---------------------------------------------------------------- convolutional

def cnn(inject=None, channels=1, size=12, filters=6, classes=4, nonlinearity="relu"):
    """Conv 3x3 + 2x2 max pooling + softmax; the error on the convolution's W."""
    act = {"tanh": tanh, "relu": rectify}[nonlinearity]
    net = InputLayer((None, channels, size, size))
    net = InjectedConv2D(net, filters, (3, 3), pattern=inject, nonlinearity=act)
    net = MaxPool2DLayer(net, (2, 2))
    return DenseLayer(net, classes, nonlinearity=softmax)


def conv1d(inject=None, channels=4, length=40, filters=8, classes=3):
    """Conv1D + max pooling (the kind of network issue 12 saw fail in float32 with three kinks)."""
    net = InputLayer((None, channels, length))
    net = Conv1DLayer(net, filters, 5, nonlinearity=rectify)
    net = MaxPool1DLayer(net, 2)
    net = Conv1DLayer(net, filters, 3, nonlinearity=rectify)
    net = MaxPool1DLayer(net, 2)
    return DenseLayer(net, classes, nonlinearity=softmax)


# ---------------------------------------------------------------- recurrent

def rnn(inject=None, features=2, units=8, classes=2, gated=False):
    """A tanh RNN tagger written with theano.scan; the error inside the recurrence's step."""
    net = InputLayer((None, None, features))
    net = ScanRNN(net, units, pattern=inject, gated=gated)
    net = ReshapeLayer(net, (-1, units))
    return DenseLayer(net, classes, nonlinearity=softmax)


def lstm(inject=None, features=2, units=8, classes=2):
    """Lasagne's LSTMLayer tagger (a hard correct model: long float32 sequences)."""
    net = InputLayer((None, None, features))
    net = LSTMLayer(net, units)
    net = ReshapeLayer(net, (-1, units))
    return DenseLayer(net, classes, nonlinearity=softmax)


def lasagne_rnn(inject=None, features=2, units=8, classes=2, gradient_steps=-1, grad_clipping=False,
                bidirectional=False):
    """Lasagne's RecurrentLayer tagger; with `bidirectional`, a forward and a backward layer (both with the same
    gradient_steps and grad_clipping, the usual case) concatenated."""
    net = InputLayer((None, None, features))
    layers = [RecurrentLayer(net, units, nonlinearity=tanh, gradient_steps=gradient_steps,
                             grad_clipping=grad_clipping, backwards=backwards)
              for backwards in ((False, True) if bidirectional else (False,))]
    net = lasagne.layers.ConcatLayer(layers, axis=2) if bidirectional else layers[0]
    net = ReshapeLayer(net, (-1, units * len(layers)))
    return DenseLayer(net, classes, nonlinearity=softmax)


def saturated(inject=None, features=20, hidden=32, classes=3):
    """tanh units driven far into saturation (large weights): most local gradients are ~0."""
    return mlp(inject, features, hidden, classes, "tanh", gain=8.0)
