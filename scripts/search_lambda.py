"""Choose λ, the collected state (noisy or clean) and the burn-in of one autoencoder on the validation split.

    python scripts/search_lambda.py --dataset=digits --autoencoder=deep_ae.keras \
        --classifier=classifier.keras --output=lambda/deep_ae.json

Each (λ, collect, burn-in) setting of the grid trains a fresh classifier on
labelled reinjection samples for a few epochs; the setting with the best
mean accuracy on the validation split (carved from the training data; the
test set is never used) is written as "best", with the whole grid, to the
JSON output. When the best setting sits on the grid's edge (largest or
smallest λ, largest burn-in), the search tries one step beyond it, up to
--widenings times (aesampling.selection.lambda_search). With FD samples, the student
search also records the lowest-FD setting; --fd_widenings more rounds look
for it past the edges, by FD alone. Pass that file to sample.py / evaluate.py with --chains_file.
--recipe (aesampling.experiments.recipes) sets where the chains start and the criterion:
recommended (the default) starts every chain at the training split's
per-feature mean and std, and the file stores those 2·n numbers for
sample.py; paper starts them at N(0, I), as the paper did. The recommended
recipe also collects equal per-class quotas: give sample.py and evaluate.py
--balance_classes with this file (make's RECIPE=recommended does).
"""

import dataclasses

import _common
from absl import flags

from aesampling import experiments
from aesampling.experiments import recipes
from aesampling.selection import lambda_search

flags.DEFINE_string("autoencoder", None, "Saved autoencoder (.keras).")
flags.DEFINE_string("classifier", None, "Saved ground-truth classifier (.keras).")
flags.DEFINE_string("output", None, "The JSON file to write.")
flags.DEFINE_list("lambdas", None, "λ values to try (default: the dataset preset's grid).")
flags.DEFINE_list("collects", None, "Collect modes to try: noisy, clean (default: both).")
flags.DEFINE_list("burn_ins", None, "Burn-in values b to try; R = b + the collected states; 'mixing' reads each "
                  "(λ, collect)'s b from its chains' FD against t (default: preset, mixing).")
flags.DEFINE_integer("epochs", None, "Epochs per trial (default: preset).")
flags.DEFINE_integer("steps_per_epoch", None, "Learning steps per epoch (default: preset).")
flags.DEFINE_integer("widenings", None, "Rounds of widening λ / burn-in past the grid's edge when the best "
                     "setting sits on it; 0 searches the grid alone (default: preset, 2; 4 under the fd criterion).")
flags.DEFINE_integer("fd_widenings", None, "Student criterion: rounds of widening each collected state's λ where "
                     "its lowest FD sits on an edge, measured by FD alone, for the FD choice the search records "
                     "(default: preset, 4; 0 without FD samples or under the fd criterion).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.DEFINE_enum("criterion", None, ["student", "fd"], "Which setting is best: the student's mean validation "
                  "accuracy (student), or the lowest FD of the samples to the validation images (fd: no student is "
                  "trained, so it is fast) (default: the recipe's, student).")
flags.DEFINE_integer("mixing_chains", 1000, "Chains whose FD against t gives a 'mixing' burn-in.")
flags.DEFINE_integer("fd_samples", 5000, "Samples per setting whose FD to the validation images is measured "
                     "(0: none; the fd criterion needs them).")
flags.mark_flags_as_required(["autoencoder", "classifier", "output"])
_common.define_data_flags()
_common.define_chain_shape_flags()
_common.define_recipe_flag()
_common.define_feature_layer_flag()
FLAGS = flags.FLAGS


def _burn_ins(values):
    try:
        return tuple(v if v == lambda_search.MIXING else int(v) for v in values)
    except ValueError as e:
        raise _common.UserInputError(f"--burn_ins must be integers or {lambda_search.MIXING}: {values}") from e


def main():
    recipe = recipes.recipe(FLAGS.recipe)
    record = experiments.run_lambda_search(experiments.LambdaSearchConfig.from_preset(
        _common.data_config(), autoencoder=FLAGS.autoencoder, classifier=FLAGS.classifier,
        output=FLAGS.output, reinjection=dataclasses.replace(_common.chain_config(FLAGS.dataset), start=recipe.start),
        # A list given empty (--lambdas=) is an empty grid the config refuses, not the preset's.
        lambdas=None if FLAGS.lambdas is None else _common.floats("lambdas", FLAGS.lambdas),
        collects=None if FLAGS.collects is None else tuple(FLAGS.collects),
        burn_ins=None if FLAGS.burn_ins is None else _burn_ins(FLAGS.burn_ins),
        epochs=FLAGS.epochs, steps_per_epoch=FLAGS.steps_per_epoch, seed=FLAGS.seed, widenings=FLAGS.widenings,
        criterion=FLAGS.criterion or recipe.criterion, fd_samples=FLAGS.fd_samples, mixing_chains=FLAGS.mixing_chains,
        feature_layer=FLAGS.feature_layer, fd_widenings=FLAGS.fd_widenings,
    ))
    best = record["best"]
    print(f"best: λ={best['lam']:g}, collect={best['collect']}, burn-in={best['burn_in']}, start={best['start']} "
          f"(R={best['reinjections']}; {len(record['grid'])} settings in "
          f"{record['wall_seconds']:.0f}s) -> {FLAGS.output}")


if __name__ == "__main__":
    _common.run(main)
