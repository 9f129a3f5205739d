"""Stock networks of the layer families only Lasagne master has (batch normalisation, transposed and
dilated convolutions, upscaling, expression and bias/scale layers, its new nonlinearities, recurrent
layers returning their last step), for warming Theano's compile cache in the image on the master
stack (ci/warm_cache.py lists them). Each is small: what is cached is code per kind of op, dtype and
dimensionality."""

import theano.tensor as T
from lasagne import layers as L
from lasagne import nonlinearities as N

OUTPUTS = {"softmax": N.softmax, "sigmoid": N.sigmoid}


def build(family, nonlinearity="rectify", output="softmax", classes=3, **options):
    """The network of `family` (a builder below) ending in a DenseLayer with the `output`
    nonlinearity."""
    body = BUILDERS[family](getattr(N, nonlinearity), **options)
    return L.DenseLayer(body, classes, nonlinearity=OUTPUTS[output])


def dense_bn(nl, depth=1):
    net = L.InputLayer((None, 6))
    for _ in range(depth):
        net = L.batch_norm(L.DenseLayer(net, 8, nonlinearity=nl))
    return net


def conv_bn(nl, depth=1):
    net = L.InputLayer((None, 1, 8, 8))
    for _ in range(depth):
        net = L.batch_norm(L.Conv2DLayer(net, 3, 3, pad="same", nonlinearity=nl))
    return L.MaxPool2DLayer(net, 2)


def transposed(nl, stride=2, crop=0):
    net = L.InputLayer((None, 2, 3, 3))
    net = L.TransposedConv2DLayer(net, 3, 3, stride=stride, crop=crop, nonlinearity=nl)
    return L.Conv2DLayer(net, 2, 3, nonlinearity=nl)


def dilated(nl):
    return L.DilatedConv2DLayer(
        L.InputLayer((None, 2, 8, 8)), 3, 3, dilation=(2, 2), nonlinearity=nl
    )


def upscale(nl):
    net = L.Upscale2DLayer(L.InputLayer((None, 2, 3, 3)), 2)
    return L.Conv2DLayer(net, 2, 3, nonlinearity=nl)


def expression(nl):
    net = L.DenseLayer(L.InputLayer((None, 6)), 8, nonlinearity=nl)
    net = L.ExpressionLayer(net, lambda x: x * T.tanh(x), output_shape="auto")
    return L.ScaleLayer(L.BiasLayer(net))


def prelu(nl):
    return L.prelu(L.DenseLayer(L.InputLayer((None, 6)), 8, nonlinearity=None))


def last_step(nl, layer="LSTMLayer", masked=False, **options):
    l_in = L.InputLayer((None, None, 3))
    l_mask = L.InputLayer((None, None), name="mask") if masked else None
    return getattr(L, layer)(l_in, 5, mask_input=l_mask, only_return_final=True, **options)


BUILDERS = {
    "dense-bn": dense_bn,
    "conv-bn": conv_bn,
    "transposed": transposed,
    "dilated": dilated,
    "upscale": upscale,
    "expression": expression,
    "prelu": prelu,
    "last-step": last_step,
}
