"""Raw readers of the dataset sources: images as uint8 N x H x W x C with integer labels.

- `digits`: scikit-learn's bundled 8x8 handwritten digits (offline).
- `shifted_digits`: the same digits enlarged to 12x12 and placed at random
  shifts on a 16x16 canvas, several placements per training image (offline).
- `mnist`, `fashion_mnist`: tensorflow-datasets by default, or a local folder
  holding the four standard IDX files (`train-images-idx3-ubyte.gz`, ...).
- `cifar10`, `cifar100`: tensorflow-datasets by default, or a local folder
  holding the python-version batches (`data_batch_1` ... / `train`, `test`).

Readers check the files they read; aesampling.data.datasets checks the result against
the dataset's spec.
"""

from __future__ import annotations

import dataclasses
import gzip
import math
import os
import pickle
import socket
import struct
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from aesampling.errors import DataUnavailableError, UserInputError

if TYPE_CHECKING:  # data imports this module
    from aesampling.data.datasets import DatasetSpec


@dataclasses.dataclass(frozen=True)
class Images:
    """Raw train and test images (uint8, N x H x W x C) with integer labels."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


# ----------------------------------------------------------------------------
# Embedded digits
# ----------------------------------------------------------------------------

DIGITS_TEST_FRACTION = 0.25
DIGITS_SPLIT_SEED = 0


def _load_digits_images() -> Images:
    """scikit-learn's 1,797 8x8 digits (pixel values 0..16), split 75/25 stratified.

    The split uses a fixed seed so every run sees the same test set; pixels
    are rescaled from 0..16 to 0..255 so all image datasets share one range.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    bunch = load_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    x_train, x_test, y_train, y_test = train_test_split(
        images, bunch.target.astype(np.int64), test_size=DIGITS_TEST_FRACTION,
        random_state=DIGITS_SPLIT_SEED, stratify=bunch.target,
    )
    return Images(x_train, y_train, x_test, y_test)


SHIFTED_CANVAS = 16
SHIFTED_DIGIT_SIZE = 12
SHIFTED_TRAIN_PLACEMENTS = 4
SHIFTED_PLACEMENT_SEED = 0


def _place_at_random_shifts(images: np.ndarray, placements: int, rng: np.random.Generator) -> np.ndarray:
    """Each 8x8 image enlarged to SHIFTED_DIGIT_SIZE pixels a side (bilinear) and pasted `placements` times on an
    empty SHIFTED_CANVAS canvas, at a uniformly drawn offset (up to 2 pixels off centre in each direction)."""
    from scipy.ndimage import zoom

    scale = SHIFTED_DIGIT_SIZE / images.shape[1]
    enlarged = np.stack([zoom(image[..., 0].astype(np.float32), scale, order=1) for image in images])
    enlarged = np.clip(np.round(enlarged), 0, 255).astype(np.uint8)
    room = SHIFTED_CANVAS - SHIFTED_DIGIT_SIZE + 1
    canvases = np.zeros((len(images), placements, SHIFTED_CANVAS, SHIFTED_CANVAS), np.uint8)
    rows = rng.integers(0, room, size=(len(images), placements))
    cols = rng.integers(0, room, size=(len(images), placements))
    size = SHIFTED_DIGIT_SIZE
    for i, digit in enumerate(enlarged):
        for j in range(placements):
            canvases[i, j, rows[i, j]:rows[i, j] + size, cols[i, j]:cols[i, j] + size] = digit
    return canvases.reshape(-1, SHIFTED_CANVAS, SHIFTED_CANVAS, 1)


def _load_shifted_digits_images() -> Images:
    """The embedded digits as a harder task: each digit enlarged to 12x12 and placed on a 16x16 canvas at a random
    shift, SHIFTED_TRAIN_PLACEMENTS placements per training image and one per test image (the digits' own 75/25
    split, so no test digit is a training digit moved). Fixed seed: every run sees the same images.

    On the 8x8 digits, labelled N(0, I) noise teaches a student almost as much as the real images; a digit that may
    sit anywhere on a larger canvas is far from anything noise resembles, which is what the demo needs to show."""
    digits = _load_digits_images()
    rng = np.random.default_rng(SHIFTED_PLACEMENT_SEED)
    x_train = _place_at_random_shifts(digits.x_train, SHIFTED_TRAIN_PLACEMENTS, rng)
    x_test = _place_at_random_shifts(digits.x_test, 1, rng)
    return Images(x_train, np.repeat(digits.y_train, SHIFTED_TRAIN_PLACEMENTS), x_test, digits.y_test)


EMBEDDED_READERS = {"digits": _load_digits_images, "shifted_digits": _load_shifted_digits_images}


# ----------------------------------------------------------------------------
# Local IDX files (MNIST, Fashion-MNIST)
# ----------------------------------------------------------------------------

IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
_IDX_UBYTE = 0x08


def read_idx(path: str | Path) -> np.ndarray:
    """Parses one IDX file (gzipped or not) of unsigned bytes.

    IDX layout: two zero bytes, a type byte (0x08 = ubyte), a byte giving the
    number of dimensions d, then d big-endian uint32 sizes, then the data.
    Raises UserInputError on a bad magic number or a truncated file.
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as stream:
            raw = stream.read()
    except (OSError, EOFError) as e:
        raise UserInputError(f"cannot read IDX file {path}: {e}") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != _IDX_UBYTE or raw[3] == 0:
        raise UserInputError(f"{path} is not an IDX ubyte file (bad magic number)")
    ndim = raw[3]
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise UserInputError(f"{path} is truncated (incomplete header)")
    shape = struct.unpack(f">{ndim}I", raw[4:header_size])
    expected = math.prod(shape)  # exact: a product of sizes that overflows 64 bits must not wrap round
    if len(raw) - header_size != expected:
        raise UserInputError(
            f"{path} is truncated or padded: header says {expected} bytes of data, "
            f"file holds {len(raw) - header_size}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header_size).reshape(shape)


def _find_file(folder: Path, stem: str) -> Path:
    for candidate in (folder / f"{stem}.gz", folder / stem):
        if candidate.is_file():
            return candidate
    raise UserInputError(
        f"{folder} lacks {stem}.gz; a data folder for MNIST-like data holds "
        f"{', '.join(s + '.gz' for s in IDX_FILES.values())}"
    )


def _load_idx_images(folder: Path) -> Images:
    paths = {key: _find_file(folder, stem) for key, stem in IDX_FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1:
            raise UserInputError(f"{folder}: {split} images must be N x H x W and labels N")
        if len(images) != len(labels):
            raise UserInputError(
                f"{folder}: {len(images)} {split} images but {len(labels)} {split} labels"
            )
    return Images(
        arrays["train_images"][..., None], arrays["train_labels"].astype(np.int64),
        arrays["test_images"][..., None], arrays["test_labels"].astype(np.int64),
    )


# ----------------------------------------------------------------------------
# Local CIFAR python batches
# ----------------------------------------------------------------------------

_SAFE_PICKLE_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),  # how protocol-2 pickles store raw bytes
}


class _CifarUnpickler(pickle.Unpickler):
    """Admits only builtin containers and numpy arrays; refuses any other global."""

    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_PICKLE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused to load {module}.{name} from a data file")


def read_cifar_batch(path: str | Path) -> dict:
    """Reads one CIFAR python-version batch with a restricted unpickler."""
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            batch = _CifarUnpickler(stream, encoding="bytes").load()
    except pickle.UnpicklingError as e:
        raise UserInputError(f"{path}: {e}") from e
    except (OSError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise UserInputError(f"cannot read CIFAR batch {path}: {e}") from e
    if not isinstance(batch, dict):
        raise UserInputError(f"{path} is not a CIFAR batch (expected a dict)")
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in batch.items()}


_CIFAR_LAYOUT = {
    "cifar10": ("cifar-10-batches-py", [f"data_batch_{i}" for i in range(1, 6)], ["test_batch"], "labels"),
    "cifar100": ("cifar-100-python", ["train"], ["test"], "fine_labels"),
}


def _cifar_arrays(paths: list[Path], label_key: str) -> tuple[np.ndarray, np.ndarray]:
    images, labels = [], []
    for path in paths:
        batch = read_cifar_batch(path)
        if "data" not in batch or label_key not in batch:
            raise UserInputError(f"{path} lacks 'data' or '{label_key}'")
        data = np.asarray(batch["data"], dtype=np.uint8)
        if data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
            raise UserInputError(f"{path}: data must be N x 3072, got {data.shape}")
        label = np.asarray(batch[label_key], dtype=np.int64)
        if len(label) != len(data):
            raise UserInputError(f"{path}: {len(data)} images but {len(label)} labels")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(label)
    return np.concatenate(images), np.concatenate(labels)


def _load_cifar_images(name: str, folder: Path) -> Images:
    subfolder, train_files, test_files, label_key = _CIFAR_LAYOUT[name]
    root = folder / subfolder if (folder / subfolder).is_dir() else folder
    missing = [f for f in train_files + test_files if not (root / f).is_file()]
    if missing:
        raise UserInputError(
            f"{folder} lacks the {name} python batches {missing}; pass the folder "
            f"extracted from the python-version archive (it holds {subfolder}/)"
        )
    x_train, y_train = _cifar_arrays([root / f for f in train_files], label_key)
    x_test, y_test = _cifar_arrays([root / f for f in test_files], label_key)
    return Images(x_train, y_train, x_test, y_test)


# ----------------------------------------------------------------------------
# tensorflow-datasets
# ----------------------------------------------------------------------------


OFFLINE_ENV = "AESAMPLING_OFFLINE"


def download_possible(host: str, timeout_s: float = 5.0) -> bool:
    """True when a TCP connection to `host`:443 opens within `timeout_s`.

    tfds retries a failing download for minutes; this check lets an offline
    user get a clear message at once. Setting AESAMPLING_OFFLINE=1 forbids
    downloads outright.
    """
    if os.environ.get(OFFLINE_ENV, "") not in ("", "0"):
        return False
    try:
        with socket.create_connection((host, 443), timeout=timeout_s):
            return True
    except OSError:
        return False


def _offline_message(spec: DatasetSpec) -> str:
    files = (
        "the four IDX .gz files (train-images-idx3-ubyte.gz, ...)"
        if spec.image_shape[0] == 28
        else "the extracted python-version batches"
    )
    return (
        f"cannot download {spec.name} (no connection to {spec.download_host}); "
        f"give a local folder holding {files} as `data_dir`"
    )


def _load_tfds_images(spec: DatasetSpec, tfds_data_dir: str | None) -> Images:
    from aesampling import backend

    if backend.is_jax():
        raise DataUnavailableError(
            f"{spec.name} comes from tensorflow-datasets only on the TensorFlow backend; on JAX, give a local "
            f"folder with its files as `data_dir`"
        )
    import tensorflow_datasets as tfds

    builder = tfds.builder(spec.tfds_name, data_dir=tfds_data_dir)
    if not builder.is_prepared():
        if not download_possible(spec.download_host):
            raise DataUnavailableError(_offline_message(spec))
        try:
            builder.download_and_prepare()
        except Exception as e:  # network, disk and checksum errors alike
            raise DataUnavailableError(f"{_offline_message(spec)} ({type(e).__name__}: {e})") from e
    arrays = {}
    for split in ("train", "test"):
        # Batched reads stacked here (batch_size=-1 aborts under tfds.testing.mock_data).
        batches = list(tfds.as_numpy(builder.as_dataset(split=split, as_supervised=True).batch(10000)))
        arrays[f"x_{split}"] = np.concatenate([x for x, _ in batches]).astype(np.uint8)
        arrays[f"y_{split}"] = np.concatenate([y for _, y in batches]).astype(np.int64)
    return Images(**arrays)


def source_files(name: str, data_dir: str | os.PathLike | None) -> list[Path]:
    """The files of `data_dir` that `read_images` reads for the dataset `name`, those that exist: the inputs no
    output may land on, and whose content a resumed run's settings digest. Empty for the embedded digits and for
    tensorflow-datasets."""
    if name in EMBEDDED_READERS or data_dir is None or not Path(data_dir).is_dir():
        return []
    folder = Path(data_dir)
    if name in _CIFAR_LAYOUT:
        subfolder, train_files, test_files, _ = _CIFAR_LAYOUT[name]
        root = folder / subfolder if (folder / subfolder).is_dir() else folder
        return [root / f for f in train_files + test_files if (root / f).is_file()]
    found = [next((c for c in (folder / f"{stem}.gz", folder / stem) if c.is_file()), None)
             for stem in IDX_FILES.values()]
    return [path for path in found if path is not None]


def read_images(spec: DatasetSpec, data_dir: str | None, tfds_data_dir: str | None) -> Images:
    """The raw images of the dataset `spec` (a data.DatasetSpec): embedded, a local folder, or tfds.

    Args:
      spec: what the dataset is (name, tfds name, download host).
      data_dir: a local folder with the dataset's standard files (IDX files
        for MNIST-like data, python batches for CIFAR). None uses tfds.
      tfds_data_dir: where tfds keeps prepared datasets (None: its default).
    """
    if spec.name in EMBEDDED_READERS:
        return EMBEDDED_READERS[spec.name]()
    if data_dir is None:
        return _load_tfds_images(spec, tfds_data_dir)
    folder = Path(data_dir)
    if not folder.is_dir():
        raise UserInputError(f"data_dir {folder} does not exist or is not a folder")
    if not any(folder.iterdir()):
        raise UserInputError(f"data_dir {folder} is empty")
    if spec.name in _CIFAR_LAYOUT:
        return _load_cifar_images(spec.name, folder)
    return _load_idx_images(folder)
