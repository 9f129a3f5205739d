"""A GRU sequence tagger whose gradient is clipped at 3 (a clipping bound the image's cache does not hold)."""
import lasagne
from lasagne.layers import DenseLayer, GRULayer, InputLayer, ReshapeLayer


def build_gru(num_features=3, num_units=5, num_classes=2):
    l_in = InputLayer((None, None, num_features))
    l_gru = GRULayer(l_in, num_units, grad_clipping=3)
    l_rows = ReshapeLayer(l_gru, (-1, num_units))
    return DenseLayer(l_rows, num_classes, nonlinearity=lasagne.nonlinearities.softmax)
