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

from aesampling.sampling import class_balance
from aesampling.sampling import devices
from aesampling.io import storage
from aesampling.selection import lambda_search
from aesampling.io import npz
from aesampling.errors import UserInputError
from aesampling.models.builders import check_autoencoder
from aesampling.sampling.reinjection import CLASS_MOMENTS_REFILL, MOMENTS_START, ReinjectionConfig, ReinjectionSampler, StartMoments, start_for
from aesampling.experiments import outputs
from aesampling.experiments.configs import SampleConfig
from aesampling.experiments.inputs import class_moments, load_data
from aesampling.experiments.records import run_record

CHAIN_PROGRESS_STEPS = (1, 2, 3, 5, 10, 20, 40, 60)
PREVIEW_SAMPLES = 30  # the sample grid's pairs
PREVIEW_CLEAN = "preview_clean"


def reconstructions(autoencoder, x: np.ndarray) -> np.ndarray:
    """r(x) of a few samples, drawn beside them in the report's sample grid."""
    return np.asarray(autoencoder.predict(np.asarray(x, np.float32), verbose=0), np.float32)
CHAIN_PROGRESS_CHAINS = 10


def chain_progress(autoencoder, reinjection: ReinjectionConfig, *, seed: int = 0,
                   moments: StartMoments | None = None) -> np.ndarray:
    """States x_t of 10 chains at t in CHAIN_PROGRESS_STEPS: shape (steps, 10, n).

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


def run_sample(config: SampleConfig) -> dict:
    """Streams `num_samples` reinjection samples of a saved autoencoder to an .npz (arrays `x`, `chain_progress`)."""
    started = time.perf_counter()
    classifier_path = config.classifier if config.reinjection.balance else None
    outputs.claim(outputs.with_record("the samples", config.output),
                  {"the autoencoder": config.autoencoder, "the classifier": classifier_path,
                   "the search result": config.chains_file},
                  suffixes={"the samples": ".npz"})
    moments = None
    if config.reinjection.start == MOMENTS_START:
        moments = lambda_search.read_start_moments(config.chains_file)
    strategy = devices.make_strategy(config.strategy)
    with devices.scope(strategy):
        autoencoder = storage.load_model(config.autoencoder)
    dim = check_autoencoder(autoencoder)
    classifier = storage.load_model(classifier_path) if classifier_path else None
    progress = chain_progress(autoencoder, config.reinjection, seed=config.seed, moments=moments)
    _check_finite(progress, config)
    by_class = None
    if config.reinjection.refill == CLASS_MOMENTS_REFILL:  # the only use of the training data here
        by_class = class_moments(config.reinjection, load_data(config.data))
    sampler = class_balance.make_sampler(autoencoder, config.reinjection, seed=config.seed, classifier=classifier,
                                     jit_compile=config.jit_compile, strategy=strategy, moments=moments,
                                     class_moments=by_class)
    with npz.NpzStreamWriter(config.output, {"x": ((dim,), np.float32)}, config.num_samples,
                            whole={"chain_progress": progress}) as writer:
        for i, chunk in enumerate(sampler.iter_samples(config.num_samples, config.chunk_samples)):
            _check_finite(chunk, config)
            if i == 0:
                writer.put_whole(PREVIEW_CLEAN, reconstructions(autoencoder, chunk[:PREVIEW_SAMPLES]))
            writer.append(x=chunk)
        # The record before the writer closes, which is when the samples appear: a run killed between the two
        # files leaves no samples without their record.
        record = run_record(config, started, input_dim=dim, chain_progress_steps=list(CHAIN_PROGRESS_STEPS),
                            devices=strategy.num_replicas_in_sync if strategy is not None else 1,
                            accepted_share=getattr(sampler, "accepted_share", None))
        storage.write_json(storage.sidecar_path(config.output), record)
    return record
