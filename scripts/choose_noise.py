"""Choose a DAE's noise levels: keep the candidate whose λ search scored best on the validation split.

    python scripts/choose_noise.py \
        --searches=lambda/shallow_dae_sp0.5.json,lambda/shallow_dae_sp0.1.json \
        --model_output=models/shallow_dae.keras --search_output=lambda/shallow_dae.json

Each candidate is a DAE trained with other noise levels (train.py
--salt_pepper_rate / --gaussian_noise_std) and searched with
search_lambda.py. The chosen autoencoder and its training record are copied
to --model_output; its search result, with every candidate's noise levels
and best validation score, to --search_output, which sample.py and
evaluate.py take as --chains_file. The first candidate wins a tie.
"""

import _common
from absl import flags

from aesampling import experiments

flags.DEFINE_list("searches", None, "λ search results (search_lambda.py), one per candidate DAE.")
flags.DEFINE_string("model_output", None, "Where to copy the chosen autoencoder (.keras).")
flags.DEFINE_string("search_output", None, "Where to write the chosen search result with the choice (.json).")
flags.mark_flags_as_required(["searches", "model_output", "search_output"])
FLAGS = flags.FLAGS


def _noise(candidate: dict) -> str:
    return f"salt-and-pepper {candidate['salt_pepper_rate']}, Gaussian σ {candidate['gaussian_noise_std']}"


def main():
    record = experiments.run_choose_noise(experiments.NoiseChoiceConfig(
        searches=tuple(FLAGS.searches), model_output=FLAGS.model_output, search_output=FLAGS.search_output,
    ))
    choice = record["noise_choice"]
    for i, candidate in enumerate(choice["candidates"]):
        mark = "chosen" if i == choice["chosen"] else "      "
        print(f"{mark} {_noise(candidate)}: best validation score {candidate['best_score']:.4f} ({candidate['search']})")
    print(f"-> {FLAGS.model_output}, {FLAGS.search_output}")


if __name__ == "__main__":
    _common.run(main)
