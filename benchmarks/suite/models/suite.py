"""The benchmark suite's models (issue 5): the reported network and typical taggers and nets."""
import lasagne
import numpy as np
import theano
import theano.tensor as T
from lasagne.layers import DenseLayer, GRULayer, InputLayer, Layer, LSTMLayer, RecurrentLayer, ReshapeLayer


def seed_rnn(gradient_steps=1):
    """The reported network: softmax RecurrentLayer, recurrent weights at zero."""
    l_in = InputLayer((None, None, 2))
    return RecurrentLayer(l_in, 2, W_hid_to_hid=lasagne.init.Constant(0.0),
                          nonlinearity=lasagne.nonlinearities.softmax, gradient_steps=gradient_steps)


def lstm_tagger(num_units=32, layers=2, num_features=2, num_classes=2):
    net = InputLayer((None, None, num_features))
    for _ in range(layers):
        net = LSTMLayer(net, num_units)
    net = ReshapeLayer(net, (-1, num_units))
    return DenseLayer(net, num_classes, nonlinearity=lasagne.nonlinearities.softmax)


def masked_gru(num_units=32, num_features=4, num_classes=3):
    l_in = InputLayer((None, None, num_features))
    l_mask = InputLayer((None, None))
    net = GRULayer(l_in, num_units, mask_input=l_mask)
    net = ReshapeLayer(net, (-1, num_units))
    return DenseLayer(net, num_classes, nonlinearity=lasagne.nonlinearities.softmax)


def dense_net(num_features=300, hidden=256, num_classes=10):
    net = InputLayer((None, num_features))
    net = DenseLayer(net, hidden, nonlinearity=lasagne.nonlinearities.tanh)
    net = DenseLayer(net, hidden, nonlinearity=lasagne.nonlinearities.tanh)
    return DenseLayer(net, num_classes, nonlinearity=lasagne.nonlinearities.softmax)


class WrongSquare(theano.Op):
    """x**2 whose grad() says 3x instead of 2x."""
    __props__ = ()

    def make_node(self, x):
        x = T.as_tensor_variable(x)
        return theano.Apply(self, [x], [x.type()])

    def perform(self, node, inputs, outputs):
        outputs[0][0] = np.asarray(inputs[0] ** 2, dtype=node.outputs[0].dtype)

    def grad(self, inputs, output_grads):
        return [3 * inputs[0] * output_grads[0]]


class SquareLayer(Layer):
    def get_output_for(self, input, **kwargs):
        return WrongSquare()(input)


def wrong_custom_op(num_features=20, hidden=64, num_classes=5):
    net = InputLayer((None, num_features))
    net = DenseLayer(net, hidden, nonlinearity=None)
    net = SquareLayer(net)
    return DenseLayer(net, num_classes, nonlinearity=lasagne.nonlinearities.softmax)


def rnn_steps(num_units=16):
    """For the steps scaling series."""
    l_in = InputLayer((None, None, 4))
    net = RecurrentLayer(l_in, num_units, nonlinearity=lasagne.nonlinearities.tanh)
    net = ReshapeLayer(net, (-1, num_units))
    return DenseLayer(net, 2, nonlinearity=lasagne.nonlinearities.softmax)
