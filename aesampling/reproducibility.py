"""Same seed, same result: one call seeds every generator a run uses."""

from __future__ import annotations

from aesampling.sampling import check_seed


def seed_everything(seed: int) -> None:
    """Seeds Python, NumPy, TensorFlow and Keras, and makes TF ops deterministic.

    Op determinism costs little on CPU and makes two runs with the same seed
    produce bit-identical weights, samples and curves.
    """
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(check_seed(seed))
    tf.config.experimental.enable_op_determinism()
