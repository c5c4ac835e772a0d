""".npz files without pickles: streamed writes of arrays too large for memory, and checked reads.

Every array is read with allow_pickle=False and must hold real numbers;
writes go through io.atomic_path, so a failed or killed run leaves no
partial file.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from aesampling.io import interruption
from aesampling.errors import UserInputError
from aesampling.io.storage import atomic_path, existing_file


class NpzStreamWriter:
    """Writes arrays into an .npz file chunk by chunk, never holding them whole.

    Each named array has a fixed row shape and dtype and exactly `num_rows`
    rows, appended in any interleaving with `append`. Rows go straight to a
    temporary .npy file per array; `close` checks the row counts, packs the
    .npy files into the (uncompressed) .npz and renames it into place.
    Small arrays known whole (`whole`) are stored beside them as they are.

    Usage:
        with NpzStreamWriter(path, {"x": ((784,), np.float32)}, num_rows) as w:
            for chunk in chunks:
                w.append(x=chunk)
    """

    def __init__(self, path, arrays: dict[str, tuple[tuple[int, ...], Any]], num_rows: int,
                 whole: dict[str, np.ndarray] | None = None):
        self._whole = dict(whole or {})
        self._path = Path(path)
        self._num_rows = int(num_rows)
        self._specs = {k: (tuple(shape), np.dtype(dtype)) for k, (shape, dtype) in arrays.items()}
        self._written = dict.fromkeys(arrays, 0)
        self._parts = {}
        self._files = {}
        self._closed = False
        self._atomic = atomic_path(self._path)
        self._tmp = None
        interruption.hold()  # no stop between creating the files and the writer's cleanup guarding them
        try:
            self._tmp = self._atomic.__enter__()
            for key, (shape, dtype) in self._specs.items():
                part = self._tmp.with_name(f"{self._tmp.name}.{key}.npy")
                handle = open(part, "wb")
                self._parts[key], self._files[key] = part, handle
                header = {
                    "descr": np.lib.format.dtype_to_descr(dtype),
                    "fortran_order": False,
                    "shape": (self._num_rows, *shape),
                }
                np.lib.format.write_array_header_2_0(handle, header)
        except BaseException as e:
            self._closed = True
            try:
                self._cleanup()
                if self._tmp is not None:
                    self._atomic.__exit__(type(e), e, e.__traceback__)
            finally:
                interruption.release()
            raise
        try:
            interruption.release()  # a stop asked for meanwhile is raised here
        except BaseException:
            self.abort()
            raise

    def put_whole(self, key: str, array: np.ndarray) -> None:
        """Adds a small array, stored as it is beside the streamed ones."""
        self._whole[key] = np.asarray(array)

    def append(self, **chunks: np.ndarray) -> None:
        """Appends rows to the named arrays."""
        interruption.raise_if_requested()
        for key, chunk in chunks.items():
            shape, dtype = self._specs[key]
            chunk = np.ascontiguousarray(chunk, dtype=dtype)
            if chunk.shape[1:] != shape:
                raise ValueError(f"array {key!r}: rows of shape {chunk.shape[1:]}, expected {shape}")
            if self._written[key] + len(chunk) > self._num_rows:
                raise ValueError(f"array {key!r}: more than {self._num_rows} rows")
            self._files[key].write(chunk.tobytes())
            self._written[key] += len(chunk)

    def _cleanup(self) -> None:
        for key, handle in self._files.items():
            try:
                handle.close()  # flushing may raise again (disk full): the part goes all the same
            except OSError:
                pass
            self._parts[key].unlink(missing_ok=True)

    def close(self) -> None:
        """Completes the file and moves it into place."""
        if self._closed:
            return
        self._closed = True
        try:
            short = {k: n for k, n in self._written.items() if n != self._num_rows}
            if short:
                raise ValueError(f"arrays with missing rows (expected {self._num_rows}): {short}")
            for handle in self._files.values():
                handle.close()
            with zipfile.ZipFile(self._tmp, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
                for key, part in self._parts.items():
                    archive.write(part, arcname=f"{key}.npy")
                for key, array in self._whole.items():
                    with archive.open(f"{key}.npy", "w", force_zip64=True) as member:
                        np.lib.format.write_array(member, np.ascontiguousarray(array), allow_pickle=False)
        except BaseException as e:
            self._cleanup()
            self._atomic.__exit__(type(e), e, e.__traceback__)
            raise
        self._cleanup()
        self._atomic.__exit__(None, None, None)

    def abort(self) -> None:
        """Drops every partial file."""
        if self._closed:
            return
        self._closed = True
        self._cleanup()
        self._atomic.__exit__(RuntimeError, RuntimeError("aborted"), None)

    def __enter__(self) -> "NpzStreamWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def _read_npy_header(stream) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(stream)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(stream)
    return np.lib.format.read_array_header_2_0(stream)


def load_npz(path: str | os.PathLike, required: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """Loads every array of an .npz file with allow_pickle=False.

    Raises UserInputError when the file is missing, unreadable, or lacks one
    of the `required` arrays.
    """
    path = existing_file(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise _unreadable(path, e) from e
    missing = [k for k in required if k not in arrays]
    if missing:
        raise UserInputError(f"{path} lacks the arrays {missing}; it has {sorted(arrays)}")
    for key in required:
        _check_plain(path, key, arrays[key].dtype)
    return arrays


def iter_npz_rows(path: str | os.PathLike, key: str, chunk_rows: int) -> Iterator[np.ndarray]:
    """Yields one array of an uncompressed .npz in chunks of rows, without loading it whole."""
    path = existing_file(path)
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise UserInputError(f"{path} is not an .npz file") from e
    with archive:
        if f"{key}.npy" not in archive.namelist():
            raise _no_array(path, key)
        with archive.open(f"{key}.npy") as stream:
            shape, fortran, dtype = _read_npy_header(stream)
            _check_plain(path, key, dtype)
            if fortran:
                raise UserInputError(f"{path}: array {key!r} is stored in Fortran order; save it C-contiguous")
            row_items = int(np.prod(shape[1:], dtype=np.int64))
            remaining = shape[0]
            while remaining > 0:
                rows = min(chunk_rows, remaining)
                data = stream.read(rows * row_items * dtype.itemsize)
                if len(data) != rows * row_items * dtype.itemsize:
                    raise UserInputError(f"{path}: array {key!r} is truncated")
                yield np.frombuffer(data, dtype=dtype).reshape((rows, *shape[1:]))
                remaining -= rows


def npz_array_shape(path: str | os.PathLike, key: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of one array in an .npz, read from its header only."""
    path = existing_file(path)
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as stream:
            shape, _, dtype = _read_npy_header(stream)
    except KeyError as e:
        raise _no_array(path, key) from e
    except (zipfile.BadZipFile, ValueError) as e:
        raise _unreadable(path, e) from e
    _check_plain(path, key, dtype)
    return tuple(shape), dtype


def samples_shape(path: str | os.PathLike) -> tuple[int, tuple[int, ...]]:
    """(rows, shape of one sample) of the samples `x` of an .npz: one sample per row, of any shape."""
    (rows, *row_shape), _ = npz_array_shape(path, "x")
    if not row_shape:
        raise UserInputError(f"{path}: x must hold one sample per row, not a single value per row")
    return rows, tuple(row_shape)


def _unreadable(path: Path, error: Exception) -> UserInputError:
    return UserInputError(f"cannot read {path} as .npz: {error}")


def _no_array(path: Path, key: str) -> UserInputError:
    return UserInputError(f"{path} has no array {key!r}")


def _check_plain(path, key: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise UserInputError(f"{path}: array {key!r} holds Python objects (pickled data); only numeric arrays are read")
    if dtype.kind not in "fiub":
        raise UserInputError(f"{path}: array {key!r} must hold real numbers, not {dtype}")


def load_npz_array(path: str | os.PathLike, key: str) -> np.ndarray | None:
    """One array of an .npz (read alone, allow_pickle=False), or None when the file has no array `key`."""
    path = existing_file(path)
    try:
        with np.load(path, allow_pickle=False) as archive:
            return archive[key] if key in archive.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise _unreadable(path, e) from e
