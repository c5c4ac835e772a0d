"""Accuracy of a classifier and the summary numbers of a learning curve."""

from __future__ import annotations

import numpy as np
from keras import ops

from aesampling import backend
from aesampling.models import shapes
from aesampling.models.builders import apply, frozen_weights

EVAL_BATCH = 8192


def accuracy_fn(classifier, x_test: np.ndarray, y_test: np.ndarray):
    """A function returning the accuracy of `classifier` on (x_test, y_test).

    The test set (rows of any layout with the classifier's n input values) is
    copied to the device once, in batches of EVAL_BATCH.
    The returned callable takes the classifier's weights (`frozen_weights`;
    default: its current ones), so it serves after every epoch as they change.
    """
    x = shapes.fit_rows(np.asarray(x_test, np.float32), shapes.input_shape(classifier), "the test images")
    y = np.asarray(y_test, np.int32)
    batches = [(ops.convert_to_tensor(x[i:i + EVAL_BATCH]), ops.convert_to_tensor(y[i:i + EVAL_BATCH]))
               for i in range(0, len(x), EVAL_BATCH)]

    def hits(weights, x, y):
        predicted = ops.cast(ops.argmax(apply(classifier, weights, x), axis=-1), "int32")
        return ops.sum(ops.cast(ops.equal(predicted, y), "int32"))

    compiled_hits = backend.compile(hits)

    def accuracy(weights=None) -> float:
        weights = frozen_weights(classifier) if weights is None else weights
        correct = sum(int(compiled_hits(weights, xb, yb)) for xb, yb in batches)
        return correct / len(x)

    return accuracy


def accuracy(classifier, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Fraction of test examples whose argmax output equals the label."""
    return accuracy_fn(classifier, x_test, y_test)()


def samples_to_reach(samples_seen, accuracies, target: float) -> int | None:
    """Smallest number of samples after which accuracy >= target, or None if never."""
    for seen, acc in zip(samples_seen, accuracies):
        if acc >= target:
            return int(seen)
    return None
