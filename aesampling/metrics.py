"""Accuracy of a classifier and the summary numbers of a learning curve."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

EVAL_BATCH = 8192


def accuracy_fn(classifier, x_test: np.ndarray, y_test: np.ndarray):
    """A compiled function returning the accuracy of `classifier` on (x_test, y_test).

    The test set is held as constants; the returned callable takes no
    argument and can be called after every epoch as the weights change.
    """
    x = tf.constant(np.asarray(x_test, np.float32))
    y = tf.constant(np.asarray(y_test, np.int64))
    count = int(x.shape[0])

    @tf.function
    def accuracy():
        correct = tf.constant(0, tf.int64)
        for start in tf.range(0, count, EVAL_BATCH):
            probs = classifier(x[start:start + EVAL_BATCH], training=False)
            hits = tf.equal(tf.argmax(probs, axis=-1), y[start:start + EVAL_BATCH])
            correct += tf.reduce_sum(tf.cast(hits, tf.int64))
        return tf.cast(correct, tf.float64) / count

    return lambda: float(accuracy())


def accuracy(classifier, x_test: np.ndarray, y_test: np.ndarray) -> float:
    """Fraction of test examples whose argmax output equals the label."""
    return accuracy_fn(classifier, x_test, y_test)()


def samples_to_reach(samples_seen, accuracies, target: float) -> int | None:
    """Smallest number of samples after which accuracy >= target, or None if never."""
    for seen, acc in zip(samples_seen, accuracies):
        if acc >= target:
            return int(seen)
    return None
