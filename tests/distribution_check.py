"""Run by test_distribution.py in a fresh interpreter: the CPU split into two logical devices.

Trains and samples with strategy="mirrored", compares with one device, then
trains and samples in mixed precision. Prints a JSON summary on its last line.
"""

import dataclasses
import json
import sys
from pathlib import Path

import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

import numpy as np  # noqa: E402

from aesampling.io import storage  # noqa: E402
from aesampling import experiments
from aesampling.sampling import devices  # noqa: E402
from aesampling.sampling.reinjection import ReinjectionConfig, ReinjectionSampler, StartMoments  # noqa: E402

out = Path(sys.argv[1])
data = experiments.DataConfig(dataset="digits")
summary = {"logical_cpus": len(tf.config.list_logical_devices("CPU"))}

record = experiments.run_train(experiments.TrainConfig(data=data, model="shallow_ae", output=str(out / "ae.keras"),
                                                 epochs=2, strategy="mirrored"))
summary["mirrored_train_loss"] = record["history"]["loss"][-1]
chains = ReinjectionConfig(lam=0.05, num_chains=10, reinjections=4, burn_in=1)
for strategy in ("mirrored", "none"):
    record = experiments.run_sample(experiments.SampleConfig(autoencoder=str(out / "ae.keras"), num_samples=500,
                                                       output=str(out / f"{strategy}.npz"), reinjection=chains,
                                                       strategy=strategy))
    summary[f"{strategy}_devices"] = record["devices"]
a, b = np.load(out / "mirrored.npz")["x"], np.load(out / "none.npz")["x"]
summary["max_difference_mirrored_vs_one_device"] = float(np.abs(a - b).max())
# Chains that start at each class's moments in turn: chain i starts at class i mod C on one device or two.
digits = experiments.inputs.load_data(data)
by_class = StartMoments.by_class(digits.x_train, digits.y_train)
per_class = dataclasses.replace(chains, start="moments", num_chains=12)
drawn = {}
for name in ("mirrored", "none"):
    strategy = devices.make_strategy(name)
    with devices.scope(strategy):
        autoencoder = storage.load_model(out / "ae.keras")
    drawn[name] = ReinjectionSampler(autoencoder, per_class, seed=0, strategy=strategy, start=by_class).sample(120)
summary["max_difference_class_starts_mirrored_vs_one_device"] = float(np.abs(drawn["mirrored"] - drawn["none"]).max())

experiments.run_train(experiments.TrainConfig(data=data, model="deep_dae", output=str(out / "mixed.keras"), epochs=1,
                                        mixed_precision=True))
mixed = storage.load_model(out / "mixed.keras")
summary["hidden_compute_dtype"] = mixed.get_layer("hidden_1").compute_dtype
summary["output_compute_dtype"] = mixed.get_layer("reconstruction").compute_dtype
samples = ReinjectionSampler(mixed, chains, seed=0).sample(100)
summary["mixed_samples_dtype"] = str(samples.dtype)
summary["mixed_samples_finite"] = bool(np.all(np.isfinite(samples)))
print(json.dumps(summary))
