"""Checking a stage's outputs before it does any work: nothing lands on an input, on another output, or
in a folder that cannot be written.

Every check runs before the data are loaded or a model is trained, so a bad
`--output` costs seconds, not a training run, and no input (a model, a
samples file, a search result, a dataset's file, the feature cache, or the
JSON record beside any of them) is ever overwritten. The inputs come from the
stage's config itself (`inputs_of`): every path field of every config is
named here as an input, an output or a folder, so a new input cannot be left
unprotected.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import tempfile
from pathlib import Path

from aesampling.data import datasets, readers, resnet50
from aesampling.io import storage
from aesampling.errors import UserInputError

# A config's fields that name files it reads, with how a message names one (a tuple field: each path after it).
INPUT_FIELDS = {"autoencoder": "the autoencoder", "classifier": "the classifier", "chains_file": "the search result",
                "samples": "the samples", "classifier_record": "the classifier's record",
                "searches": "search result", "curves": "curve", "lambda_searches": "search result"}
OUTPUT_FIELDS = ("output", "model_output", "search_output", "output_dir")  # the files or folder a config writes
FOLDER_FIELDS = ("data_dir", "tfds_data_dir", "cache_dir", "runs")  # folders read (their files are named apart)
# Text fields that hold names or settings, not paths (`resnet_weights` is either: data_inputs tells them apart).
NAME_FIELDS = ("dataset", "model", "source", "strategy", "feature_layer", "criterion", "collects", "burn_ins",
               "methods", "autoencoder_preset", "recipe", "learner", "reproduce_command", "resnet_weights")
WEIGHTS_NAMES = ("imagenet", "none")  # `resnet_weights` that are not files


def data_inputs(data) -> dict[str, Path]:
    """The files a DataConfig's dataset is read from: its files in `data_dir`, the ResNet50 feature cache of a
    dataset that uses features, and a weights file given as `resnet_weights`."""
    found = {f"the dataset's file {path}": path for path in readers.source_files(data.dataset, data.data_dir)}
    if data.dataset in datasets.DATASETS and datasets.dataset_spec(data.dataset).uses_features and data.cache_dir:
        found["the feature cache"] = resnet50.cache_path(data.cache_dir, data.dataset, data.resnet_weights,
                                                         data.image_size)
    if data.resnet_weights and str(data.resnet_weights).lower() not in WEIGHTS_NAMES:
        found["the ResNet50 weights"] = Path(data.resnet_weights)
    return found


def inputs_of(config) -> dict[str, Path]:
    """Every file a stage's config names as an input, by description: its models, search results, samples and
    records, and its data's files (`data_inputs`)."""
    found = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if value is None:
            continue
        if field.name == "data":
            found.update(data_inputs(value))
        elif field.name in INPUT_FIELDS and isinstance(value, (tuple, list)):
            found.update({f"{INPUT_FIELDS[field.name]} {path}": Path(path) for path in value})
        elif field.name in INPUT_FIELDS:
            found[INPUT_FIELDS[field.name]] = Path(value)
    return found


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".aesampling-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise storage.not_writable(folder, e) from e


def claim(outputs: dict[str, str | Path], inputs: dict[str, str | Path | None] = (), *, config=None,
          suffixes: dict[str, str] = ()) -> None:
    """Raises UserInputError unless every output can be written without touching an input or another output.

    Compared by resolved path and by file identity, so neither a respelling (`./x`), a symbolic link nor a hard
    link lets an output land on an input. The inputs that exist stay protected while the stage runs: every
    output is written through `storage.atomic_path`, which refuses them too (`storage.protect_inputs`), until the
    `stage` whose runner called this returns; called outside a `stage`, they stay protected for the process.

    Args:
      outputs: what the stage will write, by description ("the samples", "the samples' record", a checkpoint).
      inputs: what the stage reads beyond its config's inputs (files named inside them), by description; the
        JSON record beside each input file is protected too.
      config: the stage's config, whose inputs (`inputs_of`) are protected.
      suffixes: the suffix some outputs must have (e.g. ".keras"), by description.
    """
    outputs = {name: Path(path) for name, path in outputs.items()}
    protected = {}
    for name, path in {**(inputs_of(config) if config is not None else {}), **dict(inputs)}.items():
        if path is None:
            continue
        path = Path(path)
        protected[name] = path
        for record in {storage.sidecar_path(path), storage.sidecar_path(path.resolve())}:  # a link's and its target's
            if record != path and record.is_file():
                protected[f"the record of {name} ({record})"] = record
    # The inputs that exist now stay protected while the stage runs; one that does not exist yet (a feature cache
    # the stage extracts first) is the stage's to write.
    storage.protect_inputs({name: path for name, path in protected.items() if path.exists()})
    for name, suffix in dict(suffixes).items():
        if outputs[name].suffix != suffix:
            raise UserInputError(f"{name} must be a {suffix} file, got {outputs[name]}")
    names = list(outputs)
    for i, name in enumerate(names):
        path = outputs[name]
        if path.is_dir():
            raise UserInputError(f"{name} would be written to {path}, which is a folder")
        for other, input_path in protected.items():
            if storage.same_file(path, input_path):
                raise UserInputError(f"{name} would overwrite {other}: {path}; choose another output path")
        for other in names[i + 1:]:
            if storage.same_file(path, outputs[other]):
                raise UserInputError(f"{name} and {other} would both be written to {path}; choose another "
                                     "output path")
    for folder in sorted({path.parent if str(path.parent) else Path(".") for path in outputs.values()}):
        _check_writable(folder)


def stage(run):
    """Marks a stage's runner, `run(config)`: the inputs its `claim` protects stay protected until it returns or
    fails, and no longer (a notebook may write them once the stage is over)."""

    @functools.wraps(run)
    def protected_while_running(*args, **kwargs):
        depth = storage.protected_depth()
        try:
            return run(*args, **kwargs)
        finally:
            storage.stop_protecting(depth)

    protected_while_running.protects_inputs = True
    return protected_while_running


def with_record(name: str, path: str | Path) -> dict[str, Path]:
    """An output and the JSON record written beside it."""
    return {name: Path(path), f"the record of {name}": storage.sidecar_path(path)}
