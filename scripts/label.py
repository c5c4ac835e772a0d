"""Label a samples file with the ground-truth classifier (Algorithm 2).

    python scripts/label.py --samples=samples.npz --classifier=classifier.keras --output=labelled.npz

The output holds x, soft_labels = C(x) and labels = argmax C(x).
"""

import _common
from absl import flags

from aesampling import experiments

flags.DEFINE_string("samples", None, "An .npz with array x (from sample.py).")
flags.DEFINE_string("classifier", None, "Saved ground-truth classifier (.keras).")
flags.DEFINE_string("output", None, "The .npz file to write.")
flags.DEFINE_integer("chunk_rows", 16384, "Rows labelled per chunk (memory stays bounded by it).")
flags.mark_flags_as_required(["samples", "classifier", "output"])
FLAGS = flags.FLAGS


def main():
    record = experiments.run_label(experiments.LabelConfig(
        samples=FLAGS.samples, classifier=FLAGS.classifier, output=FLAGS.output, chunk_rows=FLAGS.chunk_rows,
    ))
    print(f"{record['num_samples']} samples labelled, class counts {record['class_counts']} -> {FLAGS.output}")


if __name__ == "__main__":
    _common.run(main)
