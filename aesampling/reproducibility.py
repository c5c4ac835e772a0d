"""Same seed, same result: one call seeds every generator a run uses."""

from __future__ import annotations

from aesampling import backend


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy and Keras (hence the backend), and makes the backend's ops deterministic.

    `seed` was checked where it entered (the stage's config, reinjection.check_seed).

    Op determinism costs little on CPU and makes two runs with the same seed
    produce bit-identical weights, samples and curves.
    """
    import keras

    keras.utils.set_random_seed(seed)
    backend.make_deterministic()
