"""A two-layer MLP for tabular data with one binary target."""
import lasagne
from lasagne.layers import DenseLayer, InputLayer


def build_mlp(num_features=12, hidden=8):
    l_in = InputLayer((None, num_features))
    l_hid = DenseLayer(l_in, hidden, nonlinearity=lasagne.nonlinearities.tanh)
    return DenseLayer(l_hid, 1, nonlinearity=lasagne.nonlinearities.sigmoid)
