"""Quality of any samples file against a dataset, in the ground-truth classifier's feature space (trains nothing).

    python scripts/quality.py --samples=samples.npz --classifier=classifier.keras --dataset=fashion_mnist \
        --data_dir=/usr/share/datasets/fashion-mnist --output=quality.json

Prints FD to the validation images and its share of N(0, I) noise's, with
precision, recall, density and coverage, and C's class histogram against the
data's; warns in one line when the samples collapsed. Writes the report
(--output, JSON) and a grid of the first samples with their class names beside
it (.png). The samples (array x of an .npz, from sample.py or label.py, or
your own) may have any shape per sample with the dataset's number of values.
"""

import _common
from absl import flags

from aesampling import experiments

flags.DEFINE_string("samples", None, "An .npz with array x: one sample per row, any shape per sample.")
flags.DEFINE_string("classifier", None, "Saved ground-truth classifier (.keras) of --dataset.")
flags.DEFINE_string("output", None, "The JSON report to write; the sample grid goes beside it (.png).")
flags.DEFINE_integer("num_samples", 10000, "Measure the first N samples (0: all of them).")
flags.DEFINE_integer("seed", 0, "Seed of the N(0, I) noise the samples' FD is compared with.")
flags.mark_flags_as_required(["samples", "classifier", "output"])
_common.define_data_flags()
_common.define_feature_layer_flag()
FLAGS = flags.FLAGS


def main():
    record = experiments.run_quality(experiments.QualityConfig(
        samples=FLAGS.samples, classifier=FLAGS.classifier, data=_common.data_config(), output=FLAGS.output,
        num_samples=FLAGS.num_samples, feature_layer=FLAGS.feature_layer, seed=FLAGS.seed,
    ))
    verdict = "COLLAPSED" if record["collapse"]["collapsed"] else "not collapsed"
    print(f"{record['quality']['samples']:,} samples measured ({verdict}) in {record['wall_seconds']:.1f} s "
          f"-> {FLAGS.output}")


if __name__ == "__main__":
    _common.run(main)
