"""The report from a user's own files: no training record of the classifier, figures named by the files without
repeating their kind."""

import json
import shutil

import pytest

from aesampling.experiments.report import figure_name
from support import assert_one_line_error, run_script


@pytest.mark.parametrize("kind, name, figure", [
    ("lambda", "deep_ae", "lambda_deep_ae.png"),
    ("lambda", "lambda_fd", "lambda_fd.png"),
    ("lambda", "fd-lambda", "lambda_fd.png"),
    ("lambda", "lambdas_fd", "lambda_fd.png"),
    ("lambda", "lambda", "lambda.png"),
    ("samples", "samples_my_ae", "samples_my_ae.png"),
    ("samples", "my_ae.sample", "samples_my_ae.png"),
    ("samples", "my_samples_ae", "samples_my_samples_ae.png"),
    ("chains", "samples_my_ae", "chains_samples_my_ae.png"),
])
def test_a_figure_says_its_kind_once(kind, name, figure):
    assert figure_name(kind, name) == figure


@pytest.fixture(scope="module")
def own_files(digits_models, tmp_path_factory):
    """What a user with their own classifier has: curves, samples and a λ search made by the scripts, named as they
    like, and no training record of the classifier."""
    root = tmp_path_factory.mktemp("own")
    models = {"autoencoder": digits_models / "ae.keras", "classifier": digits_models / "classifier.keras"}
    model_flags = [f"--{name}={path}" for name, path in models.items()]
    run_script("search_lambda", "--dataset=digits", *model_flags, "--criterion=fd", "--lambdas=0.01,0.1",
               "--collects=noisy", "--burn_ins=1", "--widenings=0", "--fd_samples=200", "--mixing_chains=20",
               f"--output={root / 'lambda_fd.json'}")
    run_script("sample", f"--autoencoder={models['autoencoder']}", f"--chains_file={root / 'lambda_fd.json'}",
               "--num_samples=60", f"--output={root / 'drawn.npz'}")
    run_script("label", f"--samples={root / 'drawn.npz'}", f"--classifier={models['classifier']}",
               f"--output={root / 'my_ae_samples.npz'}")
    for source in ("upper_bound", "my_ae"):
        run_script("evaluate", "--dataset=digits", f"--source={source}", *model_flags, "--lam=0.1", "--epochs=1",
                   "--steps_per_epoch=2", "--quality_samples=0", f"--output={root / f'{source}.csv'}")
    return root


def _report_flags(root, output_dir):
    return ["--dataset=digits", f"--curves={root / 'upper_bound.csv'},{root / 'my_ae.csv'}",
            f"--samples={root / 'my_ae_samples.npz'}", f"--lambda_searches={root / 'lambda_fd.json'}",
            f"--output_dir={output_dir}"]


def test_a_report_without_the_classifier_s_training_record(own_files, tmp_path):
    out = tmp_path / "report"
    run_script("report", *_report_flags(own_files, out))
    measured = json.loads((own_files / "my_ae.json").read_text())["ground_truth_accuracy"]
    assert json.loads((out / "metrics.json").read_text())["ground_truth_accuracy"] == measured
    table = (out / "table.md").read_text()
    assert f"Ground-truth classifier test accuracy (max accuracy): {measured:.4f}" in table
    assert "| train classifier |" not in table and "| evaluate my_ae |" in table and "| λ search lambda_fd |" in table
    assert json.loads((out / "config.json").read_text())["ground_truth_classifier"] is None
    figures = sorted(p.name for p in out.glob("*.png"))
    assert figures == ["chains_my_ae_samples.png", "curves.png", "lambda_fd.png", "samples_my_ae.png"]


@pytest.mark.parametrize("accuracy, message", [
    (0.5, "the curves' records give different ground-truth accuracies"),
    (None, "no ground-truth accuracy: give --classifier_record"),
])
def test_a_ground_truth_the_curves_do_not_agree_on_is_refused(own_files, tmp_path, accuracy, message):
    for name in ("upper_bound.csv", "my_ae.csv", "my_ae.json"):
        shutil.copy(own_files / name, tmp_path / name)
    curves = ["upper_bound"] if accuracy is None else ["upper_bound", "my_ae"]
    record = json.loads((own_files / "upper_bound.json").read_text())
    (tmp_path / "upper_bound.json").write_text(json.dumps({**record, "ground_truth_accuracy": accuracy}))
    paths = ",".join(str(tmp_path / f"{curve}.csv") for curve in curves)
    result = run_script("report", "--dataset=digits", f"--curves={paths}", f"--output_dir={tmp_path / 'report'}",
                        check=False)
    assert_one_line_error(result, message)
    assert not (tmp_path / "report" / "table.md").exists()


def test_two_inputs_drawn_under_one_name_are_refused(own_files, tmp_path):
    shutil.copy(own_files / "my_ae_samples.npz", tmp_path / "samples_my_ae.npz")
    flags = _report_flags(own_files, tmp_path / "report")
    flags[2] += f",{tmp_path / 'samples_my_ae.npz'}"
    result = run_script("report", *flags, check=False)
    assert_one_line_error(result, "would both be drawn as samples_my_ae.png: rename one")
    assert not (tmp_path / "report").exists()
