"""Do an autoencoder's chains forget where they started? Long chains from N(0, I) and from the data's moments.

    python scripts/stationarity.py --dataset=digits --autoencoder=deep_ae.keras --classifier=classifier.keras \
        --chains_file=lambda/deep_ae.json --output=stationarity_deep_ae.csv

The same chains (λ and collected state from --chains_file or --lam and
--collect, no restart, no class balance) run from each start; at every step of
--steps their states are measured against the validation images (FD and
class TV, the ground-truth classifier's features and hard labels) and the two
starts against each other: the class TV and FD between the starts beside those
within one start (two halves of its chains), the sampling noise. The CSV has
one row per step; the figure (.png) and the JSON record (with each start's
class histograms) are written beside it.
"""

import _common
from absl import flags

from aesampling.quality import diagnostics
from aesampling import experiments

flags.DEFINE_string("autoencoder", None, "Saved autoencoder (.keras).")
flags.DEFINE_string("classifier", None, "Saved ground-truth classifier (.keras).")
flags.DEFINE_string("output", None, "The CSV file to write (the .png figure and .json record go beside it).")
flags.DEFINE_list("steps", [str(t) for t in diagnostics.STATIONARITY_STEPS], "Reinjection steps t to measure at.")
flags.DEFINE_integer("stationarity_chains", diagnostics.STATIONARITY_CHAINS, "Chains per start (split in two "
                     "halves for the sampling noise).")
flags.DEFINE_integer("seed", 0, "Random seed.")
flags.mark_flags_as_required(["autoencoder", "classifier", "output"])
_common.define_data_flags()
_common.define_lambda_flags()  # the chains' shape (both starts, no restart, no balance) is this script's own
_common.define_feature_layer_flag()
FLAGS = flags.FLAGS
_common.FIELD_FLAGS = {**_common.FIELD_FLAGS, "chains": "stationarity_chains"}  # its config's `chains`


def main():
    record = experiments.run_stationarity(experiments.StationarityConfig(
        data=_common.data_config(), autoencoder=FLAGS.autoencoder, classifier=FLAGS.classifier,
        output=FLAGS.output, reinjection=_common.chain_config(FLAGS.dataset),
        steps=tuple(_common.integers("steps", FLAGS.steps)), chains=FLAGS.stationarity_chains,
        seed=FLAGS.seed, chains_file=FLAGS.chains_file, feature_layer=FLAGS.feature_layer,
    ))
    last = record["between_starts"][-1]
    print(f"t = {last['t']}: class TV between the starts {last['class_tv_between']:.3f}, within a start "
          f"{last['class_tv_within']:.3f} in {record['wall_seconds']:.0f}s -> {FLAGS.output}")


if __name__ == "__main__":
    _common.run(main)
