"""Stage 5: merge the curves, samples and λ searches of one dataset into its table and figures.

The report only reads what the earlier stages wrote; it loads no model and
runs no chain.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from aesampling.data import datasets
from aesampling.evaluation import learning_curves
from aesampling.data import resnet50
from aesampling.io import storage
from aesampling.io import npz
from aesampling.reporting import plots
from aesampling.reporting import tables
from aesampling.errors import UserInputError
from aesampling.experiments import outputs
from aesampling.experiments.configs import DataConfig, ReportConfig
from aesampling.experiments.records import command_line, run_record


def _read_curves(paths) -> tuple[pd.DataFrame, dict]:
    """All curves in one frame, and each source's evaluation record (with its autoencoder's training record)."""
    frames, records = [], {}
    for path in paths:
        if not Path(path).is_file():
            raise UserInputError(f"learning curve not found: {path}")
        try:
            frame = pd.read_csv(path)
        except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as e:  # EmptyDataError is a ValueError
            raise UserInputError(f"{path} is not a learning-curve CSV ({e})") from e
        columns = ["source", "epoch", "samples_seen", "accuracy"]
        if not set(columns) <= set(frame.columns) or frame.empty:
            raise UserInputError(f"{path} is not a learning-curve CSV (columns {', '.join(columns)}, one row or more)")
        if not all(pd.api.types.is_numeric_dtype(frame[c]) for c in columns[1:]):
            raise UserInputError(f"{path}: epoch, samples_seen and accuracy must be numbers")
        source = str(frame["source"].iloc[0])
        records[source] = storage.read_record(storage.sidecar_path(path), "the record of a learning curve (evaluate.py)",
                                         "config.steps_per_epoch", "samples_per_step")
        autoencoder = records[source]["config"].get("autoencoder")
        if autoencoder and storage.sidecar_path(autoencoder).is_file():
            records[source]["autoencoder_record"] = storage.read_json(storage.sidecar_path(autoencoder))
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), records


def _read_samples(path: str) -> dict:
    """A labelled samples file: x (N x n) and its N integer hard labels."""
    arrays = npz.load_npz(path, required=("x", "labels"))
    x, labels = arrays["x"], arrays["labels"]
    if x.ndim != 2 or labels.shape != (len(x),) or labels.dtype.kind not in "iu":
        raise UserInputError(f"{path}: x must be N x n and labels N integers, got {x.shape} and {labels.shape} "
                             f"{labels.dtype}")
    return arrays


def _feature_record(classifier_record: dict) -> dict | None:
    """The ResNet50 feature cache's record of a feature dataset's run, when the cache still has it."""
    data_config = DataConfig(**classifier_record["config"]["data"])
    cache_record = storage.sidecar_path(resnet50.cache_path(
        data_config.cache_dir, data_config.dataset, data_config.resnet_weights, data_config.image_size))
    return storage.read_json(cache_record) if cache_record.is_file() else None


def _plot_chain_progress(name: str, path: str, record: dict, out: Path, dataset: str, image_shape) -> None:
    """chains_<name>.png from the samples file's chain_progress, when the sampling stage wrote it."""
    progress = npz.load_npz_array(path, "chain_progress")
    sampled = (record.get("samples_record") or {})
    if progress is None or "chain_progress_steps" not in sampled:
        return
    chains = tables.reinjection_settings(sampled["config"])
    plots.plot_chain_progress(
        progress, sampled["chain_progress_steps"], out / f"chains_{name}.png", image_shape=image_shape,
        title=f"{dataset}: {name}: {progress.shape[1]} chains from {tables.start_text(chains)}\nλ={chains['lam']:g}, "
              f"{chains['collect']} states (the samples collect t = {chains['burn_in'] + 1}..{chains['reinjections']})",
    )


def _mixing_chains(records: dict) -> int:
    return max(r["mixing"]["chains"] for r in records.values() if r.get("mixing"))


def run_report(config: ReportConfig) -> dict:
    """Writes curves.csv, table.md, metrics.json, curves.png, samples_<ae>.png, chains_<ae>.png, mixing.png,
    lambda_search.csv and config.json."""
    started = time.perf_counter()
    out = Path(config.output_dir)
    names = ["curves.csv", "table.md", "metrics.json", "config.json", "curves.png", "lambda_search.csv", "mixing.png",
             *(f"{kind}_{Path(path).stem}.png" for path in config.samples for kind in ("samples", "chains")),
             *(f"lambda_{Path(path).stem}.png" for path in config.lambda_searches)]
    outputs.claim({f"the report's {name}": out / name for name in names},
                  {**{f"curve {path}": path for path in config.curves},
                   **{f"samples {path}": path for path in config.samples},
                   **{f"search result {path}": path for path in config.lambda_searches},
                   "the classifier's record": config.classifier_record})
    curves, records = _read_curves(config.curves)
    classifier_record = storage.read_record(config.classifier_record, "a classifier's training record (train.py)",
                                       "test_accuracy", "config.data", "machine")
    ground_truth = classifier_record["test_accuracy"]
    if isinstance(ground_truth, bool) or not isinstance(ground_truth, (int, float)) or not 0 <= ground_truth <= 1:
        raise UserInputError(f"{config.classifier_record}: test_accuracy must be a number in [0, 1], got "
                             f"{ground_truth!r}")

    spec = datasets.dataset_spec(config.dataset)
    samples = {Path(path).stem: _read_samples(path) for path in config.samples}
    sample_records = {Path(path).stem: storage.read_record(storage.sidecar_path(path), "a labelled samples record (label.py)",
                                                      "config") for path in config.samples}
    search_records = {Path(path).stem: storage.read_record(path, "a λ search result (search_lambda.py)", "best", "grid")
                      for path in config.lambda_searches}
    feature_record = _feature_record(classifier_record) if spec.uses_features else None

    table = tables.summary_table(curves, records, ground_truth)
    quality = tables.quality_table(records)
    timings = tables.stage_timings(classifier_record, records, search_records, sample_records, feature_record)
    with storage.atomic_path(out / "curves.csv") as tmp:
        curves.to_csv(tmp, index=False)
    table_text = tables.markdown_table(
        table, ground_truth, command_line(), config.reproduce_command, timings,
        tables.lambda_choices_table(search_records) + tables.noise_table(search_records), quality)
    storage.write_json(out / "metrics.json", {
        "ground_truth_accuracy": ground_truth,
        "table": table.to_dict(orient="records"),
        "quality": quality.to_dict(orient="records"),
        "mixing": {s: r["mixing"] for s, r in records.items() if r.get("mixing")},
        "stage_seconds": timings.to_dict(orient="records"),
    })
    mixing = tables.distinct_mixing({s: r["mixing"]["steps"] for s, r in records.items() if r.get("mixing")})
    if mixing:
        bounds = {s: records[s]["quality"] for s in learning_curves.BOUNDS if records.get(s, {}).get("quality")}
        starts = [tables.reinjection_settings(records[s]["config"]) for s in mixing]
        plots.plot_mixing(mixing, bounds, out / "mixing.png", start=tables.common_start_text(starts, short=True),
                             title=f"{config.dataset}: {_mixing_chains(records):,} chains from "
                                   f"{tables.common_start_text(starts)} at each "
                                   "autoencoder's λ and collected state")
    samples_per_epoch = {s: int(r["samples_per_step"] * r["config"]["steps_per_epoch"]) for s, r in records.items()}
    plots.plot_learning_curves(
        curves, out / "curves.png", ground_truth_accuracy=ground_truth,
        title=f"{config.dataset}: classifiers trained on each source "
              f"({max(samples_per_epoch.values()):,} samples/epoch)",
    )
    for name, arrays in samples.items():
        clean = arrays.get("preview_clean")
        plots.plot_sample_grid(
            arrays["x"], arrays["labels"], out / f"samples_{name}.png",
            image_shape=None if spec.uses_features else spec.image_shape, clean=clean,
            title=f"{config.dataset}: {name} reinjection samples\n(title: hard label"
                  + ("; left: the collected state x, right: its reconstruction r(x))" if clean is not None else ")"),
        )
    if not spec.uses_features:
        for path in config.samples:
            name = Path(path).stem
            _plot_chain_progress(name, path, sample_records[name], out, config.dataset, spec.image_shape)
    for name, record in search_records.items():
        choices = {c: record[f"best_{c}"] for c in ("student", "fd") if record.get(f"best_{c}")}
        if choices and any(row.get("fd") is not None for row in record["grid"]):
            plots.plot_lambda_search(record["grid"], choices, out / f"lambda_{name}.png",
                                        eq5=record.get("lambda_from_eq5"),
                                        title=f"{config.dataset}: {name}'s λ search on the validation split "
                                              f"(criterion: {record.get('criterion', 'student')})")
    if search_records:
        with storage.atomic_path(out / "lambda_search.csv") as tmp:
            tables.search_table(search_records).to_csv(tmp, index=False)
    storage.write_json(out / "config.json", {
        "report": run_record(config, started),
        "features": feature_record,
        "lambda_search": search_records,
        "ground_truth_classifier": classifier_record,
        "curves": records,
        "samples": sample_records,
    })
    # table.md last: it is what make waits for, so a report killed before the end is redone in full.
    storage.write_text(out / "table.md", table_text)
    return {"table": table, "ground_truth_accuracy": ground_truth}
