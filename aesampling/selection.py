"""Choosing λ, the collected state and the burn-in on a validation split (never the test set).

The paper leaves λ open (Section III-A: "one can infer a value of λ by
optimizing it") and calls λ and R hyper-parameters of the sampler
(Section V-b). We pick, per autoencoder, the (λ, collect, burn-in) setting
whose synthetic samples teach a fresh classifier best. Each setting of a
grid gets a short train-on-synthetic run, scored by its mean validation
accuracy over the run's epochs (the area under the learning curve, which
rewards both the level reached and the speed). The validation split is
carved from the training data before any model is trained.

The number of collected states per chain and restart, R - b, stays fixed
(8 by default), so every setting yields the same B·(R - b) samples per
learning step: a longer burn-in b means R = b + 8 reinjections per restart.
Deep autoencoders started from N(0, I) need tens of reinjections to reach
the data manifold, which is why b is part of the search.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aesampling import evaluation, io
from aesampling.errors import UserInputError
from aesampling.sampling import COLLECT_MODES, ReinjectionConfig, ReinjectionSampler

SELECTED_FIELDS = ("lam", "collect", "burn_in", "reinjections")


def search_chain_settings(
    autoencoder,
    ground_truth,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    base: ReinjectionConfig,
    lambdas: tuple[float, ...],
    collects: tuple[str, ...],
    burn_ins: tuple[int, ...],
    epochs: int,
    steps_per_epoch: int,
    seed: int,
    on_result=None,
) -> list[dict]:
    """Scores every (λ, collect, burn-in) of the grid; returns one row per setting, in grid order.

    Each row holds lam, collect, burn_in, reinjections (= burn_in + the
    collected states of `base`), score (mean validation accuracy over epochs
    1..epochs) and final_accuracy. B comes from `base`.
    """
    if not lambdas or not collects or not burn_ins:
        raise UserInputError("the search needs at least one λ, one collect mode and one burn-in")
    unknown = [c for c in collects if c not in COLLECT_MODES]
    if unknown:
        raise UserInputError(f"unknown collect modes {unknown}; choose from {COLLECT_MODES}")
    if any(b < 0 for b in burn_ins):
        raise UserInputError(f"burn-in values must be >= 0, got {list(burn_ins)}")
    if x_val is None or len(x_val) == 0:
        raise UserInputError("the search needs a validation split (validation fraction > 0)")
    rows = []
    for burn_in in burn_ins:
        for lam in lambdas:
            for collect in collects:
                config = dataclasses.replace(
                    base, lam=float(lam), collect=collect, burn_in=int(burn_in),
                    reinjections=int(burn_in) + base.collected_per_restart,
                )
                sampler = ReinjectionSampler(autoencoder, config, seed=seed)
                source, per_step = evaluation.autoencoder_source(sampler)
                curve = evaluation.learning_curve(
                    source, per_step, ground_truth, x_val, y_val,
                    epochs=epochs, steps_per_epoch=steps_per_epoch, seed=seed,
                )
                accuracies = [p.accuracy for p in curve[1:]]
                row = {"lam": config.lam, "collect": collect, "burn_in": config.burn_in,
                       "reinjections": config.reinjections, "score": float(np.mean(accuracies)),
                       "final_accuracy": accuracies[-1]}
                rows.append(row)
                if on_result:
                    on_result(row)
    return rows


def best_setting(rows: list[dict]) -> dict:
    """The row with the highest score; ties go to the earlier row of the grid."""
    return max(rows, key=lambda row: row["score"])


def read_selection(path: str) -> dict:
    """The chosen {lam, collect, burn_in, reinjections} of a search result file (workflow.run_select)."""
    record = io.read_json(path)
    try:
        best = record["best"]
        return {"lam": float(best["lam"]), "collect": str(best["collect"]), "burn_in": int(best["burn_in"]),
                "reinjections": int(best["reinjections"])}
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"{path} is not a search result (no 'best' λ, collect, burn_in, reinjections)") from e
