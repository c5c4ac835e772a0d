"""The quality of any samples file against a dataset, in the ground-truth classifier's feature space; trains nothing.

FD to the validation images and its share of the FD of as many N(0, I)
draws (the samples' distance from the data as a fraction of noise's), with
precision, recall, density and coverage beside it (FD alone can look good
for collapsed samples), the class histogram of C's hard labels against the
data's with the collapse verdict (aesampling.quality.collapse), and a grid of
the first samples titled with their class names.
"""

from __future__ import annotations

import time

import numpy as np
from absl import logging

from aesampling.data import datasets
from aesampling.errors import UserInputError
from aesampling.experiments import outputs
from aesampling.experiments.configs import QualityConfig
from aesampling.experiments.inputs import load_data, validation_reference
from aesampling.experiments.records import run_record
from aesampling.io import npz, storage
from aesampling.models import shapes
from aesampling.quality import collapse, diagnostics, measures
from aesampling.reporting import plots
from aesampling.sampling.teacher import check_classifier


def read_samples(path: str, count: int) -> np.ndarray:
    """The first `count` samples (all for 0) of the array `x` of an .npz, any shape per sample."""
    rows, _ = npz.samples_shape(path)
    wanted = rows if count == 0 else min(rows, count)
    if wanted < 2:
        raise UserInputError(f"{path} holds {rows} samples: measuring quality needs 2 or more")
    chunks, kept = [], 0
    for chunk in npz.iter_npz_rows(path, "x", min(wanted, 16384)):
        chunks.append(chunk[:wanted - kept])
        kept += len(chunks[-1])
        if kept == wanted:
            break
    x = np.concatenate(chunks).astype(np.float32, copy=False)
    if not np.all(np.isfinite(x)):
        raise UserInputError(f"{path} holds NaN or inf samples")
    return x


def noise_fd(space: diagnostics.FeatureSpace, reference: diagnostics.Reference, count: int, input_dim: int,
             seed: int) -> float:
    """FD of `count` N(0, I) draws in R^n to the reference: where the chains of the paper start."""
    noise = np.random.default_rng(seed).standard_normal((count, input_dim)).astype(np.float32)
    return measures.frechet_distance(space(noise)[0], reference.features)


def _grid_shape(dataset: datasets.Dataset, sample_shape: tuple[int, ...]) -> tuple[int, ...] | None:
    """The image shape the grid draws samples in: the samples' own (H, W[, C]) where they are images, the dataset's
    image shape for its flat pixels, None for feature vectors (drawn as a heat map)."""
    if len(sample_shape) in (2, 3):
        return sample_shape
    spec = datasets.dataset_spec(dataset.name)
    return None if spec.uses_features else spec.image_shape


@outputs.stage
def run_quality(config: QualityConfig) -> dict:
    """Measures `config.samples` against the dataset's validation split; writes the JSON report and the grid."""
    started = time.perf_counter()
    grid = storage.sidecar_path(config.output, ".png")
    outputs.claim({"the quality report": config.output, "the sample grid": grid}, config=config,
                  suffixes={"the quality report": ".json"})
    x = read_samples(config.samples, config.num_samples)
    dataset = load_data(config.data)
    if dataset.x_val is None or len(dataset.x_val) < 2:
        raise UserInputError("measuring quality needs a validation split: set `validation_fraction` above 0")
    classifier = storage.load_model(config.classifier)
    check_classifier(classifier, dataset.input_dim, dataset.name, num_classes=dataset.num_classes)
    if shapes.size(x.shape[1:]) != dataset.input_dim:
        raise UserInputError(f"{config.samples} holds samples of shape {shapes.describe(x.shape[1:])} but dataset "
                             f"{dataset.name} has {dataset.input_dim} values per sample")
    space = diagnostics.FeatureSpace(classifier, feature_layer=config.feature_layer)
    reference = validation_reference(space, dataset)
    names = datasets.class_names(dataset.name)
    quality, verdict = diagnostics.judged_quality(x, space, reference, class_names=names,
                                                  what=f"the samples of {config.samples}")
    noise = noise_fd(space, reference, len(x), dataset.input_dim, config.seed)
    labels = space(x[:60])[1]
    plots.plot_sample_grid(x[:60].reshape(min(len(x), 60), -1), labels, grid,
                           image_shape=_grid_shape(dataset, tuple(x.shape[1:])), class_names=names,
                           title=f"{config.samples}: first samples and C's labels")
    record = run_record(config, started, sample_shape=list(x.shape[1:]), noise_fd=noise,
                        fd_share_of_noise=quality["fd"] / noise if noise > 0 else None,
                        quality=quality, collapse=verdict.record(),
                        feature_dim=int(reference.features.shape[1]))
    storage.write_json(config.output, record)
    collapse.log(verdict)
    logging.info("FD %.4g (%.1f%% of N(0, I) noise's %.4g), precision %.3f, recall %.3f, density %.3f, coverage "
                 "%.3f, class TV %.3f%s", quality["fd"], 100 * quality["fd"] / noise if noise > 0 else float("nan"),
                 noise, quality["precision"], quality["recall"], quality["density"], quality["coverage"],
                 quality["class_tv"], " (collapsed)" if verdict.collapsed else "")
    return record
