"""Algorithm 2's labels: the ground-truth classifier's outputs on each sample.

Soft labels y = C(x) (sigmoid outputs, one per class) are what the fresh
classifier is trained on with binary cross-entropy (logit distillation,
Section IV-F); the hard label is argmax_k y_k.

A classifier with softmax outputs is accepted: its outputs are valid soft
targets in [0, 1] and their argmax is the same; a warning says so.
"""

from __future__ import annotations

from typing import Iterable, Iterator

import numpy as np
from absl import logging
from keras import ops

from aesampling import backend
from aesampling.errors import UserInputError
from aesampling.models import shapes
from aesampling.models.builders import apply, frozen_weights
from aesampling.models.classifier_layers import output_activation


def check_classifier(classifier, input_dim: int, dataset: str | None = None, num_classes: int | None = None) -> int:
    """Checks C takes samples of n = input_dim values (of the samples, or of `dataset`) in one input of any shape
    and gives class probabilities (as many as `num_classes` when given); returns its number of classes."""
    s_in, s_out = shapes.input_shape(classifier), shapes.output_shape(classifier)
    if shapes.size(s_in) != input_dim:
        having = f"dataset {dataset} has" if dataset else "the samples have"
        raise UserInputError(f"the classifier takes inputs of shape {shapes.describe(s_in)} but {having} "
                             f"{input_dim} values per sample")
    if len(s_out) != 1 or s_out[0] < 2:
        raise UserInputError(f"the classifier must output one probability per class, shape (C,) with C >= 2; "
                             f"classifier {classifier.name!r} outputs {s_out}")
    if num_classes is not None and s_out[0] != num_classes:
        having = f"dataset {dataset} has" if dataset else "the data have"
        raise UserInputError(f"the classifier outputs {s_out[0]} classes but {having} {num_classes}")
    activation = output_activation(classifier)
    if activation == "softmax":
        logging.warning(
            "classifier %r has softmax outputs; using them as soft labels (argmax unchanged)",
            classifier.name,
        )
    elif activation not in (None, "sigmoid"):
        raise UserInputError(
            f"the classifier's outputs must be probabilities (sigmoid or softmax), not {activation}: "
            f"end classifier {classifier.name!r} with a sigmoid or softmax"
        )
    return s_out[0]


class Labeler:
    """Compiled soft labelling with a ground-truth classifier C; samples of any layout with C's n values are
    fitted to C's input shape."""

    def __init__(self, classifier):
        self.classifier = classifier
        self.input_shape = shapes.input_shape(classifier)
        self._soft = backend.compile(self.soft_labels)

    def weights(self):
        """C's weights, the first argument of `soft_labels`."""
        return frozen_weights(self.classifier)

    def soft_labels(self, weights, x):
        """C(x) as float32 with C's `weights`; traceable inside another compiled function."""
        return apply(self.classifier, weights, shapes.to_model(x, self.input_shape))

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(soft labels, hard labels) of a batch of samples."""
        soft = ops.convert_to_numpy(self._soft(self.weights(), ops.convert_to_tensor(np.asarray(x, np.float32))))
        return soft, soft.argmax(axis=-1).astype(np.int64)

    def label_chunks(self, chunks: Iterable[np.ndarray]) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Yields (x, soft, hard) for each chunk of samples."""
        for x in chunks:
            soft, hard = self(x)
            yield x, soft, hard
