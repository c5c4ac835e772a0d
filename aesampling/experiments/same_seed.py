"""Did two runs of one command with one seed make the same numbers?

Same seed, same result: the chains' samples x_t, their soft labels, every
model's weights and every learning curve. This compares two run folders
made by the same command (in two processes, or on two machines of one kind)
file by file, bit for bit:

- `.npz`: every array (samples, soft labels, chain previews);
- `.csv`: every column but those that time a stage (a name holding
  "seconds"), as the text written (a number's text is its value);
- `.keras`: every weight array in the archive's `model.weights.h5`.

Other files hold what a rerun may change without a different result (dates,
wall times, paths, rendered figures) beside numbers already compared here
(the JSON records' accuracies and quality figures are computed from them),
and are not compared.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np

COMPARED_SUFFIXES = (".npz", ".csv", ".keras")


def _npz_arrays(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as data:
        return {name: data[name] for name in data.files}


def _csv_arrays(path: Path) -> dict[str, np.ndarray]:
    import pandas as pd

    table = pd.read_csv(path, dtype=str, keep_default_na=False)  # the text as written: an empty cell is ""
    return {column: table[column].to_numpy(dtype=str) for column in table.columns if "seconds" not in column}


def _keras_arrays(path: Path) -> dict[str, np.ndarray]:
    import h5py

    with zipfile.ZipFile(path) as archive, h5py.File(io.BytesIO(archive.read("model.weights.h5")), "r") as weights:
        arrays = {}
        weights.visititems(lambda name, item: arrays.__setitem__(name, item[()])
                           if isinstance(item, h5py.Dataset) else None)
    return arrays


READERS = {".npz": _npz_arrays, ".csv": _csv_arrays, ".keras": _keras_arrays}


def _same(a: np.ndarray, b: np.ndarray) -> tuple[bool, float | None]:
    """(bit for bit equal, the largest |a - b| where both are numbers of one shape, else None)."""
    if a.dtype.kind == "U" and b.dtype.kind == "U" and a.ndim == 1 and a.shape == b.shape:  # a CSV column
        return _same_text(a, b)
    if a.shape != b.shape or a.dtype != b.dtype:
        return False, None
    if a.dtype.kind in "fc":
        equal = a.tobytes() == b.tobytes()  # bit for bit: -0.0 is not 0.0, and a NaN equals the same NaN
        finite = np.isfinite(a) & np.isfinite(b)
        gap = float(np.max(np.abs(a[finite] - b[finite]), initial=0.0))
        return equal, gap
    if a.dtype.kind in "iub":
        return bool(np.array_equal(a, b)), float(np.max(np.abs(a.astype(np.float64) - b), initial=0.0))
    return bool(np.array_equal(a, b)), None


def _same_text(a: np.ndarray, b: np.ndarray) -> tuple[bool, float]:
    """A CSV column's text equal cell by cell, and the largest difference where both cells hold numbers."""
    import pandas as pd

    x, y = (pd.to_numeric(pd.Series(v), errors="coerce").to_numpy(np.float64) for v in (a, b))
    both = np.isfinite(x) & np.isfinite(y)
    return bool(np.array_equal(a, b)), float(np.max(np.abs(x[both] - y[both]), initial=0.0))


def compare_file(first: Path, second: Path) -> dict:
    """One row: the file's arrays compared (`arrays`), how many differ, the largest difference."""
    a, b = READERS[first.suffix](first), READERS[first.suffix](second)
    differ, gap = [], 0.0
    for name in sorted(set(a) | set(b)):
        if name not in a or name not in b:
            differ.append(name)
            continue
        equal, largest = _same(a[name], b[name])
        if not equal:
            differ.append(name)
        if largest is not None:
            gap = max(gap, largest)
    return {"arrays": len(set(a) | set(b)), "differing": differ, "identical": not differ, "largest_difference": gap}


def compare_runs(first: str | Path, second: str | Path) -> list[dict]:
    """Every compared file under either folder, by path relative to it: `identical`, or what differs
    (`missing` where only one run has the file)."""
    first, second = Path(first), Path(second)
    paths = sorted({p.relative_to(root) for root in (first, second) for p in root.rglob("*")
                    if p.is_file() and p.suffix in COMPARED_SUFFIXES})
    rows = []
    for path in paths:
        row = {"path": str(path)}
        here = [(root / path).is_file() for root in (first, second)]
        if not all(here):
            row.update(identical=False, missing="second" if here[0] else "first")
        else:
            row.update(compare_file(first / path, second / path))
        rows.append(row)
    return rows


def markdown(rows: list[dict], *, command: str, first: str, second: str, runs_command: str | None) -> str:
    """The comparison as a page: verdict, then one line per file."""
    same = sum(row["identical"] for row in rows)
    verdict = ("**identical**: every compared number is the same bit for bit" if rows and same == len(rows)
               else f"**{len(rows) - same} of {len(rows)} files differ**" if rows else "**no file compared**")
    lines = [f"# Same seed, same result: {verdict}", "",
             f"Made by `{command}`: {first} against {second}."]
    if runs_command:
        each = " (with each run's own name in place of @run@)" if "@run@" in runs_command else ""
        lines.append(f"Both runs: `{runs_command}`{each}.")
    lines += ["", "Compared bit for bit: every array of the `.npz` files (samples, soft labels), every column of the "
                  "`.csv` files but wall times, every weight of the `.keras` models.", "",
              "| file | arrays | identical | largest difference |", "|---|---|---|---|"]
    for row in rows:
        if "missing" in row:
            lines.append(f"| {row['path']} | - | no: missing in the {row['missing']} run | - |")
            continue
        status = "yes" if row["identical"] else f"no: {', '.join(row['differing'][:4])}"
        lines.append(f"| {row['path']} | {row['arrays']} | {status} | {row['largest_difference']:.3g} |")
    return "\n".join(lines) + "\n"
