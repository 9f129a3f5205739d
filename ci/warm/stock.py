"""Stock Lasagne 0.1 networks, one per layer family and variant, for warming Theano's compile cache
in the image (ci/warm_cache.py lists them): each is small, since what is cached is code per kind of
op, dtype and dimensionality, not per size."""

import lasagne
import theano.tensor as T
from lasagne import layers as L
from lasagne import nonlinearities as N

OUTPUTS = {"softmax": N.softmax, "sigmoid": N.sigmoid, "linear": N.linear}


def build(family, nonlinearity="rectify", output="softmax", classes=3, masked=False, **options):
    """The network of `family` (a builder below) ending in a DenseLayer with the `output`
    nonlinearity."""
    body, _ = BUILDERS[family](getattr(N, nonlinearity), masked, **options)
    if family in SEQUENCE_OUTPUTS:  # a tagger: one prediction per step
        body = L.ReshapeLayer(body, (-1, body.output_shape[-1]))
    return L.DenseLayer(body, classes, nonlinearity=OUTPUTS[output])


def _sequence(masked, features=3, integer=False):
    l_in = L.InputLayer(
        (None, None) if integer else (None, None, features),
        input_var=T.imatrix("tokens") if integer else None,
    )
    l_mask = L.InputLayer((None, None), name="mask") if masked else None
    return l_in, l_mask


def mlp(nl, masked, bias=True, noise=False, depth=1):
    l_in = L.InputLayer((None, 6))
    net = L.DropoutLayer(l_in, p=0.2) if noise else l_in
    for _ in range(depth):
        net = L.DenseLayer(net, 8, nonlinearity=nl, b=lasagne.init.Constant(0.0) if bias else None)
        if noise:
            net = L.GaussianNoiseLayer(L.DropoutLayer(net, p=0.5), sigma=0.1)
    return net, [l_in]


def image_mlp(nl, masked):
    l_in = L.InputLayer((None, 2, 5, 5))
    return L.DenseLayer(l_in, 8, nonlinearity=nl), [l_in]


def nin(nl, masked):
    l_in = L.InputLayer((None, 2, 5, 5))
    return L.NINLayer(l_in, 4, nonlinearity=nl), [l_in]


def conv1d(nl, masked, pad=0, stride=1, pool=True):
    l_in = L.InputLayer((None, 2, 12))
    net = L.Conv1DLayer(l_in, 3, 3, stride=stride, pad=pad, nonlinearity=nl)
    return (L.MaxPool1DLayer(net, 2) if pool else net), [l_in]


def conv2d(nl, masked, pad=0, stride=1, pool="max", untie_biases=False, depth=1):
    """`depth` 2: a convolution on a convolution's output (LeNet, VGG), whose gradient needs the
    gradient with respect to a convolution's input (CorrMM_gradInputs), which a convolution on the
    data never does."""
    l_in = L.InputLayer((None, 1, 8, 8) if depth == 1 else (None, 1, 12, 12))
    net = l_in
    for _ in range(depth):
        net = L.Conv2DLayer(
            net, 3, (3, 3), stride=stride, pad=pad, nonlinearity=nl, untie_biases=untie_biases
        )
        if pool == "max":
            net = L.MaxPool2DLayer(net, (2, 2))
        elif pool:
            net = L.Pool2DLayer(net, (2, 2), mode=pool)
    return net, [l_in]


def global_pool(nl, masked, pool="mean"):
    l_in = L.InputLayer((None, 2, 6, 6))
    net = L.Conv2DLayer(l_in, 4, (3, 3), nonlinearity=nl)
    return L.GlobalPoolLayer(net, pool_function=getattr(T, pool)), [l_in]


def feature_layers(nl, masked):
    """Local response normalisation, maxout (FeaturePoolLayer), winner-take-all, padding and
    slicing."""
    l_in = L.InputLayer((None, 4, 6, 6))
    net = L.Conv2DLayer(l_in, 6, (3, 3), nonlinearity=nl)
    net = L.LocalResponseNormalization2DLayer(net, n=3)
    net = L.FeatureWTALayer(L.FeaturePoolLayer(net, 2), 3)
    net = L.SliceLayer(L.PadLayer(net, 1), slice(1, None), axis=2)
    return L.FlattenLayer(L.DimshuffleLayer(net, (0, 2, 3, 1))), [l_in]


def merges(nl, masked):
    l_in = L.InputLayer((None, 6))
    a = L.DenseLayer(l_in, 5, nonlinearity=nl)
    b = L.DenseLayer(l_in, 5, nonlinearity=N.tanh)
    summed = L.ElemwiseSumLayer([a, b], coeffs=[1.0, 0.5])
    product = L.ElemwiseMergeLayer([a, b], T.mul)
    return L.NonlinearityLayer(L.ConcatLayer([summed, product]), N.tanh), [l_in]


def embedding(nl, masked):
    l_in, _ = _sequence(False, integer=True)
    net = L.EmbeddingLayer(l_in, input_size=20, output_size=4)
    return L.DenseLayer(L.ReshapeLayer(net, (-1, 4)), 8, nonlinearity=nl), [l_in]


def recurrent(layer, nl, masked, integer=False, **options):
    l_in, l_mask = _sequence(masked, integer=integer)
    net = L.EmbeddingLayer(l_in, input_size=20, output_size=3) if integer else l_in
    net = layer(net, 5, mask_input=l_mask, **options)
    return net, [l_in] + ([l_mask] if l_mask else [])


def rnn(nl, masked, **options):
    return recurrent(L.RecurrentLayer, nl, masked, nonlinearity=nl, **options)


def lstm(nl, masked, **options):
    return recurrent(L.LSTMLayer, nl, masked, **options)


def gru(nl, masked, **options):
    return recurrent(L.GRULayer, nl, masked, **options)


def bidirectional(nl, masked, layer="LSTMLayer", **options):
    """The usual tagger: a forward and a backward layer, concatenated per step."""
    l_in, l_mask = _sequence(masked)
    cls = getattr(L, layer)
    forward = cls(l_in, 4, mask_input=l_mask, **options)
    backward = cls(l_in, 4, mask_input=l_mask, backwards=True, **options)
    return L.ConcatLayer([forward, backward], axis=2), [l_in] + ([l_mask] if l_mask else [])


def last_step(nl, masked, layer="LSTMLayer"):
    """A sequence classifier: the recurrent layer's last step."""
    net, inputs = recurrent(getattr(L, layer), nl, masked)
    return L.SliceLayer(net, -1, axis=1), inputs


def custom_recurrent(nl, masked):
    l_in, l_mask = _sequence(masked)
    in_to_hid = L.DenseLayer(L.InputLayer((None, 3)), 5, nonlinearity=None)
    hid_to_hid = L.DenseLayer(L.InputLayer((None, 5)), 5, nonlinearity=None)
    net = L.CustomRecurrentLayer(l_in, in_to_hid, hid_to_hid, nonlinearity=nl, mask_input=l_mask)
    return net, [l_in] + ([l_mask] if l_mask else [])


BUILDERS = {
    "mlp": mlp,
    "image-mlp": image_mlp,
    "nin": nin,
    "conv1d": conv1d,
    "conv2d": conv2d,
    "global-pool": global_pool,
    "feature-layers": feature_layers,
    "merges": merges,
    "embedding": embedding,
    "rnn": rnn,
    "lstm": lstm,
    "gru": gru,
    "bidirectional": bidirectional,
    "last-step": last_step,
    "custom-recurrent": custom_recurrent,
}
SEQUENCE_OUTPUTS = ("rnn", "lstm", "gru", "bidirectional", "custom-recurrent")
