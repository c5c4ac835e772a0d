"""One dataset's protocol run with several seeds, summarised as mean ± spread per source.

    python scripts/seed_spread.py --runs=build/results/seeds/0/digits,build/results/seeds/1/digits \
        --output_dir=build/results/digits_seeds

Each run folder is a report (report.py's output_dir). Writes table.md
(accuracies, sample quality, deep against shallow seed by seed),
metrics.json, config.json and seeds.png. `make <dataset>_seeds SEEDS="0 1 2"`
makes the runs and calls it.
"""

import _common
from absl import flags

from aesampling import experiments

flags.DEFINE_list("runs", None, "Report folders, one per seed.")
flags.DEFINE_string("output_dir", None, "Folder to write the seed spread into.")
flags.DEFINE_string("reproduce_command", None, "The command that reproduces every run, quoted in the table.")
flags.mark_flags_as_required(["runs", "output_dir"])
FLAGS = flags.FLAGS


def main():
    result = experiments.run_seed_spread(experiments.SeedSpreadConfig(
        runs=tuple(FLAGS.runs), output_dir=FLAGS.output_dir, reproduce_command=FLAGS.reproduce_command))
    print(f"{result['dataset']}: seeds {', '.join(map(str, result['seeds']))} -> {FLAGS.output_dir}")


if __name__ == "__main__":
    _common.run(main)
