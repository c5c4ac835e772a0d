"""Loaders: embedded digits, local IDX and CIFAR files, tfds under mock_data, scaling."""

import gzip
import pickle

import numpy as np
import pytest

from aesampling.data import datasets
from aesampling.data import readers
from aesampling.errors import DataUnavailableError, UserInputError
from support import MaliciousPickle, idx_bytes, write_cifar10_folder, write_idx_folder


def test_digits_are_scaled_to_unit_interval(digits):
    assert digits.x_train.shape == (1347, 64) and digits.x_test.shape == (450, 64)
    assert digits.x_train.dtype == np.float32
    assert digits.x_train.min() == 0.0 and digits.x_train.max() == 1.0
    assert set(np.unique(digits.y_train)) == set(range(10))
    assert digits.num_classes == 10


def test_local_idx_files_load_and_scale(tmp_path):
    arrays = write_idx_folder(tmp_path)
    dataset = datasets.load_dataset("fashion_mnist", data_dir=str(tmp_path))
    assert dataset.x_train.shape == (5, 784) and dataset.x_test.shape == (3, 784)
    np.testing.assert_allclose(
        dataset.x_train, arrays["train-images-idx3-ubyte"].reshape(5, -1) / 255.0, rtol=1e-6)
    np.testing.assert_array_equal(dataset.y_test, arrays["t10k-labels-idx1-ubyte"])


def test_uncompressed_idx_files_are_accepted(tmp_path):
    write_idx_folder(tmp_path)
    for gz in tmp_path.glob("*.gz"):
        (tmp_path / gz.stem).write_bytes(gzip.decompress(gz.read_bytes()))
        gz.unlink()
    assert datasets.load_dataset("mnist", data_dir=str(tmp_path)).x_train.shape == (5, 784)


def test_idx_bad_magic_and_truncation(tmp_path):
    bad = tmp_path / "bad"
    bad.write_bytes(idx_bytes(np.zeros((2, 3)), magic_type=0x0D))
    with pytest.raises(UserInputError, match="bad magic number"):
        readers.read_idx(bad)
    cut = tmp_path / "cut"
    cut.write_bytes(idx_bytes(np.zeros((4, 28, 28)))[:-10])
    with pytest.raises(UserInputError, match="truncated"):
        readers.read_idx(cut)


def test_idx_folder_problems_are_named(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        datasets.load_dataset("mnist", data_dir=str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserInputError, match="is empty"):
        datasets.load_dataset("mnist", data_dir=str(tmp_path / "empty"))
    (tmp_path / "wrong").mkdir()
    (tmp_path / "wrong" / "readme.txt").write_text("hello")
    with pytest.raises(UserInputError, match="lacks train-images-idx3-ubyte.gz"):
        datasets.load_dataset("mnist", data_dir=str(tmp_path / "wrong"))
    write_idx_folder(tmp_path / "mismatch", label_count=4)
    with pytest.raises(UserInputError, match="5 train images but 4 train labels"):
        datasets.load_dataset("mnist", data_dir=str(tmp_path / "mismatch"))
    write_idx_folder(tmp_path / "small", side=14)
    with pytest.raises(UserInputError, match="expected \\(28, 28, 1\\)"):
        datasets.load_dataset("mnist", data_dir=str(tmp_path / "small"))


def test_unknown_dataset():
    with pytest.raises(UserInputError, match="unknown dataset 'svhn'"):
        datasets.load_dataset("svhn")


def test_local_cifar_python_batches(tmp_path):
    write_cifar10_folder(tmp_path)
    images = datasets.load_images("cifar10", data_dir=str(tmp_path))
    assert images.x_train.shape == (10, 32, 32, 3) and images.x_test.shape == (2, 32, 32, 3)
    # Channel-first rows become H x W x C: the first 1024 values are the red plane.
    raw = readers.read_cifar_batch(tmp_path / "cifar-10-batches-py" / "test_batch")["data"]
    np.testing.assert_array_equal(images.x_test[0, :, :, 0].ravel(), raw[0, :1024])
    assert datasets.load_dataset("cifar10", data_dir=str(tmp_path)).x_train.shape == (10, 3072)


def test_a_malicious_cifar_pickle_is_refused(tmp_path):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump({b"data": MaliciousPickle()}, f)
    with pytest.raises(UserInputError, match="refused to load"):
        readers.read_cifar_batch(path)


def test_min_max_scale_per_feature_with_constant_features_and_clipping():
    train = np.array([[0.0, 5.0, 2.0], [10.0, 5.0, 4.0]], np.float32)
    test = np.array([[5.0, 5.0, 6.0]], np.float32)
    scaled_train, scaled_test = datasets.min_max_scale(train, test)
    np.testing.assert_allclose(scaled_train, [[0, 0, 0], [1, 0, 1]])
    np.testing.assert_allclose(scaled_test, [[0.5, 0, 1]])


def test_nan_in_features_is_refused():
    bad = np.array([[0.0, np.nan]], np.float32)
    with pytest.raises(UserInputError, match="NaN or inf"):
        datasets.dataset_from_arrays("cifar10", bad, [0], bad, [0], 10)


@pytest.mark.parametrize("name, shape", [("mnist", (6, 784)), ("fashion_mnist", (6, 784)), ("cifar10", (6, 3072))])
def test_tfds_path_under_mock_data(monkeypatch, tmp_path, name, shape):
    import tensorflow_datasets as tfds

    monkeypatch.setattr(readers, "download_possible", lambda host, timeout_s=5.0: True)
    with tfds.testing.mock_data(num_examples=6):
        dataset = datasets.load_dataset(name, tfds_data_dir=str(tmp_path))
    assert dataset.x_train.shape == shape and dataset.x_test.shape == shape
    assert 0.0 <= dataset.x_train.min() and dataset.x_train.max() <= 1.0


def test_offline_tfds_fails_fast_with_a_data_dir_hint(monkeypatch, tmp_path):
    monkeypatch.setattr(readers, "download_possible", lambda host, timeout_s=5.0: False)
    with pytest.raises(DataUnavailableError, match="as `data_dir`"):
        datasets.load_dataset("mnist", tfds_data_dir=str(tmp_path))


def test_validation_split_is_disjoint_fixed_and_optional(digits):
    split = datasets.split_validation(digits, 0.1)
    assert len(split.x_val) == 135 and len(split.x_train) == 1347 - 135
    assert split.x_test is digits.x_test
    rows = {row.tobytes() for row in digits.x_train}  # the 1,347 digits images are all distinct
    val, train = {r.tobytes() for r in split.x_val}, {r.tobytes() for r in split.x_train}
    assert val | train == rows and not val & train
    np.testing.assert_array_equal(datasets.split_validation(digits, 0.1).x_val, split.x_val)
    assert datasets.split_validation(digits, 0.0) is digits
    with pytest.raises(UserInputError, match="validation fraction"):
        datasets.split_validation(digits, 1.0)


def test_shifted_digits_are_the_digits_enlarged_and_moved_on_a_larger_canvas():
    digits = readers._load_digits_images()
    shifted = datasets.load_images("shifted_digits")
    placements = readers.SHIFTED_TRAIN_PLACEMENTS
    assert shifted.x_train.shape == (placements * len(digits.x_train), 16, 16, 1)
    assert shifted.x_test.shape == (len(digits.x_test), 16, 16, 1)
    # The digits' own split: every training digit's placements follow each other, and the test digits stay apart.
    np.testing.assert_array_equal(shifted.y_train, np.repeat(digits.y_train, placements))
    np.testing.assert_array_equal(shifted.y_test, digits.y_test)
    copies = shifted.x_train[..., 0].reshape(len(digits.x_train), placements, 16, 16).astype(np.int64)
    # The same enlarged digit at each placement (equal ink), at more than one offset, never cut by the canvas edge.
    np.testing.assert_array_equal(copies.sum(axis=(2, 3)), np.repeat(copies[:, :1].sum(axis=(2, 3)), placements, 1))
    assert (copies != copies[:, :1]).any(axis=(2, 3))[:, 1:].any(axis=1).mean() > 0.9
    room = 16 - readers.SHIFTED_DIGIT_SIZE  # each placement is the first moved by at most `room` pixels each way
    for digit in copies[:40]:
        padded = np.pad(digit, ((0, 0), (room, room), (room, room)))
        for placement in padded[1:]:
            assert any(np.array_equal(np.roll(padded[0], (dr, dc), axis=(0, 1)), placement)
                       for dr in range(-room, room + 1) for dc in range(-room, room + 1))
    # Each image is its own source digit enlarged bilinearly (corners kept: scipy's zoom aligns them) and pasted
    # whole at an offset of 0-4 pixels each way, zeros around it; test images come from the digits' test split.
    from scipy.ndimage import zoom

    for source, canvases in ((digits.x_train[:20], shifted.x_train[:20 * placements:placements]),
                             (digits.x_test[:20], shifted.x_test[:20])):
        for digit, canvas in zip(source[..., 0], canvases[..., 0]):
            enlarged = np.clip(np.round(zoom(digit.astype(np.float32), 1.5, order=1)), 0, 255).astype(np.uint8)
            assert enlarged.shape == (12, 12) and enlarged[0, 0] == digit[0, 0] and enlarged[-1, -1] == digit[-1, -1]
            fits = []
            for dr in range(room + 1):
                for dc in range(room + 1):
                    expected = np.zeros((16, 16), np.uint8)
                    expected[dr:dr + 12, dc:dc + 12] = enlarged
                    fits.append(np.array_equal(canvas, expected))
            assert any(fits)
    # The committed demo reference was made from exactly these images (a library update must not move them).
    assert int(shifted.x_train.astype(np.int64).sum()) == 63209028
    assert int(shifted.x_test.astype(np.int64).sum()) == 5278289
    np.testing.assert_array_equal(datasets.load_images("shifted_digits").x_train, shifted.x_train)  # fixed seed
    assert readers.source_files("shifted_digits", "/usr") == []  # embedded: no input file a run could overwrite
