"""Fixtures shared by the test modules, and the session's setup: quiet TensorFlow, tests/ importable (support.py,
forkshim.py), the warm fork server behind support.FAST_PYTHON.

Helpers that are not fixtures live in tests/support.py.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import pytest  # noqa: E402

from support import save_small_models  # noqa: E402


@pytest.fixture(scope="session", autouse=True)
def fork_server(tmp_path_factory):
    """The warm fork server behind support.FAST_PYTHON (see tests/forkshim.py), for the whole session."""
    import forkshim

    address = str(tmp_path_factory.mktemp("forkshim") / "socket")
    server = forkshim.start_server(address)
    os.environ[forkshim.SOCKET_ENV] = address
    yield address
    server.kill()
    server.wait()


@pytest.fixture(scope="session")
def digits():
    """The embedded digits dataset (1,347 train / 450 test, 64 features)."""
    from aesampling.data import datasets

    return datasets.load_dataset("digits")


@pytest.fixture(scope="module")
def digits_models(tmp_path_factory, digits):
    """Small digits models with their training records, as `make demo` leaves them: a folder with classifier.keras,
    ae.keras and their .json records. One per test module."""
    from aesampling.io import storage

    root = save_small_models(tmp_path_factory.mktemp("digits_models"), digits, classifier_units=16,
                             classifier_epochs=2, ae_units=8, ae_epochs=2, ae_batch_size=128)
    for name in ("ae", "classifier"):
        storage.write_json(root / f"{name}.json", {"config": {"data": {"dataset": "digits"}}, "note": name})
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
