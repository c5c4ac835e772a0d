"""Stage 3 (Algorithm 2): add the ground-truth classifier's soft labels C(x) and hard labels to samples."""

from __future__ import annotations

import time

import numpy as np

from aesampling.io import storage
from aesampling.io import npz
from aesampling.models import shapes
from aesampling.errors import UserInputError
from aesampling.sampling.teacher import Labeler, check_classifier
from aesampling.experiments import outputs
from aesampling.reporting.progress import Progress
from aesampling.experiments.configs import LabelConfig
from aesampling.experiments.records import run_record


PASSED_THROUGH = ("chain_progress", "preview_clean")  # the sampling stage's small arrays, for the report


@outputs.stage
def run_label(config: LabelConfig) -> dict:
    """Writes x with soft_labels = C(x) and labels = argmax C(x) (and the samples' small arrays) to a new .npz."""
    started = time.perf_counter()
    outputs.claim(outputs.with_record("the labelled samples", config.output), config=config,
                  suffixes={"the labelled samples": ".npz"})
    num_rows, row_shape = npz.samples_shape(config.samples)
    classifier = storage.load_model(config.classifier)
    num_classes = check_classifier(classifier, shapes.size(row_shape))
    labeler = Labeler(classifier)
    arrays = {"x": (tuple(row_shape), np.float32), "soft_labels": ((num_classes,), np.float32), "labels": ((), np.int64)}
    whole = {key: array for key in PASSED_THROUGH if (array := npz.load_npz_array(config.samples, key)) is not None}
    counts = np.zeros(num_classes, np.int64)
    progress = Progress("labelling", num_rows, "samples")
    with npz.NpzStreamWriter(config.output, arrays, num_rows, whole=whole) as writer:
        chunks = npz.iter_npz_rows(config.samples, "x", config.chunk_rows)
        for x, soft, hard in labeler.label_chunks(chunks):
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(soft))):
                raise UserInputError(f"{config.samples} holds NaN or inf samples (or the classifier outputs them)")
            writer.append(x=x, soft_labels=soft, labels=hard)
            counts += np.bincount(hard, minlength=num_classes)
            progress.advance(len(x))
        progress.close()
        # The record before the writer closes, which is when the labelled samples appear (see run_sample).
        samples_record = storage.sidecar_path(config.samples)
        record = run_record(
            config, started, num_samples=int(num_rows), class_counts=counts.tolist(),
            samples_record=storage.read_json(samples_record) if samples_record.is_file() else None,
        )
        storage.write_json(storage.sidecar_path(config.output), record)
    return record
