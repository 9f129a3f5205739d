"""gradcheck-ci: check Theano's symbolic gradients of Lasagne models against finite differences in CI."""

__version__ = "0.1.0"
