"""What happens when a user makes a mistake: the real scripts, one-line errors, no partial files."""

import gzip
import json
import pickle
import shutil

import keras
import numpy as np
import pytest

from aesampling.data import resnet50
from aesampling.io import storage
from aesampling.models import builders
from support import (MaliciousPickle, assert_no_outputs, assert_one_line_error, run_script, save_small_models,
                     write_cifar10_folder, write_idx_folder)


@pytest.fixture(scope="module")
def files(tmp_path_factory, digits):
    """Small saved models and sample files, good and bad."""
    root = save_small_models(tmp_path_factory.mktemp("files"), digits, classifier_units=16, classifier_epochs=3,
                             ae_units=8, ae_epochs=2, ae_batch_size=128)
    storage.save_model(builders.build_autoencoder(784, [8], "tanh"), root / "ae784.keras")
    storage.save_model(builders.build_classifier(784, 10, [8]), root / "classifier784.keras")
    inputs = keras.Input((64,))
    storage.save_model(keras.Model(inputs, keras.layers.Dense(10)(inputs)), root / "squeeze.keras")
    storage.save_model(keras.Model(inputs, keras.layers.Dense(10, activation="softmax")(inputs)), root / "softmax.keras")
    keras.Model(inputs, keras.layers.Lambda(lambda t: t + 1)(inputs)).save(root / "lambda.keras")
    (root / "text.keras").write_text("not a model")
    raw = bytearray((root / "ae.keras").read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(range(1, 65))
    (root / "corrupt.keras").write_bytes(bytes(raw))
    np.savez(root / "samples.npz", x=digits.x_test[:100])
    bad = digits.x_test[:100].copy()
    bad[3, 5] = np.nan
    np.savez(root / "nan_samples.npz", x=bad)
    np.savez(root / "object_samples.npz", x=np.array([[{"a": 1}]] * 3, dtype=object), allow_pickle=True)
    return root


# ---------------------------------------------------------------- data


@pytest.mark.parametrize("setup, message", [
    (lambda d: None, "does not exist"),
    (lambda d: d.mkdir(), "is empty"),
    (lambda d: (d.mkdir(), (d / "notes.txt").write_text("x")), "lacks train-images-idx3-ubyte.gz"),
    (lambda d: write_idx_folder(d, label_count=4), "5 train images but 4 train labels"),
])
def test_bad_data_folders(tmp_path, setup, message):
    folder = tmp_path / "data"
    setup(folder)
    result = run_script("train", "--dataset=mnist", f"--data_dir={folder}", "--model=classifier",
                        f"--output={tmp_path / 'c.keras'}", check=False)
    assert_one_line_error(result, message)
    assert_no_outputs(tmp_path, "c.keras", "c.json")


@pytest.mark.parametrize("damage, message", [
    (lambda raw: b"\x00\x00\x0d\x03" + raw[4:], "bad magic number"),
    (lambda raw: raw[:-100], "truncated"),
])
def test_damaged_idx_files(tmp_path, damage, message):
    write_idx_folder(tmp_path / "data")
    path = tmp_path / "data" / "t10k-images-idx3-ubyte.gz"
    path.write_bytes(gzip.compress(damage(gzip.decompress(path.read_bytes()))))
    result = run_script("train", "--dataset=fashion_mnist", f"--data_dir={tmp_path / 'data'}", "--model=classifier",
                        f"--output={tmp_path / 'c.keras'}", check=False)
    assert_one_line_error(result, message)


def test_nan_in_cached_features(tmp_path):
    x = np.random.default_rng(0).random((20, 2048)).astype(np.float32)
    x[2, 7] = np.inf
    np.savez(resnet50.cache_path(tmp_path, "cifar10", "none", 32), x_train=x, y_train=np.arange(20) % 10,
             x_test=x[:5], y_test=np.arange(5))
    result = run_script("train", "--dataset=cifar10", f"--cache_dir={tmp_path}", "--resnet_weights=none",
                        "--image_size=32", "--model=classifier", f"--output={tmp_path / 'c.keras'}", check=False)
    assert_one_line_error(result, "NaN or inf")


def test_offline_download_names_data_dir(tmp_path):
    result = run_script("train", "--dataset=mnist", f"--tfds_data_dir={tmp_path}", "--model=classifier",
                        f"--output={tmp_path / 'c.keras'}", env={"AESAMPLING_OFFLINE": "1"}, check=False)
    assert_one_line_error(result, "--data_dir")


def test_malicious_cifar_pickle_is_refused_by_the_script(tmp_path):
    root = write_cifar10_folder(tmp_path / "cifar")
    with open(root / "data_batch_3", "wb") as f:
        pickle.dump({b"data": MaliciousPickle(), b"labels": [0]}, f)
    result = run_script("extract_features", "--dataset=cifar10", f"--data_dir={tmp_path / 'cifar'}",
                        f"--cache_dir={tmp_path / 'cache'}", "--resnet_weights=none", "--image_size=32", check=False)
    assert_one_line_error(result, "refused to load posix.system")


# ---------------------------------------------------------------- models


@pytest.mark.parametrize("model, message", [
    ("missing.keras", "model file not found"),
    ("text.keras", "not a Keras .keras model file"),
    ("corrupt.keras", "cannot load model"),
    ("lambda.keras", "cannot load model"),
    ("squeeze.keras", "maps (64,) (64 values) -> (10,) (10 values)"),
])
def test_bad_autoencoder_files(files, tmp_path, model, message):
    result = run_script("sample", f"--autoencoder={files / model}", "--lam=0.1", "--num_samples=10",
                        f"--output={tmp_path / 's.npz'}", check=False)
    assert_one_line_error(result, message)
    assert_no_outputs(tmp_path, "s.npz", "s.json")


def test_classifier_and_samples_of_different_sizes(files, tmp_path):
    result = run_script("label", f"--samples={files / 'samples.npz'}", f"--classifier={files / 'classifier784.keras'}",
                        f"--output={tmp_path / 'l.npz'}", check=False)
    assert_one_line_error(result, "the classifier takes inputs of shape (784,) (784 values) but the samples have 64 values per sample")
    assert_no_outputs(tmp_path, "l.npz")


def test_models_that_do_not_fit_the_dataset(files, tmp_path):
    result = run_script("evaluate", "--dataset=digits", "--source=deep_ae", f"--autoencoder={files / 'ae784.keras'}",
                        f"--classifier={files / 'classifier.keras'}", f"--output={tmp_path / 'c.csv'}", check=False)
    assert_one_line_error(result, "the autoencoder takes inputs of shape (784,) (784 values) but dataset digits has 64 values per sample")
    result = run_script("evaluate", "--dataset=digits", "--source=upper_bound",
                        f"--classifier={files / 'classifier784.keras'}", f"--output={tmp_path / 'c.csv'}", check=False)
    assert_one_line_error(result, "the classifier takes inputs of shape (784,) (784 values) but dataset digits has 64 values per sample")


def test_softmax_classifier_is_accepted_with_a_warning(files, tmp_path):
    result = run_script("label", f"--samples={files / 'samples.npz'}", f"--classifier={files / 'softmax.keras'}",
                        f"--output={tmp_path / 'l.npz'}")
    assert "softmax outputs" in result.stderr
    assert np.load(tmp_path / "l.npz")["soft_labels"].shape == (100, 10)


@pytest.mark.parametrize("samples, message", [
    ("nan_samples.npz", "NaN or inf"),
    ("object_samples.npz", "holds Python objects"),
])
def test_bad_sample_files(files, tmp_path, samples, message):
    result = run_script("label", f"--samples={files / samples}", f"--classifier={files / 'classifier.keras'}",
                        f"--output={tmp_path / 'l.npz'}", check=False)
    assert_one_line_error(result, message)
    assert_no_outputs(tmp_path, "l.npz")


# ---------------------------------------------------------------- settings


@pytest.mark.parametrize("flags, message", [
    (["--lam=-0.5"], "--lam (λ) must be a finite number >= 0"),
    (["--lam=0.1", "--chains=0"], "--chains (B) must be an integer >= 1"),
    (["--lam=0.1", "--reinjections=0"], "--reinjections (R) must be an integer >= 1"),
    (["--lam=0.1", "--reinjections=5", "--burn_in=5"], "--burn_in (b) must lie in [0, R), R = 5: got 5"),
    (["--lam=0.1", "--num_samples=-5"], "number of samples must be an integer >= 0"),
    (["--lam=0.1", "--seed=-1"], "seed must be an integer in [0, 2147483647]"),
    (["--lam=0.1", "--seed=4294967296"], "seed must be an integer"),
])
def test_bad_sampler_settings(files, tmp_path, flags, message):
    result = run_script("sample", f"--autoencoder={files / 'ae.keras'}", f"--output={tmp_path / 's.npz'}", *flags,
                        check=False)
    assert_one_line_error(result, message)
    assert_no_outputs(tmp_path, "s.npz")


# ---------------------------------------------------------------- outputs


def test_output_folder_that_cannot_be_created(files, tmp_path):
    (tmp_path / "a_file").write_text("x")
    result = run_script("sample", f"--autoencoder={files / 'ae.keras'}", "--lam=0.1",
                        f"--output={tmp_path / 'a_file' / 's.npz'}", check=False)
    assert_one_line_error(result, "cannot write to")


def test_a_disk_that_fills_mid_write_leaves_no_file(files, tmp_path):
    result = run_script("sample", f"--autoencoder={files / 'ae.keras'}", "--lam=0.1", "--num_samples=20000",
                        "--chunk_samples=1000", f"--output={tmp_path / 's.npz'}", file_size_limit=1_000_000,
                        check=False)
    assert_one_line_error(result, "cannot complete the output: File too large")
    assert_no_outputs(tmp_path, "s.npz", "s.json")
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".npy")]


# ---------------------------------------------------------------- reproducibility


def test_same_seed_and_flags_give_identical_samples_and_curves(files, tmp_path):
    for run in ("a", "b"):
        run_script("sample", f"--autoencoder={files / 'ae.keras'}", "--lam=0.05", "--num_samples=3000",
                   "--seed=7", f"--output={tmp_path / run / 's.npz'}")
        run_script("evaluate", "--dataset=digits", "--source=ae", f"--autoencoder={files / 'ae.keras'}", "--lam=0.05",
                   "--quality_samples=500", "--mixing_chains=20",
                   f"--classifier={files / 'classifier.keras'}", "--epochs=3", "--steps_per_epoch=20", "--seed=7",
                   f"--output={tmp_path / run / 'c.csv'}")
    a, b = np.load(tmp_path / "a" / "s.npz")["x"], np.load(tmp_path / "b" / "s.npz")["x"]
    assert a.tobytes() == b.tobytes()
    assert (tmp_path / "a" / "c.csv").read_bytes() == (tmp_path / "b" / "c.csv").read_bytes()
    quality_a, quality_b = (json.loads((tmp_path / run / "c.json").read_text())["quality"] for run in "ab")
    assert quality_a == quality_b and quality_a["fd"] > 0
    shutil.rmtree(tmp_path / "b")
    run_script("sample", f"--autoencoder={files / 'ae.keras'}", "--lam=0.05", "--num_samples=3000",
               "--seed=8", f"--output={tmp_path / 'b' / 's.npz'}")
    assert np.load(tmp_path / "b" / "s.npz")["x"].tobytes() != a.tobytes()


def test_models_trained_on_another_dataset_are_flagged(tmp_path):
    run_script("train", "--dataset=digits", "--model=classifier", "--epochs=1", f"--output={tmp_path / 'c.keras'}")
    same = run_script("evaluate", "--dataset=digits", "--source=upper_bound", "--quality_samples=0",
                      f"--classifier={tmp_path / 'c.keras'}",
                      "--epochs=1", "--steps_per_epoch=2", f"--output={tmp_path / 'a.csv'}")
    assert "was trained" not in same.stderr
    other = run_script("evaluate", "--dataset=digits", "--source=upper_bound", "--quality_samples=0",
                      f"--classifier={tmp_path / 'c.keras'}",
                       "--epochs=1", "--steps_per_epoch=2", "--validation_fraction=0.3", f"--output={tmp_path / 'b.csv'}")
    assert "trained with validation fraction 0.1 but this run uses 0.3" in other.stderr
