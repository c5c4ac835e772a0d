"""The dataset registry, and datasets flattened and min-max scaled to [0, 1] (paper, Section IV-E).

`DATASETS` is the one list of dataset names (the presets hold experiment
settings for each of them). The files themselves are read by
aesampling.data.readers. `load_images` returns the raw images (uint8, N x H x W x C) that ResNet50
feature extraction needs; `load_dataset` returns flattened float32 features
in [0, 1] with integer labels.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aesampling.data import readers
from aesampling.errors import UserInputError


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """Static facts about a dataset name.

    Attributes:
      name: the dataset name used by flags and presets.
      num_classes: number of classes N_c.
      image_shape: (H, W, C) of one raw image.
      tfds_name: the tensorflow-datasets name, or None for embedded data.
      download_host: where tfds downloads from (checked before a download).
      uses_features: True when experiments run on ResNet50 features
        instead of pixels (CIFAR, Section IV-E).
      class_names: the name of each class c = 0..N_c - 1, or None when
        only their numbers are known.
    """

    name: str
    num_classes: int
    image_shape: tuple[int, int, int]
    tfds_name: str | None = None
    download_host: str | None = None
    uses_features: bool = False
    class_names: tuple[str, ...] | None = None


DIGIT_NAMES = tuple(str(digit) for digit in range(10))
FASHION_MNIST_NAMES = ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker", "Bag",
                       "Ankle boot")
CIFAR10_NAMES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")

DATASETS: dict[str, DatasetSpec] = {
    "digits": DatasetSpec("digits", 10, (8, 8, 1), class_names=DIGIT_NAMES),
    "shifted_digits": DatasetSpec("shifted_digits", 10, (16, 16, 1), class_names=DIGIT_NAMES),
    "mnist": DatasetSpec("mnist", 10, (28, 28, 1), "mnist", "storage.googleapis.com", class_names=DIGIT_NAMES),
    "fashion_mnist": DatasetSpec(
        "fashion_mnist", 10, (28, 28, 1), "fashion_mnist",
        "fashion-mnist.s3-website.eu-central-1.amazonaws.com", class_names=FASHION_MNIST_NAMES,
    ),
    "cifar10": DatasetSpec("cifar10", 10, (32, 32, 3), "cifar10", "www.cs.toronto.edu", True,
                           class_names=CIFAR10_NAMES),
    "cifar100": DatasetSpec("cifar100", 100, (32, 32, 3), "cifar100", "www.cs.toronto.edu", True),
}


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Train, test and (optional) validation arrays: x in [0, 1] (float32, N x n), y integer labels.

    The validation split, when present, is carved from the original
    training data (see `split_validation`) and is disjoint from x_train.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    x_val: np.ndarray | None = None
    y_val: np.ndarray | None = None

    @property
    def input_dim(self) -> int:
        """n, the dimension of one flattened example."""
        return int(self.x_train.shape[1])


def dataset_spec(name: str) -> DatasetSpec:
    """The DatasetSpec of `name`, or a UserInputError listing the known names."""
    if name not in DATASETS:
        raise UserInputError(f"unknown dataset {name!r}; choose one of {sorted(DATASETS)}")
    return DATASETS[name]


def class_names(name: str) -> tuple[str, ...] | None:
    """The class names of dataset `name`; None for a name outside the registry or a dataset without them."""
    spec = DATASETS.get(name)
    return None if spec is None else spec.class_names


VALIDATION_SPLIT_SEED = 0


def split_validation(dataset: Dataset, fraction: float, seed: int = VALIDATION_SPLIT_SEED) -> Dataset:
    """Moves a random `fraction` of the training examples into a validation split.

    The permutation uses a fixed seed, independent of the run's seed, so
    every stage of an experiment sees the same split. Hyper-parameters such
    as λ are chosen on this split, never on the test set.
    """
    if not 0.0 <= fraction < 1.0:
        raise UserInputError(f"the validation fraction must lie in [0, 1), got {fraction}")
    count = int(round(fraction * len(dataset.x_train)))
    if count == 0:
        return dataset
    order = np.random.default_rng(seed).permutation(len(dataset.x_train))
    val, train = order[:count], order[count:]
    return dataclasses.replace(
        dataset, x_train=dataset.x_train[train], y_train=dataset.y_train[train],
        x_val=dataset.x_train[val], y_val=dataset.y_train[val],
    )


# ----------------------------------------------------------------------------
# Scaling
# ----------------------------------------------------------------------------


def min_max_scale(
    train: np.ndarray, test: np.ndarray, *, low=None, high=None
) -> tuple[np.ndarray, np.ndarray]:
    """Maps features to [0, 1] by (x - min) / (max - min).

    With `low`/`high` given (e.g. 0 and 255 for pixels) that fixed range is
    used; otherwise the per-feature minimum and maximum of `train` are, and
    test values outside them are clipped. Constant features map to 0.
    """
    train = np.asarray(train, dtype=np.float32)
    test = np.asarray(test, dtype=np.float32)
    if low is None or high is None:
        low = train.min(axis=0)
        high = train.max(axis=0)
    low = np.asarray(low, dtype=np.float32)
    span = np.asarray(high, dtype=np.float32) - low
    span = np.where(span > 0, span, 1.0).astype(np.float32)
    scaled_train = np.clip((train - low) / span, 0.0, 1.0)
    scaled_test = np.clip((test - low) / span, 0.0, 1.0)
    return scaled_train.astype(np.float32), scaled_test.astype(np.float32)


def check_finite(name: str, *arrays: np.ndarray) -> None:
    """Raises UserInputError when any array holds NaN or inf."""
    for array in arrays:
        if not np.all(np.isfinite(array)):
            raise UserInputError(f"dataset {name!r} contains NaN or inf values")


# ----------------------------------------------------------------------------
# Public loaders
# ----------------------------------------------------------------------------


def load_images(name: str, data_dir: str | None = None, tfds_data_dir: str | None = None) -> readers.Images:
    """Raw uint8 images of dataset `name` (aesampling.data.readers), checked against its spec.

    Args:
      name: one of DATASETS.
      data_dir: a local folder with the dataset's standard files (IDX files
        for MNIST-like data, python batches for CIFAR). None uses tfds.
      tfds_data_dir: where tfds keeps prepared datasets (None: its default).
    """
    spec = dataset_spec(name)
    images = readers.read_images(spec, data_dir, tfds_data_dir)
    for split, x in (("train", images.x_train), ("test", images.x_test)):
        if x.shape[1:] != spec.image_shape:
            raise UserInputError(
                f"{name} {split} images have shape {x.shape[1:]}, expected {spec.image_shape}"
            )
    _check_labels(name, images, spec.num_classes)
    return images


def _check_labels(name: str, images: readers.Images, num_classes: int) -> None:
    for y in (images.y_train, images.y_test):
        if y.size and (y.min() < 0 or y.max() >= num_classes):
            raise UserInputError(f"{name} labels must lie in 0..{num_classes - 1}")


def load_dataset(name: str, data_dir: str | None = None, tfds_data_dir: str | None = None) -> Dataset:
    """Flattened pixels of dataset `name`, min-max scaled from 0..255 to [0, 1]."""
    images = load_images(name, data_dir, tfds_data_dir)
    flat_train = images.x_train.reshape(len(images.x_train), -1)
    flat_test = images.x_test.reshape(len(images.x_test), -1)
    x_train, x_test = min_max_scale(flat_train, flat_test, low=0.0, high=255.0)
    return Dataset(name, x_train, images.y_train, x_test, images.y_test, dataset_spec(name).num_classes)


def dataset_from_arrays(name: str, x_train, y_train, x_test, y_test, num_classes: int) -> Dataset:
    """A Dataset from feature arrays (e.g. cached ResNet50 features), min-max scaled per feature."""
    check_finite(name, x_train, x_test)
    x_train, x_test = min_max_scale(x_train, x_test)
    return Dataset(name, x_train, np.asarray(y_train, np.int64), x_test, np.asarray(y_test, np.int64), num_classes)
