"""Checking a stage's outputs before it does any work: nothing lands on an input, on another output, or
in a folder that cannot be written.

Every check runs before the data are loaded or a model is trained, so a bad
`--output` costs seconds, not a training run, and no input (a model, a
samples file, or the JSON record beside either) is ever overwritten.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from aesampling.io import storage
from aesampling.errors import UserInputError


def _same_file(a: Path, b: Path) -> bool:
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".aesampling-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        raise storage.not_writable(folder, e) from e


def claim(outputs: dict[str, str | Path], inputs: dict[str, str | Path | None] = (), *,
          suffixes: dict[str, str] = ()) -> None:
    """Raises UserInputError unless every output can be written without touching an input or another output.

    Args:
      outputs: what the stage will write, by description ("the samples", "the samples' record").
      inputs: what the stage reads, by description; the JSON record beside each input file is protected too.
      suffixes: the suffix some outputs must have (e.g. ".keras"), by description.
    """
    outputs = {name: Path(path) for name, path in outputs.items()}
    protected = {}
    for name, path in dict(inputs).items():
        if path is None:
            continue
        path = Path(path)
        protected[name] = path
        record = storage.sidecar_path(path)
        if record != path and record.is_file():
            protected[f"the record of {name} ({record})"] = record
    for name, suffix in dict(suffixes).items():
        if outputs[name].suffix != suffix:
            raise UserInputError(f"{name} must be a {suffix} file, got {outputs[name]}")
    names = list(outputs)
    for i, name in enumerate(names):
        path = outputs[name]
        if path.is_dir():
            raise UserInputError(f"{name} would be written to {path}, which is a folder")
        for other, input_path in protected.items():
            if _same_file(path, input_path):
                raise UserInputError(f"{name} would overwrite {other}: {path}; choose another output path")
        for other in names[i + 1:]:
            if _same_file(path, outputs[other]):
                raise UserInputError(f"{name} and {other} would both be written to {path}; choose another "
                                     "output path")
    for folder in sorted({path.parent if str(path.parent) else Path(".") for path in outputs.values()}):
        _check_writable(folder)


def with_record(name: str, path: str | Path) -> dict[str, Path]:
    """An output and the JSON record written beside it."""
    return {name: Path(path), f"the record of {name}": storage.sidecar_path(path)}
