"""Checks that two runs of one command with one seed made the same numbers, bit for bit.

    python scripts/same_seed.py --first=build/a/fashion_mnist --second=build/b/fashion_mnist \
        --output_dir=results/same_seed_gpu --runs_command="make fashion_mnist SMOKE=1 ..."

Compares the runs' samples, soft labels, model weights and learning curves
(aesampling/experiments/same_seed.py) and writes same_seed.md and
same_seed.json into --output_dir. Exits with status 3 (DIFFERENT), after
writing them, when anything differs; 1 is a failure to compare (a one-line
error). `bash scripts/gpu_check.sh same_seed` runs it on a GPU.
"""

import sys
from pathlib import Path

import _common
from absl import flags

from aesampling.experiments import records, same_seed
from aesampling.io import storage

flags.DEFINE_string("first", None, "One run's folder.")
flags.DEFINE_string("second", None, "The other run's folder, made by the same command and seed.")
flags.DEFINE_string("output_dir", None, "Folder for same_seed.md and same_seed.json.")
flags.DEFINE_string("runs_command", None, "The command both runs came from, quoted in the report.")
flags.mark_flags_as_required(["first", "second", "output_dir"])
FLAGS = flags.FLAGS

DIFFERENT = 3  # the exit status when the runs differ: told apart from a failure (1)


def main():
    first, second, out = (Path(p).resolve() for p in (FLAGS.first, FLAGS.second, FLAGS.output_dir))
    for flag, folder in (("first", first), ("second", second)):
        if not folder.is_dir():
            raise _common.UserInputError(f"--{flag}={folder} is not a folder: give a run's output folder")
    if first == second:
        raise _common.UserInputError("--first and --second name the same folder: give two runs")
    if any(out == folder or folder in out.parents for folder in (first, second)):
        raise _common.UserInputError(f"--output_dir={out} lies inside a compared run: write it elsewhere")
    rows = same_seed.compare_runs(first, second)
    if not rows:
        raise _common.UserInputError(f"no .npz, .csv or .keras file in {first} or {second}: give run folders")
    command = records.command_line()
    record = {"command": command, "code": records.code_version(), "machine": records.machine_description(),
              "runs_command": FLAGS.runs_command, "first": str(first), "second": str(second),
              "identical": all(row["identical"] for row in rows), "files": rows}
    page = same_seed.markdown(rows, command=command, first=FLAGS.first, second=FLAGS.second,
                              runs_command=FLAGS.runs_command)
    storage.write_json(out / "same_seed.json", record)
    storage.write_text(out / "same_seed.md", page)
    print(page)
    if not record["identical"]:
        differing = sum(not row["identical"] for row in rows)
        print(f"error: the two runs differ in {differing} file{'s' if differing > 1 else ''} "
              f"(see {out / 'same_seed.md'})", file=sys.stderr)
        sys.exit(DIFFERENT)


if __name__ == "__main__":
    _common.run(main)
