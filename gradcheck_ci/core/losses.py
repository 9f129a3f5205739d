"""The built-in losses: one table, read by the config (which names are valid), the objective (the
targets a loss needs and its per-row expression) and the docs. Adding a loss is one row here.

Importing this module costs nothing: Theano and Lasagne are imported only when a loss is built, so
`gradcheck-ci validate` can read the names without them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# What the synthetic targets of a loss are: integer labels below the output's units, 0/1 per unit,
# or reals.
TARGET_KINDS = ("labels", "binary", "real")


@dataclass(frozen=True)
class Loss:
    name: str
    target_kind: str  # one of TARGET_KINDS
    doc: str  # one line, for docs/config.md
    # (prediction (rows, units), target) -> per-row symbolic loss
    per_row: Callable[[Any, Any], Any]


def _categorical_crossentropy(prediction: Any, target: Any) -> Any:
    """Picks each row's label column by indexing: the same value as
    lasagne.objectives.categorical_crossentropy, but Theano's op for that one loops over the rows in
    Python whenever the softmax sits inside a scan (100,000 rows in the reported network: about 0.14
    s per loss evaluation and as much again per gradient), where the index is one numpy call.
    Outside a scan Theano still fuses -log(softmax(x)[rows, labels]) into its C crossentropy op."""
    import theano.tensor as T

    if prediction.dtype != "float64":
        # in float32 a label's probability can underflow (1e-40, a saturated softmax), where the
        # indexed log's gradient is not finite but Lasagne's fused op's is: the user's loss is that
        import lasagne

        return lasagne.objectives.categorical_crossentropy(prediction, target)
    return -T.log(prediction[T.arange(prediction.shape[0]), target])


def _lasagne(name: str) -> Callable[[Any, Any], Any]:
    def per_row(prediction: Any, target: Any) -> Any:
        import lasagne

        return getattr(lasagne.objectives, name)(prediction, target)

    per_row.__name__ = name
    return per_row


LOSSES: tuple[Loss, ...] = (
    Loss(
        "categorical_crossentropy",
        "labels",
        "softmax outputs against integer labels",
        _categorical_crossentropy,
    ),
    Loss(
        "binary_crossentropy",
        "binary",
        "sigmoid outputs against 0/1 targets",
        _lasagne("binary_crossentropy"),
    ),
    Loss("squared_error", "real", "any output against Gaussian targets", _lasagne("squared_error")),
)
BY_NAME: dict[str, Loss] = {loss.name: loss for loss in LOSSES}
BUILTIN_LOSSES: tuple[str, ...] = tuple(BY_NAME)
