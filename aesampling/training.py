"""Fitting the autoencoders and the ground-truth classifier on real data."""

from __future__ import annotations

import keras
import numpy as np

from aesampling import interruption, models
from aesampling.data import Dataset
from aesampling.metrics import accuracy
from aesampling.presets import AutoencoderPreset, ClassifierPreset


def build_autoencoder_from_preset(preset: AutoencoderPreset, input_dim: int, *, seed: int, name: str):
    """The compiled autoencoder a preset describes."""
    return models.build_autoencoder(
        input_dim, preset.hidden_units, preset.activation,
        gaussian_noise_std=preset.gaussian_noise_std, salt_pepper_rate=preset.salt_pepper_rate,
        learning_rate=preset.learning_rate, seed=seed, name=name,
    )


def build_classifier_from_preset(preset: ClassifierPreset, input_dim: int, num_classes: int):
    """The compiled ground-truth classifier a preset describes."""
    return models.build_classifier(
        input_dim, num_classes, preset.hidden_units, preset.activation,
        learning_rate=preset.learning_rate,
    )


class _StopWhenAsked(keras.callbacks.Callback):
    """Ends `fit` after the batch during which a stop was asked for (see aesampling.interruption)."""

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
