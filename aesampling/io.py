"""Files: atomic writes, JSON configs, saved Keras models, streamed .npz.

Every output is written under a temporary name in its final folder and
renamed into place, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from aesampling.errors import UserInputError


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(path: str | os.PathLike) -> list[Path]:
    """Removes the temporary files that killed writers of `path` left beside it; returns them.

    A writer names its temporaries `.<stem>.<pid>.<random>.tmp<suffix>[...]`;
    those whose process no longer runs are leftovers of a SIGKILL.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    prefix = f".{path.stem}."
    removed = []
    for candidate in folder.glob(f"{glob.escape(prefix)}*.tmp{glob.escape(path.suffix)}*"):
        pid = candidate.name[len(prefix):].split(".", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _process_alive(int(pid)):
            candidate.unlink(missing_ok=True)
            removed.append(candidate)
    return removed


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yields a temporary path beside `path`; renames it to `path` on success.

    The temporary name keeps the suffix of `path` (Keras and matplotlib pick
    the format from it). On any exception the temporary file is removed.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp_name = tempfile.mkstemp(
            dir=folder, prefix=f".{path.stem}.{os.getpid()}.", suffix=f".tmp{path.suffix}"
        )
    except OSError as e:
        raise UserInputError(f"cannot write to {folder}: {e.strerror or e}") from e
    os.close(fd)
    tmp = Path(tmp_name)
    os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs get the usual mode
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def _json_default(value: Any) -> Any:
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating,)):
        return float(value)
    if isinstance(value, (np.ndarray,)):
        return value.tolist()
    if isinstance(value, (Path,)):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def write_json(path: str | os.PathLike, payload: Any) -> None:
    """Writes `payload` as indented JSON, atomically."""
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=_json_default) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """Reads a JSON file, with a clear error when it is missing or broken."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"file not found: {path}")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise UserInputError(f"{path} is not valid JSON: {e}") from e


def read_record(path: str | os.PathLike, what: str, *required: str) -> dict:
    """A JSON object that must hold every dotted key path in `required` (e.g. "config.data.dataset").

    Raises UserInputError naming `what` the file should be when it is not an
    object or lacks one of the keys.
    """
    record = read_json(path)
    for key_path in required:
        value = record
        for key in key_path.split("."):
            if not isinstance(value, dict) or key not in value:
                raise UserInputError(f"{path} is not {what}: it has no {key_path!r}")
            value = value[key]
    if not isinstance(record, dict):
        raise UserInputError(f"{path} is not {what}: it holds a JSON {type(record).__name__}, not an object")
    return record


def sidecar_path(path: str | os.PathLike, suffix: str = ".json") -> Path:
    """The config file that sits next to an output: `x.keras` -> `x.json`."""
    return Path(path).with_suffix(suffix)


def save_model(model, path: str | os.PathLike) -> None:
    """Saves a Keras model in the `.keras` format, atomically."""
    path = Path(path)
    if path.suffix != ".keras":
        raise UserInputError(f"model path must end in .keras: {path}")
    with atomic_path(path) as tmp:
        model.save(tmp)


def load_model(path: str | os.PathLike):
    """Loads a `.keras` model in Keras safe mode (no arbitrary code).

    Raises UserInputError when the file is missing, not a Keras archive, or
    cannot be deserialized safely.
    """
    import keras

    from aesampling import models  # registers the custom layers

    del models
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"model file not found: {path}")
    if path.suffix != ".keras" or not zipfile.is_zipfile(path):
        raise UserInputError(f"{path} is not a Keras .keras model file")
    try:
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()  # checks every member's CRC: Keras itself does not
    except (zipfile.BadZipFile, OSError, EOFError) as e:
        raise UserInputError(f"cannot load model {path}: corrupted archive ({e})") from e
    if damaged is not None:
        raise UserInputError(f"cannot load model {path}: corrupted archive (bad checksum in {damaged})")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as e:  # Keras raises many types for a bad archive.
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserInputError(f"cannot load model {path}: {first_line}") from e


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
        self._atomic = atomic_path(self._path)
        self._tmp = self._atomic.__enter__()
        self._parts = {}
        self._files = {}
        for key, (shape, dtype) in self._specs.items():
            part = self._tmp.with_name(f"{self._tmp.name}.{key}.npy")
            handle = open(part, "wb")
            header = {
                "descr": np.lib.format.dtype_to_descr(dtype),
                "fortran_order": False,
                "shape": (self._num_rows, *shape),
            }
            np.lib.format.write_array_header_2_0(handle, header)
            self._parts[key], self._files[key] = part, handle
        self._closed = False

    def append(self, **chunks: np.ndarray) -> None:
        """Appends rows to the named arrays."""
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
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise UserInputError(f"cannot read {path} as .npz: {e}") from e
    missing = [k for k in required if k not in arrays]
    if missing:
        raise UserInputError(f"{path} lacks the arrays {missing}; it has {sorted(arrays)}")
    for key in required:
        _check_plain(path, key, arrays[key].dtype)
    return arrays


def iter_npz_rows(path: str | os.PathLike, key: str, chunk_rows: int) -> Iterator[np.ndarray]:
    """Yields one array of an uncompressed .npz in chunks of rows, without loading it whole."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"file not found: {path}")
    try:
        archive = zipfile.ZipFile(path)
    except zipfile.BadZipFile as e:
        raise UserInputError(f"{path} is not an .npz file") from e
    with archive:
        if f"{key}.npy" not in archive.namelist():
            raise UserInputError(f"{path} has no array {key!r}")
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
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"file not found: {path}")
    try:
        with zipfile.ZipFile(path) as archive, archive.open(f"{key}.npy") as stream:
            shape, _, dtype = _read_npy_header(stream)
    except KeyError as e:
        raise UserInputError(f"{path} has no array {key!r}") from e
    except (zipfile.BadZipFile, ValueError) as e:
        raise UserInputError(f"cannot read {path} as .npz: {e}") from e
    _check_plain(path, key, dtype)
    return tuple(shape), dtype


def _check_plain(path, key: str, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise UserInputError(f"{path}: array {key!r} holds Python objects (pickled data); only numeric arrays are read")
    if dtype.kind not in "fiub":
        raise UserInputError(f"{path}: array {key!r} must hold real numbers, not {dtype}")


def load_npz_array(path: str | os.PathLike, key: str) -> np.ndarray | None:
    """One array of an .npz (read alone, allow_pickle=False), or None when the file has no array `key`."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"file not found: {path}")
    try:
        with np.load(path, allow_pickle=False) as archive:
            return archive[key] if key in archive.files else None
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as e:
        raise UserInputError(f"cannot read {path} as .npz: {e}") from e
