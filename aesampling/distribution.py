"""Running on several devices (tf.distribute) and in mixed precision.

- strategy "none": the default device; "mirrored": tf.distribute.MirroredStrategy
  over every visible GPU (or CPU device). Autoencoder and classifier training
  replicate the model and split each batch; the sampler gives each replica
  an equal share of the B chains.
- mixed precision ("mixed_float16", for GPUs): layers compute in float16
  with float32 variables; output layers stay float32, and the sampler keeps
  its state, noise and outputs in float32.
"""

from __future__ import annotations

import contextlib

from aesampling.errors import UserInputError

STRATEGIES = ("none", "mirrored")


def make_strategy(name: str):
    """The tf.distribute strategy called `name`, or None for "none"."""
    import tensorflow as tf

    if name == "none":
        return None
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    raise UserInputError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


def scope(strategy):
    """strategy.scope(), or a no-op context for no strategy."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def set_mixed_precision(enabled: bool) -> None:
    """Sets Keras's global dtype policy: mixed_float16 when enabled, float32 otherwise."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")
