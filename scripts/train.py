"""Train one model of a dataset's presets: an autoencoder or the ground-truth classifier.

    python scripts/train.py --dataset=digits --model=deep_ae --output=results/digits/models/deep_ae.keras

Writes the .keras model and a .json record (config, metrics, timings) beside it.
"""

import _common
from absl import flags

from aesampling import experiments

flags.DEFINE_string("model", None, "Preset: classifier, shallow_ae, deep_ae, shallow_dae or deep_dae.")
flags.DEFINE_string("output", None, "Path of the .keras file to write.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("epochs", None, "Override the preset's number of epochs.")
flags.DEFINE_integer("batch_size", None, "Override the preset's batch size.")
flags.DEFINE_float("gaussian_noise_std", None, "DAE presets: override σ of the pre-activation Gaussian noise.")
flags.DEFINE_float("salt_pepper_rate", None, "DAE presets: override the salt-and-pepper corruption probability.")
flags.DEFINE_boolean("mixed_precision", False, "Train in mixed_float16 (for GPUs; output layers stay float32).")
flags.mark_flags_as_required(["model", "output"])
_common.define_data_flags()
_common.define_strategy_flag()
FLAGS = flags.FLAGS


def main():
    record = experiments.run_train(experiments.TrainConfig(
        data=_common.data_config(), model=FLAGS.model, output=FLAGS.output, seed=FLAGS.seed,
        epochs=FLAGS.epochs, batch_size=FLAGS.batch_size, strategy=FLAGS.strategy,
        mixed_precision=FLAGS.mixed_precision, gaussian_noise_std=FLAGS.gaussian_noise_std,
        salt_pepper_rate=FLAGS.salt_pepper_rate,
    ))
    metric = record.get("test_accuracy", record.get("test_reconstruction_bce"))
    print(f"{FLAGS.model}: {record['epochs_trained']} epochs in {record['wall_seconds']:.0f}s, "
          f"test {'accuracy' if 'test_accuracy' in record else 'reconstruction BCE'} {metric:.4f} -> {FLAGS.output}")


if __name__ == "__main__":
    _common.run(main)
