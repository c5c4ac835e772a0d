"""Running on several devices (tf.distribute, TensorFlow only) and in mixed precision.

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

from aesampling import backend
from aesampling.errors import UserInputError

STRATEGIES = ("none", "mirrored")


def make_strategy(name: str):
    """The tf.distribute strategy called `name`, or None for "none"."""
    if name == "none":
        return None
    if name == "mirrored":
        if backend.is_jax():
            raise UserInputError("`strategy` mirrored needs the TensorFlow backend; on JAX, one device runs "
                                 "everything: set `strategy` to none")
        import tensorflow as tf

        return tf.distribute.MirroredStrategy()
    raise UserInputError(f"unknown strategy {name!r}; choose one of {STRATEGIES}")


def scope(strategy):
    """strategy.scope(), or a no-op context for no strategy."""
    return strategy.scope() if strategy is not None else contextlib.nullcontext()


def set_mixed_precision(enabled: bool) -> None:
    """Sets Keras's global dtype policy: mixed_float16 when enabled, float32 otherwise."""
    import keras

    keras.mixed_precision.set_global_policy("mixed_float16" if enabled else "float32")


def sharded_restarts(strategy, restart_block, weights_of_replica, num_chains: int):
    """A tf.function (weights, first, count) -> samples of `count` restarts, the B chains shared by the replicas.

    `restart_block(weights, restart, rows)` gives the collected states of chains
    rows = (first chain, count) of one restart, shape (R - b, count, n); each
    replica runs its equal share and the shares are joined chain-wise, so the
    samples equal those of one device. Each replica reads its own copy of the
    mirrored weights (`weights_of_replica()`); the `weights` argument is unused.
    """
    import tensorflow as tf

    replicas = strategy.num_replicas_in_sync
    if num_chains % replicas:
        raise UserInputError(f"{num_chains} chains cannot be shared equally by {replicas} devices")
    share = num_chains // replicas

    def run(weights, first, count):
        def replica(first):
            context = tf.distribute.get_replica_context()
            rows = (tf.cast(context.replica_id_in_sync_group, tf.int32) * share, share)
            local = weights_of_replica()
            _, blocks = backend.scan(lambda c, k: (c, restart_block(local, k, rows)), first, first, count)
            return blocks  # (count, R - b, share, n)

        parts = strategy.experimental_local_results(strategy.run(replica, args=(first,)))
        return tf.reshape(tf.concat(parts, axis=2), (-1, parts[0].shape[-1]))

    return tf.function(run)
