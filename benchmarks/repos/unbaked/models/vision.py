"""A small convnet for 12x12 grey-scale digits, as in Lasagne's MNIST example (smaller), with a leaky
rectifier of slope 0.2 (Theano compiles its fused code per constant: the image holds 0.01 and 1/3)."""
import lasagne
from lasagne.layers import Conv2DLayer, DenseLayer, InputLayer, MaxPool2DLayer


def build_cnn(input_var=None):
    network = InputLayer(shape=(None, 1, 12, 12), input_var=input_var)
    network = Conv2DLayer(network, num_filters=4, filter_size=(3, 3),
                          nonlinearity=lasagne.nonlinearities.rectify, W=lasagne.init.GlorotUniform())
    network = MaxPool2DLayer(network, pool_size=(2, 2))
    network = DenseLayer(network, num_units=16, nonlinearity=lasagne.nonlinearities.LeakyRectify(0.2))
    network = DenseLayer(network, num_units=10, nonlinearity=lasagne.nonlinearities.softmax)
    return network
