"""ResNet50 features for CIFAR (paper, Section IV-E).

Images are resized (by default to 224x224, the resolution ImageNet weights
expect), passed through `keras.applications.resnet50.preprocess_input` and a
ResNet50 without its top, globally average pooled to 2048 features. The raw
features are cached as .npz keyed by dataset, weights and image size, so the
extraction runs once; `load_feature_dataset` min-max scales them to [0, 1].
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import numpy as np

from absl import logging

from aesampling.data import datasets, readers
from aesampling.io import storage
from aesampling.io import npz
from aesampling.errors import DataUnavailableError, UserInputError

FEATURE_DIM = 2048


def weights_tag(weights: str | None) -> str:
    """A short file-name-safe name for a weights choice: imagenet, none, or the file's stem."""
    if weights is None or str(weights).lower() == "none":
        return "none"
    if weights == "imagenet":
        return "imagenet"
    return re.sub(r"[^A-Za-z0-9_.-]", "_", Path(weights).stem)


def cache_path(cache_dir: str | Path, dataset: str, weights: str | None, image_size: int) -> Path:
    """Where the features of `dataset` for these weights and image size are cached."""
    return Path(cache_dir) / f"{dataset}_resnet50_{weights_tag(weights)}_{image_size}px.npz"


def build_extractor(weights: str | None, image_size: int):
    """ResNet50(include_top=False, pooling='avg') for image_size x image_size RGB input."""
    import keras

    if weights not in (None, "imagenet") and str(weights).lower() != "none":
        if not Path(weights).is_file():
            raise UserInputError(f"ResNet50 weights file not found: {weights}")
    elif str(weights).lower() == "none":
        weights = None
    try:
        return keras.applications.ResNet50(
            include_top=False, weights=weights, pooling="avg",
            input_shape=(image_size, image_size, 3),
        )
    except Exception as e:  # download failures surface as several types
        if weights == "imagenet":
            raise DataUnavailableError(
                "cannot download the ResNet50 ImageNet weights; download "
                "resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5 elsewhere and "
                "give its path as `resnet_weights`"
            ) from e
        raise UserInputError(f"cannot build ResNet50 with weights {weights}: {e}") from e


def extract_features(
    images: np.ndarray,
    *,
    weights: str | None = "imagenet",
    image_size: int = 224,
    batch_size: int = 128,
    extractor=None,
    verbose: bool = True,
) -> np.ndarray:
    """Pooled ResNet50 features of uint8 RGB images (N x H x W x 3) -> N x 2048.

    Works batch by batch so memory stays bounded by `batch_size` resized
    images. `image_size` is the side the images are resized to before
    `preprocess_input`; 32 skips the upsampling (fast, much weaker features).
    """
    import keras
    from keras import ops

    from aesampling import backend
    from aesampling.models.builders import apply, frozen_weights

    if images.ndim != 4 or images.shape[-1] != 3:
        raise UserInputError(f"expected N x H x W x 3 images, got shape {images.shape}")
    if image_size < 32:
        raise UserInputError(f"image_size must be at least 32 (ResNet50's minimum), got {image_size}")
    model = extractor if extractor is not None else build_extractor(weights, image_size)
    weights_values = frozen_weights(model)

    def embed(weights, batch):
        x = ops.cast(batch, "float32")
        if x.shape[1] != image_size or x.shape[2] != image_size:
            x = ops.image.resize(x, (image_size, image_size), interpolation="bilinear")
        return apply(model, weights, keras.applications.resnet50.preprocess_input(x))

    embed = backend.compile(embed)
    out = np.empty((len(images), FEATURE_DIM), dtype=np.float32)
    progress = keras.utils.Progbar(len(images), unit_name="image") if verbose else None
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        out[start:start + len(batch)] = ops.convert_to_numpy(embed(weights_values, ops.convert_to_tensor(batch)))
        if progress is not None:
            progress.add(len(batch))
    return out


def extract_to_cache(
    dataset: str,
    *,
    cache_dir: str | Path,
    data_dir: str | None = None,
    tfds_data_dir: str | None = None,
    weights: str | None = "imagenet",
    image_size: int = 224,
    batch_size: int = 128,
    verbose: bool = True,
    check_source: bool = False,
) -> Path:
    """Extracts and caches the features of `dataset` unless the cache exists.

    Returns the cache path. The cache holds x_train, y_train, x_test, y_test
    (raw, unscaled features), the extraction seconds and `source`, what the
    images were read from (`images_source`). With `check_source`, a cache
    made from other images (another `data_dir`, or files changed since) is
    extracted again, with a one-line notice; without, any cache is used (a
    stage that reads features need not name where the images came from).
    """
    path = cache_path(cache_dir, dataset, weights, image_size)
    source = images_source(dataset, data_dir, tfds_data_dir)
    if path.is_file():
        if not check_source:
            return path
        cached = npz.load_npz_array(path, "source")
        if cached is None:
            logging.warning("%s does not record the images it was made from (an older cache): it is used as it "
                            "is; delete it to extract the features again", path)
            return path
        if str(cached) == source:
            return path
        logging.warning("%s was made from other images than %s: extracting the features again", path,
                        data_dir or "tensorflow-datasets")
    images = datasets.load_images(dataset, data_dir, tfds_data_dir)
    extractor = build_extractor(weights, image_size)
    start = time.perf_counter()
    arrays = {}
    for split in ("train", "test"):
        arrays[f"x_{split}"] = extract_features(
            getattr(images, f"x_{split}"), image_size=image_size,
            batch_size=batch_size, extractor=extractor, verbose=verbose,
        )
        arrays[f"y_{split}"] = getattr(images, f"y_{split}")
    seconds = time.perf_counter() - start
    with storage.atomic_path(path) as tmp:
        with open(tmp, "wb") as stream:
            np.savez(stream, extraction_seconds=np.float64(seconds), source=np.array(source), **arrays)
    return path


def images_source(dataset: str, data_dir: str | None, tfds_data_dir: str | None) -> str:
    """What the images of `dataset` are read from, as JSON: the resolved `data_dir` with each of its files' content
    digest (storage.content_digest), or tensorflow-datasets' folder."""
    if data_dir is None:
        where = {"tfds_data_dir": str(Path(tfds_data_dir).resolve()) if tfds_data_dir else None}
    else:
        where = {"data_dir": str(Path(data_dir).resolve()),
                 "files": {path.name: storage.content_digest(path)
                           for path in readers.source_files(dataset, data_dir)}}
    return json.dumps(where, sort_keys=True)


def load_feature_dataset(
    dataset: str, *, cache_dir: str | Path, weights: str | None = "imagenet", image_size: int = 224, **extract_kwargs
) -> datasets.Dataset:
    """Cached ResNet50 features of `dataset`, min-max scaled per feature to [0, 1].

    Extracts them first when the cache does not exist yet.
    """
    path = extract_to_cache(
        dataset, cache_dir=cache_dir, weights=weights, image_size=image_size, **extract_kwargs
    )
    arrays = npz.load_npz(path, required=("x_train", "y_train", "x_test", "y_test"))
    return datasets.dataset_from_arrays(
        dataset, arrays["x_train"], arrays["y_train"], arrays["x_test"], arrays["y_test"],
        datasets.dataset_spec(dataset).num_classes,
    )
