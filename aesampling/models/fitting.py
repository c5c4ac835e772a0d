"""Fitting the autoencoders and the ground-truth classifier on real data."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
from absl import logging

from aesampling import backend
from aesampling.io import interruption
from aesampling.io import storage
from aesampling.models import builders
from aesampling.data.datasets import Dataset
from aesampling.evaluation.curve_metrics import accuracy
from aesampling.models.presets import AutoencoderPreset, ClassifierPreset


def build_autoencoder_from_preset(preset: AutoencoderPreset, input_dim: int, *, seed: int, name: str):
    """The compiled autoencoder a preset describes."""
    return builders.build_autoencoder(
        input_dim, preset.hidden_units, preset.activation,
        gaussian_noise_std=preset.gaussian_noise_std, salt_pepper_rate=preset.salt_pepper_rate,
        learning_rate=preset.learning_rate, seed=seed, name=name,
    )


def build_classifier_from_preset(preset: ClassifierPreset, input_dim: int, num_classes: int):
    """The compiled ground-truth classifier a preset describes."""
    return builders.build_classifier(
        input_dim, num_classes, preset.hidden_units, preset.activation,
        learning_rate=preset.learning_rate,
    )


SEED_STATES = "seed_states_{epochs}.npz"  # the generators' states after that many completed epochs


def _seed_states(model) -> list:
    """The state variables of the model's SeedGenerators (keras.random), in a fixed order."""
    return [v for v in model.non_trainable_variables if v.name == "seed_generator_state"]


class SeedStateBackup(keras.callbacks.Callback):
    """Saves the model's random-number states after every epoch and restores them when a training resumes.

    Keras's BackupAndRestore saves weights and optimizer variables but no
    SeedGenerator state, so without this a DAE whose training resumes at
    epoch k would corrupt its inputs with the noise of epochs 1, 2, ... again.
    It must come before BackupAndRestore in the callbacks: its epoch's states
    are then on disk before that epoch's backup, and the states of the two
    last epochs are kept, for a backup that falls back on the epoch before.
    """

    def __init__(self, output: str | Path, resumed_from: int):
        super().__init__()
        self._folder = Path(f"{output}.backup")
        self._resumed_from = resumed_from

    def _path(self, epochs: int) -> Path:
        return self._folder / SEED_STATES.format(epochs=epochs)

    def on_epoch_begin(self, epoch, logs=None):
        if not self._resumed_from or epoch != self._resumed_from:
            return
        variables = _seed_states(self.model)
        if not variables:
            return
        try:
            with np.load(self._path(epoch)) as saved:
                values = [saved[f"state_{i}"] for i in range(len(variables))]
        except (OSError, KeyError, ValueError):
            logging.warning("%s holds no noise-generator states for epoch %d: the resumed training draws other "
                            "noise than an uninterrupted one", self._folder, epoch)
            return
        for variable, value in zip(variables, values):
            variable.assign(value)

    def on_epoch_end(self, epoch, logs=None):
        variables = _seed_states(self.model)
        if not variables:
            return
        with storage.atomic_path(self._path(epoch + 1)) as tmp:
            with open(tmp, "wb") as handle:
                np.savez(handle, **{f"state_{i}": keras.ops.convert_to_numpy(v) for i, v in enumerate(variables)})
        self._path(epoch - 1).unlink(missing_ok=True)


class EpochSeededShuffle(keras.callbacks.Callback):
    """On JAX, seeds NumPy's global generator from (seed, epoch) as each epoch begins: `fit` shuffles with it.

    On JAX, `fit` draws each epoch's order of the training examples from
    NumPy's global generator, so a training resumed at epoch k would take the
    orders of epochs 1, 2, ... again. Keyed by the epoch, an epoch's order is
    the same whether or not the training was interrupted before it.
    TensorFlow's `fit` shuffles with its own ops, keyed by the epoch already:
    there this does nothing, and TensorFlow's trainings stay as they were.
    """

    def __init__(self, seed: int):
        super().__init__()
        self._seed = seed

    def on_epoch_begin(self, epoch, logs=None):
        if backend.is_jax():
            np.random.seed(np.random.SeedSequence([self._seed, epoch]).generate_state(1)[0])


class _StopWhenAsked(keras.callbacks.Callback):
    """Ends `fit` after the batch during which a stop was asked for (see aesampling.io.interruption)."""

    def on_train_batch_end(self, batch, logs=None):
        interruption.raise_if_requested()


def _callbacks(given) -> list:
    return [*given, _StopWhenAsked()]


def _history(fit_result) -> dict[str, list[float]]:
    return {k: [float(v) for v in values] for k, values in fit_result.history.items()}


def fit_autoencoder(model, dataset: Dataset, *, epochs: int, batch_size: int, verbose: int = 2, callbacks=()) -> dict:
    """Trains r to reconstruct x (BCE); returns the history and the test loss.

    Denoising variants corrupt their input inside the model, so the target
    is always the clean x.
    """
    result = model.fit(
        dataset.x_train, dataset.x_train, epochs=epochs, batch_size=batch_size,
        shuffle=True, verbose=verbose, callbacks=_callbacks(callbacks),
    )
    test_loss = float(model.evaluate(dataset.x_test, dataset.x_test, batch_size=1024, verbose=0))
    return {"history": _history(result), "test_reconstruction_bce": test_loss}


def fit_classifier(model, dataset: Dataset, *, epochs: int, batch_size: int, verbose: int = 2, callbacks=()) -> dict:
    """Trains C with BCE on one-hot targets; returns the history and test accuracy."""
    result = model.fit(
        dataset.x_train, keras.utils.to_categorical(dataset.y_train, dataset.num_classes).astype(np.float32),
        epochs=epochs, batch_size=batch_size, shuffle=True, verbose=verbose, callbacks=_callbacks(callbacks),
    )
    return {"history": _history(result), "test_accuracy": accuracy(model, dataset.x_test, dataset.y_test)}
