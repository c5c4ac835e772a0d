"""Train-on-synthetic evaluation (Figure 2 and Section IV-G).

A fresh classifier with the ground-truth classifier's architecture learns
only from batches (x, C(x)): x comes from a *source* and C is the
ground-truth classifier, whose outputs are the soft targets of a binary
cross-entropy loss. Every `steps_per_epoch` learning steps its accuracy on
the real test set is recorded. Sources:

- an autoencoder: one restart of the reinjection chains per step,
  B·(R - b) samples (50 x 8 = 400 in the paper, 40,000 per 100-step epoch);
- the upper bound: real training examples drawn uniformly with replacement;
- the lower bound: N(0, I) noise, i.e. the autoencoder bypassed.

Sampling, labelling and the Adam step of one epoch run as one tf.function.
"""

from __future__ import annotations

import dataclasses
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from aesampling import models
from aesampling.labeling import Labeler
from aesampling.metrics import accuracy_fn
from aesampling.resume import CurveCheckpoint
from aesampling.sampling import ReinjectionSampler, chain_key, check_seed

UPPER_BOUND = "upper_bound"
LOWER_BOUND = "lower_bound"

# A source maps a step index (int32 tensor) to a batch (M, n) of float32 inputs.
Source = Callable[[tf.Tensor], tf.Tensor]


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """Accuracy on the real test set after `epoch` epochs (`samples_seen` samples)."""

    epoch: int
    samples_seen: int
    accuracy: float
    loss: float


def autoencoder_source(sampler: ReinjectionSampler) -> tuple[Source, int]:
    """Step k -> the samples of restart k of the reinjection chains."""
    return sampler.restart_states, sampler.config.samples_per_restart


def real_data_source(x_train: np.ndarray, batch_size: int, *, seed: int) -> tuple[Source, int]:
    """Step k -> `batch_size` real training examples drawn uniformly with replacement."""
    x = tf.constant(np.asarray(x_train, np.float32))
    count = int(x.shape[0])
    seed = check_seed(seed)

    def source(step):
        index = tf.random.stateless_uniform(
            (batch_size,), seed=chain_key(seed, step, 0), maxval=count, dtype=tf.int32, alg="philox"
        )
        return tf.gather(x, index)

    return source, batch_size


def gaussian_source(input_dim: int, batch_size: int, *, seed: int) -> tuple[Source, int]:
    """Step k -> `batch_size` draws of N(0, I) in R^n."""
    seed = check_seed(seed)

    def source(step):
        return tf.random.stateless_normal((batch_size, input_dim), seed=chain_key(seed, step, 0), alg="philox")

    return source, batch_size


def fresh_classifier(ground_truth: keras.Model, *, seed: int) -> keras.Model:
    """A new classifier with the ground truth's architecture and freshly initialised weights."""
    keras.utils.set_random_seed(check_seed(seed))
    return keras.models.clone_model(ground_truth)


def train_step_fn(student: keras.Model, optimizer) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """(x, soft targets y) -> BCE loss, after one Adam step on the student. Traceable."""
    optimizer.build(student.trainable_variables)
    bce = keras.losses.BinaryCrossentropy()

    def step(x, y):
        with tf.GradientTape() as tape:
            loss = bce(y, student(x, training=True))
        grads = tape.gradient(loss, student.trainable_variables)
        optimizer.apply_gradients(zip(grads, student.trainable_variables))
        return loss

    return step


def epoch_fn(source: Source, labeler: Labeler, step, steps_per_epoch: int, *, jit_compile: bool = False):
    """One compiled epoch: `steps_per_epoch` times sample, label and take a training step.

    The returned tf.function takes the epoch index (int32) and returns the
    last step's loss; step k of epoch e draws batch e·steps_per_epoch + k.
    """

    @tf.function(jit_compile=jit_compile)
    def run_epoch(epoch):
        loss = tf.constant(0.0)
        for i in tf.range(steps_per_epoch):
            x = source(epoch * steps_per_epoch + i)
            loss = step(x, labeler.soft_labels(x))
        return loss

    return run_epoch


def learning_curve(
    source: Source,
    samples_per_step: int,
    ground_truth: keras.Model,
    x_test: np.ndarray,
    y_test: np.ndarray,
    *,
    epochs: int,
    steps_per_epoch: int,
    seed: int,
    learning_rate: float = 1e-3,
    on_epoch: Callable[[CurvePoint], None] | None = None,
    jit_compile: bool = False,
    checkpoint: CurveCheckpoint | None = None,
) -> list[CurvePoint]:
    """Trains a fresh classifier on (x, C(x)) from `source`; returns its learning curve.

    The curve has epochs + 1 points: the untrained classifier (epoch 0),
    then one point after each epoch of `steps_per_epoch` Adam steps.

    Args:
      source: step index -> batch of inputs (see the module docstring).
      samples_per_step: M, the batch size the source yields.
      ground_truth: C, giving the soft targets.
      x_test, y_test: the real test set.
      epochs, steps_per_epoch: the schedule (paper: 50 x 100).
      seed: initialisation seed of the fresh classifier.
      learning_rate: Adam learning rate of the fresh classifier.
      on_epoch: called with each new point, e.g. to log it.
      jit_compile: compile the epoch with XLA.
      checkpoint: where to save the state after each epoch and resume from.
    """
    if epochs < 0 or steps_per_epoch < 1:
        raise ValueError(f"need epochs >= 0 and steps_per_epoch >= 1, got {epochs}, {steps_per_epoch}")
    labeler = Labeler(ground_truth)
    student = fresh_classifier(ground_truth, seed=seed)
    optimizer = models.adam(learning_rate)
    run_epoch = epoch_fn(source, labeler, train_step_fn(student, optimizer), steps_per_epoch, jit_compile=jit_compile)

    test_accuracy = accuracy_fn(student, x_test, y_test)
    state = [*student.variables, *optimizer.variables]
    saved = checkpoint.load(state) if checkpoint else None
    if saved:
        curve = [CurvePoint(int(e), int(n), float(a), float(l)) for e, n, a, l in saved]
    else:
        curve = [CurvePoint(0, 0, test_accuracy(), float("nan"))]
    for point in curve:
        if on_epoch:
            on_epoch(point)
    for epoch in range(len(curve) - 1, epochs):
        loss = float(run_epoch(tf.constant(epoch, tf.int32)))
        point = CurvePoint(epoch + 1, (epoch + 1) * steps_per_epoch * samples_per_step, test_accuracy(), loss)
        curve.append(point)
        if checkpoint:
            checkpoint.save([dataclasses.astuple(p) for p in curve], state)
        if on_epoch:
            on_epoch(point)
    return curve
