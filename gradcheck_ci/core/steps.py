"""Progress steps of a worker that the runner reads back: what the model's code was doing when its
worker ended without a result."""

IMPORTING = "importing the model's module"
CALLING_FACTORY = "calling the factory"
# Theano has compiled nothing of the check yet: an end here is the model's code, with C or without
BEFORE_THEANO = (IMPORTING, CALLING_FACTORY)
