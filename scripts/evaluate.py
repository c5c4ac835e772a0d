"""Learning curve of a classifier trained only on one source of labelled samples.

    python scripts/evaluate.py --dataset=digits --source=deep_ae --autoencoder=deep_ae.keras \
        --classifier=classifier.keras --output=curves/deep_ae.csv

--source is upper_bound (real training data), lower_bound (N(0, I) noise),
moments_bound (N(μ, diag σ²) noise at the training data's per-feature moments,
where chains with --start=moments begin), class_moments_bound (N(μ_c, diag σ_c²)
noise at each class's moments in equal shares, where --refill=class_moments
restarts stuck chains) or an autoencoder preset name (then
--autoencoder is required). The CSV has
source, epoch, samples_seen, accuracy (on the real test set), loss.
"""

import _common
from absl import flags

from aesampling.evaluation import learning_curves
from aesampling import experiments

flags.DEFINE_string("source", None, "upper_bound, lower_bound, moments_bound, class_moments_bound, or the "
                    "autoencoder's preset name.")
flags.DEFINE_string("autoencoder", None, "Saved autoencoder (.keras) for an autoencoder source.")
flags.DEFINE_string("classifier", None, "Saved ground-truth classifier (.keras).")
flags.DEFINE_string("output", None, "The CSV file to write.")
flags.DEFINE_integer("epochs", None, "Epochs (default: the dataset's preset).")
flags.DEFINE_integer("steps_per_epoch", None, "Learning steps between accuracy measurements (default: preset).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("mixing_chains", 1000, "Chains from N(0, I) whose FD and class TV are followed over 60 "
                     "reinjections (an autoencoder source's mixing).")
flags.DEFINE_integer("quality_samples", 10000, "Samples of the source whose quality (FD, precision, recall, "
                     "density, coverage, class TV) is measured against the validation images; 0: none.")
flags.mark_flags_as_required(["source", "classifier", "output"])
_common.define_data_flags()
_common.define_chain_flags()
_common.define_feature_layer_flag()
FLAGS = flags.FLAGS


def main():
    # The bounds bypass the autoencoder: λ is unused, only the batch size B·(R - b) matters.
    is_bound = FLAGS.source in learning_curves.BOUNDS
    record = experiments.run_evaluate(experiments.EvaluateConfig.from_preset(
        _common.data_config(), source=FLAGS.source, classifier=FLAGS.classifier,
        output=FLAGS.output, autoencoder=FLAGS.autoencoder,
        reinjection=_common.chain_config(FLAGS.dataset, lam=0.0 if is_bound else None),
        epochs=FLAGS.epochs, steps_per_epoch=FLAGS.steps_per_epoch,
        seed=FLAGS.seed, jit_compile=FLAGS.jit_compile, quality_samples=FLAGS.quality_samples,
        mixing_chains=FLAGS.mixing_chains, feature_layer=FLAGS.feature_layer, chains_file=FLAGS.chains_file,
    ))
    quality = record["quality"]
    fidelity = f", FD {quality['fd']:.4g}, class TV {quality['class_tv']:.3f}" if quality else ""
    print(f"{FLAGS.source}: final test accuracy {record['final_accuracy']:.4f} "
          f"(ground truth {record['ground_truth_accuracy']:.4f}){fidelity} in {record['wall_seconds']:.0f}s "
          f"-> {FLAGS.output}")


if __name__ == "__main__":
    _common.run(main)
