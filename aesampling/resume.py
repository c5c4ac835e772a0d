"""Resuming interrupted runs.

- Model training: Keras's BackupAndRestore callback keeps the weights, the
  optimizer state and the epoch in a backup folder beside the output; a
  rerun of the same command continues from the last completed epoch.
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
from pathlib import Path

import numpy as np

from aesampling import io


def training_backup(output: str | Path):
    """A BackupAndRestore callback whose folder sits beside `output` (`<output>.backup`)."""
    import keras

    return keras.callbacks.BackupAndRestore(backup_dir=str(Path(f"{output}.backup")), double_checkpoint=True)


def backed_up_epoch(output: str | Path) -> int:
    """The number of epochs a previous, interrupted training of `output` completed (0 if none)."""
    metadata = Path(f"{output}.backup") / "training_metadata.json"
    try:
        return int(json.loads(metadata.read_text())["epoch"])
    except (OSError, ValueError, KeyError, TypeError):
        return 0


def remove_training_backup(output: str | Path) -> None:
    shutil.rmtree(Path(f"{output}.backup"), ignore_errors=True)


class CurveCheckpoint:
    """Per-epoch state of a learning curve, in `<output>.partial.npz`.

    `fingerprint` identifies the run's settings; a checkpoint written with
    other settings is ignored (the curve starts over).
    """

    def __init__(self, output: str | Path, fingerprint: str):
        self.path = Path(f"{output}.partial.npz")
        self.fingerprint = fingerprint
        self.earlier_seconds = 0.0  # wall time that interrupted runs spent on the restored epochs
        self._started = time.perf_counter()

    def save(self, points: list[tuple], variables: list) -> None:
        arrays = {f"v{i}": np.asarray(v.numpy()) for i, v in enumerate(variables)}
        seconds = self.earlier_seconds + time.perf_counter() - self._started
        with io.atomic_path(self.path) as tmp:
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
                    return None
                values = [saved[f"v{i}"] for i in range(len(variables))]
                points = [tuple(row) for row in saved["points"]]
                earlier = float(saved["seconds"]) if "seconds" in saved.files else 0.0
        except (OSError, ValueError, KeyError):
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
