"""A run never loses an input, never resumes stale state, never blocks its own fix, and never looks finished when
it was not: every stage against outputs on its inputs, changed inputs, failed validation, malformed files,
oversized settings and stops (library-level where it can; one script run per class where the flags matter)."""

import dataclasses
import gzip
import hashlib
import json
import logging
import os
import signal
import struct

import keras
import numpy as np
import pytest

from aesampling import experiments
from aesampling.data import readers, resnet50
from aesampling.errors import UserInputError
from aesampling.experiments import outputs, records
from aesampling.io import interruption, resume, storage
from aesampling.sampling import class_balance, reinjection
from aesampling.sampling.reinjection import Balance, ReinjectionConfig
from aesampling.selection import lambda_search
from support import assert_one_line_error, idx_bytes, run_script, write_idx_folder

CHAINS = ReinjectionConfig(lam=0.05, num_chains=4, reinjections=3, burn_in=1)
CACHE = "cifar10_resnet50_imagenet_224px"


def digests(*paths):
    return {path: hashlib.sha256(path.read_bytes()).hexdigest() for path in paths}


@pytest.fixture
def search_result(tmp_path):
    """A λ search result made with the moments start, as search_lambda.py writes it."""
    best = {"lam": 0.05, "collect": "clean", "burn_in": 1, "reinjections": 3, "start": "moments"}
    path = tmp_path / "search.json"
    storage.write_json(path, {"best": best, "grid": [], "start_moments": {"mean": [0.5] * 64, "std": [0.1] * 64}})
    return path


@pytest.fixture
def feature_cache(tmp_path):
    """A CIFAR-10 feature cache with its record, as extract_features.py leaves them."""
    folder = tmp_path / "cache"
    folder.mkdir()
    np.savez(folder / f"{CACHE}.npz", x_train=np.zeros((2, 3), np.float32))
    storage.write_json(folder / f"{CACHE}.json", {"cache": "record"})
    return folder


# ---------------------------------------------------------------- outputs never land on inputs


def _stage_writing_on_an_input(case, models, tmp, search, cache):
    classifier, ae = str(models / "classifier.keras"), str(models / "ae.keras")
    digits, cifar = experiments.DataConfig(dataset="digits"), experiments.DataConfig(dataset="cifar10",
                                                                                      cache_dir=str(cache))
    on_search = str(search.with_suffix(".csv"))  # the record of X.csv is X.json, the search result
    if case.startswith("evaluate"):
        source = {"evaluate ae": "ae", "evaluate bound": "lower_bound", "evaluate moments": "ae"}[case]
        chains = dataclasses.replace(CHAINS, start="moments") if case == "evaluate moments" else CHAINS
        return experiments.run_evaluate, experiments.EvaluateConfig(
            data=digits, source=source, classifier=classifier, autoencoder=ae, output=on_search, reinjection=chains,
            chains_file=str(search))
    if case == "stationarity":
        return experiments.run_stationarity, experiments.StationarityConfig(
            data=digits, autoencoder=ae, classifier=classifier, output=on_search, reinjection=CHAINS,
            chains_file=str(search))
    if case == "train on the cache's record":
        return experiments.run_train, experiments.TrainConfig(data=cifar, model="shallow_ae",
                                                              output=str(cache / f"{CACHE}.keras"))
    if case == "curve on the cache's record":
        return experiments.run_evaluate, experiments.EvaluateConfig(
            data=cifar, source="upper_bound", classifier=classifier, output=str(cache / f"{CACHE}.csv"),
            reinjection=CHAINS)
    if case == "sample on the cache":
        balanced = dataclasses.replace(CHAINS, balance=Balance(refill="class_moments"))
        return experiments.run_sample, experiments.SampleConfig(
            autoencoder=ae, output=str(cache / f"{CACHE}.npz"), num_samples=10, reinjection=balanced,
            classifier=classifier, data=cifar)
    if case == "sample through a symbolic link":
        (tmp / "link.keras").symlink_to(models / "ae.keras")
        return experiments.run_sample, experiments.SampleConfig(autoencoder=str(tmp / "link.keras"),
                                                                output=str(models / "ae.npz"), num_samples=10,
                                                                reinjection=CHAINS)
    if case == "label onto a hard link":
        np.savez(tmp / "s.npz", x=np.zeros((4, 64), np.float32))
        os.link(tmp / "s.npz", tmp / "same.npz")
        return experiments.run_label, experiments.LabelConfig(samples=str(tmp / "s.npz"), classifier=classifier,
                                                              output=str(tmp / "same.npz"))
    raise AssertionError(case)


@pytest.mark.parametrize("case", ["evaluate ae", "evaluate bound", "evaluate moments", "stationarity",
                                  "train on the cache's record", "curve on the cache's record", "sample on the cache",
                                  "sample through a symbolic link", "label onto a hard link"])
def test_no_stage_writes_on_any_of_its_inputs(digits_models, tmp_path, search_result, feature_cache, case):
    stage, config = _stage_writing_on_an_input(case, digits_models, tmp_path, search_result, feature_cache)
    watched = [p for p in (*digits_models.iterdir(), *tmp_path.rglob("*")) if p.is_file() and not p.is_symlink()]
    before = digests(*watched)
    with pytest.raises(UserInputError, match="would overwrite|would both be written"):
        stage(config)
    assert digests(*watched) == before


def test_every_path_field_of_every_config_is_an_input_an_output_or_a_folder():
    """A config field that names a file is protected (or claimed) only when outputs.py knows which it is."""
    known = {*outputs.INPUT_FIELDS, *outputs.OUTPUT_FIELDS, *outputs.FOLDER_FIELDS, *outputs.NAME_FIELDS}
    for name in experiments.__all__:
        config = getattr(experiments, name)
        if isinstance(config, type) and config.__module__ == "aesampling.experiments.configs":
            text = {f.name for f in dataclasses.fields(config) if "str" in str(f.type)}
            assert text <= known, (name, text - known)


def test_evaluate_keeps_its_search_result(digits_models, tmp_path, search_result):
    before = digests(search_result)
    result = run_script("evaluate", "--dataset=digits", "--source=lower_bound", f"--chains_file={search_result}",
                        f"--classifier={digits_models / 'classifier.keras'}",
                        f"--output={search_result.with_suffix('.csv')}", check=False)
    assert_one_line_error(result, "the record of the learning curve would overwrite the search result")
    assert digests(search_result) == before


def test_an_input_stays_protected_while_its_stage_runs_and_no_longer(tmp_path):
    outer, inner = tmp_path / "outer.keras", tmp_path / "inner.keras"
    for model in (outer, inner):
        model.write_bytes(b"a user's model")
    not_yet = tmp_path / "cache.npz"  # an input the stage makes first (a feature cache): not protected

    @outputs.stage
    def inner_stage():
        outputs.claim({"the inner table": tmp_path / "inner.csv"}, {"the inner model": inner})
        with pytest.raises(UserInputError, match="is the inner model, an input of this run"):
            storage.write_text(inner, "overwritten")

    @outputs.stage
    def outer_stage():
        outputs.claim({"the table": tmp_path / "table.csv"}, {"the outer model": outer, "the cache": not_yet})
        storage.write_text(not_yet, "extracted")
        late = tmp_path / "figure.png"  # a path computed after the claim, which meanwhile became the input
        late.symlink_to(outer)
        inner_stage()
        storage.write_text(inner, "the inner stage is over")  # its protection ended with it, the outer's did not
        for path in (late, tmp_path / "." / "outer.keras"):
            with pytest.raises(UserInputError, match="is the outer model, an input of this run"):
                storage.write_text(path, "a figure")

    before = digests(outer)
    outer_stage()
    assert digests(outer) == before and inner.read_text() == "the inner stage is over"
    storage.write_text(outer, "written once the stage is over")  # a notebook may write it then
    assert outer.read_text() == "written once the stage is over"


def test_every_stage_runner_is_an_outputs_stage():
    runners = [getattr(experiments, name) for name in experiments.__all__ if name.startswith("run_")]
    assert len(runners) >= 12
    for run in runners:
        assert getattr(run, "protects_inputs", False), f"{run.__name__} is not an outputs.stage"


# ---------------------------------------------------------------- fingerprints cover content, not spelling


def test_a_fingerprint_follows_the_inputs_content_not_the_paths_spelling(tmp_path, monkeypatch):
    write_idx_folder(tmp_path / "data")
    monkeypatch.chdir(tmp_path)

    def train(output, data_dir="data"):
        return experiments.TrainConfig(data=experiments.DataConfig(dataset="mnist", data_dir=data_dir),
                                       model="shallow_ae", output=output)

    before = records.fingerprint(train("m.keras"))
    assert records.fingerprint(train("./m.keras", "./data/")) == before
    assert records.fingerprint(train(str(tmp_path / "m.keras"))) == before
    with gzip.open(tmp_path / "data" / "train-labels-idx1-ubyte.gz", "wb") as f:  # other labels, as many
        f.write(idx_bytes(np.zeros(5, np.uint8)))
    changed = records.fingerprint(train("m.keras"))
    assert changed != before
    assert "train-labels-idx1-ubyte.gz changed" in ", ".join(resume.settings_difference(before, changed))


def test_a_backup_of_changed_inputs_starts_over_with_a_notice(tmp_path, caplog):
    output = tmp_path / "m.keras"
    settings = json.dumps({"config": {"seed": 0}, "inputs": {"/data/a.gz": [10, 1, "x"]}})
    resume.prepare_training_backup(output, settings)
    (tmp_path / "m.keras.backup" / "training_metadata.json").write_text('{"epoch": 3}')
    changed = json.dumps({"config": {"seed": 0}, "inputs": {"/data/a.gz": [10, 2, "y"]}})
    with caplog.at_level(logging.WARNING):
        assert resume.prepare_training_backup(output, changed) == 0
    assert "made from inputs that changed since (/data/a.gz changed): starting the training over" in caplog.text
    (tmp_path / "m.keras.backup" / "training_metadata.json").write_text('{"epoch": 3}')
    with pytest.raises(UserInputError, match=r"other settings \(config.seed: 0 then, 1 now, /data/a.gz is no longer an input\)"):
        resume.prepare_training_backup(output, json.dumps({"config": {"seed": 1}, "inputs": {}}))


def test_a_feature_cache_from_other_images_is_extracted_again(tmp_path, monkeypatch):
    made = []
    monkeypatch.setattr(resnet50, "build_extractor", lambda weights, size: None)
    monkeypatch.setattr(resnet50, "extract_features",
                        lambda images, **kwargs: made.append(len(images)) or np.zeros((len(images), 4), np.float32))
    from support import write_cifar10_folder

    first, second = write_cifar10_folder(tmp_path / "a").parent, write_cifar10_folder(tmp_path / "b", 3).parent

    def extract(data_dir, check_source=True):
        return resnet50.extract_to_cache("cifar10", cache_dir=tmp_path / "cache", data_dir=str(data_dir),
                                         weights="none", image_size=32, verbose=False, check_source=check_source)

    path = extract(first)
    extract(first)
    assert len(made) == 2  # train and test, once
    extract(second, check_source=False)  # a stage that reads features takes the cache as it is
    assert len(made) == 2
    extract(second)
    assert len(made) == 4 and len(np.load(path)["x_train"]) == 15


# ---------------------------------------------------------------- no state before validation


def _bad_idx(folder, variant):
    if variant == "missing":
        return folder / "absent"
    if variant == "a file":
        folder.write_bytes(b"not a folder")
        return folder
    folder.mkdir()
    if variant == "empty":
        return folder
    write_idx_folder(folder)
    labels = folder / "train-labels-idx1-ubyte.gz"
    content = {"bad magic": b"\x00\x00\x0d\x01" + bytes(9),
               "truncated": idx_bytes(np.zeros(5, np.uint8))[:-2],
               "overflowing sizes": bytes([0, 0, 8, 3]) + struct.pack(">3I", 3928883472, 927531, 5062) + bytes(1568),
               "labels out of range": idx_bytes(np.full(5, 200, np.uint8)),
               "labels of another count": idx_bytes(np.zeros(4, np.uint8)),
               "images of another shape": None}[variant]
    if content is None:
        labels = folder / "train-images-idx3-ubyte.gz"
        content = idx_bytes(np.zeros((5, 27, 28), np.uint8))
    with gzip.open(labels, "wb") as f:
        f.write(content)
    return folder


@pytest.mark.parametrize("variant", ["missing", "a file", "empty", "bad magic", "truncated", "overflowing sizes",
                                     "labels out of range", "labels of another count", "images of another shape"])
def test_a_training_refused_for_its_data_leaves_nothing_behind(tmp_path, variant):
    data_dir = _bad_idx(tmp_path / "data", variant)
    config = experiments.TrainConfig(data=experiments.DataConfig(dataset="mnist", data_dir=str(data_dir)),
                                     model="shallow_ae", output=str(tmp_path / "m.keras"), epochs=1)
    with pytest.raises(UserInputError) as refused:
        experiments.run_train(config)
    assert "\n" not in str(refused.value) and "reshape" not in str(refused.value)
    assert not any(p.name.startswith("m.") for p in tmp_path.iterdir())


def test_an_idx_header_whose_sizes_overflow_is_named(tmp_path):
    path = tmp_path / "x-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3]) + struct.pack(">3I", 3928883472, 927531, 5062) + bytes(1568))
    with pytest.raises(UserInputError, match="is truncated or padded: header says 1844"):
        readers.read_idx(path)


def test_a_backup_that_holds_no_epoch_does_not_block_a_corrected_run(tmp_path, caplog):
    output = tmp_path / "m.keras"
    resume.prepare_training_backup(output, json.dumps({"config": {"data_dir": "/wrong"}, "inputs": {}}))
    with caplog.at_level(logging.INFO):
        assert resume.prepare_training_backup(output, json.dumps({"config": {"data_dir": "/right"}})) == 0
    assert "holds no completed epoch" in caplog.text
    assert json.loads((tmp_path / "m.keras.backup" / resume.BACKUP_SETTINGS).read_text())["config"] == {
        "data_dir": "/right"}


# ---------------------------------------------------------------- models checked against the data and their role


@pytest.mark.parametrize("stage", ["evaluate", "stationarity", "lambda search", "quality"])
@pytest.mark.parametrize("bad", ["three classes", "logits"])
def test_every_stage_refuses_a_classifier_it_cannot_use(digits_models, tmp_path, stage, bad):
    inputs = keras.Input((64,))
    hidden = keras.layers.Dense(4, activation="relu")(inputs)
    head = keras.layers.Dense(3, activation="softmax") if bad == "three classes" else keras.layers.Dense(10)
    classifier = str(tmp_path / "c.keras")
    keras.Model(inputs, head(hidden)).save(classifier)
    digits, ae, out = experiments.DataConfig(dataset="digits"), str(digits_models / "ae.keras"), tmp_path / "o"
    np.savez(tmp_path / "s.npz", x=np.zeros((4, 64), np.float32))
    run, config = {
        "evaluate": (experiments.run_evaluate, lambda: experiments.EvaluateConfig(
            data=digits, source="ae", classifier=classifier, autoencoder=ae, output=f"{out}.csv", reinjection=CHAINS)),
        "stationarity": (experiments.run_stationarity, lambda: experiments.StationarityConfig(
            data=digits, autoencoder=ae, classifier=classifier, output=f"{out}.csv", reinjection=CHAINS)),
        "lambda search": (experiments.run_lambda_search, lambda: experiments.LambdaSearchConfig(
            data=digits, autoencoder=ae, classifier=classifier, output=f"{out}.json", reinjection=CHAINS,
            lambdas=(0.1,), collects=("clean",), burn_ins=(1,), epochs=1, steps_per_epoch=1)),
        "quality": (experiments.run_quality, lambda: experiments.QualityConfig(
            samples=str(tmp_path / "s.npz"), classifier=classifier, data=digits, output=f"{out}.json")),
    }[stage]
    message = "outputs 3 classes but dataset digits has 10" if bad == "three classes" else "must be probabilities"
    with pytest.raises(UserInputError, match=message):
        run(config())
    assert not any(p.name.startswith("o.") for p in tmp_path.iterdir())


# ---------------------------------------------------------------- every file through its reader


@pytest.mark.parametrize("reader", ["chains file", "moments", "noise choice", "report's searches",
                                    "classifier record", "backup settings"])
def test_undecodable_files_are_one_line_errors_naming_the_file(tmp_path, reader):
    bad = tmp_path / "bad.json"
    bad.write_bytes(b"\xff\xfe\x00binary\x80")
    if reader == "backup settings":
        folder = tmp_path / "m.keras.backup"
        folder.mkdir()
        (folder / resume.BACKUP_SETTINGS).write_bytes(b"\xff\xfe\x00binary\x80")
        assert resume.prepare_training_backup(tmp_path / "m.keras", "{}") == 0  # unreadable: started over
        return
    call = {
        "chains file": lambda: lambda_search.read_best(str(bad)),
        "moments": lambda: lambda_search.read_start_moments(str(bad)),
        "noise choice": lambda: experiments.run_choose_noise(experiments.NoiseChoiceConfig(
            searches=(str(bad),), model_output=str(tmp_path / "m.keras"), search_output=str(tmp_path / "s.json"))),
        "report's searches": lambda: storage.read_record(bad, "a λ search result", "grid"),
        "classifier record": lambda: storage.read_record(bad, "a classifier's training record", "test_accuracy"),
    }[reader]
    with pytest.raises(UserInputError, match=f"{bad} is not valid JSON: not UTF-8 text"):
        call()


@pytest.mark.parametrize("field, value, message", [
    ("lam", float("nan"), "best.lam must be a finite number >= 0, got nan"),
    ("lam", "0.1", "best.lam must be a finite number >= 0, got '0.1'"),
    ("lam", -1, "best.lam must be a finite number >= 0"),
    ("collect", "both", "best.collect must be one of ['noisy', 'clean']"),
    ("burn_in", 1.5, "best.burn_in must be an integer in [0, reinjections), got 1.5"),
    ("burn_in", True, "best.burn_in must be an integer in [0, reinjections), got True"),
    ("burn_in", 3, "best.burn_in must be an integer in [0, reinjections), got 3"),
    ("reinjections", 0, "best.reinjections must be an integer >= 1"),
    ("start", "uniform", "best.start must be one of ['normal', 'moments'] (or absent)"),
])
def test_malformed_values_of_a_search_result_are_named(tmp_path, field, value, message):
    best = {"lam": 0.05, "collect": "clean", "burn_in": 1, "reinjections": 3, field: value}
    path = tmp_path / "search.json"
    path.write_text(json.dumps({"best": best}))
    with pytest.raises(UserInputError) as refused:
        lambda_search.read_best(str(path))
    assert str(refused.value).startswith(f"{path} is not a usable search result: ") and message in str(refused.value)


# ---------------------------------------------------------------- stops


def test_no_output_appears_once_a_stop_was_asked_for(tmp_path, monkeypatch):
    monkeypatch.setattr(interruption, "_requested_signal", None)
    with pytest.raises(interruption.Interrupted):
        with storage.atomic_path(tmp_path / "out.csv") as tmp:
            tmp.write_text("complete-looking")
            try:
                interruption.request(signal.SIGINT)
            except SystemExit:
                pass  # dropped, as Python drops an exception raised in a finalizer
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- sizes counted whole, before any work


@pytest.fixture
def memory(monkeypatch):
    """The memory available, set by the test (bytes)."""
    def set_to(available):
        monkeypatch.setattr(reinjection, "available_memory_bytes", lambda: available)
    return set_to


def _autoencoder(hidden):
    inputs = keras.Input((64,))
    return keras.Model(inputs, keras.layers.Dense(64, activation="sigmoid")(keras.layers.Dense(hidden)(inputs)))


def test_the_chains_memory_counts_the_widest_layer_the_chunk_and_the_balanced_pool(memory, digits_models):
    chains = ReinjectionConfig(lam=0.1, num_chains=1000, reinjections=3, burn_in=1)
    memory(4 * 1000 * (2 * 64 * 2 + 3 * 64) + 4 * 1000 * 2 * 100 + 4)  # the chains through 100 values, no more
    reinjection.ReinjectionSampler(_autoencoder(100), chains, seed=0)
    with pytest.raises(UserInputError, match=r"through layers of up to 1,000 values .* set `num_chains` to at most"):
        reinjection.ReinjectionSampler(_autoencoder(1000), chains, seed=0)
    sampler = reinjection.ReinjectionSampler(_autoencoder(10), chains, seed=0)
    with pytest.raises(UserInputError, match="set `num_chains` to at most"):
        sampler.iter_samples(10**6, chunk_samples=10**6)
    classifier = keras.saving.load_model(digits_models / "classifier.keras", compile=False)
    with pytest.raises(UserInputError, match=f"a pool of {Balance().pool} per chain"):
        class_balance.BalancedReinjectionSampler(_autoencoder(10), dataclasses.replace(chains, balance=Balance()),
                                                 classifier, seed=0)


@pytest.mark.parametrize("setting, message", [
    ({"mixing_chains": 10**9}, "set `mixing_chains` to at most"),
    ({"quality_samples": 10**10}, "set `quality_samples` to at most"),
    ({"source": "lower_bound", "reinjection": dataclasses.replace(CHAINS, num_chains=10**9)},
     "set `num_chains` to at most"),
])
def test_a_curve_too_large_for_memory_is_refused_before_it_trains(digits_models, tmp_path, monkeypatch, setting,
                                                                   message):
    from aesampling.evaluation import learning_curves

    monkeypatch.setattr(learning_curves, "learning_curve", lambda *a, **k: pytest.fail("the curve was trained"))
    config = experiments.EvaluateConfig(
        data=experiments.DataConfig(dataset="digits"), source="ae", classifier=str(digits_models / "classifier.keras"),
        autoencoder=str(digits_models / "ae.keras"), output=str(tmp_path / "c.csv"), reinjection=CHAINS)
    with pytest.raises(UserInputError, match=message):
        experiments.run_evaluate(dataclasses.replace(config, **setting))
    assert list(tmp_path.iterdir()) == []


def test_a_stationarity_run_too_large_for_memory_names_its_chains(digits_models, tmp_path, memory):
    memory(2**30)
    config = experiments.StationarityConfig(
        data=experiments.DataConfig(dataset="digits"), autoencoder=str(digits_models / "ae.keras"),
        classifier=str(digits_models / "classifier.keras"), output=str(tmp_path / "s.csv"), reinjection=CHAINS,
        chains=10**7)
    with pytest.raises(UserInputError, match=r"from each of two starts.* set `chains` to at most [\d,]+$"):
        experiments.run_stationarity(config)
    assert list(tmp_path.iterdir()) == []


def test_an_empty_list_flag_is_refused_not_read_as_the_default(digits_models):
    result = run_script("search_lambda", "--dataset=digits", f"--autoencoder={digits_models / 'ae.keras'}",
                        f"--classifier={digits_models / 'classifier.keras'}", "--lambdas=", "--output=/tmp/x.json",
                        check=False)
    assert_one_line_error(result, "--lambdas is empty")


def test_a_balanced_run_whose_classifier_never_gives_some_classes_says_so(caplog):
    inputs = keras.Input((64,))
    only_one = keras.layers.Dense(3, activation="sigmoid", kernel_initializer="zeros",
                                  bias_initializer=keras.initializers.Constant([5.0, -5.0, -5.0]))
    classifier = keras.Model(inputs, only_one(keras.layers.Dense(4)(inputs)))  # class 0 always wins
    chains = dataclasses.replace(CHAINS, num_chains=6, balance=Balance(patience=1))
    sampler = class_balance.BalancedReinjectionSampler(_autoencoder(8), chains, classifier, seed=0)
    with caplog.at_level(logging.WARNING):
        sampler.sample(8)
    assert "the chains never reached classes 1, 2: their slots stay empty" in caplog.text
    assert "while they stay out of reach at most 33% of the slots fill" in caplog.text

