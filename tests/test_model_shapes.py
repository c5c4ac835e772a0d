"""Models of any input shape (aesampling.models.shapes) and the layers read inside a classifier
(aesampling.models.classifier_layers): image-shaped autoencoders and classifiers give exactly what their flat
equivalents give, nested models are read through, and a model the package cannot use gets a one-line error."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from aesampling.errors import UserInputError
from aesampling.evaluation import learning_curves
from aesampling.models import classifier_layers, shapes
from aesampling.quality import diagnostics
from aesampling.sampling import class_balance
from aesampling.sampling.reinjection import Balance, ReinjectionConfig, ReinjectionSampler, StartMoments
from aesampling.sampling.teacher import Labeler, check_classifier

IMAGE = (4, 4, 1)  # 16 values


def image_shaped(flat_model, shape=IMAGE) -> keras.Model:
    """The same function as `flat_model` on samples of `shape`: reshape, the flat model, reshape back when it
    returns n values."""
    inputs = keras.Input(shape)
    out = flat_model(keras.layers.Reshape((shapes.size(shape),))(inputs))
    if out.shape[-1] == shapes.size(shape):
        out = keras.layers.Reshape(shape)(out)
    return keras.Model(inputs, out)


def flat_classifier(dim: int, seed: int = 0, hidden: int = 6, activation: str = "sigmoid") -> keras.Model:
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((dim,))
    hidden_out = keras.layers.Dense(hidden, activation="tanh", name="hidden")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation=activation, name="probabilities")(hidden_out))


def small_cnn(seed: int = 0) -> keras.Model:
    """A CNN as users write them: a Sequential whose features come out of a nested Sequential, then a softmax."""
    keras.utils.set_random_seed(seed)
    backbone = keras.Sequential([keras.Input(IMAGE), keras.layers.Conv2D(2, 3, activation="relu"),
                                 keras.layers.Flatten(), keras.layers.Dense(5, activation="relu", name="embedding")],
                                name="backbone")
    return keras.Sequential([keras.Input(IMAGE), backbone, keras.layers.Dense(3, name="logits"), keras.layers.Dropout(0.1),
                             keras.layers.Softmax()], name="cnn")


def test_image_shaped_chains_are_the_flat_chains_in_the_model_shape(linear_autoencoder):
    config = ReinjectionConfig(lam=0.3, num_chains=5, reinjections=4, burn_in=1)
    flat = ReinjectionSampler(linear_autoencoder(16, 0.7, 0.1), config, seed=3).sample(37)
    image = ReinjectionSampler(image_shaped(linear_autoencoder(16, 0.7, 0.1)), config, seed=3).sample(37)
    assert flat.shape == (37, 16) and image.shape == (37, *IMAGE)
    np.testing.assert_allclose(image.reshape(37, 16), flat, rtol=1e-5, atol=1e-6)  # the same noise; the
    # wrapped model's arithmetic may round differently
    assert ReinjectionSampler(image_shaped(linear_autoencoder(16, 1.0)), config, seed=3).sample(0).shape == (0, *IMAGE)


def test_image_shaped_chains_start_at_the_moments_of_the_flat_data(linear_autoencoder):
    config = ReinjectionConfig(lam=0.1, num_chains=4, reinjections=3, burn_in=0, start="moments")
    moments = StartMoments(np.linspace(0, 1, 16, dtype=np.float32), np.full(16, 0.5, np.float32))
    flat = ReinjectionSampler(linear_autoencoder(16, 0.5), config, seed=1, start=moments).sample(12)
    image = ReinjectionSampler(image_shaped(linear_autoencoder(16, 0.5)), config, seed=1, start=moments).sample(12)
    np.testing.assert_allclose(image.reshape(12, 16), flat, rtol=1e-5, atol=1e-6)


def test_balanced_image_shaped_chains_are_the_flat_ones(linear_autoencoder):
    config = ReinjectionConfig(lam=0.5, num_chains=6, reinjections=4, burn_in=1, balance=Balance(refill="clone"))
    classifier = flat_classifier(16)
    flat = class_balance.BalancedReinjectionSampler(linear_autoencoder(16, 0.8), config, classifier, seed=2)
    image = class_balance.BalancedReinjectionSampler(image_shaped(linear_autoencoder(16, 0.8)), config,
                                                     image_shaped(classifier), seed=2)
    a, b = flat.sample(50), image.sample(50)
    assert b.shape == (50, *IMAGE)
    np.testing.assert_allclose(b.reshape(50, 16), a, rtol=1e-5, atol=1e-6)
    assert image.accepted_share == flat.accepted_share


def test_labels_and_features_of_image_samples_are_those_of_their_values():
    classifier = flat_classifier(16)
    x = np.random.default_rng(0).normal(size=(9, 16)).astype(np.float32)
    soft, hard = Labeler(classifier)(x)
    image_soft, image_hard = Labeler(image_shaped(classifier))(x.reshape(9, *IMAGE))
    np.testing.assert_allclose(image_soft, soft, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(image_hard, hard)
    # a flat classifier labels image-shaped rows, and an image classifier flat rows, by their values
    np.testing.assert_array_equal(Labeler(classifier)(x.reshape(9, *IMAGE))[1], hard)
    features, labels = diagnostics.FeatureSpace(image_shaped(classifier))(x)
    expected = keras.Model(classifier.inputs, classifier.get_layer("hidden").output).predict(x, verbose=0)
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(labels, hard)


def test_the_feature_layer_of_a_nested_cnn_is_its_penultimate_representation():
    cnn = small_cnn()
    x = np.random.default_rng(1).uniform(size=(7, *IMAGE)).astype(np.float32)
    features, labels = diagnostics.FeatureSpace(cnn)(x)
    backbone = cnn.get_layer("backbone")
    np.testing.assert_allclose(features, backbone.predict(x, verbose=0), rtol=1e-6, atol=1e-6)
    np.testing.assert_array_equal(labels, cnn.predict(x, verbose=0).argmax(axis=1))
    assert classifier_layers.output_activation(cnn) == "softmax"
    named, _ = diagnostics.FeatureSpace(cnn, feature_layer="logits")(x)  # the logits, by name
    assert named.shape == (7, 3)
    with pytest.raises(UserInputError, match="has no layer 'conv' to read features from .*its layers: backbone, "
                                             "logits, dropout, softmax"):
        diagnostics.FeatureSpace(cnn, feature_layer="conv")


def test_a_cnn_student_learns_from_image_shaped_chains(linear_autoencoder):
    cnn = small_cnn(seed=4)
    config = ReinjectionConfig(lam=0.2, num_chains=8, reinjections=3, burn_in=1)
    sampler = ReinjectionSampler(image_shaped(linear_autoencoder(16, 0.5, 0.3)), config, seed=0)
    source, per_step = learning_curves.autoencoder_source(sampler)
    x_test = np.random.default_rng(2).uniform(size=(20, 16)).astype(np.float32)  # flat rows, as datasets store them
    y_test = cnn.predict(x_test.reshape(20, *IMAGE), verbose=0).argmax(axis=1)
    curve = learning_curves.learning_curve(source, per_step, cnn, x_test, y_test, epochs=2, steps_per_epoch=3, seed=0)
    assert [p.samples_seen for p in curve] == [0, 48, 96]
    assert all(np.isfinite(p.loss) for p in curve[1:]) and all(0 <= p.accuracy <= 1 for p in curve)


def test_models_the_package_cannot_use_get_one_line_errors(linear_autoencoder):
    a, b = keras.Input((4,)), keras.Input((4,))
    two_inputs = keras.Model([a, b], keras.layers.Dense(4)(keras.layers.Add()([a, b])), name="two")
    with pytest.raises(UserInputError, match="model 'two' has 2 inputs; aesampling needs a model with one input"):
        shapes.input_shape(two_inputs)
    open_size = keras.Input((None, 1))
    with pytest.raises(UserInputError, match=r"has input shape \(None, None, 1\): every size but the batch's"):
        shapes.input_shape(keras.Model(open_size, open_size, name="open"))
    with pytest.raises(UserInputError, match="the classifier outputs 3 classes but dataset digits has 10"):
        check_classifier(flat_classifier(16), 16, "digits", num_classes=10)
    with pytest.raises(UserInputError, match=r"takes inputs of shape \(16,\) \(16 values\) but dataset digits has 64"):
        check_classifier(flat_classifier(16), 64, "digits")
    with pytest.raises(UserInputError, match="not linear: end classifier 'logits' with a sigmoid or softmax"):
        check_classifier(_logits(16), 16)
    only_output = keras.Sequential([keras.Input((16,)), keras.layers.Dense(3, activation="softmax")], name="linear")
    with pytest.raises(UserInputError, match="classifier 'linear' has no hidden layer before its output"):
        diagnostics.FeatureSpace(only_output)
    with pytest.raises(UserInputError, match=r"have rows of shape \(5,\) \(5 values\) but the model takes \(4, 4, 1\)"):
        shapes.fit_rows(np.zeros((2, 5)), IMAGE, "the samples")


def _logits(dim):
    inputs = keras.Input((dim,))
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.Dense(4)(inputs)), name="logits")
