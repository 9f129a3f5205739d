"""The reported network: a softmax RecurrentLayer with its recurrent weights at zero.

With W_hid_to_hid = 0 it computes the same function as a feed-forward softmax classifier applied at every
time step, so its loss is that classifier's loss. With gradient_steps=1, Theano's scan truncates
backpropagation through time to the last step, and the gradient of the input weights is orders of
magnitude smaller than the true derivative.
"""
import lasagne
from lasagne.layers import InputLayer, RecurrentLayer


def build_model(gradient_steps=-1, num_classes=2, num_features=2):
    l_in = InputLayer((None, None, num_features))
    l_rnn = RecurrentLayer(
        l_in, num_classes,
        W_hid_to_hid=lasagne.init.Constant(0.0),
        nonlinearity=lasagne.nonlinearities.softmax,
        gradient_steps=gradient_steps)
    return l_rnn
