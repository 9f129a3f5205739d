"""A built model and its loss: the factory called, the output layer chosen, input shapes and
synthetic data, the objective."""
