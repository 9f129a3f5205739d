"""A sequence tagger: two stacked LSTM(32) layers and a per-step softmax (about 14k parameters)."""
import lasagne
from lasagne.layers import DenseLayer, InputLayer, LSTMLayer, ReshapeLayer


def build_tagger(num_features=2, num_units=32, num_classes=2, masked=False):
    l_in = InputLayer((None, None, num_features), name="tokens")
    l_mask = InputLayer((None, None), name="mask") if masked else None
    l_lstm1 = LSTMLayer(l_in, num_units, mask_input=l_mask, name="lstm1")
    l_lstm2 = LSTMLayer(l_lstm1, num_units, mask_input=l_mask, name="lstm2")
    l_rows = ReshapeLayer(l_lstm2, (-1, num_units))
    l_out = DenseLayer(l_rows, num_classes, nonlinearity=lasagne.nonlinearities.softmax, name="tags")
    return l_out


def build_gru(num_features=2, num_units=16, num_classes=3):
    """A masked GRU tagger."""
    l_in = InputLayer((None, None, num_features))
    l_mask = InputLayer((None, None))
    l_gru = lasagne.layers.GRULayer(l_in, num_units, mask_input=l_mask)
    l_rows = ReshapeLayer(l_gru, (-1, num_units))
    return DenseLayer(l_rows, num_classes, nonlinearity=lasagne.nonlinearities.softmax)
