"""A run's results beside the committed reference: accuracies per source, and their differences.

    python scripts/compare.py --reference=results/digits/metrics.json \
        --run=build/results/digits/metrics.json --output=build/results/digits/comparison.md

Two seed spreads (seed_spread.py's metrics.json) are compared mean against
mean, with a verdict: do they agree within the seed spread? The Makefile
runs it after every report and every seed spread. Without a reference (a
dataset or recipe never committed), the output says so.
"""

from pathlib import Path

import _common
from absl import flags

from aesampling.experiments.records import code_version, command_line
from aesampling.io import storage
from aesampling.reporting import seed_summary, tables

flags.DEFINE_string("reference", None, "The reference report's metrics.json (committed results).", required=True)
flags.DEFINE_string("run", None, "This run's metrics.json.", required=True)
flags.DEFINE_string("output", None, "Where to write the comparison (.md).", required=True)
FLAGS = flags.FLAGS


def main():
    if Path(FLAGS.output).resolve() in (Path(FLAGS.reference).resolve(), Path(FLAGS.run).resolve()):
        raise _common.UserInputError(f"--output={FLAGS.output} would overwrite an input")
    command = command_line()
    run = storage.read_json(FLAGS.run)
    if Path(FLAGS.reference).is_file():
        reference = storage.read_json(FLAGS.reference)
        spreads = ["per_seed" in record for record in (reference, run)]
        if spreads[0] != spreads[1]:
            spread = FLAGS.reference if spreads[0] else FLAGS.run
            raise _common.UserInputError(f"{spread} is a seed spread and the other is one run: compare a spread "
                                         "with a spread (make <dataset>_seeds), a run with a run")
        if all(spreads):
            page = seed_summary.spread_comparison_markdown(seed_summary.compare_spreads(reference, run),
                                                           reference_path=FLAGS.reference, run_path=FLAGS.run,
                                                           command=command)
        else:
            page = tables.comparison_markdown(tables.compare_with_reference(reference, run), reference, run,
                                              reference_path=FLAGS.reference, run_path=FLAGS.run, command=command)
    else:
        page = f"Made by `{command}`.\n\nNo reference {FLAGS.reference} to compare {FLAGS.run} with.\n"
    page += f"Code: {code_version() or 'an installed copy (no git checkout)'}.\n"
    storage.write_text(FLAGS.output, page)
    print(page)


if __name__ == "__main__":
    _common.run(main)
