"""Stage 2 (Algorithm 1): stream reinjection samples of a saved autoencoder r into an .npz.

Beside the samples `x`, the file holds `chain_progress`: 10 fresh chains from
the run's start (N(0, I), or the data's moments) at the reinjection steps t
of CHAIN_PROGRESS_STEPS, with the run's λ and collected state, and `preview_clean`: r(x) of the first 30 samples, so
the report can draw how chains reach the data and each sample beside its
reconstruction without reloading r.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from absl import logging

from aesampling.sampling import class_balance
from aesampling.sampling import devices
from aesampling.io import storage
from aesampling.selection import lambda_search
from aesampling.io import npz
from aesampling.errors import UserInputError
from aesampling.models import shapes
from aesampling.sampling.reinjection import CLASS_MOMENTS_REFILL, MOMENTS_START, ReinjectionConfig, ReinjectionSampler, StartMoments, start_for
from aesampling.experiments import outputs
from aesampling.experiments.configs import SampleConfig
from aesampling.experiments.inputs import check_fits, class_moments, known_labels, load_data
from aesampling.data import datasets
from aesampling.quality import collapse
from aesampling.reporting.progress import Progress
from aesampling.sampling.teacher import Labeler, check_classifier
from aesampling.experiments.records import run_record

CHAIN_PROGRESS_STEPS = (1, 2, 3, 5, 10, 20, 40, 60)
PREVIEW_SAMPLES = 30  # the sample grid's pairs
PREVIEW_CLEAN = "preview_clean"
SHORT_CLASS_SHARE = 0.5  # class-balanced collection names the classes below half an equal share
BALANCED_CHUNK_RESTARTS = 4


def reconstructions(autoencoder, x: np.ndarray) -> np.ndarray:
    """r(x) of a few samples, drawn beside them in the report's sample grid, in the samples' shape."""
    return np.asarray(autoencoder.predict(np.asarray(x, np.float32), verbose=0), np.float32).reshape(np.shape(x))
CHAIN_PROGRESS_CHAINS = 10


def chain_progress(autoencoder, reinjection: ReinjectionConfig, *, seed: int = 0,
                   moments: StartMoments | None = None) -> np.ndarray:
    """States x_t of 10 chains at t in CHAIN_PROGRESS_STEPS, as n values each: shape (steps, 10, n).

    The chains use λ, the collected state and the start of `reinjection`
    (N(0, I), or the data's `moments`) and run max(CHAIN_PROGRESS_STEPS)
    reinjections without restart.
    """
    config = dataclasses.replace(reinjection.without_balance(), num_chains=CHAIN_PROGRESS_CHAINS,
                                 reinjections=max(CHAIN_PROGRESS_STEPS), burn_in=0)
    states = ReinjectionSampler(autoencoder, config, seed=seed, start=start_for(config, moments)).restarts(0, 1)
    states = states.reshape(config.reinjections, config.num_chains, -1)
    return states[[t - 1 for t in CHAIN_PROGRESS_STEPS]]


def _check_finite(chunk: np.ndarray, config: SampleConfig) -> None:
    if not np.all(np.isfinite(chunk)):
        raise UserInputError(
            f"the chains of {config.autoencoder} produced NaN or inf at λ={config.reinjection.lam}: "
            "the autoencoder is unstable under reinjection (try a smaller λ)"
        )


def _class_report(config: SampleConfig, counts: np.ndarray | None, data_labels: np.ndarray | None, dataset: str | None,
                  accepted_share: float | None) -> dict:
    """Logs the samples' class histogram against the data's (equal shares without a dataset) with the collapse
    verdict, and for class-balanced collection the share of slots filled and the classes left short; returns what
    the record keeps of it."""
    if counts is None:
        logging.info("no classifier given: the samples' classes were not counted (give `classifier` to see their "
                     "histogram and any collapse)")
        return {"class_counts": None, "collapse": None, "short_classes": None}
    reference = np.ones_like(counts) if data_labels is None else collapse.class_counts(data_labels, len(counts))
    names = datasets.class_names(dataset) if dataset else None
    verdict = collapse.assess(counts, reference, class_names=names,
                              what=f"the samples of {config.autoencoder} at λ={config.reinjection.lam:g}")
    collapse.log(verdict)
    short = []
    if config.reinjection.balance is not None:
        equal_share = counts.sum() / len(counts)
        short = [int(c) for c in np.flatnonzero(counts < SHORT_CLASS_SHARE * equal_share)]
        logging.info("class-balanced collection filled %.1f%% of the class slots; samples per class: %s",
                     100 * (accepted_share or 0),
                     ", ".join(f"{collapse.class_label(c, names)} {n:,}" for c, n in enumerate(counts)))
        if short:
            logging.warning("the chains rarely reach %s: %s got %s of an equal share of %s samples",
                            ", ".join(collapse.class_label(c, names) for c in short),
                            "it" if len(short) == 1 else "they",
                            ", ".join(f"{counts[c]:,}" for c in short), f"{equal_share:,.0f}")
    return {"class_counts": counts.tolist(), "collapse": verdict.record(), "short_classes": short}


def _data_for(config: SampleConfig):
    """The training data where the run needs it: always for refill "class_moments"; for the class histogram's
    comparison when a classifier is given and the data can be read (else the histogram is compared with equal
    shares, and a line says why)."""
    if config.data is None:
        return None
    if config.reinjection.refill == CLASS_MOMENTS_REFILL:
        return load_data(config.data)
    if config.classifier is None:
        return None
    try:
        return load_data(config.data)
    except UserInputError as e:
        logging.info("the samples' classes are compared with equal shares: %s's labels could not be read (%s)",
                     config.data.dataset, e)
        return None


def _hard_labels(labeler: Labeler, chunk: np.ndarray, rows: int) -> np.ndarray:
    """C's hard labels of a chunk, padded to `rows` rows so that chunks of every size share one compiled call."""
    if len(chunk) >= rows:
        return labeler(chunk)[1]
    padded = np.zeros((rows, *chunk.shape[1:]), np.float32)
    padded[:len(chunk)] = chunk
    return labeler(padded)[1][:len(chunk)]


def _chunk_samples(config: SampleConfig) -> int:
    """Samples per compiled call: `chunk_samples`, at most BALANCED_CHUNK_RESTARTS restarts under class-balanced
    collection, whose restarts run up to P·R steps each, so that progress shows often (the samples are the same
    whatever the chunk)."""
    if config.reinjection.balance is None:
        return config.chunk_samples
    return min(config.chunk_samples, BALANCED_CHUNK_RESTARTS * config.reinjection.samples_per_restart)


@outputs.stage
def run_sample(config: SampleConfig) -> dict:
    """Streams `num_samples` reinjection samples of a saved autoencoder to an .npz (arrays `x`, `chain_progress`).

    With a classifier, every sample's hard label is counted and the class
    histogram logged against the data's (`data`, else equal shares), with the
    collapse verdict; class-balanced collection also logs its share of slots
    filled and names the classes it left short.
    """
    started = time.perf_counter()
    outputs.claim(outputs.with_record("the samples", config.output), config=config,
                  suffixes={"the samples": ".npz"})
    moments = None
    if config.reinjection.start == MOMENTS_START:
        moments = lambda_search.read_start_moments(config.chains_file)
    strategy = devices.make_strategy(config.strategy)
    with devices.scope(strategy):
        autoencoder = storage.load_model(config.autoencoder)
    sample_shape = shapes.autoencoder_shape(autoencoder)
    dataset = _data_for(config)
    if dataset is not None:
        check_fits(sample_shape, dataset)
    classifier = labeler = counts = None
    if config.classifier:
        classifier = storage.load_model(config.classifier)
        counts = np.zeros(check_classifier(classifier, shapes.size(sample_shape), config.data and config.data.dataset,
                                           num_classes=dataset.num_classes if dataset else None), np.int64)
        labeler = Labeler(classifier)
    progress = chain_progress(autoencoder, config.reinjection, seed=config.seed, moments=moments)
    _check_finite(progress, config)
    by_class = class_moments(config.reinjection, dataset) if dataset is not None else None
    sampler = class_balance.make_sampler(autoencoder, config.reinjection, seed=config.seed, classifier=classifier,
                                         jit_compile=config.jit_compile, strategy=strategy, moments=moments,
                                         class_moments=by_class)
    shown = Progress("sampling", config.num_samples, "samples")
    chunk_rows = _chunk_samples(config)
    with npz.NpzStreamWriter(config.output, {"x": (sample_shape, np.float32)}, config.num_samples,
                             whole={"chain_progress": progress}) as writer:
        for i, chunk in enumerate(sampler.iter_samples(config.num_samples, chunk_rows)):
            _check_finite(chunk, config)
            if i == 0:
                writer.put_whole(PREVIEW_CLEAN, reconstructions(autoencoder, chunk[:PREVIEW_SAMPLES]))
            writer.append(x=chunk)
            if labeler is not None:
                counts += np.bincount(_hard_labels(labeler, chunk, chunk_rows), minlength=len(counts))
            share = getattr(sampler, "accepted_share", None)
            shown.advance(len(chunk), "" if share is None else f"{share:.1%} of class slots filled")
        shown.close()
        classes = _class_report(config, counts, None if dataset is None else known_labels(dataset),
                                config.data.dataset if config.data else None, getattr(sampler, "accepted_share", None))
        # The record before the writer closes, which is when the samples appear: a run killed between the two
        # files leaves no samples without their record.
        record = run_record(config, started, input_dim=shapes.size(sample_shape), sample_shape=list(sample_shape),
                            chain_progress_steps=list(CHAIN_PROGRESS_STEPS),
                            devices=strategy.num_replicas_in_sync if strategy is not None else 1,
                            accepted_share=getattr(sampler, "accepted_share", None), **classes)
        storage.write_json(storage.sidecar_path(config.output), record)
    return record
