"""One code path, two Keras backends: pinned samples per backend, models shared across backends, no TF on JAX.

`make test` runs this file twice: under TensorFlow, and under
KERAS_BACKEND=jax with tests/without_tensorflow on PYTHONPATH, where any
import of tensorflow or tensorflow_datasets fails, as on a JAX-only GPU
machine.
"""

import os
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest

from aesampling import backend
from aesampling.data import datasets
from aesampling.sampling import devices
from aesampling.evaluation import learning_curves
from aesampling.io import storage
from aesampling.errors import DataUnavailableError, UserInputError
from aesampling.sampling.reinjection import ReinjectionConfig, ReinjectionSampler
from support import REPO

# Samples 0, 5 and 7 of the fixed model below (B = 2, R = 4, b = 1, λ = 0.1, seed 7). The TensorFlow
# values are those of the package before it had a JAX path: TensorFlow results did not change.
PINNED_SAMPLES = {
    "tensorflow": [[-0.4049954, -0.2471913, -0.1839361],
                   [-0.0186635, 1.1501373, 0.3267381],
                   [-0.8031734, -0.0253817, 0.1055099]],
    "jax": [[-0.1927555, 0.4428731, -0.6991599],
            [-0.4091958, -0.0758135, 0.3497658],
            [-0.1422374, 0.2085211, -0.2908378]],
}
# First column of the upper bound's batch of step 2 (4 rows of arange(20).reshape(10, 2), seed 3).
PINNED_REAL_ROWS = {"tensorflow": [12, 18, 4, 10], "jax": [4, 2, 2, 18]}


def fixed_autoencoder() -> keras.Model:
    """r(x) = W x + 0.05 with a fixed 3 x 3 W: a tiny model whose chains are known per backend."""
    inputs = keras.Input((3,))
    layer = keras.layers.Dense(3, name="r")
    model = keras.Model(inputs, layer(inputs))
    layer.kernel.assign(np.array([[0.5, 0.1, 0.0], [0.0, 0.5, 0.1], [0.1, 0.0, 0.5]], np.float32))
    layer.bias.assign(np.full(3, 0.05, np.float32))
    return model


def test_pinned_sample_values_of_a_fixed_model():
    config = ReinjectionConfig(lam=0.1, num_chains=2, reinjections=4, burn_in=1)
    samples = ReinjectionSampler(fixed_autoencoder(), config, seed=7).sample(8)
    np.testing.assert_allclose(samples[[0, 5, 7]], PINNED_SAMPLES[backend.name()], rtol=1e-5, atol=1e-6)
    source, _ = learning_curves.real_data_source(np.arange(20, dtype=np.float32).reshape(10, 2), 4, seed=3)
    np.testing.assert_array_equal(source(2)[:, 0], PINNED_REAL_ROWS[backend.name()])


def test_the_run_record_names_the_backend():
    from aesampling.experiments import machine_description

    machine = machine_description()
    assert machine["backend"] == os.environ.get("KERAS_BACKEND", "tensorflow")
    assert machine["backend_version"] and machine["keras"] == keras.__version__


def test_the_run_record_names_the_code_s_commit(monkeypatch, tmp_path):
    from aesampling.experiments import DataConfig, records

    repo = Path(records.__file__).resolve().parents[2]
    described = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=repo, capture_output=True, text=True)
    expected = described.stdout.strip() if described.returncode == 0 else None
    assert records.checkout_version(repo) == expected
    assert records.run_record(DataConfig(dataset="digits"), 0.0)["code"] == records.code_version()
    assert records.checkout_version(tmp_path / "site-packages") is None  # an installed copy names no commit
    # The first call pins the commit: a checkout that moves on during a long run does not rename its code.
    pinned = records.code_version()
    monkeypatch.setattr(records, "checkout_version", lambda root: "moved-on")
    assert records.code_version() == pinned and records.run_record(DataConfig(dataset="digits"), 0.0)["code"] == pinned


def test_no_tensorflow_import_on_jax():
    if not backend.is_jax():
        pytest.skip("checks the JAX leg")
    assert "tensorflow" not in sys.modules and "tensorflow_datasets" not in sys.modules


def test_tfds_on_jax_points_to_data_dir(tmp_path):
    if not backend.is_jax():
        pytest.skip("tfds is the download path on TensorFlow (test_data.py)")
    with pytest.raises(DataUnavailableError, match="on JAX, give a local folder with its files as `data_dir`"):
        datasets.load_dataset("mnist", tfds_data_dir=str(tmp_path))


def test_mirrored_strategy_needs_tensorflow():
    if not backend.is_jax():
        pytest.skip("mirrored runs on TensorFlow (tests/distribution_check.py)")
    with pytest.raises(UserInputError, match="TensorFlow backend"):
        devices.make_strategy("mirrored")


LOAD_AND_PREDICT = """
import sys
import numpy as np
from aesampling.io import storage
model = storage.load_model(sys.argv[1])
x = np.linspace(0, 1, 2 * model.inputs[0].shape[1], dtype=np.float32).reshape(2, -1)
np.save(sys.argv[2], np.asarray(model.predict(x, verbose=0)))
"""


def test_a_model_saved_on_one_backend_loads_on_the_other(tmp_path):
    from aesampling.models import builders

    model = builders.build_autoencoder(6, [4], "tanh", salt_pepper_rate=0.2, gaussian_noise_std=0.1, seed=1)
    path = tmp_path / "dae.keras"
    storage.save_model(model, path)
    x = np.linspace(0, 1, 12, dtype=np.float32).reshape(2, 6)
    other = "tensorflow" if backend.is_jax() else "jax"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the other backend's libraries importable
    result = subprocess.run([sys.executable, "-c", LOAD_AND_PREDICT, str(path), str(tmp_path / "out.npy")],
                            env={**env, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "3"}, cwd=REPO,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    np.testing.assert_allclose(np.load(tmp_path / "out.npy"), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("model", ["learner", "vae"])
def test_a_block_of_steps_in_one_call_trains_as_one_train_on_batch_call_per_step(model):
    """K steps of backend.block_trainer leave every variable (the optimizer's and a VAE's noise state included) where
    K calls of train_on_batch leave them, with sample weights (and without, for the learner)."""
    from aesampling.continual import networks

    def build():
        keras.utils.set_random_seed(4)
        if model == "learner":
            return networks.build_learner(12, 5, units=(8,))
        return networks.build_vae(12, seed=3)[0]

    rng = np.random.default_rng(0)
    x = rng.random((4, 6, 12), dtype=np.float32)
    y = x if model == "vae" else np.eye(6, dtype=np.float32)[rng.integers(0, 5, (4, 6))]
    if model == "learner":
        y[..., -1] = 1.0  # targets [p_1 .. p_5, T = 1]
    weights = rng.random((4, 6), dtype=np.float32)
    for w in (weights, None) if model == "learner" else (weights,):
        each, blocked = build(), build()
        for k in range(4):
            each.train_on_batch(x[k], y[k], sample_weight=None if w is None else w[k])
        train = backend.block_trainer(blocked)
        train(x[:3], y[:3], None if w is None else w[:3])
        train(x[3:], y[3:], None if w is None else w[3:])
        variables = [(a, b) for a, b in zip([*each.variables, *each.optimizer.variables],
                                            [*blocked.variables, *blocked.optimizer.variables], strict=True)]
        assert int(keras.ops.convert_to_numpy(blocked.optimizer.iterations)) == 4
        for a, b in variables:
            np.testing.assert_array_equal(keras.ops.convert_to_numpy(a.value), keras.ops.convert_to_numpy(b.value),
                                          err_msg=a.path)


def test_a_model_not_built_yet_or_with_metrics_trains_in_blocks_as_one_step_at_a_time():
    """Such a model takes its first step through train_on_batch (Keras builds its layers and metrics there), the
    rest in the compiled loop: the same weights as K calls of train_on_batch."""
    def build():
        keras.utils.set_random_seed(2)
        model = keras.Sequential([keras.layers.Dense(3, activation="relu"), keras.layers.Dense(2)])
        model.compile(optimizer="adam", loss="mse", metrics=["mae"])
        return model

    rng = np.random.default_rng(1)
    x, y = rng.random((5, 4, 6), dtype=np.float32), rng.random((5, 4, 2), dtype=np.float32)
    each, blocked = build(), build()
    for k in range(5):
        each.train_on_batch(x[k], y[k])
    train = backend.block_trainer(blocked)
    assert not blocked.built
    train(x[:3], y[:3])
    train(x[3:], y[3:])
    assert int(keras.ops.convert_to_numpy(blocked.optimizer.iterations)) == 5
    for a, b in zip(each.get_weights(), blocked.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
