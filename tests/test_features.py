"""ResNet50 feature extraction on tiny images with weights=None, and its cache."""

import numpy as np
import pytest
import tensorflow_datasets as tfds

from aesampling.data import resnet50
from aesampling.data import readers
from aesampling.errors import UserInputError


def test_extract_features_shape_and_batching():
    images = np.random.default_rng(0).integers(0, 256, (5, 32, 32, 3)).astype(np.uint8)
    extractor = resnet50.build_extractor(None, 32)
    whole = resnet50.extract_features(images, image_size=32, batch_size=5, extractor=extractor, verbose=False)
    batched = resnet50.extract_features(images, image_size=32, batch_size=2, extractor=extractor, verbose=False)
    assert whole.shape == (5, 2048) and np.all(np.isfinite(whole))
    np.testing.assert_allclose(whole, batched, rtol=1e-4, atol=1e-4)


def test_upsampling_is_an_explicit_option():
    images = np.random.default_rng(1).integers(0, 256, (2, 32, 32, 3)).astype(np.uint8)
    out = resnet50.extract_features(images, weights=None, image_size=64, batch_size=2, verbose=False)
    assert out.shape == (2, 2048)
    with pytest.raises(UserInputError, match="at least 32"):
        resnet50.extract_features(images, weights=None, image_size=16, verbose=False)


def test_cache_is_keyed_and_reused(monkeypatch, tmp_path):
    monkeypatch.setattr(readers, "download_possible", lambda host, timeout_s=5.0: True)
    with tfds.testing.mock_data(num_examples=4):
        dataset = resnet50.load_feature_dataset(
            "cifar10", cache_dir=tmp_path, weights="none", image_size=32,
            tfds_data_dir=str(tmp_path / "tfds"), verbose=False,
        )
    path = resnet50.cache_path(tmp_path, "cifar10", "none", 32)
    assert path.name == "cifar10_resnet50_none_32px.npz" and path.is_file()
    assert dataset.x_train.shape == (4, 2048) and dataset.x_test.shape == (4, 2048)
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0
    stamp = path.stat().st_mtime_ns

    def no_extraction(*args, **kwargs):
        raise AssertionError("features were extracted again")

    monkeypatch.setattr(resnet50, "extract_features", no_extraction)
    again = resnet50.load_feature_dataset("cifar10", cache_dir=tmp_path, weights="none", image_size=32)
    np.testing.assert_array_equal(again.x_train, dataset.x_train)
    assert path.stat().st_mtime_ns == stamp


def test_weights_tags_and_missing_weights_file(tmp_path):
    assert resnet50.weights_tag("imagenet") == "imagenet"
    assert resnet50.weights_tag(None) == "none"
    assert resnet50.weights_tag("/w/resnet50 notop.h5") == "resnet50_notop"
    with pytest.raises(UserInputError, match="weights file not found"):
        resnet50.build_extractor(str(tmp_path / "missing.h5"), 32)
