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

Sampling, labelling and the Adam steps of one epoch run as one compiled
function (`backend.compile`), the student's weights and optimizer state
passed through it as the backend requires (`backend.student_trainer`).

Seeds are checked where they enter (the stages' configs and
ReinjectionSampler, with reinjection.check_seed), not again here.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import keras
import numpy as np
from keras import ops

from aesampling import backend
from aesampling.io import interruption
from aesampling.models import builders, shapes
from aesampling.errors import UserInputError
from aesampling.sampling.teacher import Labeler
from aesampling.evaluation.curve_metrics import accuracy_fn
from aesampling.io.resume import CurveCheckpoint
from aesampling.sampling.reinjection import Sampler, StartMoments

UPPER_BOUND = "upper_bound"
LOWER_BOUND = "lower_bound"  # labelled N(0, I) noise: where the paper's chains start
MOMENTS_BOUND = "moments_bound"  # labelled N(μ, diag σ²) noise: where chains that start at the data's moments start
# labelled N(μ_c, diag σ_c²) noise, every class c alike: where refill "class_moments" restarts stuck chains
CLASS_MOMENTS_BOUND = "class_moments_bound"
BOUNDS = (UPPER_BOUND, CLASS_MOMENTS_BOUND, MOMENTS_BOUND, LOWER_BOUND)


@dataclasses.dataclass(frozen=True)
class Source:
    """Where the inputs of the learning steps come from.

    `batch(params, step)` maps the step index k (int32) to (x, weights): a
    (M, n) float32 batch (fitted to the student's input shape where it is
    used) and either None (every sample counts the same) or
    (M,) per-sample loss weights (a class-balanced autoencoder source weighs
    its rejected states 0). It is traceable and runs inside the compiled
    epoch. `params` are the tensors it reads (autoencoder weights, the real
    images), passed to the compiled function as arguments rather than
    folded into it.
    """

    batch: Callable[[Any, Any], Any]
    params: Any = ()

    def __call__(self, step) -> np.ndarray:
        """The samples of step k that carry weight, computed eagerly (for inspection and tests)."""
        x, weights = self.batch(self.params, ops.convert_to_tensor(step, "int32"))
        x = ops.convert_to_numpy(x)
        return x if weights is None else x[ops.convert_to_numpy(weights) > 0]


@dataclasses.dataclass(frozen=True)
class CurvePoint:
    """Accuracy on the real test set after `epoch` epochs (`samples_seen` samples)."""

    epoch: int
    samples_seen: int
    accuracy: float
    loss: float


class DivergedError(UserInputError):
    """The student's loss became NaN or inf: its source produced non-finite samples."""


def autoencoder_source(sampler: Sampler) -> tuple[Source, int]:
    """Step k -> the samples of restart k of the reinjection chains (weighted when class-balanced)."""
    return Source(sampler.restart_batch, sampler.weights()), sampler.config.samples_per_restart


def real_data_source(x_train: np.ndarray, batch_size: int, *, seed: int) -> tuple[Source, int]:
    """Step k -> `batch_size` real training examples drawn uniformly with replacement."""
    x = ops.convert_to_tensor(np.asarray(x_train, np.float32))
    count = int(x.shape[0])

    def batch(x, step):
        return ops.take(x, backend.uniform_indices(seed, step, 0, batch_size, count), axis=0), None

    return Source(batch, x), batch_size


def gaussian_source(input_dim: int, batch_size: int, *, seed: int,
                    moments: StartMoments | None = None, class_moments=None) -> tuple[Source, int]:
    """Step k -> `batch_size` draws of N(0, I) in R^n, or of N(μ, diag σ²) given the data's `moments`, or given
    its `class_moments` (class_balance.ClassMoments) of N(μ_c, diag σ_c²) with c = i mod C for row i."""
    def draw(step):
        return backend.standard_normal(seed, step, 0, (batch_size, input_dim))

    if class_moments is not None:
        classes = np.arange(batch_size) % len(class_moments.mean)
        scale = tuple(ops.convert_to_tensor(a[classes], "float32") for a in (class_moments.mean, class_moments.std))
    elif moments is not None:
        scale = moments.tensors()
    else:
        return Source(lambda params, step: (draw(step), None)), batch_size
    return Source(lambda params, step: (params[0] + params[1] * draw(step), None), scale), batch_size


def fresh_classifier(ground_truth: keras.Model, *, seed: int) -> keras.Model:
    """A new classifier with the ground truth's architecture and freshly initialised weights."""
    keras.utils.set_random_seed(seed)
    return keras.models.clone_model(ground_truth)


def student_trainer(student: keras.Model, optimizer):
    """The student's BCE training step on soft targets (see `backend.student_trainer`)."""
    return backend.student_trainer(student, optimizer, keras.losses.BinaryCrossentropy())


def epoch_fn(source: Source, labeler: Labeler, trainer, steps_per_epoch: int, *, jit_compile: bool = False):
    """One compiled epoch: `steps_per_epoch` times sample, label and take a training step.

    The returned function maps (trainer state, epoch index) to (new state,
    the last step's loss); step k of epoch e draws batch e·steps_per_epoch + k.
    The loss is NaN from the first step whose batch holds NaN or inf on (the
    student's loss alone can stay finite: Keras clips its probabilities).
    """

    def run_epoch(state, source_params, labeler_weights, epoch):
        def learning_step(i, carry):
            x, weights = source.batch(source_params, epoch * steps_per_epoch + i)
            x = shapes.to_model(x, labeler.input_shape)  # the student has C's architecture, so C's input shape
            state, loss = trainer.step(carry[0], x, labeler.soft_labels(labeler_weights, x), weights)
            sound = ops.logical_and(ops.all(ops.isfinite(x)), ops.isfinite(carry[1]))
            return state, ops.where(sound, loss, float("nan"))

        return ops.fori_loop(0, steps_per_epoch, learning_step, (state, ops.zeros((), "float32")))

    compiled = backend.compile(run_epoch, jit_compile=jit_compile)
    labeler_weights = labeler.weights()
    return lambda state, epoch: compiled(state, source.params, labeler_weights, ops.convert_to_tensor(epoch, "int32"))


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
      source: step index -> batch of inputs (see `Source`).
      samples_per_step: M, the batch size the source yields.
      ground_truth: C, giving the soft targets.
      x_test, y_test: the real test set.
      epochs, steps_per_epoch: the schedule (paper: 50 x 100).
      seed: initialisation seed of the fresh classifier.
      learning_rate: Adam learning rate of the fresh classifier.
      on_epoch: called with each new point, e.g. to log it.
      jit_compile: compile the epoch with XLA (always so on JAX).
      checkpoint: where to save the state after each epoch and resume from.
    """
    if epochs < 0 or steps_per_epoch < 1:
        raise ValueError(f"need epochs >= 0 and steps_per_epoch >= 1, got {epochs}, {steps_per_epoch}")
    labeler = Labeler(ground_truth)
    student = fresh_classifier(ground_truth, seed=seed)
    optimizer = builders.adam(learning_rate)
    trainer = student_trainer(student, optimizer)
    run_epoch = epoch_fn(source, labeler, trainer, steps_per_epoch, jit_compile=jit_compile)

    test_accuracy = accuracy_fn(student, x_test, y_test)
    variables = [*student.variables, *optimizer.variables]
    saved = checkpoint.load(variables) if checkpoint else None
    if saved:
        curve = [CurvePoint(int(e), int(n), float(a), float(l)) for e, n, a, l in saved]
    else:
        curve = [CurvePoint(0, 0, test_accuracy(), float("nan"))]
    for point in curve:
        if on_epoch:
            on_epoch(point)
    state = trainer.initial_state()
    for epoch in range(len(curve) - 1, epochs):
        interruption.raise_if_requested()
        state, loss = run_epoch(state, epoch)
        if not math.isfinite(float(loss)):
            raise DivergedError(
                f"the training loss became {float(loss)} in epoch {epoch + 1}: the source produced NaN or inf "
                "samples (an autoencoder unstable under reinjection at this λ? try a smaller one)")
        point = CurvePoint(epoch + 1, (epoch + 1) * steps_per_epoch * samples_per_step,
                           test_accuracy(trainer.weights(state)), float(loss))
        curve.append(point)
        if checkpoint:
            trainer.store(state)
            checkpoint.save([dataclasses.astuple(p) for p in curve], variables)
        if on_epoch:
            on_epoch(point)
    trainer.store(state)
    return curve
