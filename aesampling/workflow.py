"""The experimental workflow of Figure 2 as keyword-only entry points.

Each `run_*` takes one immutable config, does one job, writes its outputs
atomically and a JSON record (config, command, machine, timings, metrics)
next to them. The scripts in scripts/ only turn flags into these configs.

    run_extract_features   CIFAR images -> cached ResNet50 features
    run_train              real data -> autoencoder.keras / classifier.keras
    run_sample             autoencoder -> samples.npz           (Algorithm 1)
    run_label              samples.npz + classifier -> labelled .npz (Algorithm 2)
    run_evaluate           one source -> learning curve CSV     (Section IV-G)
    run_report             curves + samples -> table, figures
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import shlex
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from absl import logging

from aesampling import (backend, data, distribution, evaluation, features, io, metrics, plotting, presets, reporting,
                        resume, selection, training)
from aesampling.errors import UserInputError
from aesampling.labeling import Labeler, check_classifier
from aesampling.models import check_autoencoder, model_io_dims
from aesampling.reproducibility import seed_everything
from aesampling.sampling import ReinjectionConfig, ReinjectionSampler, check_seed

# ----------------------------------------------------------------------------
# Configs
# ----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where a dataset comes from.

    Attributes:
      dataset: a name in data.DATASETS.
      data_dir: local folder with the standard files; None uses tfds.
      tfds_data_dir: tfds's own data folder (None: its default).
      cache_dir: ResNet50 feature cache (datasets that use features).
      resnet_weights: "imagenet", "none" or a weights file path.
      image_size: side images are resized to before ResNet50.
      extraction_batch_size: images per ResNet50 batch.
      validation_fraction: share of the training data held out for choosing
        λ (None: the dataset preset's, 0.1).
    """

    dataset: str
    data_dir: str | None = None
    tfds_data_dir: str | None = None
    cache_dir: str | None = None
    resnet_weights: str | None = "imagenet"
    image_size: int = 224
    extraction_batch_size: int = 128
    validation_fraction: float | None = None


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Train one preset (an autoencoder or 'classifier') and save it as .keras."""

    data: DataConfig
    model: str
    output: str
    seed: int = 0
    epochs: int | None = None
    batch_size: int | None = None
    strategy: str = "none"
    mixed_precision: bool = False
    gaussian_noise_std: float | None = None
    salt_pepper_rate: float | None = None


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """Draw `num_samples` synthetic samples from a saved autoencoder into an .npz."""

    autoencoder: str
    output: str
    num_samples: int
    chains: ReinjectionConfig
    seed: int = 0
    chunk_samples: int = 16384
    jit_compile: bool = False
    strategy: str = "none"


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    """Add the ground-truth classifier's soft and hard labels to a samples file."""

    samples: str
    classifier: str
    output: str
    chunk_rows: int = 16384


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """One learning curve: a fresh classifier trained only on one source.

    `source` is "upper_bound", "lower_bound" or a name for the autoencoder at
    `autoencoder`. For the bounds, only the batch size B·(R - b) of `chains`
    is used, so every source sees the same number of samples per step.
    """

    data: DataConfig
    source: str
    classifier: str
    output: str
    chains: ReinjectionConfig
    autoencoder: str | None = None
    epochs: int = 50
    steps_per_epoch: int = 100
    seed: int = 0
    jit_compile: bool = False


@dataclasses.dataclass(frozen=True)
class SelectConfig:
    """Choose λ, the collected state and the burn-in of one autoencoder on the validation split."""

    data: DataConfig
    autoencoder: str
    classifier: str
    output: str
    chains: ReinjectionConfig
    lambdas: tuple[float, ...]
    collects: tuple[str, ...]
    burn_ins: tuple[int, ...]
    epochs: int
    steps_per_epoch: int
    seed: int = 0
    widenings: int = 0


@dataclasses.dataclass(frozen=True)
class NoiseChoiceConfig:
    """Choose a DAE's noise levels: of its candidates, the one whose λ search scored best on validation.

    Attributes:
      searches: λ search results (run_select), one per candidate DAE, each
        naming its autoencoder; the first is preferred on a tie.
      model_output: where the chosen autoencoder (and its training record) is copied.
      search_output: where the chosen search result is copied, with the choice added.
    """

    searches: tuple[str, ...]
    model_output: str
    search_output: str


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """Merge learning curves and samples into the table and figures of one dataset."""

    dataset: str
    curves: tuple[str, ...]
    samples: tuple[str, ...]
    classifier_record: str
    output_dir: str
    reproduce_command: str | None = None
    selections: tuple[str, ...] = ()


@dataclasses.dataclass(frozen=True)
class ExtractConfig:
    """Extract and cache ResNet50 features of a CIFAR dataset."""

    data: DataConfig


# ----------------------------------------------------------------------------
# Shared pieces
# ----------------------------------------------------------------------------


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine_description() -> dict:
    """The machine a run used: platform, CPU model and count, accelerators, Keras backend and versions."""
    return {
        "platform": platform.platform(),
        "processor": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": backend.accelerators(),
        "python": platform.python_version(),
        **backend.describe(),
    }


def _record(config, started: float, **extra) -> dict:
    return {
        "command": shlex.join([os.path.basename(sys.executable), *sys.argv]),
        "config": dataclasses.asdict(config),
        "machine": machine_description(),
        "wall_seconds": round(time.perf_counter() - started, 3),
        **extra,
    }


def load_data(config: DataConfig) -> data.Dataset:
    """The dataset as flat [0, 1] features (pixels, or ResNet50 features for CIFAR), validation split held out."""
    spec = data.dataset_spec(config.dataset)
    if not spec.uses_features:
        dataset = data.load_dataset(config.dataset, config.data_dir, config.tfds_data_dir)
    elif config.cache_dir is None:
        raise UserInputError(f"{config.dataset} uses ResNet50 features: give a feature cache folder")
    else:
        dataset = features.load_feature_dataset(
            config.dataset, cache_dir=config.cache_dir, weights=config.resnet_weights,
            image_size=config.image_size, data_dir=config.data_dir, tfds_data_dir=config.tfds_data_dir,
            batch_size=config.extraction_batch_size,
        )
    return data.split_validation(dataset, _validation_fraction(config.dataset, config.validation_fraction))


def _validation_fraction(dataset: str, fraction: float | None) -> float:
    return presets.experiment_presets(dataset).validation_fraction if fraction is None else fraction


def _split_sizes(dataset: data.Dataset) -> dict:
    return {
        "train_examples": len(dataset.x_train),
        "validation_examples": 0 if dataset.x_val is None else len(dataset.x_val),
        "test_examples": len(dataset.x_test),
    }


def _fingerprint(config, *model_paths: str | None) -> str:
    """The settings and input models of a run: a checkpoint from other ones is not resumed."""
    models = {}
    for path in model_paths:
        if path and Path(path).is_file():
            stat = Path(path).stat()
            models[path] = [stat.st_size, stat.st_mtime_ns]
    return json.dumps({"config": dataclasses.asdict(config), "models": models}, sort_keys=True)


def _warn_if_trained_elsewhere(model_path: str | None, config: DataConfig) -> None:
    """Warns when a model's training record names another dataset or validation split than this run."""
    record_path = io.sidecar_path(model_path) if model_path else None
    if record_path is None or not record_path.is_file():
        return
    try:
        trained_on = io.read_json(record_path)["config"]["data"]
    except (UserInputError, KeyError, TypeError):
        return
    if trained_on.get("dataset") != config.dataset:
        logging.warning("%s was trained on %s but this run uses %s", model_path, trained_on.get("dataset"),
                        config.dataset)
        return
    then = _validation_fraction(config.dataset, trained_on.get("validation_fraction"))
    now = _validation_fraction(config.dataset, config.validation_fraction)
    if then != now:
        logging.warning("%s was trained with validation fraction %g but this run uses %g: the splits differ",
                        model_path, then, now)


def _check_feature_size(dataset: data.Dataset, model, role: str) -> None:
    n_in, _ = model_io_dims(model)
    if n_in != dataset.input_dim:
        raise UserInputError(
            f"the {role} takes {n_in} features but dataset {dataset.name} has {dataset.input_dim}"
        )


# ----------------------------------------------------------------------------
# Entry points
# ----------------------------------------------------------------------------


def run_extract_features(config: ExtractConfig) -> Path:
    """Caches the ResNet50 features of a dataset that uses them; returns the cache path."""
    started = time.perf_counter()
    cfg = config.data
    if not data.dataset_spec(cfg.dataset).uses_features:
        raise UserInputError(f"{cfg.dataset} is used as pixels; feature extraction is for CIFAR")
    if cfg.cache_dir is None:
        raise UserInputError("give a feature cache folder")
    path = features.extract_to_cache(
        cfg.dataset, cache_dir=cfg.cache_dir, data_dir=cfg.data_dir, tfds_data_dir=cfg.tfds_data_dir,
        weights=cfg.resnet_weights, image_size=cfg.image_size, batch_size=cfg.extraction_batch_size,
    )
    io.write_json(io.sidecar_path(path), _record(config, started, cache=str(path)))
    return path


def _with_noise_overrides(preset, config: TrainConfig):
    """The preset with the DAE noise levels of `config` where it sets them (denoising presets only)."""
    overrides = {name: value for name in ("gaussian_noise_std", "salt_pepper_rate")
                 if (value := getattr(config, name)) is not None}
    if not overrides:
        return preset
    if config.model == presets.CLASSIFIER or not preset.denoising:
        raise UserInputError(f"noise levels apply to denoising presets only, not to '{config.model}'")
    if not 0 <= overrides.get("salt_pepper_rate", 0) <= 1 or overrides.get("gaussian_noise_std", 0) < 0:
        raise UserInputError(f"salt-and-pepper rate must be in [0, 1] and Gaussian σ >= 0, got {overrides}")
    return dataclasses.replace(preset, **overrides)


def run_train(config: TrainConfig) -> dict:
    """Trains the preset `config.model` of `config.data.dataset`; saves it and its record."""
    started = time.perf_counter()
    seed_everything(config.seed)
    experiment = presets.experiment_presets(config.data.dataset)
    if config.model == presets.CLASSIFIER:
        preset = experiment.classifier
    else:
        preset = presets.autoencoder_preset(config.data.dataset, config.model)
    preset = _with_noise_overrides(preset, config)
    epochs = preset.epochs if config.epochs is None else config.epochs
    batch_size = preset.batch_size if config.batch_size is None else config.batch_size
    if epochs < 1 or batch_size < 1:
        raise UserInputError(f"epochs and batch size must be at least 1, got {epochs}, {batch_size}")
    dataset = load_data(config.data)
    resumed_from = resume.backed_up_epoch(config.output)
    if resumed_from:
        logging.info("resuming %s from epoch %d of an interrupted run", config.output, resumed_from)
    backup = [resume.training_backup(config.output)]
    strategy = distribution.make_strategy(config.strategy)
    distribution.set_mixed_precision(config.mixed_precision)
    with distribution.scope(strategy):
        if config.model == presets.CLASSIFIER:
            model = training.build_classifier_from_preset(preset, dataset.input_dim, dataset.num_classes)
        else:
            model = training.build_autoencoder_from_preset(
                preset, dataset.input_dim, seed=config.seed, name=config.model)
    if config.model == presets.CLASSIFIER:
        result = training.fit_classifier(model, dataset, epochs=epochs, batch_size=batch_size, callbacks=backup)
    else:
        result = training.fit_autoencoder(model, dataset, epochs=epochs, batch_size=batch_size, callbacks=backup)
    io.save_model(model, config.output)
    resume.remove_training_backup(config.output)
    record = _record(
        config, started, preset=dataclasses.asdict(preset), epochs_trained=epochs, resumed_from_epoch=resumed_from,
        parameters=int(model.count_params()), input_dim=dataset.input_dim,
        **_split_sizes(dataset), **result,
    )
    io.write_json(io.sidecar_path(config.output), record)
    return record


def run_sample(config: SampleConfig) -> dict:
    """Streams `num_samples` reinjection samples of a saved autoencoder to an .npz (array `x`)."""
    started = time.perf_counter()
    check_seed(config.seed)
    if config.num_samples < 0:
        raise UserInputError(f"the number of samples must be >= 0, got {config.num_samples}")
    strategy = distribution.make_strategy(config.strategy)
    with distribution.scope(strategy):
        autoencoder = io.load_model(config.autoencoder)
    dim = check_autoencoder(autoencoder)
    sampler = ReinjectionSampler(autoencoder, config.chains, seed=config.seed, jit_compile=config.jit_compile,
                                 strategy=strategy)
    with io.NpzStreamWriter(config.output, {"x": ((dim,), np.float32)}, config.num_samples) as writer:
        for chunk in sampler.iter_samples(config.num_samples, config.chunk_samples):
            if not np.all(np.isfinite(chunk)):
                raise UserInputError(
                    f"the chains of {config.autoencoder} produced NaN or inf at λ={config.chains.lam}: "
                    "the autoencoder is unstable under reinjection (try a smaller λ)"
                )
            writer.append(x=chunk)
    record = _record(config, started, input_dim=dim,
                     devices=strategy.num_replicas_in_sync if strategy is not None else 1)
    io.write_json(io.sidecar_path(config.output), record)
    return record


def run_label(config: LabelConfig) -> dict:
    """Writes x with soft_labels = C(x) and labels = argmax C(x) to a new .npz."""
    started = time.perf_counter()
    (num_rows, *row_shape), _ = io.npz_array_shape(config.samples, "x")
    if len(row_shape) != 1:
        raise UserInputError(f"{config.samples}: x must be a 2-D array of samples")
    classifier = io.load_model(config.classifier)
    num_classes = check_classifier(classifier, row_shape[0])
    labeler = Labeler(classifier)
    arrays = {"x": (tuple(row_shape), np.float32), "soft_labels": ((num_classes,), np.float32), "labels": ((), np.int64)}
    counts = np.zeros(num_classes, np.int64)
    with io.NpzStreamWriter(config.output, arrays, num_rows) as writer:
        chunks = io.iter_npz_rows(config.samples, "x", config.chunk_rows)
        for x, soft, hard in labeler.label_chunks(chunks):
            if not (np.all(np.isfinite(x)) and np.all(np.isfinite(soft))):
                raise UserInputError(f"{config.samples} holds NaN or inf samples (or the classifier outputs them)")
            writer.append(x=x, soft_labels=soft, labels=hard)
            counts += np.bincount(hard, minlength=num_classes)
    samples_record = io.sidecar_path(config.samples)
    record = _record(
        config, started, num_samples=int(num_rows), class_counts=counts.tolist(),
        samples_record=io.read_json(samples_record) if samples_record.is_file() else None,
    )
    io.write_json(io.sidecar_path(config.output), record)
    return record


def run_evaluate(config: EvaluateConfig) -> dict:
    """Learning curve of a fresh classifier trained only on (x, C(x)) from one source."""
    started = time.perf_counter()
    seed = check_seed(config.seed)
    if config.epochs < 1 or config.steps_per_epoch < 1:
        raise UserInputError(
            f"epochs and steps per epoch must be at least 1, got {config.epochs}, {config.steps_per_epoch}"
        )
    seed_everything(seed)
    dataset = load_data(config.data)
    classifier = io.load_model(config.classifier)
    _check_feature_size(dataset, classifier, "classifier")
    check_classifier(classifier, dataset.input_dim)
    for path in (config.classifier, config.autoencoder):
        _warn_if_trained_elsewhere(path, config.data)
    batch = config.chains.samples_per_restart
    if config.source == evaluation.UPPER_BOUND:
        source, per_step = evaluation.real_data_source(dataset.x_train, batch, seed=seed)
    elif config.source == evaluation.LOWER_BOUND:
        source, per_step = evaluation.gaussian_source(dataset.input_dim, batch, seed=seed)
    else:
        if config.autoencoder is None:
            raise UserInputError(f"source {config.source!r} needs an autoencoder model file")
        autoencoder = io.load_model(config.autoencoder)
        _check_feature_size(dataset, autoencoder, "autoencoder")
        sampler = ReinjectionSampler(
            autoencoder, config.chains, seed=seed, jit_compile=config.jit_compile
        )
        source, per_step = evaluation.autoencoder_source(sampler)

    def log(point: evaluation.CurvePoint) -> None:
        logging.info("%s epoch %d: %d samples, test accuracy %.4f", config.source, point.epoch,
                     point.samples_seen, point.accuracy)

    checkpoint = resume.CurveCheckpoint(config.output, _fingerprint(config, config.classifier, config.autoencoder))
    curve = evaluation.learning_curve(
        source, per_step, classifier, dataset.x_test, dataset.y_test,
        epochs=config.epochs, steps_per_epoch=config.steps_per_epoch, seed=seed,
        on_epoch=log, jit_compile=config.jit_compile, checkpoint=checkpoint,
    )
    frame = pd.DataFrame([dataclasses.asdict(p) for p in curve])
    frame.insert(0, "source", config.source)
    with io.atomic_path(config.output) as tmp:
        frame.to_csv(tmp, index=False)
    checkpoint.remove()
    ground_truth = metrics.accuracy(classifier, dataset.x_test, dataset.y_test)
    record = _record(
        config, started, samples_per_step=per_step, ground_truth_accuracy=ground_truth,
        final_accuracy=curve[-1].accuracy, interrupted_runs_seconds=round(checkpoint.earlier_seconds, 3),
        **_split_sizes(dataset),
    )
    io.write_json(io.sidecar_path(config.output), record)
    return record


def run_select(config: SelectConfig) -> dict:
    """Scores the (λ, collect, burn-in) grid on the validation split; writes the best setting and the grid as JSON."""
    started = time.perf_counter()
    seed = check_seed(config.seed)
    if config.epochs < 1 or config.steps_per_epoch < 1:
        raise UserInputError(
            f"epochs and steps per epoch must be at least 1, got {config.epochs}, {config.steps_per_epoch}"
        )
    if any(lam < 0 for lam in config.lambdas):
        raise UserInputError(f"every λ of the search must be >= 0, got {list(config.lambdas)}")
    if any(b < 0 for b in config.burn_ins):
        raise UserInputError(f"every burn-in of the search must be >= 0, got {list(config.burn_ins)}")
    if config.widenings < 0:
        raise UserInputError(f"widenings must be >= 0, got {config.widenings}")
    seed_everything(seed)
    dataset = load_data(config.data)
    classifier = io.load_model(config.classifier)
    autoencoder = io.load_model(config.autoencoder)
    _check_feature_size(dataset, classifier, "classifier")
    _check_feature_size(dataset, autoencoder, "autoencoder")
    check_classifier(classifier, dataset.input_dim)
    for path in (config.classifier, config.autoencoder):
        _warn_if_trained_elsewhere(path, config.data)

    def log(row: dict) -> None:
        logging.info("λ=%g collect=%s burn-in=%d%s: mean validation accuracy %.4f (final %.4f)",
                     row["lam"], row["collect"], row["burn_in"], " (widened)" if row["widened"] else "",
                     row["score"], row["final_accuracy"])

    grid = selection.search_chain_settings(
        autoencoder, classifier, dataset.x_val, dataset.y_val, base=config.chains,
        lambdas=config.lambdas, collects=config.collects, burn_ins=config.burn_ins, epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch, seed=seed, widenings=config.widenings, on_result=log,
    )
    best = selection.best_setting(grid)
    record = _record(
        config, started, best={k: best[k] for k in selection.SELECTED_FIELDS}, grid=grid,
        **_split_sizes(dataset),
    )
    io.write_json(config.output, record)
    return record


def _noise_candidate(search_path: str) -> tuple[dict, dict]:
    """(summary, search record) of one candidate DAE: its noise levels, best validation score and stage times."""
    record = io.read_json(search_path)
    try:
        autoencoder = record["config"]["autoencoder"]
        score = max(float(row["score"]) for row in record["grid"])
        dataset = record["config"]["data"]["dataset"]
        selection.selection_of(record, search_path)
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"{search_path} is not a λ search result (select_lambda.py output)") from e
    training_path = io.sidecar_path(autoencoder)
    if not Path(autoencoder).is_file() or not training_path.is_file():
        raise UserInputError(f"{search_path} names {autoencoder}, which (or whose training record) is missing")
    training_record = io.read_json(training_path)
    preset = training_record.get("preset", {})
    summary = {
        "search": search_path, "autoencoder": autoencoder, "dataset": dataset,
        "gaussian_noise_std": preset.get("gaussian_noise_std"), "salt_pepper_rate": preset.get("salt_pepper_rate"),
        "best_score": score, "best": record["best"], "grid": record["grid"],
        "train_seconds": training_record.get("wall_seconds"), "train_machine": training_record.get("machine", {}),
        "search_seconds": record.get("wall_seconds"), "search_machine": record.get("machine", {}),
    }
    return summary, record


def run_choose_noise(config: NoiseChoiceConfig) -> dict:
    """Copies the best-scoring candidate DAE and its search result to the outputs; records every candidate.

    The paper grid-searched its DAEs' noise (Section IV-D); here the
    candidates' λ searches on the validation split decide, so the test set
    plays no part.
    """
    started = time.perf_counter()
    if not config.searches:
        raise UserInputError("choosing a DAE's noise needs at least one candidate search result")
    if Path(config.search_output).resolve() == io.sidecar_path(config.model_output).resolve():
        raise UserInputError(f"{config.search_output} is where the chosen model's training record goes; "
                             "write the search result elsewhere")
    candidates, records = zip(*(_noise_candidate(path) for path in config.searches))
    datasets = sorted({c["dataset"] for c in candidates})
    if len(datasets) > 1:
        raise UserInputError(f"the candidate searches ran on different datasets: {datasets}")
    chosen = selection.best_candidate([c["best_score"] for c in candidates])
    winner = candidates[chosen]["autoencoder"]
    for source, target in ((winner, config.model_output),
                           (io.sidecar_path(winner), io.sidecar_path(config.model_output))):
        with io.atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    record = {**records[chosen], "noise_choice": _record(config, started, candidates=list(candidates), chosen=chosen)}
    io.write_json(config.search_output, record)
    return record


CHAIN_PROGRESS_STEPS = [1, 2, 3, 5, 10, 20, 40, 60]


def _plot_chain_progress(autoencoder_path: str, chains: dict, path: Path, image_shape, title: str) -> None:
    """10 chains from N(0, I) drawn after 1 .. 60 reinjections, with the curve's λ and collected state."""
    config = ReinjectionConfig(lam=chains["lam"], num_chains=10, reinjections=max(CHAIN_PROGRESS_STEPS), burn_in=0,
                               collect=chains["collect"])
    states = ReinjectionSampler(io.load_model(autoencoder_path), config, seed=0).restarts(0, 1)
    states = states.reshape(config.reinjections, config.num_chains, -1)[[t - 1 for t in CHAIN_PROGRESS_STEPS]]
    plotting.plot_chain_progress(
        states, CHAIN_PROGRESS_STEPS, path, image_shape=image_shape,
        title=f"{title}: 10 chains from N(0, I), λ={chains['lam']:g}, {chains['collect']} states "
              f"(the curve collects t = {chains['burn_in'] + 1}..{chains['reinjections']})",
    )


def run_report(config: ReportConfig) -> dict:
    """Writes curves.csv, table.md, metrics.json, curves.png, samples_<ae>.png, chains_<ae>.png,
    lambda_search.csv and config.json."""
    started = time.perf_counter()
    if not config.curves:
        raise UserInputError("the report needs at least one learning-curve CSV")
    out = Path(config.output_dir)
    frames, records = [], {}
    for path in config.curves:
        if not Path(path).is_file():
            raise UserInputError(f"learning curve not found: {path}")
        frame = pd.read_csv(path)
        if not {"source", "epoch", "samples_seen", "accuracy"} <= set(frame.columns):
            raise UserInputError(f"{path} is not a learning-curve CSV")
        source = str(frame["source"].iloc[0])
        records[source] = io.read_json(io.sidecar_path(path))
        autoencoder = records[source]["config"].get("autoencoder")
        if autoencoder and io.sidecar_path(autoencoder).is_file():
            records[source]["autoencoder_record"] = io.read_json(io.sidecar_path(autoencoder))
        frames.append(frame)
    curves = pd.concat(frames, ignore_index=True)
    classifier_record = io.read_json(config.classifier_record)
    ground_truth = float(classifier_record["test_accuracy"])

    spec = data.dataset_spec(config.dataset)
    samples = {Path(path).stem: io.load_npz(path, required=("x", "labels")) for path in config.samples}
    sample_records = {Path(path).stem: io.read_json(io.sidecar_path(path)) for path in config.samples}
    selection_records = {Path(path).stem: io.read_json(path) for path in config.selections}
    feature_record = None
    if spec.uses_features:
        data_config = DataConfig(**classifier_record["config"]["data"])
        cache_record = io.sidecar_path(features.cache_path(
            data_config.cache_dir, data_config.dataset, data_config.resnet_weights, data_config.image_size))
        feature_record = io.read_json(cache_record) if cache_record.is_file() else None

    table = reporting.summary_table(curves, records, ground_truth)
    timings = reporting.stage_timings(classifier_record, records, selection_records, sample_records, feature_record)
    command = shlex.join([os.path.basename(sys.executable), *sys.argv])
    with io.atomic_path(out / "curves.csv") as tmp:
        curves.to_csv(tmp, index=False)
    io.write_text(out / "table.md", reporting.markdown_table(
        table, ground_truth, command, config.reproduce_command, timings, reporting.noise_table(selection_records)))
    io.write_json(out / "metrics.json", {
        "ground_truth_accuracy": ground_truth,
        "table": table.to_dict(orient="records"),
        "stage_seconds": timings.to_dict(orient="records"),
    })
    samples_per_epoch = {s: int(r["samples_per_step"] * r["config"]["steps_per_epoch"]) for s, r in records.items()}
    plotting.plot_learning_curves(
        curves, out / "curves.png", ground_truth_accuracy=ground_truth,
        title=f"{config.dataset}: classifiers trained on each source "
              f"({max(samples_per_epoch.values()):,} samples/epoch)",
    )
    for name, arrays in samples.items():
        plotting.plot_sample_grid(
            arrays["x"], arrays["labels"], out / f"samples_{name}.png",
            image_shape=None if spec.uses_features else spec.image_shape,
            title=f"{config.dataset}: {name} reinjection samples (title: hard label)",
        )
    if not spec.uses_features:
        for source, record in records.items():
            path = record["config"].get("autoencoder")
            if path and Path(path).is_file():
                _plot_chain_progress(path, record["config"]["chains"], out / f"chains_{source}.png",
                                     spec.image_shape, f"{config.dataset}: {source}")
    if selection_records:
        with io.atomic_path(out / "lambda_search.csv") as tmp:
            reporting.search_table(selection_records).to_csv(tmp, index=False)
    io.write_json(out / "config.json", {
        "report": _record(config, started),
        "features": feature_record,
        "lambda_search": selection_records,
        "ground_truth_classifier": classifier_record,
        "curves": records,
        "samples": sample_records,
    })
    return {"table": table, "ground_truth_accuracy": ground_truth}
