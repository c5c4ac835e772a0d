"""Interrupted runs: processes really killed (SIGKILL), then the same command run again."""

import json

import numpy as np
import pytest

from aesampling import backend
from aesampling.io import storage
from aesampling.io import resume
from aesampling.sampling.reinjection import ReinjectionConfig
from support import run_script, save_small_models, start_script, wait_for


@pytest.mark.skipif(backend.is_jax(), reason="Keras's BackupAndRestore is backend-neutral: the TensorFlow leg covers it (the curve's resume runs on both)")
def test_killed_training_resumes_from_the_last_completed_epoch(tmp_path):
    # A DAE: its noise layers' random-number states must be resumed too (training.SeedStateBackup).
    reference = tmp_path / "reference.keras"
    run_script("train", "--dataset=digits", "--model=deep_dae", "--epochs=40", f"--output={reference}")
    output = tmp_path / "deep_dae.keras"
    flags = ["--dataset=digits", "--model=deep_dae", "--epochs=40", f"--output={output}"]
    run = start_script("train", *flags)
    wait_for(lambda: resume.backed_up_epoch(output) >= 3, run)
    run.kill()
    assert not output.exists()
    run_script("train", *flags)
    record = json.loads(output.with_suffix(".json").read_text())
    assert record["epochs_trained"] == 40
    # At least 3 epochs were saved; a kill in the middle of saving the next one falls back on the copy of the
    # one before (resume.prepare_training_backup), so the resume starts at epoch 2 or later.
    assert 2 <= record["resumed_from_epoch"] < 40
    assert len(record["history"]["loss"]) == 40 - record["resumed_from_epoch"]
    assert not (tmp_path / "deep_dae.keras.backup").exists()
    # The same model as a training that was never interrupted, to the last bit.
    for resumed, uninterrupted in zip(storage.load_model(output).weights, storage.load_model(reference).weights):
        np.testing.assert_array_equal(np.asarray(resumed), np.asarray(uninterrupted))


@pytest.fixture(scope="module")
def trained(tmp_path_factory, digits):
    return save_small_models(tmp_path_factory.mktemp("trained"), digits, classifier_units=32, classifier_epochs=5,
                             ae_units=16, ae_epochs=5, ae_batch_size=64)


def test_killed_evaluation_continues_to_the_same_curve(trained, tmp_path):
    def flags(output):
        return ["--dataset=digits", "--source=ae", f"--autoencoder={trained / 'ae.keras'}", "--lam=0.05",
                "--quality_samples=500", "--mixing_chains=20",
                f"--classifier={trained / 'classifier.keras'}", "--epochs=30", "--steps_per_epoch=30",
                f"--output={output}"]

    run_script("evaluate", *flags(tmp_path / "reference.csv"))
    output = tmp_path / "curve.csv"
    checkpoint = tmp_path / "curve.csv.partial.npz"

    def epochs_saved():
        try:
            with np.load(checkpoint) as saved:
                return len(saved["points"]) - 1
        except (OSError, ValueError, KeyError):
            return 0

    run = start_script("evaluate", *flags(output))
    wait_for(lambda: epochs_saved() >= 3, run)
    run.kill()
    assert not output.exists() and 3 <= epochs_saved() < 30
    result = run_script("evaluate", *flags(output))
    assert output.read_bytes() == (tmp_path / "reference.csv").read_bytes()
    assert not checkpoint.exists()
    assert "epoch 1/" in result.stderr  # the restored points are logged again
    record = json.loads((tmp_path / "curve.json").read_text())
    assert record["interrupted_runs_seconds"] > 0  # the report's stage time counts the killed run's epochs


@pytest.mark.skipif(backend.is_jax(), reason="the fingerprint check is backend-neutral: the TensorFlow leg covers it")
def test_a_checkpoint_from_other_settings_is_not_resumed(trained, tmp_path):
    base = ["--dataset=digits", "--source=upper_bound", f"--classifier={trained / 'classifier.keras'}", "--quality_samples=0",
            "--steps_per_epoch=10", f"--output={tmp_path / 'c.csv'}"]
    run = start_script("evaluate", *base, "--epochs=200")
    wait_for(lambda: (tmp_path / "c.csv.partial.npz").exists(), run)
    run.kill()
    resumed = run_script("evaluate", *base, "--epochs=3")
    assert "written with other settings (config.epochs: 200 then, 3 now); the curve starts over" in resumed.stderr
    run_script("evaluate", *base[:-1], f"--output={tmp_path / 'fresh.csv'}", "--epochs=3")
    assert (tmp_path / "c.csv").read_bytes() == (tmp_path / "fresh.csv").read_bytes()


class Killed(BaseException):
    """Stands for a SIGKILL at one exact point of a run: nothing after it happens."""


def kill_when_called(*args, **kwargs):
    raise Killed


@pytest.mark.parametrize("stage", ["train", "sample", "label", "evaluate"])
def test_a_run_killed_before_its_output_leaves_the_record_not_a_lone_output(stage, trained, tmp_path, monkeypatch):
    """make waits for the model, the samples, the labelled samples or the curve; each stage writes its JSON record before that file, so a
    kill between the two can only leave a record without the output (the stage runs again), never an output that
    make counts as done without the record the report reads."""
    import pandas as pd
    from aesampling.io import npz
    from aesampling import experiments

    data_config = experiments.DataConfig(dataset="digits")
    chains = ReinjectionConfig(lam=0.05, num_chains=4, reinjections=3, burn_in=1)
    if stage == "train":
        output = tmp_path / "ae.keras"
        monkeypatch.setattr(storage, "save_model", kill_when_called)
        run = lambda: experiments.run_train(experiments.TrainConfig(data=data_config, model="shallow_ae",
                                                              output=str(output), epochs=1))
    elif stage == "sample":
        output = tmp_path / "samples.npz"
        monkeypatch.setattr(npz.NpzStreamWriter, "close", kill_when_called)
        run = lambda: experiments.run_sample(experiments.SampleConfig(autoencoder=str(trained / "ae.keras"),
                                                                output=str(output), num_samples=20, reinjection=chains))
    elif stage == "label":
        output = tmp_path / "labelled.npz"
        np.savez(tmp_path / "samples.npz", x=np.zeros((20, 64), np.float32))
        monkeypatch.setattr(npz.NpzStreamWriter, "close", kill_when_called)
        run = lambda: experiments.run_label(experiments.LabelConfig(samples=str(tmp_path / "samples.npz"),
                                                              classifier=str(trained / "classifier.keras"),
                                                              output=str(output)))
    else:
        output = tmp_path / "curve.csv"
        monkeypatch.setattr(pd.DataFrame, "to_csv", kill_when_called)
        run = lambda: experiments.run_evaluate(experiments.EvaluateConfig(
            data=data_config, source="lower_bound", classifier=str(trained / "classifier.keras"), output=str(output),
            reinjection=chains, epochs=1, steps_per_epoch=2, quality_samples=0))
    with pytest.raises(Killed):
        run()
    assert storage.sidecar_path(output).is_file()
    assert not output.exists()


def test_settings_difference_names_what_changed():
    saved = json.dumps({"config": {"epochs": 200, "reinjection": {"lam": 0.1}}, "models": {"ae.keras": [10, 1]}})
    current = json.dumps({"config": {"epochs": 3, "reinjection": {"lam": 0.1, "start": "normal"}},
                          "models": {"ae.keras": [10, 2]}})
    assert resume.settings_difference(saved, current) == [
        "config.epochs: 200 then, 3 now",
        "config.reinjection.start is new (another version of aesampling wrote the checkpoint)",
        "ae.keras changed",
    ]
    assert resume.settings_difference(current, saved)[1].startswith("config.reinjection.start is gone")
    many = json.dumps({"config": {str(i): i for i in range(8)}})
    assert resume.settings_difference(many, json.dumps({"config": {}}), limit=2)[-1] == "6 more"
    assert resume.settings_difference("not json", current) == ["an unreadable record of them"]
