"""Stage 1: train a preset (an autoencoder r or the ground-truth classifier C) on the real data."""

from __future__ import annotations

import dataclasses
import time

from absl import logging

from aesampling.sampling import devices
from aesampling.io import storage
from aesampling.models import presets
from aesampling.io import resume
from aesampling.models import fitting
from aesampling.errors import UserInputError
from aesampling.reproducibility import seed_everything
from aesampling.experiments import outputs
from aesampling.experiments.configs import TrainConfig
from aesampling.experiments.inputs import load_data
from aesampling.experiments.records import fingerprint, run_record, split_sizes


def _with_noise_overrides(preset, config: TrainConfig):
    """The preset with the DAE noise levels of `config` where it sets them (denoising presets only)."""
    overrides = {name: value for name in ("gaussian_noise_std", "salt_pepper_rate")
                 if (value := getattr(config, name)) is not None}
    if not overrides:
        return preset
    if config.model == presets.CLASSIFIER or not preset.denoising:
        raise UserInputError(f"noise levels apply to denoising presets only, not to '{config.model}'")
    return dataclasses.replace(preset, **overrides)


@outputs.stage
def run_train(config: TrainConfig) -> dict:
    """Trains the preset `config.model` of `config.data.dataset`; saves it and its record."""
    started = time.perf_counter()
    outputs.claim(outputs.with_record("the model", config.output), config=config, suffixes={"the model": ".keras"})
    seed_everything(config.seed)
    if config.model == presets.CLASSIFIER:
        preset = presets.experiment_presets(config.data.dataset).classifier
    else:
        preset = presets.autoencoder_preset(config.data.dataset, config.model)
    preset = _with_noise_overrides(preset, config)
    epochs = preset.epochs if config.epochs is None else config.epochs
    batch_size = preset.batch_size if config.batch_size is None else config.batch_size
    dataset = load_data(config.data)  # validated before the backup is made: a bad dataset leaves nothing behind
    resumed_from = resume.prepare_training_backup(config.output, fingerprint(config))
    if resumed_from:
        logging.info("resuming %s from epoch %d of an interrupted run", config.output, resumed_from)
    backup = [fitting.EpochSeededShuffle(config.seed), fitting.SeedStateBackup(config.output, resumed_from),
              resume.training_backup(config.output)]
    strategy = devices.make_strategy(config.strategy)
    devices.set_mixed_precision(config.mixed_precision)
    with devices.scope(strategy):
        if config.model == presets.CLASSIFIER:
            model = fitting.build_classifier_from_preset(preset, dataset.input_dim, dataset.num_classes)
        else:
            model = fitting.build_autoencoder_from_preset(
                preset, dataset.input_dim, seed=config.seed, name=config.model)
    if config.model == presets.CLASSIFIER:
        result = fitting.fit_classifier(model, dataset, epochs=epochs, batch_size=batch_size, callbacks=backup)
    else:
        result = fitting.fit_autoencoder(model, dataset, epochs=epochs, batch_size=batch_size, callbacks=backup)
    record = run_record(
        config, started, preset=dataclasses.asdict(preset), epochs_trained=epochs, resumed_from_epoch=resumed_from,
        parameters=int(model.count_params()), input_dim=dataset.input_dim, **split_sizes(dataset), **result,
    )
    # The record first: the model is what make waits for, so a run killed between the two files trains again
    # (from its backup) instead of leaving a model without its record.
    storage.write_json(storage.sidecar_path(config.output), record)
    storage.save_model(model, config.output)
    resume.remove_training_backup(config.output)
    return record
