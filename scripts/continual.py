"""Class-incremental learning by replay: the dataset's classes in tasks learnt one after another, no past data kept
(aesampling.continual), each replay method run over each seed, with its report.

    python scripts/continual.py --dataset=fashion_mnist --data_dir=/usr/share/datasets/fashion-mnist \
        --seeds=0,1,2,3,4 --output_dir=results/split_fashion_mnist

Methods: none (fine-tuning), joint (all data seen so far), noise,
moments_noise (draws at each past class's moments and principal directions),
buffer, reinjection (an autoencoder sampled by reinjection: the recipe's
chains, --lam, or λ chosen by FD after each task; the recommended recipe
draws half of it where the chains start, --start_share), reinjection_buffer,
balanced_reinjection (equal quotas of the past classes), vae (generative
replay, hard labels), vae_distill, vae_distill_moments (vae_distill with
reinjection's share of start draws, when named).
Writes results.csv, table.md, metrics.json, accuracy.png, replay_<generator>.png
and config.json; a killed run resumes at the seed it was in.
"""

import _common
from absl import flags

from aesampling import experiments
from aesampling.experiments import recipes
from aesampling.continual import REPLAY_START_DIRECTIONS
from aesampling.continual.protocol import METHODS
from aesampling.experiments.configs import LEARNERS, ClassIncrementalConfig

flags.DEFINE_string("output_dir", None, "Folder to write the report into.")
flags.DEFINE_list("methods", list(ClassIncrementalConfig.methods), "Replay methods to run, in this order (of "
                  f"{', '.join(METHODS)}; balanced_reinjection and vae_distill_moments only when named).")
flags.DEFINE_list("seeds", ["0"], "Seeds: each runs every method.")
flags.DEFINE_integer("tasks", 5, "Tasks the classes are split into, in label order.")
flags.DEFINE_integer("iterations", None, "Adam steps per task, of the learner and of each generator (default: the "
                     "dataset's preset, 2,000; 250 for the digits).")
flags.DEFINE_integer("batch_size", 128, "Examples of the current task per step.")
flags.DEFINE_integer("replay_batch", 128, "Replayed examples per step, from the second task on.")
flags.DEFINE_integer("buffer_per_class", 10, "Real examples kept per past class by the buffer methods.")
flags.DEFINE_float("lam", None, "λ of reinjection replay, collecting the first of --collects (default: the "
                   "recipe's: 0.03 for recommended; chosen by FD at the end of each task for paper).")
flags.DEFINE_list("lambdas", None, "Choose λ by FD at the end of each task among these, widened beyond an edge where "
                  "the lowest FD sits on it (the paper recipe's default: 0.1,0.3,1,3).")
flags.DEFINE_list("collects", None, "The collected states, of noisy and clean, that the FD choice tries, or the "
                  "first of them at a fixed λ (default: the recipe's: noisy for recommended, clean for paper).")
flags.DEFINE_string("autoencoder", None, "A .keras autoencoder whose architecture (any input shape; not its "
                    "weights) the replay autoencoder takes (default: --autoencoder_preset).")
flags.DEFINE_enum("autoencoder_preset", "shallow_ae", ["shallow_ae", "deep_ae"], "The dataset's autoencoder preset "
                  "replay uses when no --autoencoder is given.")
flags.DEFINE_enum("learner", "mlp", list(LEARNERS), "The learner: the protocol's MLP 400-400 (mlp) or the "
                  "dataset's ground-truth classifier preset's hidden layers (classifier), with a logits head.")
_common.define_recipe_flag(default=recipes.PAPER, help_text="The replay chains: paper, from N(0, I), R = 10, "
                           "b = 2, clean states, λ by FD; recommended, from the per-feature moments and "
                           "--start_directions principal directions of each class seen so far in turn (numbers per "
                           "class, not images), R = 3, b = 0, noisy states, λ = 0.03, half of the replay drawn "
                           "where they start.")
flags.DEFINE_integer("start_directions", REPLAY_START_DIRECTIONS, "The principal directions of each class, beside "
                     "its moments, that --recipe=recommended chains start along, and moments_noise and "
                     "--start_share draw along (0: the moments alone).")
flags.DEFINE_float("start_share", None, "The share of the generated replay of reinjection, reinjection_buffer and "
                   "vae_distill_moments drawn where recommended chains start, at the moments and principal directions "
                   "of each class seen, instead of from the generator (default: the recipe's: 0.5 for recommended, 0 "
                   "for paper).")
flags.DEFINE_string("reproduce_command", None, "The command that reproduces the run, quoted in the table.")
flags.mark_flags_as_required(["output_dir"])
_common.define_data_flags()
FLAGS = flags.FLAGS


def main():
    result = experiments.run_class_incremental(experiments.ClassIncrementalConfig.from_preset(
        _common.data_config(), output_dir=FLAGS.output_dir, methods=tuple(FLAGS.methods),
        seeds=tuple(_common.integers("seeds", FLAGS.seeds)), tasks=FLAGS.tasks, iterations=FLAGS.iterations,
        batch_size=FLAGS.batch_size, replay_batch=FLAGS.replay_batch, buffer_per_class=FLAGS.buffer_per_class,
        lam=FLAGS.lam, lambdas=None if FLAGS.lambdas is None else _common.floats("lambdas", FLAGS.lambdas),
        collects=None if FLAGS.collects is None else tuple(FLAGS.collects), autoencoder=FLAGS.autoencoder,
        autoencoder_preset=FLAGS.autoencoder_preset, recipe=FLAGS.recipe, start_directions=FLAGS.start_directions,
        start_share=FLAGS.start_share, learner=FLAGS.learner,
        reproduce_command=FLAGS.reproduce_command,
    ))
    for row in result["table"].itertuples():
        print(f"{row.method:>20}: final accuracy {row.final_mean:.4f}")
    print(f"report written to {FLAGS.output_dir}")


if __name__ == "__main__":
    _common.run(main)
