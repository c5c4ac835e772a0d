"""Shared test helpers: tiny data, a fast runner for the real scripts, quiet TensorFlow.

Scripts run through tests/forkshim.py: a real process per run, forked from
a server that has TensorFlow imported already.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = REPO / "scripts"
sys.path.insert(0, str(Path(__file__).resolve().parent))

FORKSHIM = Path(__file__).resolve().parent / "forkshim.py"
FAST_PYTHON = f"{sys.executable} {FORKSHIM}"  # `python` for scripts, via the warm fork server


@pytest.fixture(scope="session", autouse=True)
def fork_server(tmp_path_factory):
    """The warm fork server behind FAST_PYTHON (see tests/forkshim.py), for the whole session."""
    import forkshim

    address = str(tmp_path_factory.mktemp("forkshim") / "socket")
    server = forkshim.start_server(address)
    os.environ[forkshim.SOCKET_ENV] = address
    yield address
    server.kill()
    server.wait()


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


@pytest.fixture(scope="session")
def digits():
    """The embedded digits dataset (1,347 train / 450 test, 64 features)."""
    from aesampling import data

    return data.load_dataset("digits")


def save_small_models(root: Path, digits, *, classifier_units: int, classifier_epochs: int, ae_units: int,
                      ae_epochs: int, ae_batch_size: int) -> Path:
    """Trains a one-layer classifier and a one-layer tanh autoencoder on digits; saves both in `root`."""
    from aesampling import io, models, training
    from aesampling.presets import ClassifierPreset

    classifier = training.build_classifier_from_preset(
        ClassifierPreset((classifier_units,), "relu", classifier_epochs, 64), 64, 10)
    training.fit_classifier(classifier, digits, epochs=classifier_epochs, batch_size=64, verbose=0)
    io.save_model(classifier, root / "classifier.keras")
    autoencoder = models.build_autoencoder(64, [ae_units], "tanh")
    autoencoder.fit(digits.x_train, digits.x_train, epochs=ae_epochs, batch_size=ae_batch_size, verbose=0)
    io.save_model(autoencoder, root / "ae.keras")
    return root


@pytest.fixture
def linear_autoencoder():
    """A deterministic fake autoencoder r(x) = scale·x + shift on R^n."""
    import keras

    def build(dim: int, scale: float, shift: float = 0.0):
        inputs = keras.Input((dim,))
        layer = keras.layers.Dense(dim)
        model = keras.Model(inputs, layer(inputs))
        layer.kernel.assign(np.eye(dim, dtype=np.float32) * scale)
        layer.bias.assign(np.full(dim, shift, np.float32))
        return model

    return build
