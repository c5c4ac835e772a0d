"""What every run writes next to its outputs: config, command, machine and timings, and how it reads them back."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import platform
import shlex
import subprocess
import sys
import time
from pathlib import Path

from absl import logging

from aesampling import backend
from aesampling.data import datasets
from aesampling.experiments import outputs
from aesampling.io import storage
from aesampling.models import presets
from aesampling.errors import UserInputError


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


def command_line() -> str:
    """The command that started this process, as a shell would take it; an installed command (aesampling-x) by
    its name."""
    program = os.path.basename(sys.argv[0]) if sys.argv else ""
    if program.startswith("aesampling-"):
        return shlex.join([program, *sys.argv[1:]])
    return shlex.join([os.path.basename(sys.executable), *sys.argv])


@functools.cache
def code_version() -> str | None:
    """The commit of the checkout this package runs from (checkout_version), as it was at the first call.

    The scripts call it as they start (scripts/_common.run), so a record written hours later names the code that
    ran, even when the checkout has moved on meanwhile."""
    return checkout_version(Path(__file__).resolve().parents[2])


def checkout_version(root: Path) -> str | None:
    """`git describe --always --dirty` of the package's checkout at `root` (a commit, "-dirty" with uncommitted
    changes to tracked files), or None for an installed copy, outside a git checkout or without git."""
    if not (root / "setup.py").is_file():  # an installed copy: a git checkout around it is not its source
        return None
    try:
        described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=root, capture_output=True,
                                   text=True, timeout=10, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return described.stdout.strip() or None


def run_record(config, started: float, **extra) -> dict:
    """The JSON record of one run: its command, the code's commit, full config, machine, wall time since `started`,
    and `extra`."""
    return {
        "command": command_line(),
        "code": code_version(),
        "config": dataclasses.asdict(config),
        "machine": machine_description(),
        "wall_seconds": round(time.perf_counter() - started, 3),
        **extra,
    }


def split_sizes(dataset: datasets.Dataset) -> dict:
    """Example counts of the training, validation and test splits, for a record."""
    return {
        "train_examples": len(dataset.x_train),
        "validation_examples": 0 if dataset.x_val is None else len(dataset.x_val),
        "test_examples": len(dataset.x_test),
    }


def _resolved(value):
    return [_resolved(v) for v in value] if isinstance(value, (list, tuple)) else str(Path(value).resolve())


def _with_resolved_paths(config) -> dict:
    """`config` as a dict, every path in it resolved: `./m.keras` and `m.keras` are one setting."""
    fields = {}
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if dataclasses.is_dataclass(value):
            value = _with_resolved_paths(value)
        elif value is not None and field.name in (*outputs.INPUT_FIELDS, *outputs.OUTPUT_FIELDS,
                                                  *outputs.FOLDER_FIELDS):
            value = _resolved(value)
        elif field.name == "resnet_weights" and value and str(value).lower() not in outputs.WEIGHTS_NAMES:
            value = _resolved(value)
        else:
            value = dataclasses.asdict(value) if dataclasses.is_dataclass(value) else value
        fields[field.name] = value
    return fields


def fingerprint(config, **extra) -> str:
    """What a run's checkpoint or backup was made from: its settings, paths resolved, and a digest of each input
    file's content (storage.content_digest: models, search results, the dataset's files, the feature cache), with
    `extra` settings the config does not hold. A checkpoint from other settings is not resumed; one from changed
    inputs starts over."""
    inputs = {str(path.resolve()): storage.content_digest(path) for path in outputs.inputs_of(config).values()}
    return json.dumps({"config": _with_resolved_paths(config), "inputs": inputs, **extra}, sort_keys=True,
                      default=storage.json_default)


def validation_fraction(dataset: str, fraction: float | None) -> float:
    """The validation share a run uses: `fraction`, or the dataset preset's when None."""
    return presets.experiment_presets(dataset).validation_fraction if fraction is None else fraction


def warn_if_trained_elsewhere(model_path: str | None, data_config) -> None:
    """Warns when a model's training record names another dataset or validation split than this run."""
    record_path = storage.sidecar_path(model_path) if model_path else None
    if record_path is None or not record_path.is_file():
        return
    try:
        trained_on = storage.read_json(record_path)["config"]["data"]
    except (UserInputError, KeyError, TypeError):
        return
    if trained_on.get("dataset") != data_config.dataset:
        logging.warning("%s was trained on %s but this run uses %s", model_path, trained_on.get("dataset"),
                        data_config.dataset)
        return
    then = validation_fraction(data_config.dataset, trained_on.get("validation_fraction"))
    now = validation_fraction(data_config.dataset, data_config.validation_fraction)
    if then != now:
        logging.warning("%s was trained with validation fraction %g but this run uses %g: the splits differ",
                        model_path, then, now)
