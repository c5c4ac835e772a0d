"""The two named ways to run the sampler: the paper's protocol, and the one the studies recommend.

A recipe fixes what the studies in results/ found to matter, and only that:
where each restart's chains start, which criterion chooses λ (with the
collected state and the burn-in b) on the validation split, and which
states the chains keep. Everything else (B, R, the search grid, the
schedule) stays the dataset's preset, the same for both, so a difference
between two runs is the recipe's.

- paper: x_0 ~ N(0, I) (Section IV-B), the student criterion (Eq. 5: the
  setting whose labelled samples teach a fresh classifier best), every
  state after the burn-in kept. What `make mnist` / `make cifar10`
  reproduce.
- recommended: the same search, with every chain starting at the training
  data's per-feature moments, x_0 = μ + σ ⊙ z (2·n numbers, stored with the
  search result), and the states kept in equal per-class quotas of C's hard
  labels (`Balance()`: stuck chains restarted at the start, patience 2).
  On Fashion-MNIST, over three seeds on the same models, the moments start
  stopped the deep autoencoder's collapse onto a few classes: its student
  went from 0.923 ± 0.024 of the ground truth (results/fashion_mnist_seeds)
  to 0.971 ± 0.027, higher in every seed
  (results/fashion_mnist_moments_start_seeds); the balanced quotas then
  lifted both autoencoders in every seed, the shallow AE from 0.981 ± 0.001
  to 0.995 ± 0.001 and the deep AE to 0.983 ± 0.018, with class TV under
  0.01 (results/fashion_mnist_recommended_balanced,
  results/fashion_mnist_recommended_seeds), at several times the sampling
  cost on a CPU. The student criterion stays: choosing λ by the lowest FD
  alone gives closer samples but weaker students (0.975 and 0.951,
  results/fashion_mnist_moments_fd_2m_cpu). results/recipes/README.md keeps
  the whole comparison.

In class-incremental replay (aesampling.continual) a recipe also fixes the
replay chains (`ReplayChains`). paper: from N(0, I), R = 10, b = 2, clean
states, λ chosen by FD after each task. recommended: each class seen so far
in turn, at its moments and along its top
aesampling.continual.REPLAY_START_DIRECTIONS principal directions
(StartMoments.by_class); short chains (R = 3, b = 0) collecting noisy states
x_t = r(x_{t-1}) + sqrt(λ)·ε at λ = 0.03; half of the replay (the learner's
and the autoencoder's own) is drawn where the chains start instead. The
moments of each class ended higher than those of all of them
(results/split_fashion_mnist_class_moments_start), the directions higher
still (results/split_fashion_mnist_class_directions_start), the short noisy
chains higher than R = 10, b = 2 clean states with λ chosen by FD, and half
chains, half starts higher than the chains alone in every seed and than the
starts alone on average (results/split_fashion_mnist at code e7d70ed, its
reinjection_moments; docs/continual.md).
"""

from __future__ import annotations

import dataclasses

from aesampling.errors import UserInputError
from aesampling.sampling.reinjection import MOMENTS_START, NORMAL_START, Balance, ReinjectionConfig
from aesampling.selection.lambda_search import STUDENT

PAPER, RECOMMENDED = "paper", "recommended"


@dataclasses.dataclass(frozen=True)
class ReplayChains:
    """The reinjection chains of class-incremental replay: R reinjections per restart, b not collected, the collected
    state (`ReinjectionConfig.collect`), λ (None: chosen by FD after each task, aesampling.continual), and the share
    of the replay drawn where recommended chains start, at each past class's moments and principal directions,
    instead of from the chains (`protocol.Settings.start_share`)."""

    reinjections: int
    burn_in: int
    collect: str
    lam: float | None
    start_share: float


@dataclasses.dataclass(frozen=True)
class Recipe:
    """Where the chains start (`ReinjectionConfig.start`), the λ search's criterion (`lambda_search.STUDENT` or
    `FD`), how the chains' states are collected once λ is chosen (`ReinjectionConfig.balance`: None keeps every
    state after the burn-in, a `Balance` equal per-class quotas of C's hard labels), and the chains of
    class-incremental replay."""

    name: str
    start: str
    criterion: str
    balance: Balance | None
    summary: str
    replay: ReplayChains

    def chains(self, **settings) -> ReinjectionConfig:
        """The `ReinjectionConfig` of this recipe's chains: its start and collection, with the other `settings`
        (λ, B, R, b, the collected state: say a λ search's choice, `lambda_search.read_best`, whose `start` must
        be the recipe's) as given. Build a ReinjectionConfig directly to change the start or the collection."""
        for field, fixed in (("start", self.start), ("balance", self.balance)):
            given = settings.pop(field, fixed)
            if field == "start" and given is None:  # a search made before the start was a setting: N(0, I)
                given = NORMAL_START
            if given != fixed:
                raise UserInputError(f"the {self.name} recipe fixes `{field}` at {fixed!r}, got {given!r}: leave "
                                     "it out, or build a ReinjectionConfig yourself")
        return ReinjectionConfig(start=self.start, balance=self.balance, **settings)


RECIPES = {
    PAPER: Recipe(PAPER, start=NORMAL_START, criterion=STUDENT, balance=None,
                  summary="chains start at N(0, I); λ, the collected state and b chosen by a student on the "
                          "validation split; every state after the burn-in collected (the paper's protocol)",
                  replay=ReplayChains(reinjections=10, burn_in=2, collect="clean", lam=None, start_share=0.0)),
    RECOMMENDED: Recipe(RECOMMENDED, start=MOMENTS_START, criterion=STUDENT, balance=Balance(),
                        summary="chains start at the training data's moments (x_0 = μ + σ ⊙ z); λ, the collected "
                                "state and b chosen by a student, as in the paper; the states collected in equal "
                                "per-class quotas of the classifier's labels",
                        replay=ReplayChains(reinjections=3, burn_in=0, collect="noisy", lam=0.03, start_share=0.5)),
}


def recipe(name: str) -> Recipe:
    """The recipe called `name` (a UserInputError naming the recipes otherwise)."""
    if name not in RECIPES:
        raise UserInputError(f"`recipe` must be one of {', '.join(RECIPES)}, got {name!r}")
    return RECIPES[name]
