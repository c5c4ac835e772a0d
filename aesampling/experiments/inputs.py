"""Loading a stage's inputs: the dataset with its validation split, and the models checked against it."""

from __future__ import annotations

import dataclasses

import keras

import numpy as np

from aesampling.data import datasets
from aesampling.quality import diagnostics
from aesampling.data import resnet50
from aesampling.io import storage
from aesampling.sampling.class_balance import ClassMoments
from aesampling.errors import UserInputError
from aesampling.sampling.teacher import check_classifier
from aesampling.models import shapes
from aesampling.sampling.reinjection import CLASS_MOMENTS_REFILL, MOMENTS_START, ReinjectionConfig, StartMoments
from aesampling.experiments.configs import DataConfig
from aesampling.experiments.records import validation_fraction, warn_if_trained_elsewhere


def load_data(config: DataConfig) -> datasets.Dataset:
    """The dataset as flat [0, 1] features (pixels, or ResNet50 features for CIFAR), validation split held out."""
    spec = datasets.dataset_spec(config.dataset)
    if not spec.uses_features:
        dataset = datasets.load_dataset(config.dataset, config.data_dir, config.tfds_data_dir)
    elif config.cache_dir is None:
        raise UserInputError(f"{config.dataset} uses ResNet50 features: give a feature cache folder")
    else:
        dataset = resnet50.load_feature_dataset(
            config.dataset, cache_dir=config.cache_dir, weights=config.resnet_weights,
            image_size=config.image_size, data_dir=config.data_dir, tfds_data_dir=config.tfds_data_dir,
            batch_size=config.extraction_batch_size,
        )
    return datasets.split_validation(dataset, validation_fraction(config.dataset, config.validation_fraction))


def validation_reference(space: diagnostics.FeatureSpace, dataset: datasets.Dataset) -> diagnostics.Reference:
    """What samples are measured against: φ of the validation images, and the class frequencies of every real
    label known (training and validation)."""
    return diagnostics.Reference.of(space, dataset.x_val, dataset.y_val, dataset.num_classes,
                                    class_labels=known_labels(dataset))


def known_labels(dataset: datasets.Dataset) -> np.ndarray:
    """Every real label outside the test set (training and validation): the data's class frequencies."""
    return dataset.y_train if dataset.y_val is None else np.concatenate([dataset.y_train, dataset.y_val])


def start_moments(reinjection: ReinjectionConfig, dataset: datasets.Dataset) -> StartMoments | None:
    """μ and σ of the training split's features when the chains start there (start "moments"), else None."""
    return StartMoments.of(dataset.x_train) if reinjection.start == MOMENTS_START else None


def training_class_moments(dataset: datasets.Dataset) -> ClassMoments:
    """μ_c and σ_c, c = 1..C: the per-feature mean and standard deviation of the training split's class c."""
    return ClassMoments.of(dataset.x_train, dataset.y_train, dataset.num_classes)


def class_moments(reinjection: ReinjectionConfig, dataset: datasets.Dataset) -> ClassMoments | None:
    """The training split's class moments when stuck chains restart there (refill "class_moments"), else None."""
    if reinjection.refill != CLASS_MOMENTS_REFILL:
        return None
    return training_class_moments(dataset)


def check_fits(sample_shape: tuple[int, ...], dataset: datasets.Dataset) -> None:
    """Raises UserInputError unless an autoencoder's samples of shape s hold the dataset's n values."""
    if shapes.size(sample_shape) != dataset.input_dim:
        raise UserInputError(f"the autoencoder takes inputs of shape {shapes.describe(sample_shape)} but dataset "
                             f"{dataset.name} has {dataset.input_dim} values per sample")


@dataclasses.dataclass(frozen=True)
class CurveInputs:
    """What a train-on-synthetic stage starts from: the data, the ground truth C and (for an AE source) r."""

    dataset: datasets.Dataset
    classifier: keras.Model
    autoencoder: keras.Model | None


def load_curve_inputs(config: DataConfig, classifier_path: str, autoencoder_path: str | None) -> CurveInputs:
    """Loads the dataset, C and r (when a path is given); checks both take samples of the dataset's n values, in
    any shape, and that C has one output per class.

    Warns when a model's training record names another dataset or validation split.
    """
    dataset = load_data(config)
    classifier = storage.load_model(classifier_path)
    check_classifier(classifier, dataset.input_dim, dataset.name, num_classes=dataset.num_classes)
    autoencoder = None
    if autoencoder_path is not None:
        autoencoder = storage.load_model(autoencoder_path)
        check_fits(shapes.autoencoder_shape(autoencoder), dataset)
    for path in (classifier_path, autoencoder_path):
        warn_if_trained_elsewhere(path, config)
    return CurveInputs(dataset, classifier, autoencoder)
