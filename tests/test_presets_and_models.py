"""Presets build the Table I architectures; noise layers act only in training and survive saving."""

import keras
import numpy as np
import pytest

from aesampling.data import datasets
from aesampling.io import storage
from aesampling.models import builders, classifier_layers, shapes
from aesampling.models import presets
from aesampling.models import fitting
from aesampling.errors import UserInputError


def dense_params(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


@pytest.mark.parametrize("dataset, input_dim", [("digits", 64), ("shifted_digits", 256), ("mnist", 784),
                                                ("fashion_mnist", 784), ("cifar10", 2048), ("cifar100", 2048)])
def test_every_preset_builds_with_table_one_shapes(dataset, input_dim):
    experiment = presets.experiment_presets(dataset)
    assert set(experiment.autoencoders) == {"shallow_ae", "deep_ae", "shallow_dae", "deep_dae"}
    for name, preset in experiment.autoencoders.items():
        model = fitting.build_autoencoder_from_preset(preset, input_dim, seed=0, name=name)
        assert tuple(model.inputs[0].shape) == (None, input_dim)
        assert tuple(model.outputs[0].shape) == (None, input_dim)
        assert model.count_params() == dense_params([input_dim, *preset.hidden_units, input_dim])
        assert preset.denoising == name.endswith("_dae")
    num_classes = 100 if dataset == "cifar100" else 10
    classifier = fitting.build_classifier_from_preset(experiment.classifier, input_dim, num_classes)
    assert classifier.count_params() == dense_params([input_dim, *experiment.classifier.hidden_units, num_classes])
    assert classifier_layers.output_activation(classifier) == "sigmoid"


def test_presets_cover_exactly_the_registered_datasets():
    assert set(presets.PRESETS) == set(datasets.DATASETS)
    with pytest.raises(UserInputError, match="unknown dataset 'svhn'; choose one of"):
        presets.experiment_presets("svhn")


def test_mnist_presets_match_table_one():
    mnist = presets.experiment_presets("mnist")
    deep, shallow = mnist.autoencoders["deep_ae"], mnist.autoencoders["shallow_ae"]
    assert deep.hidden_units == (600, 400, 100, 400, 600) and deep.activation == "relu" and deep.epochs == 200
    assert shallow.hidden_units == (32,) and shallow.activation == "tanh" and shallow.epochs == 50
    assert mnist.autoencoders["shallow_dae"].epochs == 100
    assert mnist.autoencoders["deep_dae"].gaussian_noise_std == 0.5
    assert mnist.classifier.hidden_units == (500, 500) and mnist.classifier.epochs == 20
    assert mnist.classifier.batch_size == 512
    assert presets.experiment_presets("cifar100").classifier.hidden_units == (1000,)
    assert presets.experiment_presets("cifar10").autoencoders["deep_dae"].gaussian_noise_std == 0.05
    # 784-600-400-100-400-600-784: weights and biases counted by hand.
    assert fitting.build_autoencoder_from_preset(deep, 784, seed=0, name="d").count_params() == 1_503_684
    assert fitting.build_autoencoder_from_preset(shallow, 784, seed=0, name="s").count_params() == 784 * 32 + 32 + 32 * 784 + 784


def test_the_fd_criterion_widens_the_lambda_grid_further():
    search = presets.experiment_presets("fashion_mnist").lambda_search
    assert search.widenings_for("student") == 2 and search.widenings_for("fd") == 4


def test_unknown_names_are_clear_errors():
    with pytest.raises(UserInputError, match="unknown autoencoder preset 'huge_ae'"):
        presets.autoencoder_preset("mnist", "huge_ae")
    with pytest.raises(UserInputError, match="unknown dataset 'svhn'"):
        presets.experiment_presets("svhn")
    with pytest.raises(UserInputError, match="hidden_units"):
        builders.build_autoencoder(10, [], "relu")


def test_salt_and_pepper_only_in_training():
    layer = builders.SaltAndPepper(0.3, seed=1)
    x = np.full((200, 50), 0.25, np.float32)
    assert np.array_equal(np.asarray(layer(x, training=False)), x)
    noisy = np.asarray(layer(x, training=True))
    corrupted = noisy != 0.25
    assert 0.25 < corrupted.mean() < 0.35
    assert set(np.unique(noisy[corrupted])) == {0.0, 1.0}


def test_denoising_autoencoder_is_deterministic_at_inference_and_noisy_in_training():
    model = builders.build_autoencoder(20, [8], "tanh", gaussian_noise_std=0.5, salt_pepper_rate=0.5, seed=3)
    names = [layer.name for layer in model.layers]
    assert names.index("salt_and_pepper") < names.index("hidden_0_preactivation") < names.index(
        "preactivation_noise") < names.index("hidden_0")
    x = np.random.default_rng(0).random((16, 20)).astype(np.float32)
    assert np.array_equal(model(x, training=False), model(x, training=False))
    assert not np.allclose(model(x, training=True), model(x, training=False))


def test_denoising_autoencoder_survives_a_keras_round_trip(tmp_path):
    model = builders.build_autoencoder(12, [6], "tanh", gaussian_noise_std=0.5, salt_pepper_rate=0.25, seed=3)
    path = tmp_path / "dae.keras"
    storage.save_model(model, path)
    loaded = storage.load_model(path)
    x = np.random.default_rng(1).random((5, 12)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x, training=False), model(x, training=False))
    layer = loaded.get_layer("salt_and_pepper")
    assert isinstance(layer, builders.SaltAndPepper) and layer.rate == 0.25
    assert loaded.get_layer("preactivation_noise").stddev == 0.5
    assert not np.allclose(loaded(x, training=True), loaded(x, training=False))


def test_a_model_with_code_is_refused_in_safe_mode(tmp_path):
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Lambda(lambda t: t * 2)(inputs))
    path = tmp_path / "lambda.keras"
    model.save(path)
    with pytest.raises(UserInputError, match="cannot load model"):
        storage.load_model(path)


def test_autoencoder_shape_check(linear_autoencoder):
    assert shapes.autoencoder_shape(linear_autoencoder(7, 1.0)) == (7,)
    inputs = keras.Input((7,))
    squeeze = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(UserInputError, match=r"maps \(7,\) \(7 values\) -> \(3,\) \(3 values\)"):
        shapes.autoencoder_shape(squeeze)


def test_train_overrides_the_dae_noise_levels(tmp_path):
    from aesampling import experiments

    data = experiments.DataConfig(dataset="digits")
    output = tmp_path / "dae.keras"
    record = experiments.run_train(experiments.TrainConfig(data=data, model="shallow_dae", output=str(output), epochs=1,
                                                     gaussian_noise_std=0.2, salt_pepper_rate=0.1))
    assert (record["preset"]["gaussian_noise_std"], record["preset"]["salt_pepper_rate"]) == (0.2, 0.1)
    loaded = storage.load_model(output)
    rates = [layer.rate for layer in loaded.layers if isinstance(layer, builders.SaltAndPepper)]
    assert rates == [0.1]
    with pytest.raises(UserInputError, match="denoising presets only"):
        experiments.run_train(experiments.TrainConfig(data=data, model="shallow_ae", output=str(output), salt_pepper_rate=0.1))
    with pytest.raises(UserInputError, match="salt-and-pepper rate must be in"):
        experiments.run_train(experiments.TrainConfig(data=data, model="deep_dae", output=str(output), salt_pepper_rate=1.5))
