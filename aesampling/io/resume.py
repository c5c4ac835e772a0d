"""Resuming interrupted runs.

- Model training: Keras's BackupAndRestore callback keeps the weights, the
  optimizer state and the epoch in a backup folder beside the output; a
  rerun of the same command continues from the last completed epoch.
  `training.SeedStateBackup` keeps there what BackupAndRestore leaves out: the
  states of the noise layers' random-number generators (a DAE's corruption),
  so a resumed training draws the noise an uninterrupted one would, and ends
  as the same model.
- Learning curves: `CurveCheckpoint` stores, after every epoch, the curve so
  far with every variable of the student classifier and its optimizer. The
  batch sources are indexed by step, so a resumed curve is bit-identical to
  an uninterrupted one.
Checkpoints are written atomically and removed once the output exists.
"""

from __future__ import annotations

import json
import shutil
import time
import zipfile
from pathlib import Path

import numpy as np
from absl import logging

from aesampling.io import storage
from aesampling.errors import UserInputError


def training_backup(output: str | Path):
    """A BackupAndRestore callback whose folder sits beside `output` (`<output>.backup`)."""
    import keras

    return keras.callbacks.BackupAndRestore(backup_dir=str(Path(f"{output}.backup")), double_checkpoint=True)


BACKUP_SETTINGS = "aesampling_settings.json"
_STATE_FILES = ("latest.weights.h5", "training_metadata.json")  # BackupAndRestore's, with `.bkp` copies


def _state_readable(weights: Path, metadata: Path) -> bool:
    """True when the epoch record parses, the weights file is a complete HDF5 file, and the record was written
    after the weights: BackupAndRestore writes the weights, then the record, so a kill between the two leaves
    the next epoch's weights beside the last epoch's record (which a resume would pair, silently)."""
    import h5py

    try:
        epoch = json.loads(metadata.read_text())["epoch"]
        if not isinstance(epoch, int) or epoch < 0:
            return False
        if metadata.stat().st_mtime_ns < weights.stat().st_mtime_ns:
            return False
        with h5py.File(weights, "r"):
            return True
    except (OSError, ValueError, KeyError, TypeError):
        return False


def prepare_training_backup(output: str | Path, settings: str) -> int:
    """Checks the backup of an interrupted training of `output` before it is resumed; returns its epoch.

    - No backup: a fresh folder records `settings` (records.fingerprint: the run's config and its inputs'
      content), and training starts at epoch 0.
    - A backup made with another config: UserInputError (a resume would mix two configurations), unless it holds
      no epoch yet (nothing to lose): then it is replaced.
    - A backup made from inputs whose content changed since (the same config): removed with a one-line notice,
      and the training starts over on the new inputs.
    - A backup without a settings record (older, or killed before writing it): removed with a warning.
    - A state damaged by a kill during its write (a file cut short, or the weights written without their
      epoch's record): the previous epoch's copy (`.bkp`) replaces it, with a warning; when that is damaged
      too, the backup is removed and training starts over.
    """
    folder = Path(f"{output}.backup")
    if folder.is_dir():
        try:
            recorded = (folder / BACKUP_SETTINGS).read_text(encoding="utf-8")
        except (OSError, ValueError):  # missing, or not text
            logging.warning("%s has no record of the settings that made it; starting the training over", folder)
            remove_training_backup(output)
        else:
            _check_backup_settings(output, recorded, settings)
    if folder.is_dir():
        weights, metadata = (folder / name for name in _STATE_FILES)
        if weights.exists() or metadata.exists():
            if not _state_readable(weights, metadata):
                previous = [Path(f"{path}.bkp") for path in (weights, metadata)]
                if _state_readable(*previous):
                    logging.warning("%s: the last epoch's state is damaged; resuming from the epoch before", folder)
                    for copy, path in zip(previous, (weights, metadata)):
                        shutil.copyfile(copy, path)
                else:
                    logging.warning("%s: the saved state is damaged; starting the training over", folder)
                    remove_training_backup(output)
    if not folder.is_dir():
        folder.mkdir(parents=True)
        storage.write_text(folder / BACKUP_SETTINGS, settings)
    return backed_up_epoch(output)


def _part(settings: str, key: str):
    try:
        return json.loads(settings).get(key)
    except (ValueError, AttributeError):
        return None


def _check_backup_settings(output: str | Path, recorded: str, settings: str) -> None:
    """Refuses a backup of `output` with another config, unless it holds no epoch; removes, with a notice, one made
    from inputs that changed since, and one that holds no epoch."""
    if recorded == settings:
        return
    folder = Path(f"{output}.backup")
    differences = ", ".join(settings_difference(recorded, settings))
    if not any((folder / name).exists() for name in _STATE_FILES):
        logging.info("%s holds no completed epoch (%s): starting the training over", folder, differences)
    elif _part(recorded, "config") != _part(settings, "config"):
        raise UserInputError(
            f"{folder} holds an interrupted training with other settings ({differences}); rerun with those "
            f"settings to resume it (see {folder / BACKUP_SETTINGS}), or delete the folder")
    else:
        logging.warning("%s was made from inputs that changed since (%s): starting the training over", folder,
                        differences)
    remove_training_backup(output)


def backed_up_epoch(output: str | Path) -> int:
    """The number of epochs a previous, interrupted training of `output` completed (0 if none)."""
    metadata = Path(f"{output}.backup") / "training_metadata.json"
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def remove_training_backup(output: str | Path) -> None:
    shutil.rmtree(Path(f"{output}.backup"), ignore_errors=True)


def settings_difference(saved: str, current: str, limit: int = 5) -> list[str]:
    """The dotted names of the settings in which two JSON fingerprints differ (at most `limit`, then a count).

    A name only one side has is one a newer or older version of the code added: it says so.
    """
    try:
        saved, current = json.loads(saved), json.loads(current)
    except ValueError:
        return ["an unreadable record of them"]
    differences = []

    def walk(a, b, prefix):
        if isinstance(a, dict) and isinstance(b, dict):
            for key in sorted(set(a) | set(b)):
                name = f"{prefix}.{key}" if prefix else str(key)
                if prefix in ("inputs", "models") and (key not in a or key not in b):
                    differences.append(f"{key} is {'a new input' if key not in a else 'no longer an input'}")
                elif key not in a:
                    differences.append(f"{name} is new (another version of aesampling wrote the checkpoint)")
                elif key not in b:
                    differences.append(f"{name} is gone (another version of aesampling wrote the checkpoint)")
                else:
                    walk(a[key], b[key], name)
        elif a != b and prefix.startswith(("inputs.", "models.")):
            differences.append(f"{prefix.split('.', 1)[1]} changed")  # its content digest
        elif a != b:
            differences.append(f"{prefix}: {a!r} then, {b!r} now")

    walk(saved, current, "")
    if len(differences) > limit:
        differences = differences[:limit] + [f"{len(differences) - limit} more"]
    return differences or ["none named"]


class CurveCheckpoint:
    """Per-epoch state of a learning curve, in `<output>.partial.npz`.

    `fingerprint` identifies the run's settings; a checkpoint written with
    other settings is ignored (the curve starts over).
    """

    @staticmethod
    def path_of(output: str | Path) -> Path:
        """Where the checkpoint of the curve `output` lies."""
        return Path(f"{output}.partial.npz")

    def __init__(self, output: str | Path, fingerprint: str):
        self.path = self.path_of(output)
        self.fingerprint = fingerprint
        self.earlier_seconds = 0.0  # wall time that interrupted runs spent on the restored epochs
        self._started = time.perf_counter()

    def save(self, points: list[tuple], variables: list) -> None:
        arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
        seconds = self.earlier_seconds + time.perf_counter() - self._started
        with storage.atomic_path(self.path) as tmp:
            with open(tmp, "wb") as stream:
                np.savez(stream, fingerprint=np.array(self.fingerprint), seconds=np.array(seconds),
                         points=np.asarray(points, dtype=np.float64), **arrays)

    def load(self, variables: list) -> list[tuple] | None:
        """Restores `variables` and returns the saved points, or None when there is nothing to resume."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                if str(saved["fingerprint"]) != self.fingerprint:
                    logging.warning("%s was written with other settings (%s); the curve starts over", self.path,
                                    ", ".join(settings_difference(str(saved["fingerprint"]), self.fingerprint)))
                    return None
                values = [saved[f"v{i}"] for i in range(len(variables))]
                points = [tuple(row) for row in saved["points"]]
                earlier = float(saved["seconds"]) if "seconds" in saved.files else 0.0
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            logging.warning("%s is damaged (%s); the curve starts over", self.path, e)
            self.remove()
            return None
        if any(value.shape != tuple(v.shape) for value, v in zip(values, variables)):
            return None
        for variable, value in zip(variables, values):
            variable.assign(value)
        self.earlier_seconds = earlier
        self._started = time.perf_counter()
        return points

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


class TaskCheckpoint:
    """The state of one replay method's run (aesampling.continual) at the end of its last completed task, in one
    .npz file: a JSON `meta` (the task, the accuracies so far, random-number generator states, or the finished
    method's result) and named arrays (model and optimizer variables, kept copies, buffered examples).

    `fingerprint` identifies the run's settings and the method; a checkpoint written with other settings is
    ignored (the method starts over). Each save replaces the file atomically, so a kill leaves the last one whole.
    """

    def __init__(self, path: str | Path, fingerprint: str):
        import keras

        self.path = Path(path)
        # The backend and Keras version too: a state saved by another gives other numbers, or other variables.
        self.fingerprint = f"{fingerprint} (keras {keras.__version__}, {keras.backend.backend()})"

    def discard(self, reason: str) -> None:
        """Removes a checkpoint that cannot be resumed (its variables fit no longer, say), with a warning."""
        logging.warning("%s cannot be resumed (%s); the method starts over", self.path, reason)
        self.path.unlink(missing_ok=True)

    def save(self, meta: dict, arrays: dict[str, np.ndarray]) -> None:
        with storage.atomic_path(self.path) as tmp:
            with open(tmp, "wb") as stream:
                np.savez(stream, fingerprint=np.array(self.fingerprint),
                         meta=np.array(json.dumps(meta, default=storage.json_default)), **arrays)

    def load(self) -> tuple[dict, dict[str, np.ndarray]] | None:
        """(meta, arrays) of the last save with these settings, or None when there is nothing to resume."""
        if not self.path.is_file():
            return None
        try:
            with np.load(self.path, allow_pickle=False) as saved:
                if str(saved["fingerprint"]) != self.fingerprint:
                    logging.warning("%s was written with other settings; the method starts over", self.path)
                    return None
                meta = json.loads(str(saved["meta"]))
                arrays = {name: saved[name] for name in saved.files if name not in ("fingerprint", "meta")}
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
            logging.warning("%s is damaged (%s); the method starts over", self.path, e)
            self.path.unlink(missing_ok=True)
            return None
        return meta, arrays
