"""Table and figures of one dataset from its learning curves and labelled samples.

    python scripts/report.py --dataset=digits --curves=a.csv,b.csv --samples=deep_ae_labelled.npz \
        --classifier_record=models/classifier.json --output_dir=results/digits

Writes curves.csv, table.md, metrics.json, curves.png (logit-scale accuracy),
samples_<name>.png, chains_<name>.png and lambda_<name>.png (each named by
its file: lambda_fd.json gives lambda_fd.png), lambda_search.csv and
config.json. Without --classifier_record (a classifier trained elsewhere),
the ground-truth accuracy comes from the curves' records (evaluate.py) and
the table has no training time for the classifier.
"""

import _common
from absl import flags

from aesampling import experiments

flags.DEFINE_string("dataset", None, "Dataset name (for titles and image shapes).", required=True)
flags.DEFINE_list("curves", None, "Learning-curve CSV files from evaluate.py.")
flags.DEFINE_list("samples", [], "Labelled sample files from label.py, one grid each.")
flags.DEFINE_list("lambda_searches", [], "λ search results from search_lambda.py, gathered in lambda_search.csv.")
flags.DEFINE_string("classifier_record", None, "The .json record of the ground-truth classifier (train.py); "
                    "without it the curves' records give its test accuracy.")
flags.DEFINE_string("output_dir", None, "Folder to write the report into.")
flags.DEFINE_string("reproduce_command", None, "The command that reproduces the whole run, quoted in the table.")
flags.mark_flags_as_required(["curves", "output_dir"])
FLAGS = flags.FLAGS


def main():
    result = experiments.run_report(experiments.ReportConfig(
        dataset=FLAGS.dataset, curves=tuple(FLAGS.curves), samples=tuple(FLAGS.samples),
        classifier_record=FLAGS.classifier_record, output_dir=FLAGS.output_dir,
        reproduce_command=FLAGS.reproduce_command, lambda_searches=tuple(FLAGS.lambda_searches),
    ))
    print(result["table"].to_string(index=False))
    print(f"report written to {FLAGS.output_dir}")


if __name__ == "__main__":
    _common.run(main)
