"""Helpers shared by the test modules: paths, a fast runner for the real scripts, small models and data files,
checks of a failed run, `make`.

Scripts run through tests/forkshim.py: a real process per run, forked from a server that has TensorFlow imported
already (the session fixture `fork_server` in conftest.py starts it).
"""

from __future__ import annotations

import dataclasses
import gzip
import os
import pickle
import resource
import signal
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
SCRIPTS = REPO / "scripts"

FORKSHIM = TESTS / "forkshim.py"
FAST_PYTHON = f"{sys.executable} {FORKSHIM}"  # `python` for scripts, via the warm fork server


# ---------------------------------------------------------------- running the scripts


@dataclasses.dataclass
class ScriptResult:
    returncode: int
    stdout: str
    stderr: str


@dataclasses.dataclass
class ScriptRun:
    """A script started with `start_script`: wait for it, or kill it."""

    name: str
    client: subprocess.Popen
    folder: Path

    def wait(self, timeout: float = 600) -> ScriptResult:
        try:
            self.client.wait(timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise AssertionError(f"{self.name} did not finish in {timeout}s") from None
        return ScriptResult(self.client.returncode, (self.folder / "stdout").read_text(),
                            (self.folder / "stderr").read_text())

    def kill(self, signum: int = signal.SIGKILL) -> None:
        """SIGKILL (or `signum`) to the process running the script, as an out-of-memory killer or a power
        cut (or a job scheduler's SIGTERM) would."""
        pid_file = self.folder / "pid"
        deadline = time.monotonic() + 30
        while not pid_file.is_file() or not pid_file.read_text():
            if time.monotonic() > deadline:
                raise AssertionError(f"{self.name} never started")
            time.sleep(0.01)
        pid = int(pid_file.read_text())
        try:
            os.kill(pid, signum)
            while True:  # wait until the process is gone (the server reaps it)
                os.kill(pid, 0)
                time.sleep(0.01)
        except ProcessLookupError:
            pass
        self.client.wait()


def start_script(name: str, *flags: str, env: dict | None = None, file_size_limit: int | None = None) -> ScriptRun:
    """Starts scripts/<name>.py with `flags` in a new process; returns at once.

    `file_size_limit` (bytes) makes larger writes fail, standing in for a disk that fills up.
    """
    import forkshim

    folder = Path(tempfile.mkdtemp(prefix=f"script-{name}-"))

    def limit_file_size():
        if file_size_limit is not None:
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_size_limit, file_size_limit))

    with open(folder / "stdout", "w") as out, open(folder / "stderr", "w") as err:
        client = subprocess.Popen(
            [sys.executable, str(FORKSHIM), str(SCRIPTS / f"{name}.py"), *flags], cwd=REPO,
            env={**os.environ, **(env or {}), forkshim.PIDFILE_ENV: str(folder / "pid")},
            stdout=out, stderr=err, preexec_fn=limit_file_size,
        )
    return ScriptRun(name, client, folder)


def run_script(name: str, *flags: str, check: bool = True, env: dict | None = None,
               file_size_limit: int | None = None) -> ScriptResult:
    """Runs scripts/<name>.py to completion; with check, fails the test on a non-zero exit."""
    result = start_script(name, *flags, env=env, file_size_limit=file_size_limit).wait()
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


def wait_for(condition, run: ScriptRun, timeout: float = 300.0) -> None:
    """Waits until `condition()` holds while `run` is still going: the moment to interrupt it."""
    deadline = time.monotonic() + timeout
    while not condition():
        if run.client.poll() is not None:
            raise AssertionError(f"{run.name} ended before it could be interrupted:\n{run.wait().stderr}")
        if time.monotonic() > deadline:
            run.kill()
            raise AssertionError("timed out waiting for the run to make progress")
        time.sleep(0.05)


# ---------------------------------------------------------------- checks of a failed run


def assert_one_line_error(result: ScriptResult, message: str) -> None:
    """The run failed with exit status 1, no traceback, and a last line `error: ...` that holds `message`."""
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("error: ") and message in last, last


def assert_no_outputs(folder: Path, *names: str) -> None:
    """None of `names` exists in `folder`, and no temporary file is left there."""
    for name in names:
        assert not (folder / name).exists(), name
    leftovers = [p.name for p in folder.iterdir() if ".tmp" in p.name]
    assert not leftovers, leftovers


# ---------------------------------------------------------------- small models


def save_small_models(root: Path, digits, *, classifier_units: int, classifier_epochs: int, ae_units: int,
                      ae_epochs: int, ae_batch_size: int) -> Path:
    """Trains a one-layer classifier and a one-layer tanh autoencoder on digits; saves both in `root`."""
    from aesampling.io import storage
    from aesampling.models import builders
    from aesampling.models import fitting
    from aesampling.models.presets import ClassifierPreset

    classifier = fitting.build_classifier_from_preset(
        ClassifierPreset((classifier_units,), "relu", classifier_epochs, 64), 64, 10)
    fitting.fit_classifier(classifier, digits, epochs=classifier_epochs, batch_size=64, verbose=0)
    storage.save_model(classifier, root / "classifier.keras")
    autoencoder = builders.build_autoencoder(64, [ae_units], "tanh")
    autoencoder.fit(digits.x_train, digits.x_train, epochs=ae_epochs, batch_size=ae_batch_size, verbose=0)
    storage.save_model(autoencoder, root / "ae.keras")
    return root


# ---------------------------------------------------------------- data files


def idx_bytes(array: np.ndarray, magic_type: int = 0x08) -> bytes:
    """`array` as an IDX file (the MNIST format)."""
    header = bytes([0, 0, magic_type, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


def write_idx_folder(folder, n_train=5, n_test=3, side=28, label_count=None):
    """A folder of gzipped IDX files as MNIST and Fashion-MNIST ship them; returns the arrays written."""
    rng = np.random.default_rng(0)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, side, side)),
        "train-labels-idx1-ubyte": rng.integers(0, 10, label_count or n_train),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_test, side, side)),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_test),
    }
    folder.mkdir(parents=True, exist_ok=True)
    for stem, array in arrays.items():
        with gzip.open(folder / f"{stem}.gz", "wb") as f:
            f.write(idx_bytes(array))
    return arrays


def write_cifar10_folder(folder, per_batch=2):
    """CIFAR-10's python batches (cifar-10-batches-py) with `per_batch` random images each; returns that folder."""
    rng = np.random.default_rng(0)
    root = folder / "cifar-10-batches-py"
    root.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {b"data": rng.integers(0, 256, (per_batch, 3072)).astype(np.uint8),
                 b"labels": list(rng.integers(0, 10, per_batch))}
        with open(root / name, "wb") as f:
            pickle.dump(batch, f, protocol=2)
    return root


class MaliciousPickle:
    """Unpickles as a call to os.system: what a CIFAR batch file must not be able to do."""

    def __reduce__(self):
        return (os.system, ("echo owned",))


# ---------------------------------------------------------------- make


# The JAX leg and the CIFAR-10 smoke run make the deep AE and DAE only (AUTOENCODERS=...): the shallow ones run the
# same code, which the TensorFlow digits run covers, and make test stays within 10 minutes.
DEEP_AUTOENCODERS = ["deep_ae", "deep_dae"]
DEEP_SOURCES = ["upper_bound", *DEEP_AUTOENCODERS, "lower_bound"]  # FD_CURVES=0


def make(*args, check=True):
    """Runs `make` in the repository; with check, fails the test on a non-zero exit."""
    result = subprocess.run(["make", "--no-print-directory", *args], cwd=REPO, capture_output=True,
                            text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"make {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
