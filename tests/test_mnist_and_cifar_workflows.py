"""Smoke runs of the MNIST and CIFAR workflows (make targets and stages): tiny epochs on mock data, ResNet50 with
weights=None."""

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tensorflow_datasets as tfds

from aesampling.data import datasets
from aesampling.io import storage
from aesampling.data import readers
from aesampling import experiments
from aesampling.sampling.reinjection import ReinjectionConfig
from support import FAST_PYTHON, make, write_cifar10_folder


def test_make_cifar10_smoke_on_local_mock_batches(tmp_path):
    """`make cifar10 SMOKE=1` end to end: feature extraction, then the whole chain on 2048-d features, with one
    autoencoder (a DAE: its noise choice too); the digits smoke run covers the others."""
    write_cifar10_folder(tmp_path / "cifar", per_batch=8)
    (tmp_path / "stamp").touch()
    results = tmp_path / "results"
    make("-j2", "cifar10", "SMOKE=1", f"DATA_DIR={tmp_path / 'cifar'}", "RESNET_WEIGHTS=none", "IMAGE_SIZE=32",
         f"RESULTS={results}", f"PY={FAST_PYTHON}", f"STAMP={tmp_path / 'stamp'}", "FD_CURVES=0", "AUTOENCODERS=deep_dae")
    out = results / "cifar10"
    assert (out / "cache" / "cifar10_resnet50_none_32px.npz").is_file()
    sources = ["upper_bound", "deep_dae", "lower_bound"]
    curves = pd.read_csv(out / "curves.csv")
    assert list(curves["source"].unique()) == sources
    for model in ("classifier", "deep_dae"):
        record = json.loads((out / "models" / f"{model}.json").read_text())
        assert record["input_dim"] == 2048 and record["train_examples"] == 36 and record["validation_examples"] == 4
    assert (out / "samples_deep_dae.png").is_file()
    # The sample-quality metrics and both λ choices on the feature path too (C's features of 2048-d inputs).
    metrics = json.loads((out / "metrics.json").read_text())
    quality = {row["source"]: row for row in metrics["quality"]}
    assert set(quality) == set(sources) and quality["lower_bound"]["fd_share_of_noise"] == 1.0
    assert all(np.isfinite(row["fd"]) and 0 <= row["class_tv"] <= 1 and 0 <= row["coverage"] <= 1
               for row in quality.values())
    assert set(metrics["mixing"]) == {"deep_dae"}
    search = json.loads((out / "lambda" / "deep_dae.json").read_text())
    assert search["best_fd"]["lam"] == min(search["grid"], key=lambda row: row["fd"])["lam"]
    assert (out / "lambda_deep_dae.png").is_file() and (out / "mixing.png").is_file()


@pytest.mark.parametrize("dataset", ["mnist", "cifar100"])
def test_chain_under_tfds_mock_data(dataset, tmp_path, monkeypatch):
    """The workflow stages in order on tfds mock data, as the Makefile chains them."""
    monkeypatch.setattr(readers, "download_possible", lambda host, timeout_s=5.0: True)
    data_config = experiments.DataConfig(
        dataset=dataset, tfds_data_dir=str(tmp_path / "tfds"), cache_dir=str(tmp_path / "cache"),
        resnet_weights="none", image_size=32,
    )
    models, chains = tmp_path / "models", ReinjectionConfig(lam=0.05, num_chains=4, reinjections=3, burn_in=1)
    with tfds.testing.mock_data(num_examples=30):
        if datasets.dataset_spec(dataset).uses_features:
            experiments.run_extract_features(experiments.ExtractConfig(data=data_config))
        for model in ["classifier", "shallow_ae", "deep_dae"]:
            experiments.run_train(experiments.TrainConfig(data=data_config, model=model, output=str(models / f"{model}.keras"),
                                                    epochs=1))
            if dataset == "cifar100":  # its tfds reader, features and 100 outputs; the later stages as for cifar10
                record = json.loads((models / "classifier.json").read_text())
                assert record["input_dim"] == 2048
                assert storage.load_model(models / "classifier.keras").output_shape[-1] == 100
                return
        searched = experiments.run_lambda_search(experiments.LambdaSearchConfig(
            data=data_config, autoencoder=str(models / "deep_dae.keras"), classifier=str(models / "classifier.keras"),
            output=str(tmp_path / "lambda" / "deep_dae.json"), reinjection=chains, lambdas=(0.01, 0.1), collects=("noisy", "clean"),
            burn_ins=(1,), epochs=1, steps_per_epoch=2, fd_samples=300,
        ))
        experiments.run_sample(experiments.SampleConfig(
            autoencoder=str(models / "deep_dae.keras"), output=str(tmp_path / "samples.npz"), num_samples=50,
            reinjection=chains,
        ))
        experiments.run_label(experiments.LabelConfig(
            samples=str(tmp_path / "samples.npz"), classifier=str(models / "classifier.keras"),
            output=str(tmp_path / "deep_dae.npz"),
        ))
        curves = []
        for source in ["upper_bound", "deep_dae", "lower_bound"]:
            curves.append(str(tmp_path / "curves" / f"{source}.csv"))
            experiments.run_evaluate(experiments.EvaluateConfig(
                data=data_config, source=source, classifier=str(models / "classifier.keras"), output=curves[-1],
                reinjection=chains, autoencoder=str(models / "deep_dae.keras"), epochs=2, steps_per_epoch=3,
                quality_samples=300, mixing_chains=20,
            ))
    # The report only reads: it loads no model.
    monkeypatch.setattr(storage, "load_model", lambda path: pytest.fail(f"the report loaded {path}"))
    def report(output_dir):
        return experiments.run_report(experiments.ReportConfig(
            dataset=dataset, curves=tuple(curves), samples=(str(tmp_path / "deep_dae.npz"),),
            classifier_record=str(models / "classifier.json"), output_dir=str(output_dir),
            lambda_searches=(str(tmp_path / "lambda" / "deep_dae.json"),),
        ))

    result = report(tmp_path / "report")
    # Killed as it writes its last other file, the report leaves no table.md (make's target) behind: make redoes it.
    class Killed(BaseException):
        pass

    write_json = storage.write_json

    def write_json_killed_at_config(path, payload):
        if Path(path).name == "config.json":
            raise Killed
        write_json(path, payload)

    monkeypatch.setattr(storage, "write_json", write_json_killed_at_config)
    with pytest.raises(Killed):
        report(tmp_path / "killed")
    assert (tmp_path / "killed" / "metrics.json").is_file() and not (tmp_path / "killed" / "table.md").exists()
    monkeypatch.setattr(storage, "write_json", write_json)
    tried = {(row["lam"], row["collect"]) for row in searched["grid"]}
    assert tried == {(0.01, "noisy"), (0.01, "clean"), (0.1, "noisy"), (0.1, "clean")}
    assert (searched["best"]["lam"], searched["best"]["collect"]) in tried
    assert list(result["table"]["source"]) == ["upper_bound", "deep_dae", "lower_bound"]
    labelled = np.load(tmp_path / "deep_dae.npz")
    num_classes = datasets.dataset_spec(dataset).num_classes
    assert labelled["soft_labels"].shape == (50, num_classes)
    assert labelled["chain_progress"].shape == (8, 10, labelled["x"].shape[1])
    assert labelled["preview_clean"].shape == (30, labelled["x"].shape[1])
    assert (tmp_path / "report" / "samples_deep_dae.png").is_file()
    assert (tmp_path / "report" / "chains_deep_dae.png").is_file() != datasets.dataset_spec(dataset).uses_features
    assert (tmp_path / "report" / "lambda_search.csv").is_file()
    table = (tmp_path / "report" / "table.md").read_text()
    for stage in ["train classifier", "train deep_dae", "λ search deep_dae", "evaluate lower_bound", "label deep_dae"]:
        assert f"| {stage} |" in table
    assert ("| extract ResNet50 features |" in table) == datasets.dataset_spec(dataset).uses_features
