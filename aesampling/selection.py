"""Choosing λ and the collected state on a validation split (never the test set).

The paper leaves λ open (Section III-A: "one can infer a value of λ by
optimizing it"). We pick, per autoencoder, the (λ, collect) pair whose
synthetic samples teach a fresh classifier best: for each pair of a grid a
short train-on-synthetic run is scored by its mean validation accuracy over
the run's epochs (the area under the learning curve, which rewards both the
level reached and the speed). The validation split is carved from the
training data before any model is trained on it.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aesampling import evaluation, io
from aesampling.errors import UserInputError
from aesampling.sampling import COLLECT_MODES, ReinjectionConfig, ReinjectionSampler


def search_chain_settings(
    autoencoder,
    ground_truth,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    base: ReinjectionConfig,
    lambdas: tuple[float, ...],
    collects: tuple[str, ...],
    epochs: int,
    steps_per_epoch: int,
    seed: int,
    on_result=None,
) -> list[dict]:
    """Scores every (λ, collect) of the grid; returns one row per pair, in grid order.

    Each row holds lam, collect, score (mean validation accuracy over epochs
    1..epochs) and final_accuracy. B, R and b come from `base`.
    """
    if not lambdas or not collects:
        raise UserInputError("the λ search needs at least one λ and one collect mode")
    unknown = [c for c in collects if c not in COLLECT_MODES]
    if unknown:
        raise UserInputError(f"unknown collect modes {unknown}; choose from {COLLECT_MODES}")
    if x_val is None or len(x_val) == 0:
        raise UserInputError("the λ search needs a validation split (validation fraction > 0)")
    rows = []
    for lam in lambdas:
        for collect in collects:
            config = dataclasses.replace(base, lam=float(lam), collect=collect)
            sampler = ReinjectionSampler(autoencoder, config, seed=seed)
            source, per_step = evaluation.autoencoder_source(sampler)
            curve = evaluation.learning_curve(
                source, per_step, ground_truth, x_val, y_val,
                epochs=epochs, steps_per_epoch=steps_per_epoch, seed=seed,
            )
            accuracies = [p.accuracy for p in curve[1:]]
            row = {"lam": float(lam), "collect": collect, "score": float(np.mean(accuracies)),
                   "final_accuracy": accuracies[-1]}
            rows.append(row)
            if on_result:
                on_result(row)
    return rows


def best_setting(rows: list[dict]) -> dict:
    """The row with the highest score; ties go to the earlier row of the grid."""
    return max(rows, key=lambda row: row["score"])


def read_selection(path: str) -> tuple[float, str]:
    """(λ, collect) of the best pair in a search result file written by workflow.run_select."""
    record = io.read_json(path)
    try:
        best = record["best"]
        return float(best["lam"]), str(best["collect"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"{path} is not a λ search result (no 'best' λ and collect)") from e
