"""(x, C(x)) batches of reinjection samples for `model.fit`: a keras.utils.PyDataset.

    batches = LabelledBatches(sampler, classifier, batches_per_epoch=100)
    student.fit(batches, epochs=20)

Batch i of epoch e holds the samples of restarts (e·I + i)·k .. (e·I + i)·k +
k - 1 (I batches per epoch, k restarts per batch), so every epoch sees new
samples and the same seed gives the same batches, whatever order Keras asks
for them in. The targets are C's outputs, soft labels (train with the loss
that matches C's outputs: binary cross-entropy for sigmoid outputs, as the
paper does, categorical cross-entropy for softmax ones), or its hard labels.
"""

from __future__ import annotations

import keras
import numpy as np

from aesampling.sampling.reinjection import Sampler, at_least_one
from aesampling.sampling.teacher import Labeler, check_classifier


class LabelledBatches(keras.utils.PyDataset):
    """Batches (x, y) with x in r's input shape and y = C(x) (soft) or argmax C(x) (hard).

    Args:
      sampler: a `ReinjectionSampler` or `BalancedReinjectionSampler`.
      classifier: the ground-truth classifier C.
      batches_per_epoch: I, batches per epoch.
      restarts_per_batch: k; a batch holds k·B·(R - b) samples (fewer for a class-balanced sampler's unfilled
        slots).
      hard_labels: yield argmax C(x) instead of C(x).
      **kwargs: keras.utils.PyDataset's (workers, use_multiprocessing, max_queue_size).
    """

    def __init__(self, sampler: Sampler, classifier, *, batches_per_epoch: int, restarts_per_batch: int = 1,
                 hard_labels: bool = False, **kwargs):
        super().__init__(**kwargs)
        at_least_one(batches_per_epoch=batches_per_epoch, restarts_per_batch=restarts_per_batch)
        check_classifier(classifier, sampler.input_dim)
        self.sampler, self.labeler = sampler, Labeler(classifier)
        self.batches_per_epoch, self.restarts_per_batch = int(batches_per_epoch), int(restarts_per_batch)
        self.hard_labels = hard_labels
        self.epoch = 0

    def __len__(self) -> int:
        return self.batches_per_epoch

    def __getitem__(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        if not 0 <= index < self.batches_per_epoch:
            raise IndexError(f"batch {index} of an epoch of {self.batches_per_epoch}")
        first = (self.epoch * self.batches_per_epoch + index) * self.restarts_per_batch
        x = self.sampler.restarts(first, self.restarts_per_batch)
        soft, hard = self.labeler(x)
        return x, hard if self.hard_labels else soft

    def on_epoch_end(self) -> None:
        self.epoch += 1
