"""Files: atomic writes (temporaries of killed writers cleaned up), JSON records, saved Keras models.

Every output is written under a temporary name in its final folder and
renamed into place, so an interrupted run never leaves a half-written file.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from aesampling.errors import UserInputError
from aesampling.io import interruption


_inputs_in_use: list[dict[str, Path]] = []  # the inputs of the stages running now, outermost first


def protect_inputs(inputs: dict[str, Path]) -> None:
    """Names the inputs, by description, of a stage that starts now: until `stop_protecting` ends it,
    `atomic_path` refuses to put an output in place of any of them, a second guard behind the check of the
    outputs named beforehand (`experiments.outputs.claim`) for a path the stage computes later."""
    _inputs_in_use.append({name: Path(path) for name, path in inputs.items()})


def protected_depth() -> int:
    """How many stages' inputs are protected now (for `stop_protecting`)."""
    return len(_inputs_in_use)


def stop_protecting(depth: int) -> None:
    """Ends the protection of the inputs named since `protected_depth` returned `depth`."""
    del _inputs_in_use[depth:]


def same_file(a: Path, b: Path) -> bool:
    """Whether a and b name one file: by resolved path (a respelling, a symbolic link) or by identity (a hard
    link)."""
    a, b = Path(a), Path(b)
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _refuse_an_input(path: Path) -> None:
    for name, input_path in ((n, p) for inputs in _inputs_in_use for n, p in inputs.items()):
        if same_file(path, input_path):
            raise UserInputError(f"{path} is {name}, an input of this run: it is kept as it is; choose another "
                                 "output path")


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
    A `path` that is one of the stage's inputs (`protect_inputs`) is refused
    before anything is written, and again before the rename.
    """
    path = Path(path)
    _refuse_an_input(path)
    folder = path.parent if str(path.parent) else Path(".")
    interruption.hold()  # no stop between creating the temporary and guarding it
    try:
        folder.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(path)
        fd, tmp_name = tempfile.mkstemp(
            dir=folder, prefix=f".{path.stem}.{os.getpid()}.", suffix=f".tmp{path.suffix}"
        )
    except BaseException as e:  # nothing was created: the hold ends here
        interruption.release()
        if isinstance(e, OSError):
            raise not_writable(folder, e) from e
        raise
    tmp = Path(tmp_name)
    try:
        try:
            os.close(fd)
        finally:
            interruption.release()  # a stop asked for meanwhile is raised here, where the temporary is removed
        os.chmod(tmp, 0o666 & ~_current_umask())  # mkstemp makes 0600; outputs get the usual mode
        yield tmp
        interruption.raise_if_requested()  # a stop whose exception was lost meanwhile: the output never appears
        _refuse_an_input(path)  # again: an input may have appeared there (a link) while the output was written
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            tmp.unlink()


def write_text(path: str | os.PathLike, text: str) -> None:
    """Writes `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def json_default(value: Any) -> Any:
    """What JSON cannot write by itself (numpy numbers and arrays, paths), as what it can."""
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
    write_text(path, json.dumps(payload, indent=2, sort_keys=True, default=json_default) + "\n")


def existing_file(path: str | os.PathLike) -> Path:
    """`path` as a Path, when it names a file; the one "file not found" error otherwise."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"file not found: {path}")
    return path


def not_writable(folder: str | os.PathLike, error: OSError) -> UserInputError:
    """The one error for a folder an output cannot be written to."""
    return UserInputError(f"cannot write to {folder}: {error.strerror or error}")


def read_json(path: str | os.PathLike) -> Any:
    """Reads a JSON file, with a clear error when it is missing, not text, or broken."""
    path = existing_file(path)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise UserInputError(f"{path} is not valid JSON: not UTF-8 text (byte {e.start})") from e
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


DIGEST_WHOLE_BYTES = 1 << 20  # files up to this size are hashed whole; larger ones by their first and last MiB


def content_digest(path: str | os.PathLike) -> list | None:
    """A cheap digest of a file's content: [size, modification time (ns), SHA-256 of the file when it is at most
    1 MiB, else of its first and last MiB (the headers of the formats read here, and where a file grew or was cut
    short)]; None when the file does not exist. Two files with one digest are, for a run, the same input."""
    path = Path(path)
    try:
        stat = path.stat()
        if not path.is_file():
            return None
        hasher = hashlib.sha256()
        with open(path, "rb") as stream:
            hasher.update(stream.read(DIGEST_WHOLE_BYTES))
            if stat.st_size > DIGEST_WHOLE_BYTES:
                stream.seek(max(DIGEST_WHOLE_BYTES, stat.st_size - DIGEST_WHOLE_BYTES))
                hasher.update(stream.read())
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, hasher.hexdigest()]


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

    from aesampling.models import builders  # registers the custom layers

    del builders
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
