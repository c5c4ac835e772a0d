"""Reinjection sampling (Algorithm 1 with the restart heuristic of Section IV-A).

Given an autoencoder r: R^n -> R^n, B chains run in parallel:

    x_0 ~ N(0, I)
    x_t = r(x_{t-1}) + sqrt(λ)·ε_t,     ε_t ~ N(0, I),   t = 1 .. R

Each run of R reinjections from fresh noise is a *restart*. The first b
states of a restart (the burn-in) are discarded; the remaining R - b are
collected, either the noisy state x_t (Algorithm 2 as written) or the clean
reconstruction r(x_{t-1}). One restart therefore yields B·(R - b) samples,
ordered step-major: all B chains at t = b+1, then at t = b+2, and so on.

Our reading of the heuristic (the paper's supplementary algorithm is not
public): chains are stopped after R reinjections and restarted from new
N(0, I) noise, which counters slow mixing between modes; "gathering after
the second jump" is the burn-in b. Every knob is a parameter.

Randomness is counter based: the noise of (restart, t) is drawn with a
stateless Philox generator keyed by (seed, restart, t), t = 0 being the
starting point. Samples therefore depend only on the seed and the
settings, never on how many are drawn per call, and restart k can be
recomputed alone (see `chain_noise`).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Iterator

import numpy as np
import tensorflow as tf

from aesampling.errors import UserInputError

COLLECT_MODES = ("noisy", "clean")
MAX_SEED = 2**31 - 1


def check_seed(seed: int) -> int:
    """Returns `seed` when it is an integer in [0, 2^31 - 1]."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise UserInputError(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    return int(seed)


@dataclasses.dataclass(frozen=True)
class ReinjectionConfig:
    """Settings of the reinjection chains.

    Attributes:
      lam: λ >= 0, the variance of the reinjected noise.
      num_chains: B >= 1, chains run in parallel.
      reinjections: R >= 1, reinjections per restart.
      burn_in: b with 0 <= b < R, states per restart not collected.
      collect: "noisy" (x_t) or "clean" (r(x_{t-1})).
    """

    lam: float
    num_chains: int = 50
    reinjections: int = 10
    burn_in: int = 2
    collect: str = "noisy"

    def __post_init__(self):
        if not (isinstance(self.lam, (int, float)) and math.isfinite(self.lam) and self.lam >= 0):
            raise UserInputError(f"lambda must be a finite number >= 0, got {self.lam}")
        if self.num_chains < 1:
            raise UserInputError(f"the number of chains must be at least 1, got {self.num_chains}")
        if self.reinjections < 1:
            raise UserInputError(f"the number of reinjections must be at least 1, got {self.reinjections}")
        if not 0 <= self.burn_in < self.reinjections:
            raise UserInputError(
                f"burn-in must lie in [0, reinjections): got burn_in={self.burn_in}, "
                f"reinjections={self.reinjections}"
            )
        if self.collect not in COLLECT_MODES:
            raise UserInputError(f"collect must be one of {COLLECT_MODES}, got {self.collect!r}")

    @property
    def collected_per_restart(self) -> int:
        """R - b: states collected per chain and restart."""
        return self.reinjections - self.burn_in

    @property
    def samples_per_restart(self) -> int:
        """B·(R - b): samples one restart yields."""
        return self.num_chains * self.collected_per_restart


def chain_key(seed, restart, step) -> tf.Tensor:
    """The stateless RNG key of reinjection `step` of `restart` (step 0: x_0)."""
    key = tf.stack([tf.cast(seed, tf.int64), tf.constant(0x5EED, tf.int64)])
    key = tf.random.experimental.stateless_fold_in(key, tf.cast(restart, tf.int64), alg="philox")
    return tf.random.experimental.stateless_fold_in(key, tf.cast(step, tf.int64), alg="philox")


def chain_noise(seed, restart, step, shape) -> tf.Tensor:
    """N(0, I) draws of reinjection `step` in `restart`: x_0 for step 0, ε_step otherwise."""
    return tf.random.stateless_normal(shape, seed=chain_key(seed, restart, step), alg="philox")


class ReinjectionSampler:
    """Draws synthetic samples from an autoencoder by reinjection.

    Works with any Keras model (or callable) mapping (batch, n) -> (batch, n),
    including one trained elsewhere. The chain loop is one tf.function over
    tf.range. The state x, the noise and the outputs are float32 whatever the
    model's compute dtype (e.g. under mixed_float16).

    Args:
      autoencoder: the model r.
      config: the chain settings.
      seed: integer seed in [0, 2^31 - 1]; same seed, same samples.
      input_dim: n; read from the model when it has a defined input shape.
      jit_compile: compile the loop with XLA.
      strategy: a tf.distribute strategy whose replicas each run an equal
        share of the B chains (the model must have been built or loaded in
        its scope); None runs everything on the default device. The samples
        are the same either way: the noise of every chain is drawn as on one
        device and each replica keeps its rows.
    """

    def __init__(self, autoencoder, config: ReinjectionConfig, *, seed: int, input_dim: int | None = None,
                 jit_compile: bool = False, strategy=None):
        self.autoencoder = autoencoder
        self.config = config
        self.seed = check_seed(seed)
        if input_dim is None:
            from aesampling.models import check_autoencoder

            input_dim = check_autoencoder(autoencoder)
        self.input_dim = int(input_dim)
        self._sqrt_lam = tf.constant(math.sqrt(config.lam), tf.float32)
        self.strategy = strategy
        if strategy is not None and config.num_chains % strategy.num_replicas_in_sync:
            raise UserInputError(
                f"{config.num_chains} chains cannot be shared equally by {strategy.num_replicas_in_sync} devices"
            )
        impl = self._restarts_impl if strategy is None else self._sharded_restarts_impl
        self._restarts = tf.function(impl, jit_compile=jit_compile and strategy is None)

    def _reconstruct(self, x: tf.Tensor) -> tf.Tensor:
        return tf.cast(self.autoencoder(x, training=False), tf.float32)

    def _noise(self, restart, t, rows):
        noise = chain_noise(self.seed, restart, t, (self.config.num_chains, self.input_dim))
        return noise if rows is None else noise[rows[0]:rows[0] + rows[1]]

    def _restart_block(self, restart, rows=None) -> tf.Tensor:
        """Collected states of one restart, shape (R - b, chains, n); `rows` = (first chain, count) or all."""
        cfg = self.config
        chains = cfg.num_chains if rows is None else rows[1]
        x = self._noise(restart, 0, rows)
        for t in tf.range(1, cfg.burn_in + 1):
            x = self._reconstruct(x) + self._sqrt_lam * self._noise(restart, t, rows)
        collected = tf.TensorArray(tf.float32, size=cfg.collected_per_restart,
                                   element_shape=(chains, self.input_dim))
        for i in tf.range(cfg.collected_per_restart):
            t = cfg.burn_in + 1 + i
            clean = self._reconstruct(x)
            x = clean + self._sqrt_lam * self._noise(restart, t, rows)
            collected = collected.write(i, x if cfg.collect == "noisy" else clean)
        return collected.stack()

    def restart_states(self, restart) -> tf.Tensor:
        """The B·(R - b) collected states of one restart, shape (B·(R - b), n).

        Traceable: call it inside a tf.function (the train-on-synthetic loop does).
        """
        return tf.reshape(self._restart_block(restart), (self.config.samples_per_restart, self.input_dim))

    def _restarts_impl(self, first, count):
        states = tf.TensorArray(
            tf.float32, size=count,
            element_shape=(self.config.samples_per_restart, self.input_dim),
        )
        for k in tf.range(count):
            states = states.write(k, self.restart_states(first + k))
        return tf.reshape(states.stack(), (-1, self.input_dim))

    def _sharded_restarts_impl(self, first, count):
        share = self.config.num_chains // self.strategy.num_replicas_in_sync

        def replica(first, count):
            context = tf.distribute.get_replica_context()
            rows = (tf.cast(context.replica_id_in_sync_group, tf.int32) * share, share)
            blocks = tf.TensorArray(tf.float32, size=count,
                                    element_shape=(self.config.collected_per_restart, share, self.input_dim))
            for k in tf.range(count):
                blocks = blocks.write(k, self._restart_block(first + k, rows))
            return blocks.stack()  # (count, R - b, share, n)

        parts = self.strategy.experimental_local_results(self.strategy.run(replica, args=(first, count)))
        return tf.reshape(tf.concat(parts, axis=2), (-1, self.input_dim))

    def restarts(self, first: int, count: int) -> np.ndarray:
        """Samples of restarts first .. first + count - 1, one compiled call."""
        out = self._restarts(tf.constant(first, tf.int32), tf.constant(count, tf.int32))
        return out.numpy()

    def iter_samples(self, num_samples: int, chunk_samples: int = 16384) -> Iterator[np.ndarray]:
        """Yields the first `num_samples` samples in chunks of about `chunk_samples` rows.

        Memory stays bounded by the chunk size whatever `num_samples` is.
        """
        if num_samples < 0:
            raise UserInputError(f"the number of samples must be >= 0, got {num_samples}")
        per_restart = self.config.samples_per_restart
        restarts_per_chunk = max(1, chunk_samples // per_restart)
        remaining, restart = int(num_samples), 0
        while remaining > 0:
            count = min(restarts_per_chunk, math.ceil(remaining / per_restart))
            chunk = self.restarts(restart, count)[:remaining]
            restart += count
            remaining -= len(chunk)
            yield chunk

    def sample(self, num_samples: int) -> np.ndarray:
        """The first `num_samples` samples as one (num_samples, n) float32 array."""
        chunks = list(self.iter_samples(num_samples))
        if not chunks:
            return np.zeros((0, self.input_dim), np.float32)
        return np.concatenate(chunks)
