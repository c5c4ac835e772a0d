"""Shared test helpers: tiny data, a subprocess runner for scripts, quiet TensorFlow."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def run_script(name: str, *flags: str, check: bool = True) -> subprocess.CompletedProcess:
    """Runs scripts/<name>.py in a fresh interpreter; returns the completed process."""
    command = [sys.executable, str(REPO / "scripts" / f"{name}.py"), *flags]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"{name} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    return result


@pytest.fixture(scope="session")
def digits():
    """The embedded digits dataset (1,347 train / 450 test, 64 features)."""
    from aesampling import data

    return data.load_dataset("digits")


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
