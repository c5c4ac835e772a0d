"""Stage 5: merge the curves, samples and λ searches of one dataset into its table and figures.

The report only reads what the earlier stages wrote; it loads no model and
runs no chain. The classifier's training record is optional: without it the
curves' records give the ground-truth accuracy. Figures are named by their
input files (samples_<name>.png, chains_<name>.png, lambda_<name>.png).
"""

from __future__ import annotations

import re
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
            trained = storage.read_json(storage.sidecar_path(autoencoder))
            if isinstance(trained, dict) and "wall_seconds" in trained:  # train.py's, not another JSON of the user's
                records[source]["autoencoder_record"] = trained
        frames.append(frame)
    return pd.concat(frames, ignore_index=True), records


def _read_samples(path: str) -> dict:
    """A labelled samples file: x (N samples of any shape, read as N x n) and its N integer hard labels."""
    arrays = npz.load_npz(path, required=("x", "labels"))
    x, labels = arrays["x"], arrays["labels"]
    if x.ndim < 2 or labels.shape != (len(x),) or labels.dtype.kind not in "iu":
        raise UserInputError(f"{path}: x must hold N samples and labels N integers, got {x.shape} and "
                             f"{labels.shape} {labels.dtype}")
    return {**arrays, "x": x.reshape(len(x), -1)}


def _ground_truth(config: ReportConfig, records: dict) -> tuple[float, dict | None]:
    """The ground-truth classifier's test accuracy, and its training record: from `classifier_record` when given,
    else the accuracy the curves' records measured, which must agree."""
    if config.classifier_record:
        record = storage.read_record(config.classifier_record, "a classifier's training record (train.py)",
                                     "test_accuracy", "config.data", "machine")
        measured = {config.classifier_record: ("test_accuracy", record["test_accuracy"])}
    else:
        record = None
        measured = {f"the record of curve {source}": ("ground_truth_accuracy", r["ground_truth_accuracy"])
                    for source, r in records.items() if r.get("ground_truth_accuracy") is not None}
        if not measured:
            raise UserInputError("no ground-truth accuracy: give `classifier_record` (the classifier's training "
                                 "record) or curves whose records hold ground_truth_accuracy (evaluate.py)")
    for where, (field, accuracy) in measured.items():
        if isinstance(accuracy, bool) or not isinstance(accuracy, (int, float)) or not 0 <= accuracy <= 1:
            raise UserInputError(f"{where}: {field} must be a number in [0, 1], got {accuracy!r}")
    accuracies = sorted({accuracy for _, accuracy in measured.values()})
    if len(accuracies) > 1:
        raise UserInputError(f"the curves' records give different ground-truth accuracies {accuracies}: they were "
                             "made with other classifiers or test sets")
    return accuracies[0], record


def figure_name(kind: str, name: str) -> str:
    """<kind>_<name>.png, saying `kind` once: the λ search lambda_fd.json is drawn as lambda_fd.png."""
    word = re.escape(kind.removesuffix("s")) + "s?"
    bare = re.sub(rf"^{word}(?:[_.-]|$)|[_.-]{word}$", "", name, flags=re.IGNORECASE)
    return f"{kind}_{bare}.png" if bare else f"{kind}.png"


def _figures(config: ReportConfig) -> dict[tuple[str, str], str]:
    """(kind, file name) -> figure: samples_ and chains_ of each samples file, lambda_ of each λ search. Two inputs
    drawn under one name (or named alike, whose rows would merge) are refused."""
    figures, drawn = {}, {}
    inputs = [*((kind, path) for path in config.samples for kind in ("samples", "chains")),
              *(("lambda", path) for path in config.lambda_searches)]
    for kind, path in inputs:
        figure = figure_name(kind, Path(path).stem)
        if figure in drawn:
            raise UserInputError(f"{drawn[figure]} and {path} would both be drawn as {figure}: rename one")
        drawn[figure] = path
        figures[kind, Path(path).stem] = figure
    return figures


def _feature_record(data: dict | None) -> dict | None:
    """The ResNet50 feature cache's record of a feature dataset's run (`data`, its DataConfig as recorded), when the
    cache still has it."""
    if not data:
        return None
    data_config = DataConfig(**data)
    cache_record = storage.sidecar_path(resnet50.cache_path(
        data_config.cache_dir, data_config.dataset, data_config.resnet_weights, data_config.image_size))
    return storage.read_json(cache_record) if cache_record.is_file() else None


def _plot_chain_progress(name: str, path: str, record: dict, figure: Path, dataset: str, image_shape) -> None:
    """The `figure` of the samples file's chain_progress, when the sampling stage wrote it."""
    progress = npz.load_npz_array(path, "chain_progress")
    sampled = (record.get("samples_record") or {})
    if progress is None or "chain_progress_steps" not in sampled:
        return
    chains = tables.reinjection_settings(sampled["config"])
    plots.plot_chain_progress(
        progress, sampled["chain_progress_steps"], figure, image_shape=image_shape,
        title=f"{dataset}: {name}: {progress.shape[1]} chains from {tables.start_text(chains)}\nλ={chains['lam']:g}, "
              f"{chains['collect']} states (the samples collect t = {chains['burn_in'] + 1}..{chains['reinjections']})",
    )


def _mixing_chains(records: dict) -> int:
    return max(r["mixing"]["chains"] for r in records.values() if r.get("mixing"))


@outputs.stage
def run_report(config: ReportConfig) -> dict:
    """Writes curves.csv, table.md, metrics.json, curves.png, samples_<name>.png, chains_<name>.png,
    lambda_<name>.png, mixing.png, lambda_search.csv and config.json."""
    started = time.perf_counter()
    out = Path(config.output_dir)
    figures = _figures(config)
    names = ["curves.csv", "table.md", "metrics.json", "config.json", "curves.png", "lambda_search.csv", "mixing.png",
             *figures.values()]
    outputs.claim({f"the report's {name}": out / name for name in names}, config=config)
    curves, records = _read_curves(config.curves)
    ground_truth, classifier_record = _ground_truth(config, records)

    spec = datasets.dataset_spec(config.dataset)
    samples = {Path(path).stem: _read_samples(path) for path in config.samples}
    sample_records = {Path(path).stem: storage.read_record(storage.sidecar_path(path), "a labelled samples record (label.py)",
                                                      "config") for path in config.samples}
    search_records = {Path(path).stem: storage.read_record(path, "a λ search result (search_lambda.py)", "best", "grid")
                      for path in config.lambda_searches}
    data = (classifier_record or next(iter(records.values())))["config"].get("data")
    feature_record = _feature_record(data) if spec.uses_features else None

    table = tables.summary_table(curves, records, ground_truth)
    verdict = tables.autoencoders_against_noise(table)
    quality = tables.quality_table(records)
    timings = tables.stage_timings(classifier_record, records, search_records, sample_records, feature_record)
    with storage.atomic_path(out / "curves.csv") as tmp:
        curves.to_csv(tmp, index=False)
    table_text = tables.markdown_table(
        table, ground_truth, command_line(), config.reproduce_command, timings,
        tables.lambda_choices_table(search_records) + tables.noise_table(search_records), quality)
    storage.write_json(out / "metrics.json", {
        "ground_truth_accuracy": ground_truth,
        "autoencoders_against_noise": verdict,
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
        verdict=verdict,
    )
    for name, arrays in samples.items():
        clean = arrays.get("preview_clean")
        clean = None if clean is None else clean.reshape(len(clean), -1)
        plots.plot_sample_grid(
            arrays["x"], arrays["labels"], out / figures["samples", name],
            image_shape=None if spec.uses_features else spec.image_shape, clean=clean,
            title=f"{config.dataset}: {name} reinjection samples\n(title: hard label"
                  + ("; left: the collected state x, right: its reconstruction r(x))" if clean is not None else ")"),
        )
    if not spec.uses_features:
        for path in config.samples:
            name = Path(path).stem
            _plot_chain_progress(name, path, sample_records[name], out / figures["chains", name], config.dataset,
                                 spec.image_shape)
    for name, record in search_records.items():
        choices = {c: record[f"best_{c}"] for c in ("student", "fd") if record.get(f"best_{c}")}
        if choices and any(row.get("fd") is not None for row in record["grid"]):
            plots.plot_lambda_search(record["grid"], choices, out / figures["lambda", name],
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
