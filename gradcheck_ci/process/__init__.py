"""One worker process per model: the runner that starts, limits and collects them, and the worker
that checks one model."""
