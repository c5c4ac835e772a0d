"""Stage 3 (Algorithm 2): add the ground-truth classifier's soft labels C(x) and hard labels to samples."""

from __future__ import annotations

import time

import numpy as np

from aesampling.io import storage
from aesampling.io import npz
from aesampling.errors import UserInputError
from aesampling.sampling.teacher import Labeler, check_classifier
from aesampling.experiments import outputs
from aesampling.experiments.configs import LabelConfig
from aesampling.experiments.records import run_record


PASSED_THROUGH = ("chain_progress", "preview_clean")  # the sampling stage's small arrays, for the report


def run_label(config: LabelConfig) -> dict:
    """Writes x with soft_labels = C(x) and labels = argmax C(x) (and the samples' small arrays) to a new .npz."""
    started = time.perf_counter()
    outputs.claim(outputs.with_record("the labelled samples", config.output),
                  {"the samples": config.samples, "the classifier": config.classifier},
                  suffixes={"the labelled samples": ".npz"})
    (num_rows, *row_shape), _ = npz.npz_array_shape(config.samples, "x")
    if len(row_shape) != 1:
        raise UserInputError(f"{config.samples}: x must be a 2-D array of samples")
    classifier = storage.load_model(config.classifier)
    num_classes = check_classifier(classifier, row_shape[0])
    labeler = Labeler(classifier)
    arrays = {"x": (tuple(row_shape), np.float32), "soft_labels": ((num_classes,), np.float32), "labels": ((), np.int64)}
    whole = {key: array for key in PASSED_THROUGH if (array := npz.load_npz_array(config.samples, key)) is not None}
    counts = np.zeros(num_classes, np.int64)
    with npz.NpzStreamWriter(config.output, arrays, num_rows, whole=whole) as writer:
        chunks = npz.iter_npz_rows(config.samples, "x", config.chunk_rows)
        for x, soft, hard in labeler.label_chunks(chunks):
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(soft))):
                raise UserInputError(f"{config.samples} holds NaN or inf samples (or the classifier outputs them)")
            writer.append(x=x, soft_labels=soft, labels=hard)
            counts += np.bincount(hard, minlength=num_classes)
        # The record before the writer closes, which is when the labelled samples appear (see run_sample).
        samples_record = storage.sidecar_path(config.samples)
        record = run_record(
            config, started, num_samples=int(num_rows), class_counts=counts.tolist(),
            samples_record=storage.read_json(samples_record) if samples_record.is_file() else None,
        )
        storage.write_json(storage.sidecar_path(config.output), record)
    return record
