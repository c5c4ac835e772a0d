"""The networks of the class-incremental harness: the learner, and the generators replay draws from.

- The learner: an MLP n-400-400-C with ReLU and C logits, trained with Adam
  on `distillation_loss`, whose targets carry their own temperature T: T = 1
  with one-hot targets for real examples and hard-labelled replay, T = 2 with
  soft targets softmax(z_prev / T) for distilled replay (the loss scaled by T²).
- The autoencoder: one of the dataset's AE presets (shallow by default), or a
  user's architecture with fresh weights, sampled by reinjection.
- The VAE: a fully connected VAE, n-400-400-(μ, log σ²) of 100 latent units
  and back, with a Bernoulli decoder: the generative-replay comparator, trained
  on the evidence lower bound (per-pixel binary cross-entropy summed over the
  n pixels, plus the KL divergence to N(0, I)).
"""

from __future__ import annotations

import keras
from keras import ops

from aesampling.models import builders

LEARNER_UNITS = (400, 400)
VAE_UNITS = (400, 400)
VAE_LATENT = 100
DISTILLATION_TEMPERATURE = 2.0


@keras.saving.register_keras_serializable(package="aesampling")
def distillation_loss(targets, logits):
    """T² · Σ_k -p_k log softmax(z / T)_k per example, for targets [p_1 .. p_C, T]."""
    temperature = targets[:, -1:]
    log_q = ops.log_softmax(logits / temperature, axis=-1)
    return ops.sum(-targets[:, :-1] * log_q, axis=-1) * ops.square(temperature[:, 0])


def build_learner(input_dim: int, num_classes: int, *, learning_rate: float = 1e-3, units=LEARNER_UNITS,
                  activation: str = "relu", name: str = "learner") -> keras.Model:
    """The learner: an MLP n -> units (ReLU by default) -> C logits, compiled with Adam on `distillation_loss`."""
    inputs = keras.Input((input_dim,))
    h = inputs
    for i, width in enumerate(units):
        h = keras.layers.Dense(width, activation=activation, name=f"hidden_{i}")(h)
    model = keras.Model(inputs, keras.layers.Dense(num_classes, name="logits")(h), name=name)
    model.compile(optimizer=builders.adam(learning_rate), loss=distillation_loss)
    return model


@keras.saving.register_keras_serializable(package="aesampling")
class GaussianLatent(keras.layers.Layer):
    """z = μ + σ ⊙ ε from (μ, log σ²), adding the batch's mean KL(q(z|x) ‖ N(0, I)) / n to the loss, so that the
    loss is the ELBO per pixel when the reconstruction term is the per-pixel binary cross-entropy."""

    def __init__(self, input_dim: int, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        self.input_dim = input_dim
        self.seed_generator = keras.random.SeedGenerator(seed)

    def get_config(self):
        return {**super().get_config(), "input_dim": self.input_dim}

    def call(self, inputs):
        mean, log_var = inputs
        kl = -0.5 * ops.sum(1.0 + log_var - ops.square(mean) - ops.exp(log_var), axis=-1)
        self.add_loss(ops.mean(kl) / self.input_dim)
        return mean + ops.exp(0.5 * log_var) * keras.random.normal(ops.shape(mean), seed=self.seed_generator)


def build_vae(input_dim: int, *, seed: int, learning_rate: float = 1e-3) -> tuple[keras.Model, keras.Model]:
    """(the compiled VAE x -> x̂, its decoder z -> x̂ sharing its weights)."""
    x = keras.Input((input_dim,))
    h = x
    for width in VAE_UNITS:
        h = keras.layers.Dense(width, activation="relu")(h)
    mean, log_var = keras.layers.Dense(VAE_LATENT)(h), keras.layers.Dense(VAE_LATENT)(h)
    z = keras.Input((VAE_LATENT,))
    g = z
    for width in reversed(VAE_UNITS):
        g = keras.layers.Dense(width, activation="relu")(g)
    decoder = keras.Model(z, keras.layers.Dense(input_dim, activation="sigmoid")(g), name="decoder")
    vae = keras.Model(x, decoder(GaussianLatent(input_dim, seed=seed)([mean, log_var])), name="vae")
    vae.compile(optimizer=builders.adam(learning_rate), loss="binary_crossentropy")
    return vae, decoder


def build_autoencoder(input_dim: int, units, activation: str, *, learning_rate: float = 1e-3) -> keras.Model:
    """The replay autoencoder: a presets' MLP autoencoder with sigmoid outputs, compiled with BCE."""
    return builders.build_autoencoder(input_dim, units, activation, learning_rate=learning_rate, name="replay_ae")


def frozen_copy(model: keras.Model) -> keras.Model:
    """A copy of the model with its current weights, kept as the end of a task."""
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


@keras.saving.register_keras_serializable(package="aesampling")
def sample_binary_crossentropy(x, reconstruction):
    """Binary cross-entropy per sample, the mean over all of its values whatever its shape."""
    per_value = keras.losses.binary_crossentropy(ops.expand_dims(x, -1), ops.expand_dims(reconstruction, -1))
    return ops.mean(ops.reshape(per_value, (ops.shape(per_value)[0], -1)), axis=-1)


def fresh_autoencoder(template: keras.Model, *, learning_rate: float = 1e-3) -> keras.Model:
    """A user's autoencoder architecture with fresh weights, compiled with Adam on `sample_binary_crossentropy`."""
    model = keras.models.clone_model(template)
    model.compile(optimizer=builders.adam(learning_rate), loss=sample_binary_crossentropy)
    return model
