"""Keras functional builders: autoencoders r: R^n -> R^n and the classifier C.

Autoencoders end in a sigmoid layer and are trained with binary
cross-entropy, Adam (lr 1e-3, β1 0.9, β2 0.999), as in Section IV-D.
Denoising variants corrupt the input with salt-and-pepper noise and add
Gaussian noise before the first hidden activation; both layers act only in
training, so a saved DAE is a deterministic r at sampling time.
"""

from __future__ import annotations

from typing import Sequence

import keras

from aesampling.errors import UserInputError


@keras.saving.register_keras_serializable(package="aesampling")
class SaltAndPepper(keras.layers.Layer):
    """Replaces each input component, with probability `rate`, by 0 or 1 (equally likely).

    Active only when called with training=True; the identity otherwise.
    """

    def __init__(self, rate: float, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"salt-and-pepper rate must lie in [0, 1], got {rate}")
        self.rate = float(rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0.0:
            return inputs
        shape = keras.ops.shape(inputs)
        corrupt = keras.random.uniform(shape, seed=self.seed_generator) < self.rate
        salt = keras.random.uniform(shape, seed=self.seed_generator) < 0.5
        replacement = keras.ops.cast(salt, inputs.dtype)
        return keras.ops.where(corrupt, replacement, inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "rate": self.rate, "seed": self.seed}


def _check_units(hidden_units: Sequence[int]) -> tuple[int, ...]:
    units = tuple(int(u) for u in hidden_units)
    if not units or any(u <= 0 for u in units):
        raise UserInputError(f"hidden_units must be a non-empty list of positive sizes, got {list(hidden_units)}")
    return units


def adam(learning_rate: float = 1e-3) -> keras.optimizers.Adam:
    """Adam with the paper's settings (β1 = 0.9, β2 = 0.999)."""
    return keras.optimizers.Adam(learning_rate=learning_rate, beta_1=0.9, beta_2=0.999)


def build_autoencoder(
    input_dim: int,
    hidden_units: Sequence[int],
    activation: str,
    *,
    gaussian_noise_std: float = 0.0,
    salt_pepper_rate: float = 0.0,
    learning_rate: float = 1e-3,
    seed: int | None = None,
    name: str = "autoencoder",
) -> keras.Model:
    """A compiled MLP autoencoder n -> hidden_units -> n with sigmoid output.

    Args:
      input_dim: n.
      hidden_units: units of every hidden layer, e.g. (600, 400, 100, 400, 600).
      activation: activation of the hidden layers.
      gaussian_noise_std: σ of N(0, σ²) noise added to the first hidden
        layer's pre-activation during training (0: none).
      salt_pepper_rate: input corruption probability during training (0: none).
      learning_rate: Adam learning rate.
      seed: seed of the noise layers.
      name: the model's name.
    """
    if input_dim <= 0:
        raise UserInputError(f"input_dim must be positive, got {input_dim}")
    units = _check_units(hidden_units)
    if gaussian_noise_std < 0:
        raise UserInputError(f"gaussian_noise_std must be >= 0, got {gaussian_noise_std}")
    inputs = keras.Input(shape=(input_dim,), name="x")
    h = inputs
    if salt_pepper_rate > 0:
        h = SaltAndPepper(salt_pepper_rate, seed=seed, name="salt_and_pepper")(h)
    for i, width in enumerate(units):
        if i == 0 and gaussian_noise_std > 0:
            h = keras.layers.Dense(width, name="hidden_0_preactivation")(h)
            h = keras.layers.GaussianNoise(gaussian_noise_std, seed=seed, name="preactivation_noise")(h)
            h = keras.layers.Activation(activation, name="hidden_0")(h)
        else:
            h = keras.layers.Dense(width, activation=activation, name=f"hidden_{i}")(h)
    # float32 output even under mixed precision: r(x) feeds the float32 chain state.
    outputs = keras.layers.Dense(input_dim, activation="sigmoid", name="reconstruction", dtype="float32")(h)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(optimizer=adam(learning_rate), loss="binary_crossentropy")
    return model


def build_classifier(
    input_dim: int,
    num_classes: int,
    hidden_units: Sequence[int],
    activation: str = "relu",
    *,
    learning_rate: float = 1e-3,
    name: str = "classifier",
) -> keras.Model:
    """A compiled MLP classifier with one sigmoid output per class, trained with BCE.

    Sigmoid outputs with binary cross-entropy make the outputs soft labels
    for logit distillation (Section IV-F).
    """
    if input_dim <= 0 or num_classes < 2:
        raise UserInputError(f"need input_dim > 0 and at least 2 classes, got {input_dim}, {num_classes}")
    units = _check_units(hidden_units)
    inputs = keras.Input(shape=(input_dim,), name="x")
    h = inputs
    for i, width in enumerate(units):
        h = keras.layers.Dense(width, activation=activation, name=f"hidden_{i}")(h)
    outputs = keras.layers.Dense(num_classes, activation="sigmoid", name="class_probabilities", dtype="float32")(h)
    model = keras.Model(inputs, outputs, name=name)
    model.compile(
        optimizer=adam(learning_rate),
        loss="binary_crossentropy",
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
    )
    return model


def frozen_weights(model) -> tuple[list, list]:
    """(trainable, non-trainable) values of a model's weights, to pass to `apply` inside a compiled function.

    A plain callable that is not a Keras layer or model has none.
    """
    if not isinstance(model, keras.Layer):
        return [], []
    from aesampling.backend import variable_values

    return variable_values(model.trainable_variables), variable_values(model.non_trainable_variables)


def apply(model, weights: tuple[list, list], x):
    """The model's inference output on x as float32, with the given weights (see `frozen_weights`).

    Through `stateless_call`, so the weights are arguments of the compiled
    function that calls it, never constants folded into it: the same
    compiled code serves every value of the weights.
    """
    if isinstance(model, keras.Layer):
        out = model.stateless_call(weights[0], weights[1], x, training=False)[0]
    else:
        out = model(x)
    return keras.ops.cast(out, "float32")
