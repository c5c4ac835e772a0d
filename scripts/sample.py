"""Draw N_s synthetic samples from any saved autoencoder by reinjection (Algorithm 1).

    python scripts/sample.py --autoencoder=ae.keras --lam=0.05 --num_samples=10000 --output=samples.npz

The .npz holds x (N_s x n, float32); it is streamed to disk in chunks. With
--balance_classes --classifier=classifier.keras the chains collect equal
per-class quotas of the classifier's hard labels (aesampling.sampling.class_balance). Chains
that start at the data's moments (--start=moments, or a --chains_file searched
so) take those moments from --chains_file. Stuck chains refilled at the
training data's class moments (--refill=class_moments) read that data: give
--dataset and, for files on disk, --data_dir.
"""

import _common
from absl import flags

from aesampling import experiments

flags.DEFINE_string("autoencoder", None, "Saved autoencoder (.keras) mapping R^n to R^n.")
flags.DEFINE_string("output", None, "The .npz file to write.")
flags.DEFINE_integer("num_samples", 10000, "N_s, samples to draw.")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_integer("chunk_samples", 16384, "Samples computed and written per chunk (memory stays bounded by it).")
flags.DEFINE_string("classifier", None, "Ground-truth classifier (.keras): counts the samples' classes and warns "
                    "of a collapse (needed by --balance_classes).")
flags.DEFINE_string("dataset", None, "Take the unset chain settings from this dataset's presets (λ = 0.05) and "
                    "compare the samples' classes with its labels' (with --classifier); --refill=class_moments also "
                    "reads its training data.")
flags.mark_flags_as_required(["autoencoder", "output"])
_common.define_data_source_flags()
_common.define_chain_flags()
_common.define_strategy_flag()
FLAGS = flags.FLAGS


def main():
    record = experiments.run_sample(experiments.SampleConfig(
        autoencoder=FLAGS.autoencoder, output=FLAGS.output, num_samples=FLAGS.num_samples,
        reinjection=_common.chain_config(FLAGS.dataset), seed=FLAGS.seed,
        chunk_samples=FLAGS.chunk_samples, jit_compile=FLAGS.jit_compile, strategy=FLAGS.strategy,
        classifier=FLAGS.classifier, chains_file=FLAGS.chains_file,
        data=_common.data_config() if FLAGS.dataset else None,
    ))
    print(f"{FLAGS.num_samples} samples in {record['wall_seconds']:.1f}s -> {FLAGS.output}")


if __name__ == "__main__":
    _common.run(main)
