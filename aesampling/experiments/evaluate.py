"""Stage 4 (Section IV-G): one learning curve of a fresh classifier trained only on one source."""

from __future__ import annotations

import dataclasses
import math
import time

import numpy as np
import pandas as pd
from absl import logging

from aesampling.sampling import class_balance
from aesampling.data import datasets
from aesampling.quality import collapse, diagnostics
from aesampling.evaluation import learning_curves
from aesampling.io import storage
from aesampling.evaluation import curve_metrics
from aesampling.io import resume
from aesampling.errors import UserInputError
from aesampling.reproducibility import seed_everything
from aesampling.models import shapes
from aesampling.sampling.reinjection import StartMoments, check_fits_memory
from aesampling.experiments import outputs
from aesampling.reporting.progress import Progress
from aesampling.experiments.configs import EvaluateConfig
from aesampling.experiments.inputs import (class_moments, load_curve_inputs, start_moments, training_class_moments,
                                        validation_reference)
from aesampling.experiments.records import fingerprint, run_record, split_sizes


def _source(config: EvaluateConfig, inputs, moments):
    """(source, samples per step, first(n), sampler) of `config.source`; the bounds draw B·(R - b) examples per
    step like the AEs. first(n) gives the source's first n samples (those of steps 0, 1, ...); sampler is the
    autoencoder's (None for the bounds), its chains starting at N(0, I) or at the data's `moments`, which are
    also where moments_bound draws its noise (class_moments_bound: at each class's moments in turn)."""
    batch = config.reinjection.samples_per_restart
    if config.source in learning_curves.BOUNDS:
        if config.source == learning_curves.UPPER_BOUND:
            source, per_step = learning_curves.real_data_source(inputs.dataset.x_train, batch, seed=config.seed)
        else:
            by_class = None
            if config.source == learning_curves.CLASS_MOMENTS_BOUND:
                by_class = training_class_moments(inputs.dataset)
            source, per_step = learning_curves.gaussian_source(
                inputs.dataset.input_dim, batch, seed=config.seed,
                moments=moments if config.source == learning_curves.MOMENTS_BOUND else None, class_moments=by_class)
        first = lambda n: np.concatenate([source(k) for k in range(math.ceil(n / per_step))])[:n]  # noqa: E731
        return source, per_step, first, None
    sampler = class_balance.make_sampler(inputs.autoencoder, config.reinjection, seed=config.seed,
                                     classifier=inputs.classifier, jit_compile=config.jit_compile,
                                     moments=moments, class_moments=class_moments(config.reinjection, inputs.dataset))
    source, per_step = learning_curves.autoencoder_source(sampler)
    return source, per_step, sampler.sample, sampler


def _feature_space(config: EvaluateConfig, inputs) -> diagnostics.FeatureSpace | None:
    """Where the source's samples are measured, built before any training so that a classifier whose feature layer
    cannot be found fails at once; None when no quality is measured."""
    x_val = inputs.dataset.x_val
    if config.quality_samples == 0 or x_val is None or len(x_val) < 2:
        return None
    return diagnostics.FeatureSpace(inputs.classifier, feature_layer=config.feature_layer)


def _diagnostics(config: EvaluateConfig, inputs, first, moments, space) -> dict:
    """The source's sample quality against the validation images, with its collapse verdict (logged with its class
    histogram), and, for an autoencoder, its chains' mixing."""
    dataset = inputs.dataset
    if space is None:
        return {"quality": None, "mixing": None}
    reference = validation_reference(space, dataset)
    quality, verdict = diagnostics.judged_quality(first(config.quality_samples), space, reference,
                                                  class_names=datasets.class_names(dataset.name),
                                                  what=f"{config.source}'s samples")
    collapse.log(verdict)
    result = {"quality": {**quality, "collapse": verdict.record()}, "mixing": None}
    if inputs.autoencoder is not None:
        result["mixing"] = diagnostics.mixing(inputs.autoencoder, config.reinjection, space, reference,
                                              seed=config.seed, chains=config.mixing_chains,
                                              moments=moments)
    logging.info("%s: FD %.4g with recall %.3f, coverage %.3f, class TV %.3f%s; precision %.3f", config.source,
                 quality["fd"], quality["recall"], quality["coverage"], quality["class_tv"],
                 " (collapsed)" if verdict.collapsed else "", quality["precision"])
    return result


def _check_memory(config: EvaluateConfig, inputs) -> None:
    """Refuses, before the curve is trained, a step's batch, a quality measure or a mixing measure that cannot fit
    in memory (reinjection.check_fits_memory): the student trains on B·(R - b) samples a step, through the
    classifier's widest layer forward and back; the quality measure holds its samples and their features."""
    n, widest = inputs.dataset.input_dim, shapes.widest_layer(inputs.classifier)
    per_chain = config.reinjection.collected_per_restart
    check_fits_memory(config.reinjection.num_chains, per_chain * (2 * n + 4 * widest), field="num_chains",
                      what=f"chains of {per_chain} samples of n = {n} a step for the student")
    if config.quality_samples:
        check_fits_memory(config.quality_samples, 2 * n + 2 * widest, what=f"quality samples of n = {n}",
                          field="quality_samples")
    if inputs.autoencoder is not None and config.quality_samples:
        diagnostics.check_mixing_memory(inputs.autoencoder, inputs.classifier, config.reinjection,
                                        config.mixing_chains)


@outputs.stage
def run_evaluate(config: EvaluateConfig) -> dict:
    """Learning curve of a fresh classifier trained only on (x, C(x)) from one source; CSV and record."""
    started = time.perf_counter()
    is_bound = config.source in learning_curves.BOUNDS
    if not is_bound and config.autoencoder is None:
        raise UserInputError(f"source {config.source!r} needs an autoencoder model file")
    outputs.claim({**outputs.with_record("the learning curve", config.output),
                   "the curve's checkpoint": resume.CurveCheckpoint.path_of(config.output)},
                  config=config, suffixes={"the learning curve": ".csv"})
    seed_everything(config.seed)
    inputs = load_curve_inputs(config.data, config.classifier, None if is_bound else config.autoencoder)
    _check_memory(config, inputs)
    moments = (StartMoments.of(inputs.dataset.x_train) if config.source == learning_curves.MOMENTS_BOUND
               else start_moments(config.reinjection, inputs.dataset))
    space = _feature_space(config, inputs)
    source, per_step, first, sampler = _source(config, inputs, moments)
    dataset = inputs.dataset

    epochs = Progress(config.source, config.epochs, "epochs")

    def log(point: learning_curves.CurvePoint) -> None:
        if point.epoch > 0:
            epochs.advance(1)
        left = epochs.time_left()
        logging.info("%s epoch %d/%d: %d samples, test accuracy %.4f%s", config.source, point.epoch, config.epochs,
                     point.samples_seen, point.accuracy, f" ({left})" if left else "")

    checkpoint = resume.CurveCheckpoint(config.output, fingerprint(config))
    curve = learning_curves.learning_curve(
        source, per_step, inputs.classifier, dataset.x_test, dataset.y_test,
        epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, seed=config.seed,
        on_epoch=log, jit_compile=config.jit_compile, checkpoint=checkpoint,
    )
    diagnosed = _diagnostics(config, inputs, first, moments, space)  # draws the first samples: the balanced share is measured
    record = run_record(
        config, started, samples_per_step=per_step, **diagnosed,
        accepted_share=getattr(sampler, "accepted_share", None),
        ground_truth_accuracy=curve_metrics.accuracy(inputs.classifier, dataset.x_test, dataset.y_test),
        final_accuracy=curve[-1].accuracy, interrupted_runs_seconds=round(checkpoint.earlier_seconds, 3),
        **split_sizes(dataset),
    )
    # The record first: the curve is what make waits for, so a run killed between the two files evaluates again
    # (from its last epoch's checkpoint) instead of leaving a curve without its record.
    storage.write_json(storage.sidecar_path(config.output), record)
    frame = pd.DataFrame([dataclasses.asdict(p) for p in curve])
    frame.insert(0, "source", config.source)
    with storage.atomic_path(config.output) as tmp:
        frame.to_csv(tmp, index=False)
    checkpoint.remove()
    return record
