"""The scripts end to end, through the Makefile chain at smoke size, and their error handling."""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pandas as pd
import pytest

from support import DEEP_AUTOENCODERS, DEEP_SOURCES, FAST_PYTHON, REPO, make, run_script, write_cifar10_folder
from aesampling.experiments import recipes
from aesampling.reporting.sources import Source

AUTOENCODERS = ["shallow_ae", "deep_ae", "shallow_dae", "deep_dae"]
# The smoke run trains two autoencoders, so that make test stays within 10 minutes. On TensorFlow, a deep AE and a
# shallow DAE: both depths, both kinds, the DAE noise choice, and every curve of each (FD_CURVES=1). The JAX leg
# takes the two deep ones without the <ae>_fd curves, which run the same backend code as the <ae> ones.
ON_JAX = os.environ.get("KERAS_BACKEND") == "jax"
SMOKE_AUTOENCODERS = DEEP_AUTOENCODERS if ON_JAX else ["deep_ae", "shallow_dae"]
SMOKE_SOURCES = DEEP_SOURCES if ON_JAX else [
    "upper_bound", *SMOKE_AUTOENCODERS, *(f"{ae}_fd" for ae in SMOKE_AUTOENCODERS),
    *(f"{ae}_fd_balanced" for ae in SMOKE_AUTOENCODERS), "lower_bound"]


@pytest.fixture(scope="module")
def smoke_results(tmp_path_factory):
    """`make digits SMOKE=1` into a temporary results folder, with this interpreter.

    The first run is killed (SIGKILL to make and its children) once the
    ground-truth classifier exists; the rerun must finish the rest without
    redoing it.
    """
    root = tmp_path_factory.mktemp("make")
    (root / "stamp").touch()
    variables = [f"RESULTS={root / 'results'}", f"PY={FAST_PYTHON}", f"STAMP={root / 'stamp'}", "SMOKE=1",
                 f"FD_CURVES={0 if ON_JAX else 1}", f"AUTOENCODERS={' '.join(SMOKE_AUTOENCODERS)}"]
    classifier = root / "results" / "digits" / "models" / "classifier.keras"
    first = subprocess.Popen(["make", "--no-print-directory", "-j2", "digits", *variables], cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.monotonic() + 300
    while not classifier.exists() and first.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    os.killpg(first.pid, signal.SIGKILL)
    first.wait()
    assert classifier.exists(), "the interrupted make never trained the classifier"
    stamp = classifier.stat().st_mtime_ns
    make("-j2", "digits", *variables)
    assert classifier.stat().st_mtime_ns == stamp, "the rerun trained the classifier again"
    return root / "results" / "digits", variables


def test_make_digits_smoke_writes_every_output(smoke_results):
    out, _ = smoke_results
    for name in ["table.md", "curves.csv", "curves.png", "metrics.json", "config.json", "lambda_search.csv"]:
        assert (out / name).is_file(), name
    for ae in SMOKE_AUTOENCODERS:
        assert (out / f"samples_{ae}.png").is_file() and (out / f"chains_{ae}.png").is_file()
        assert (out / "models" / f"{ae}.keras").is_file() and (out / "models" / f"{ae}.json").is_file()
        labelled = np.load(out / "labelled" / f"{ae}.npz")
        assert labelled["x"].shape == (200, 64) and labelled["soft_labels"].shape == (200, 10)
        np.testing.assert_array_equal(labelled["labels"], labelled["soft_labels"].argmax(axis=1))
    curves = pd.read_csv(out / "curves.csv")
    assert list(curves.columns) == ["source", "epoch", "samples_seen", "accuracy", "loss"]
    assert list(curves["source"].unique()) == SMOKE_SOURCES
    assert (curves.groupby("source")["epoch"].max() == 2).all()
    assert curves["samples_seen"].max() == 2 * 5 * 400
    table = (out / "table.md").read_text()
    assert all(f"| {s} |" in table for s in SMOKE_SOURCES) and "Made by: `python scripts/report.py" in table
    config = json.loads((out / "config.json").read_text())
    assert set(config["curves"]) == set(SMOKE_SOURCES)
    assert config["curves"]["deep_ae"]["autoencoder_record"]["config"]["model"] == "deep_ae"
    best = json.loads((out / "lambda" / "deep_ae.json").read_text())["best"]
    assert best["lam"] in (0.01, 0.1) and best["collect"] == "noisy" and best["burn_in"] == 2  # SMOKE's grid
    assert best["reinjections"] == best["burn_in"] + 8
    assert config["samples"]["deep_ae"]["samples_record"]["config"]["reinjection"]["lam"] == best["lam"]
    chains = config["curves"]["deep_ae"]["config"]["reinjection"]
    assert (chains["collect"], chains["burn_in"], chains["reinjections"]) == (
        best["collect"], best["burn_in"], best["reinjections"])
    # Sample quality of every source against the validation images, the bounds as floor and ceiling.
    metrics = json.loads((out / "metrics.json").read_text())
    quality = {row["source"]: row for row in metrics["quality"]}
    assert set(quality) == set(SMOKE_SOURCES) and quality["lower_bound"]["fd_share_of_noise"] == 1.0
    assert quality["upper_bound"]["fd"] < min(quality[s]["fd"] for s in SMOKE_SOURCES if s != "upper_bound")
    assert set(metrics["mixing"]) == set(SMOKE_SOURCES[1:-1])
    # The best autoencoder source against labelled noise, stated first in table.md.
    finals = {row["source"]: row["relative_to_ground_truth"] for row in metrics["table"]}
    verdict = metrics["autoencoders_against_noise"]
    assert verdict["noise"] == "lower_bound" and verdict["autoencoder_ratio"] == max(
        finals[s] for s in SMOKE_SOURCES[1:-1])
    assert verdict["points_ahead"] == pytest.approx(100 * (verdict["autoencoder_ratio"] - finals["lower_bound"]))
    assert "the best autoencoder source (" in (out / "table.md").read_text().splitlines()[2]
    # Both λ choices: the FD one has the lowest FD of the search's settings that did not collapse, and its curve
    # uses it.
    search = json.loads((out / "lambda" / "deep_ae.json").read_text())
    healthy = [row for row in search["grid"] if not row["collapsed"]] or search["grid"]
    assert search["best_fd"]["lam"] == min(healthy, key=lambda row: row["fd"])["lam"]
    assert all(0 <= row["class_tv"] <= 1 for row in search["grid"])  # measured on the FD samples
    if not ON_JAX:
        assert config["curves"]["deep_ae_fd"]["config"]["reinjection"]["lam"] == search["best_fd"]["lam"]
        # The FD choice again with class-balanced collection: same chains, the share of slots filled recorded.
        balanced = config["curves"]["deep_ae_fd_balanced"]
        assert balanced["config"]["reinjection"] == {**config["curves"]["deep_ae_fd"]["config"]["reinjection"],
                                                     "balance": {"refill": "start", "patience": 2, "pool": 8}}
        assert 0 < balanced["accepted_share"] <= 1 and config["curves"]["deep_ae_fd"]["accepted_share"] is None
        assert "balanced (" in table
    assert (out / "lambda_deep_ae.png").is_file()
    assert "| train deep_ae |" in table and "| train deep_ae_fd |" not in table  # trained once, evaluated twice
    assert "| source | FD | share | recall | coverage |" in table and (out / "mixing.png").is_file()
    search = pd.read_csv(out / "lambda_search.csv")
    scored = search[search["score"].notna()]
    assert len(scored) == len(SMOKE_AUTOENCODERS) * 2 and search.groupby("autoencoder")["chosen"].sum().eq(1).all()
    # The FD-only rounds: SMOKE's two λ put each autoencoder's lowest FD on an edge, so each goes one λ further.
    fd_only = search[search["score"].isna()]
    assert set(fd_only["autoencoder"]) == set(scored["autoencoder"]) and fd_only["widened"].all()
    assert fd_only["fd"].notna().all() and not fd_only["chosen"].any()
    assert config["ground_truth_classifier"]["validation_examples"] == 135
    # Digits has one DAE noise candidate, Table I's own: chosen, copied and reported.
    dae = next(ae for ae in SMOKE_AUTOENCODERS if ae.endswith("_dae"))
    choice = json.loads((out / "lambda" / f"{dae}.json").read_text())["noise_choice"]
    assert [c["autoencoder"] for c in choice["candidates"]] == [str(out / "models" / f"{dae}_preset.keras")]
    assert (out / "models" / f"{dae}.keras").read_bytes() == (out / "models" / f"{dae}_preset.keras").read_bytes()
    assert f"| {dae} | s&p 0.5, σ 0.5 |" in table and f"| train {dae} (s&p 0.5, σ 0.5) |" in table
    # The run is compared with the committed reference, which it leaves as it is.
    comparison = (out / "comparison.md").read_text()
    assert "Reference: `results/digits/metrics.json`" in comparison
    assert all(f"| {s} | " in comparison for s in SMOKE_SOURCES)
    assert not (REPO / "results" / "digits" / "comparison.md").exists()


def test_a_second_make_redoes_nothing(smoke_results):
    _, variables = smoke_results
    assert make("-q", "digits", *variables, check=False).returncode == 0


STAGES = ["train", "search", "noises", "sample", "eval", "eval_balanced", "report"]


def stamp_settings(run, variables):
    """Record `variables` as the settings `run` (a copied run folder) was made with, its outputs left up to date.

    make writes each settings stamp for these variables; the stamps then get an old date, as if written before
    the outputs.
    """
    stamps = [run / "settings" / f"{stage}.txt" for stage in STAGES]
    make(*(str(stamp) for stamp in stamps), *variables)
    for stamp in stamps:
        os.utime(stamp, (0, 0))


def planned_scripts(plan):
    return sorted({line.split("scripts/")[1].split()[0] for line in plan.splitlines() if " scripts/" in line})


def test_a_changed_setting_redoes_its_stage_and_what_follows(smoke_results, tmp_path):
    """Each stage's settings are stamped in RESULTS/<dataset>/settings; another setting in the same folder redoes
    that stage and what is made from it, never a stale reuse. `make -n` shows it and writes nothing."""
    out, variables = smoke_results
    run = tmp_path / "digits"
    shutil.copytree(out, run)
    variables = [v for v in variables if not v.startswith("RESULTS=")] + [f"RESULTS={tmp_path}"]
    assert make("-q", "digits", *variables, check=False).returncode == 0  # a copy is up to date
    assert "--num_samples=200" in (run / "settings" / "sample.txt").read_text()
    plans = {change: make("-n", "digits", *variables, change).stdout for change in (
        "NUM_SAMPLES=300", "CRITERION=fd", "TRAIN_ARGS=--epochs=2", "digits_DAE_NOISES=preset sp0.1", "RECIPE=recommended")}
    assert planned_scripts(plans["NUM_SAMPLES=300"]) == ["compare.py", "label.py", "report.py", "sample.py"]
    assert planned_scripts(plans["CRITERION=fd"]) == [
        "choose_noise.py", "compare.py", "evaluate.py", "label.py", "report.py", "sample.py", "search_lambda.py"]
    assert "scripts/train.py" in plans["TRAIN_ARGS=--epochs=2"] and "--model=classifier" in plans["TRAIN_ARGS=--epochs=2"]
    noises = plans["digits_DAE_NOISES=preset sp0.1"]
    trained = [line.split("--model=")[1].split()[0] for line in noises.splitlines() if "scripts/train.py" in line]
    assert sorted(trained) == sorted(dae for dae in SMOKE_AUTOENCODERS if dae.endswith("_dae"))  # sp0.1 candidates
    assert "--salt_pepper_rate=0.1" in noises and "scripts/choose_noise.py" in noises
    # Chains from the data's moments: the searches onwards, and noise at the moments joins the bounds, whose own
    # curves do not depend on the start. The samples, and the curves at the student's choice, are class-balanced
    # (<ae>_balanced). RECIPE=paper is the default: only the report, which names it, is redone.
    moments = plans["RECIPE=recommended"]
    assert planned_scripts(moments) == planned_scripts(plans["CRITERION=fd"])
    assert all("--recipe=recommended" in line for line in moments.splitlines() if "scripts/search_lambda.py" in line)
    evaluated = {line.split("--source=")[1].split()[0]: line for line in moments.splitlines() if "evaluate.py" in line}
    assert sorted(evaluated) == sorted(["moments_bound", *(f"{source}_balanced" if source in SMOKE_AUTOENCODERS
                                                           else source for source in SMOKE_SOURCES[1:-1])])
    assert all(("--balance_classes" in line) == source.endswith("_balanced") for source, line in evaluated.items())
    assert all("--chains_choice=student" in evaluated[f"{ae}_balanced"] for ae in SMOKE_AUTOENCODERS)
    sampled = [line for line in moments.splitlines() if "scripts/sample.py" in line]
    assert sampled and all(_balance_of(line) == recipes.recipe("recommended").balance for line in sampled)
    assert not any("--balance_classes" in line for line in plans["CRITERION=fd"].splitlines() if "sample.py" in line)
    # Each recipe's run is compared with that recipe's committed reference.
    assert "--reference=results/digits_recommended/metrics.json" in moments
    assert "--reference=results/digits/metrics.json" in plans["CRITERION=fd"]
    assert planned_scripts(make("-n", "digits", *variables, "RECIPE=paper").stdout) == ["compare.py", "report.py"]
    assert "--num_samples=200" in (run / "settings" / "sample.txt").read_text()  # the dry runs wrote nothing
    # A setting only the report shows (a variable given on the command line) redoes the report alone, for real.
    table = (run / "table.md").stat().st_mtime_ns
    curves = (run / "curves.csv").stat().st_mtime_ns
    result = make("digits", *variables, "IMAGE_SIZE=224")
    assert planned_scripts(result.stdout) == ["compare.py", "report.py"]
    assert (run / "table.md").stat().st_mtime_ns > table and "IMAGE_SIZE=224" in (run / "table.md").read_text()
    assert "IMAGE_SIZE=224" in (run / "settings" / "report.txt").read_text()
    assert (run / "curves" / "deep_ae.csv").stat().st_mtime_ns < table and (run / "curves.csv").stat().st_mtime_ns > curves
    assert make("-q", "digits", *variables, "IMAGE_SIZE=224", check=False).returncode == 0


def test_make_seeds_summarises_one_run_per_seed(smoke_results, tmp_path):
    """`make digits_seeds` asks each seed's run in RESULTS/seeds/<seed> to be made, then summarises them.

    Seed 0's run is the smoke run; seed 1's is a copy whose record says seed 1 and whose accuracies are lower,
    so both runs are up to date and make only checks them and writes the spread.
    """
    out, variables = smoke_results
    variables = [v for v in variables if not v.startswith("RESULTS=")] + [f"RESULTS={tmp_path}"]
    for seed in (0, 1):
        shutil.copytree(out, tmp_path / "seeds" / str(seed) / "digits")
    second = tmp_path / "seeds" / "1" / "digits"
    config = json.loads((second / "config.json").read_text())
    config["ground_truth_classifier"]["config"]["seed"] = 1
    (second / "config.json").write_text(json.dumps(config))
    metrics = json.loads((second / "metrics.json").read_text())
    for row in metrics["table"]:
        row["relative_to_ground_truth"] -= 0.01 if row["source"] == "deep_ae" else 0.0
    (second / "metrics.json").write_text(json.dumps(metrics))
    for seed in (0, 1):
        stamp_settings(tmp_path / "seeds" / str(seed) / "digits",
                       [v for v in variables if not v.startswith("RESULTS=")]
                       + [f"RESULTS={tmp_path / 'seeds' / str(seed)}", f"SEED={seed}"])
    result = make("digits_seeds", "SEEDS=0 1", *variables)
    assert "scripts/train.py" not in result.stdout and "scripts/evaluate.py" not in result.stdout
    assert f"RESULTS={tmp_path}/seeds/1 SEED=1" in result.stdout
    table = (tmp_path / "digits_seeds" / "table.md").read_text()
    assert "Seed spread of digits over seeds 0, 1" in table and "SEEDS='0 1'`" in table
    spread = json.loads((tmp_path / "digits_seeds" / "metrics.json").read_text())
    deep = next(row for row in spread["summary"]
                if row["source"] == "deep_ae" and row["metric"] == "relative_to_ground_truth")
    assert deep["seeds"] == 2 and deep["max"] - deep["min"] == pytest.approx(0.01)
    # ... and compared with the committed spread of its recipe, accuracy by accuracy.
    comparison = (tmp_path / "digits_seeds" / "comparison.md").read_text()
    assert "Reference: `results/digits_seeds/metrics.json`" in comparison
    assert "| deep_ae | relative to ground truth |" in comparison
    assert re.search(r"^\d+ of \d+ accuracies agree within the seed spread\.$", comparison, re.MULTILINE)


@pytest.mark.parametrize("target, recipe, folder", [
    ("publish_fashion_mnist", "paper", "results/fashion_mnist"),
    ("publish_fashion_mnist", "recommended", "results/fashion_mnist_recommended"),
    ("publish_fashion_mnist_seeds", "recommended", "results/fashion_mnist_recommended_seeds"),
    ("publish_split_fashion_mnist", "recommended", "results/split_fashion_mnist"),  # one folder for both recipes
])
def test_publish_writes_the_reference_of_the_run_s_recipe(target, recipe, folder):
    plan = make("-n", target, f"RECIPE={recipe}", "RESULTS=/nonexistent").stdout
    assert f"mkdir -p {folder}\n" in plan and f"-exec cp {{}} {folder}/ " in plan


@pytest.mark.parametrize("name", ["paper", "recommended"])
def test_make_runs_each_recipe_as_recipes_py_defines_it(name):
    """RECIPE=<name> makes the chains of aesampling's recipe of that name: its start in the searches, and its
    collection (every state, or class-balanced with the default refill, patience and pool) in the samples and the
    student's curves."""
    from aesampling.sampling.reinjection import Balance

    recipe = recipes.recipe(name)
    plan = make("-n", "fashion_mnist", f"RECIPE={name}", "FD_CURVES=0", "RESULTS=/nonexistent").stdout.splitlines()
    searches = [line for line in plan if "scripts/search_lambda.py" in line]
    assert searches and all(f"--recipe={name} --criterion={recipe.criterion}" in line for line in searches)
    sampled = [line for line in plan if "scripts/sample.py" in line]
    curves = {line.split("--source=")[1].split()[0]: line for line in plan if "scripts/evaluate.py" in line}
    students = [curves[source] for source in curves if Source.parse(source).base in AUTOENCODERS]
    assert len(sampled) == len(students) == len(AUTOENCODERS)
    assert all(_balance_of(line) == recipe.balance for line in sampled + students)
    # BALANCED_EVAL_ARGS' refill, patience and pool reach the balanced samples as they reach the balanced curves.
    refilled = make("-n", "fashion_mnist", f"RECIPE={name}", "FD_CURVES=0", "RESULTS=/nonexistent",
                    "BALANCED_EVAL_ARGS=--refill=clone --balance_patience=8 --balance_pool=2 --steps_per_epoch=20"
                    ).stdout.splitlines()
    sampled = [line for line in refilled if "scripts/sample.py" in line]
    assert len(sampled) == len(AUTOENCODERS)
    assert all(_balance_of(line) == (recipe.balance and Balance(refill="clone", patience=8, pool=2))
               and "--steps_per_epoch" not in line for line in sampled)


def _balance_of(command: str):
    """The Balance a script's command line asks for (the last of a repeated flag wins, as absl reads it), or None
    without --balance_classes."""
    from aesampling.sampling.reinjection import Balance

    words = command.split()
    if "--balance_classes" not in words:
        return None
    given = {}
    for word in words:  # a later flag overwrites an earlier one
        for field, flag in (("refill", "refill"), ("patience", "balance_patience"), ("pool", "balance_pool")):
            if word.startswith(f"--{flag}="):
                value = word.split("=", 1)[1]
                given[field] = value if field == "refill" else int(value)
    return Balance(**given)


def test_make_with_the_fd_criterion_evaluates_the_fd_choice_only():
    plan = make("-n", "digits", "CRITERION=fd", "RESULTS=/nonexistent").stdout
    searches = [line for line in plan.splitlines() if "scripts/search_lambda.py" in line]
    assert len(searches) == 4 and all("--criterion=fd" in line for line in searches)
    assert "--criterion=student" not in plan
    curves = [line for line in plan.splitlines() if "scripts/evaluate.py" in line]
    assert sorted(line.split("--source=")[1].split()[0] for line in curves) == sorted(
        ["upper_bound", "lower_bound", *(f"{ae}_fd" for ae in AUTOENCODERS),
         *(f"{ae}_fd_balanced" for ae in AUTOENCODERS)])
    assert '--reproduce_command="make digits CRITERION=fd"' in plan
    shorter = make("-n", "digits", "CRITERION=fd", "RESULTS=/nonexistent", "BALANCED_EVAL_ARGS=--steps_per_epoch=20").stdout
    assert all(("--steps_per_epoch=20" in line) == ("_balanced" in line.split("--source=")[1].split()[0])
               for line in shorter.splitlines() if "scripts/evaluate.py" in line)
    assert '--reproduce_command="make digits CRITERION=fd BALANCED_EVAL_ARGS=--steps_per_epoch=20"' in shorter
    by_class = make("-n", "digits", "CRITERION=fd", "RESULTS=/nonexistent",
                    "BALANCED_EVAL_ARGS=--refill=class_moments").stdout
    bound = [line for line in by_class.splitlines() if "--source=class_moments_bound" in line]
    assert len(bound) == 1 and "--refill" not in bound[0]
    assert "class_moments_bound" not in shorter
    fewer = make("-n", "digits", "CRITERION=fd", "RESULTS=/nonexistent", "AUTOENCODERS=shallow_ae deep_ae").stdout
    assert '--reproduce_command="make digits CRITERION=fd AUTOENCODERS=\'shallow_ae deep_ae\'"' in fewer
    wrong = make("-n", "digits", "CRITERION=students", check=False)
    assert wrong.returncode != 0 and "CRITERION must be student or fd, got 'students'" in wrong.stderr


def test_a_fresh_clone_demo_runs_the_whole_workflow(tmp_path):
    """Runs write under build/results, so the committed reports never make a newcomer's `make demo` a no-op.

    The folder holds what a fresh clone has for make: the Makefile, the setup files and the committed reports.
    """
    for name in ("Makefile", "setup.py", "setup.cfg"):
        shutil.copy(REPO / name, tmp_path / name)
    shutil.copytree(REPO / "results" / "shifted_digits", tmp_path / "results" / "shifted_digits")
    plan = subprocess.run(["make", "--no-print-directory", "-n", "demo"], cwd=tmp_path, capture_output=True, text=True)
    assert plan.returncode == 0, plan.stderr
    train = [line for line in plan.stdout.splitlines() if "scripts/train.py --dataset=shifted_digits" in line]
    assert any("--model=classifier --seed=0 --output=build/results/shifted_digits/models/classifier.keras" in line
               for line in train)
    assert "scripts/compare.py --reference=results/shifted_digits/metrics.json" in plan.stdout


def test_make_shows_the_full_chain_for_mnist_and_cifar():
    mnist = make("-n", "mnist", "DATA_DIR=/data/mnist", "RESULTS=/nonexistent").stdout
    for script in ["train.py", "sample.py", "label.py", "evaluate.py", "report.py"]:
        assert f"scripts/{script}" in mnist
    assert "--data_dir=/data/mnist" in mnist
    for dae in ("shallow_dae", "deep_dae"):  # two noise candidates each, then the choice
        assert f"--model={dae} --seed=0 --output=/nonexistent/mnist/models/{dae}_preset.keras" in mnist
        assert f"--model={dae} --salt_pepper_rate=0.1 --seed=0 --output=/nonexistent/mnist/models/{dae}_sp0.1.keras" in mnist
        assert (f"scripts/choose_noise.py --searches=/nonexistent/mnist/lambda/{dae}_preset.json,"
                f"/nonexistent/mnist/lambda/{dae}_sp0.1.json --model_output=/nonexistent/mnist/models/{dae}.keras") in mnist
    cifar = make("-n", "cifar10", "RESULTS=/nonexistent", "RESNET_WEIGHTS=none", "IMAGE_SIZE=32").stdout
    assert cifar.index("scripts/extract_features.py") < cifar.index("scripts/train.py")
    assert "--cache_dir=/nonexistent/cifar10/cache --resnet_weights=none --image_size=32" in cifar


@pytest.mark.skipif(ON_JAX, reason="the script's wiring is backend-neutral: the TensorFlow leg covers it")
def test_extract_features_script_on_local_cifar_batches(tmp_path):
    write_cifar10_folder(tmp_path / "cifar")
    result = run_script("extract_features", "--dataset=cifar10", f"--data_dir={tmp_path / 'cifar'}",
                        f"--cache_dir={tmp_path / 'cache'}", "--resnet_weights=none", "--image_size=32")
    cache = tmp_path / "cache" / "cifar10_resnet50_none_32px.npz"
    assert str(cache) in result.stdout
    arrays = np.load(cache)
    assert arrays["x_train"].shape == (10, 2048) and arrays["x_test"].shape == (2, 2048)
    assert json.loads(cache.with_suffix(".json").read_text())["config"]["data"]["image_size"] == 32


@pytest.mark.parametrize("script, flags, message", [
    ("train", ["--dataset=svhn", "--model=deep_ae", "--output=/tmp/x.keras"], "unknown dataset 'svhn'"),
    ("train", ["--dataset=digits", "--model=huge_ae", "--output=/tmp/x.keras"], "unknown autoencoder preset 'huge_ae'"),
    ("sample", ["--autoencoder=/nonexistent.keras", "--lam=0.1", "--output=/tmp/s.npz"], "model file not found"),
    ("sample", ["--autoencoder=/nonexistent.keras", "--output=/tmp/s.npz"],
     "λ is unset: give --lam, a λ search's best setting (--chains_file), or a --dataset"),
    ("sample", ["--autoencoder=x.keras", "--lam=-1", "--output=/tmp/s.npz"], "--lam (λ) must be"),
    ("sample", ["--autoencoder=x.keras", "--lam=0.1", "--balance_classes", "--output=/tmp/s.npz"], "give --classifier"),
    ("sample", ["--autoencoder=x.keras", "--lam=0.1", "--refill=clone", "--output=/tmp/s.npz"],
     "--refill applies to class-balanced collection only: add --balance_classes"),
    ("sample", ["--autoencoder=x.keras", "--lam=0.1", "--balance_classes", "--refill=class_moments",
                "--classifier=c.keras", "--output=/tmp/s.npz"], "give --dataset, and --data_dir (make: DATA_DIR=...) where its files are"),
    ("sample", ["--autoencoder=x.keras", "--lam=0.1", "--balance_classes", "--balance_patience=0",
                "--output=/tmp/s.npz"], "--balance_patience (P) must be an integer >= 1, got 0"),
    ("search_lambda", ["--dataset=digits", "--autoencoder=x.keras", "--classifier=c.keras", "--burn_ins=2,many",
                       "--output=/tmp/l.json"],
     "--burn_ins must be integers or mixing"),
    ("search_lambda", ["--dataset=digits", "--autoencoder=x.keras", "--classifier=c.keras", "--criterion=fd",
                       "--fd_widenings=2", "--output=/tmp/l.json"],
     "--fd_widenings belong to the student criterion with FD measured"),
    ("search_lambda", ["--dataset=digits", "--autoencoder=x.keras", "--classifier=c.keras", "--fd_widenings=-1",
                       "--output=/tmp/l.json"],
     "--fd_widenings must be an integer >= 0, got -1"),
    ("benchmark", ["--models=huge_ae", "--output_dir=/tmp/bench"], "--models must name"),
    ("train", ["--dataset=digits", "--model=shallow_ae", "--salt_pepper_rate=0.1", "--output=/tmp/x.keras"],
     "denoising presets only"),
    ("train", ["--dataset=digits", "--model=deep_dae", "--salt_pepper_rate=1.5", "--output=/tmp/x.keras"],
     "rate must be in [0, 1]"),
    ("train", ["--dataset=digits", "--model=deep_dae", "--gaussian_noise_std=nan", "--output=/tmp/x.keras"],
     "gaussian_noise_std must be a finite number >= 0"),
])
def test_user_mistakes_give_one_line_errors(script, flags, message):
    result = run_script(script, *flags, check=False)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert message in result.stderr


def test_readme_results_match_the_committed_reports():
    """Every committed report (a results/ folder with metrics.json) has a block in its own README, and each matches
    it; the front door's blocks too."""
    reports = sorted(f"results/{path.parent.name}" for path in (REPO / "results").glob("*/metrics.json"))
    assert len(reports) >= 3
    result = run_script("readme_results", "--check")
    for report in reports:
        assert f"{report}/README.md: 1 results blocks match their reports (.)" in result.stdout, report
    assert "README.md: 1 results blocks match their reports (results/shifted_digits)" in result.stdout


def test_readme_results_are_rewritten_from_the_reports(tmp_path):
    (tmp_path / "results" / "digits").mkdir(parents=True)
    for name in ("metrics.json", "config.json"):
        shutil.copy(REPO / "results" / "digits" / name, tmp_path / "results" / "digits" / name)
    readme = tmp_path / "README.md"
    readme.write_text("# Title\n\n<!-- results:results/digits -->\n| deep_ae | 0.99 |\n<!-- /results -->\n\nMore text.\n")
    stale = run_script("readme_results", f"--readme={readme}", "--check", check=False)
    assert stale.returncode == 1 and stale.stderr.strip().splitlines()[-1].startswith("error: ")
    run_script("readme_results", f"--readme={readme}")
    text = readme.read_text()
    assert text.startswith("# Title\n\n<!-- results:results/digits -->\nMade by `make digits`") and "More text." in text
    deep = next(row for row in json.loads((tmp_path / "results" / "digits" / "metrics.json").read_text())["table"]
                if row["source"] == "deep_ae")
    assert f"| deep_ae | {deep['lam']:g}, noisy, " in text and f" | {deep['final_accuracy']:.4f} | " in text
    assert "0.99 |" not in text
    assert "1 results blocks match their reports" in run_script("readme_results", f"--readme={readme}", "--check").stdout
    (tmp_path / "results" / "digits" / "metrics.json").unlink()
    missing = run_script("readme_results", f"--readme={readme}", check=False)
    assert missing.returncode == 1 and "metrics.json not found" in missing.stderr


def test_table_one_block_sets_the_paper_beside_the_committed_reports(tmp_path):
    for folder in ("fashion_mnist", "fashion_mnist_recommended"):
        (tmp_path / "results" / folder).mkdir(parents=True)
        for name in ("metrics.json", "config.json"):
            shutil.copy(REPO / "results" / folder / name, tmp_path / "results" / folder / name)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- table_one -->\n| stale |\n<!-- /table_one -->\n")
    run_script("readme_results", f"--readme={readme}")
    lines = readme.read_text().splitlines()
    assert "| MNIST | ground-truth classifier | 0.980 | - | - | no committed report: `make mnist` |" in lines
    assert "| MNIST | lower bound (noise) | 0.925 (0.944) | - | - | same |" in lines
    assert "| CIFAR-100 | deep AE | 0.749 (0.999) | - | - | same |" in lines
    metrics = json.loads((tmp_path / "results" / "fashion_mnist" / "metrics.json").read_text())
    shallow = next(row for row in metrics["table"] if row["source"] == "shallow_ae")
    assert any(line.startswith(f"| Fashion-MNIST | shallow AE | - | {shallow['final_accuracy']:.4f} "
                               f"({shallow['final_accuracy'] / metrics['ground_truth_accuracy']:.3f}) |")
               for line in lines)
    deep = next(line for line in lines if line.startswith("| Fashion-MNIST | deep AE |"))
    deep_paper, deep_recommended = (_final_accuracy(tmp_path / "results" / folder, "deep_ae")
                                    for folder in ("fashion_mnist", "fashion_mnist_recommended"))
    assert deep.split(" | ")[3:5] == [deep_paper, deep_recommended]  # the paper's recipe, the recommended
    assert "recommended: `make fashion_mnist" in next(line for line in lines if "ground-truth classifier" in line
                                                    and "Fashion-MNIST" in line)
    assert "| stale |" not in lines
    # The recommended recipe's report holds each autoencoder's class-balanced curve (<ae>_balanced): that is its
    # cell; a plain curve, where a report has one, comes first.
    recommended = tmp_path / "results" / "fashion_mnist_recommended" / "metrics.json"
    metrics = json.loads(recommended.read_text())
    rows = {row["source"]: row for row in metrics["table"]}
    for ae in ("shallow_ae", "deep_ae"):
        if ae in rows:
            rows[f"{ae}_balanced"] = {**rows.pop(ae), "source": f"{ae}_balanced"}
    rows["deep_ae_balanced"]["final_accuracy"] = 0.1234
    metrics["table"] = list(rows.values())
    recommended.write_text(json.dumps(metrics))
    run_script("readme_results", f"--readme={readme}")
    deep = next(line for line in readme.read_text().splitlines() if line.startswith("| Fashion-MNIST | deep AE |"))
    assert deep.split(" | ")[4].startswith("0.1234 (")
    metrics["table"].append({**rows["deep_ae_balanced"], "source": "deep_ae", "final_accuracy": 0.5678})
    recommended.write_text(json.dumps(metrics))
    run_script("readme_results", f"--readme={readme}")
    deep = next(line for line in readme.read_text().splitlines() if line.startswith("| Fashion-MNIST | deep AE |"))
    assert deep.split(" | ")[4].startswith("0.5678 (")


def _final_accuracy(report, autoencoder):
    """`autoencoder`'s final accuracy (ratio to the ground truth) in a report, as the README's Table I prints it:
    its plain curve's, else its class-balanced one's."""
    metrics = json.loads((report / "metrics.json").read_text())
    rows = {row["source"]: row for row in metrics["table"]}
    accuracy = (rows.get(autoencoder) or rows[f"{autoencoder}_balanced"])["final_accuracy"]
    return f"{accuracy:.4f} ({accuracy / metrics['ground_truth_accuracy']:.3f})"


def test_a_script_prints_no_backend_chatter(tmp_path):
    """A plain interpreter (not the fork server): the backend's C++ start-up lines never reach the user."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "AESAMPLING_BACKEND_LOGS")}
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "label.py"), "--samples=/nonexistent.npz",
                             "--classifier=/nonexistent.keras", f"--output={tmp_path / 'l.npz'}"],
                            cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.splitlines() == ["error: file not found: /nonexistent.npz"]
