"""A user's own models, as they are: a convolutional autoencoder and a CNN classifier written in plain Keras on
8 x 8 x 1 digits images run through sample -> label -> quality -> evaluate -> λ search -> stationarity -> report
with no wrapper, and a model
the package cannot use gets a one-line error that says what to change."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from aesampling import backend
from support import assert_one_line_error, run_script

SHAPE = (8, 8, 1)


@pytest.fixture(scope="module")
def own_models(tmp_path_factory, digits):
    """conv_ae.keras and cnn.keras, trained briefly on digits images in plain Keras (no aesampling builder)."""
    root = tmp_path_factory.mktemp("own_models")
    images = digits.x_train.reshape(-1, *SHAPE)
    keras.utils.set_random_seed(0)
    autoencoder = keras.Sequential([
        keras.Input(SHAPE), keras.layers.Conv2D(8, 3, strides=2, padding="same", activation="relu"),
        keras.layers.Flatten(), keras.layers.Dense(16, activation="relu"), keras.layers.Dense(4 * 4 * 8),
        keras.layers.Reshape((4, 4, 8)),
        keras.layers.Conv2DTranspose(1, 3, strides=2, padding="same", activation="sigmoid")], name="conv_ae")
    autoencoder.compile("adam", "binary_crossentropy")
    autoencoder.fit(images, images, epochs=3, batch_size=64, verbose=0)
    autoencoder.save(root / "conv_ae.keras")
    backbone = keras.Sequential([keras.Input(SHAPE), keras.layers.Conv2D(8, 3, activation="relu"),
                                 keras.layers.Flatten(), keras.layers.Dense(32, activation="relu")], name="backbone")
    cnn = keras.Sequential([keras.Input(SHAPE), backbone, keras.layers.Dense(10, activation="softmax")], name="cnn")
    cnn.compile("adam", "sparse_categorical_crossentropy")
    cnn.fit(images, digits.y_train, epochs=20, batch_size=64, verbose=0)
    cnn.save(root / "cnn.keras")
    return root


def test_sample_label_quality_evaluate_report_on_a_conv_ae_and_a_cnn(own_models, tmp_path):
    ae, cnn = str(own_models / "conv_ae.keras"), str(own_models / "cnn.keras")
    samples, labelled = tmp_path / "conv_ae.npz", tmp_path / "conv_ae_labelled.npz"
    sampled = run_script("sample", f"--autoencoder={ae}", f"--classifier={cnn}", "--dataset=digits", "--lam=0.1",
                         "--num_samples=600", f"--output={samples}")
    assert "class histogram of the samples of" in sampled.stderr and "sampling: 600/600 samples" in sampled.stderr
    with np.load(samples) as arrays:
        assert arrays["x"].shape == (600, *SHAPE)
    record = json.loads(samples.with_suffix(".json").read_text())
    assert record["sample_shape"] == list(SHAPE) and sum(record["class_counts"]) == 600
    run_script("label", f"--samples={samples}", f"--classifier={cnn}", f"--output={labelled}")
    with np.load(labelled) as arrays:
        assert arrays["x"].shape == (600, *SHAPE) and arrays["soft_labels"].shape == (600, 10)
    quality = tmp_path / "quality.json"
    measured = run_script("quality", f"--samples={labelled}", f"--classifier={cnn}", "--dataset=digits",
                          f"--output={quality}")
    assert "precision" in measured.stderr and quality.with_suffix(".png").is_file()
    report = json.loads(quality.read_text())
    assert report["quality"]["samples"] == 600 and report["feature_dim"] == 32  # the backbone's 32 units
    assert report["collapse"]["class_histogram"] == pytest.approx(np.array(record["class_counts"]) / 600, abs=1e-4)
    curves = []
    for source, extra in (("conv_ae", [f"--autoencoder={ae}", "--lam=0.1"]), ("upper_bound", [])):
        curve = tmp_path / f"{source}.csv"
        run_script("evaluate", f"--source={source}", f"--classifier={cnn}", "--dataset=digits", "--epochs=2",
                   "--steps_per_epoch=3", "--quality_samples=200", "--mixing_chains=20", f"--output={curve}", *extra)
        curves.append(str(curve))
    evaluated = json.loads((tmp_path / "conv_ae.json").read_text())
    assert evaluated["quality"]["samples"] == 200 and "collapse" in evaluated["quality"]
    search = tmp_path / "lambda_conv_ae.json"
    searched = run_script("search_lambda", f"--autoencoder={ae}", f"--classifier={cnn}", "--dataset=digits",
                          "--criterion=fd", "--lambdas=0.05,0.5", "--collects=noisy,clean", "--burn_ins=2",
                          "--widenings=0", "--fd_samples=300", f"--output={search}")
    assert "[4/4] λ=0.5 collect=clean" in searched.stderr
    chosen = json.loads(search.read_text())
    assert chosen["best_fd"]["lam"] in (0.05, 0.5) and set(chosen["lambda_from_eq5"]) == {"0.05", "0.1", "0.2"}
    stationarity = tmp_path / "stationarity.csv"
    run_script("stationarity", f"--autoencoder={ae}", f"--classifier={cnn}", "--dataset=digits", "--lam=0.1",
               "--steps=1,3", "--stationarity_chains=8", f"--output={stationarity}")
    assert stationarity.is_file()
    out = tmp_path / "report"
    run_script("report", "--dataset=digits", f"--curves={','.join(curves)}", f"--samples={labelled}",
               f"--lambda_searches={search}", f"--output_dir={out}")
    assert (out / "table.md").is_file() and (out / "samples_conv_ae_labelled.png").is_file()


def _save(model, path):
    model.save(path)
    return str(path)


@pytest.mark.skipif(backend.is_jax(), reason="the model checks and their messages are backend-neutral: the TensorFlow leg covers them")
def test_models_the_package_cannot_use_get_one_line_errors(own_models, tmp_path):
    ae, out = str(own_models / "conv_ae.keras"), str(tmp_path / "s.npz")
    inputs = keras.Input(SHAPE)
    flat = keras.layers.Flatten()(inputs)
    hidden = keras.layers.Dense(4, activation="relu")(flat)
    three = _save(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(hidden)), tmp_path / "three.keras")
    logits = _save(keras.Model(inputs, keras.layers.Dense(10)(hidden)), tmp_path / "logits.keras")
    a, b = keras.Input(SHAPE), keras.Input(SHAPE)
    two = _save(keras.Model([a, b], keras.layers.Dense(10, activation="softmax")(
        keras.layers.Flatten()(keras.layers.Add()([a, b]))), name="two_inputs"), tmp_path / "two.keras")
    common = [f"--autoencoder={ae}", "--dataset=digits", "--lam=0.1", "--num_samples=10", f"--output={out}"]
    assert_one_line_error(run_script("sample", f"--classifier={three}", *common, check=False),
                          "the classifier outputs 3 classes but dataset digits has 10")
    assert_one_line_error(run_script("sample", f"--classifier={logits}", *common, check=False),
                          "must be probabilities (sigmoid or softmax), not linear")
    assert_one_line_error(run_script("sample", f"--classifier={two}", *common, check=False),
                          "model 'two_inputs' has 2 inputs; aesampling needs a model with one input")
    run_script("sample", *common)
    assert_one_line_error(run_script("quality", f"--samples={out}", f"--classifier={own_models / 'cnn.keras'}",
                                     "--dataset=digits", "--feature_layer=conv", f"--output={tmp_path / 'q.json'}",
                                     check=False), "classifier 'cnn' has no layer 'conv' to read features from")


def test_balanced_sampling_reports_its_fill_and_writes_the_same_shuffled_file(own_models, tmp_path):
    ae, cnn = str(own_models / "conv_ae.keras"), str(own_models / "cnn.keras")
    common = [f"--autoencoder={ae}", f"--classifier={cnn}", "--dataset=digits", "--lam=0.1", "--collect=clean",
              "--balance_classes", "--num_samples=800"]
    first = run_script("sample", *common, f"--output={tmp_path / 'a.npz'}")
    run_script("sample", *common, "--chunk_samples=100", f"--output={tmp_path / 'b.npz'}")
    assert "class-balanced collection filled" in first.stderr and "samples per class: class 0 " in first.stderr
    assert "sampling: 800/800 samples" in first.stderr
    with np.load(tmp_path / "a.npz") as a, np.load(tmp_path / "b.npz") as b:
        np.testing.assert_array_equal(a["x"], b["x"])  # the same seed, the same file, whatever the chunks
    record = json.loads((tmp_path / "a.json").read_text())
    counts = record["class_counts"]
    assert sum(counts) == 800 and record["short_classes"] == [c for c in range(10) if counts[c] < 40]
