"""The numbers a report shows: the summary table per source and the λ search grid."""

from __future__ import annotations

import pandas as pd

from aesampling import evaluation, metrics

RELATIVE_TARGET = 0.97  # "samples needed to reach 97% of the ground-truth accuracy"


def _ordered_sources(sources: list[str]) -> list[str]:
    bounds = [evaluation.UPPER_BOUND, evaluation.LOWER_BOUND]
    middle = [s for s in sources if s not in bounds]
    return [s for s in [bounds[0], *middle, bounds[1]] if s in sources]


def summary_table(curves: pd.DataFrame, records: dict[str, dict], ground_truth_accuracy: float) -> pd.DataFrame:
    """Final accuracy per source, its ratio to the ground truth, samples to 97% of it, λ."""
    rows = []
    target = RELATIVE_TARGET * ground_truth_accuracy
    for source in _ordered_sources(list(curves["source"].unique())):
        curve = curves[curves["source"] == source].sort_values("epoch")
        final = float(curve["accuracy"].iloc[-1])
        chains = records[source]["config"]["chains"]
        is_autoencoder = source not in (evaluation.UPPER_BOUND, evaluation.LOWER_BOUND)
        rows.append({
            "source": source,
            "lam": chains["lam"] if is_autoencoder else None,
            "collect": chains["collect"] if is_autoencoder else None,
            "final_accuracy": final,
            "relative_to_ground_truth": final / ground_truth_accuracy if ground_truth_accuracy > 0 else float("nan"),
            "samples_to_97pct": metrics.samples_to_reach(curve["samples_seen"], curve["accuracy"], target),
            "epochs": int(curve["epoch"].max()),
            "samples_seen": int(curve["samples_seen"].max()),
        })
    return pd.DataFrame(rows)


def markdown_table(table: pd.DataFrame, ground_truth_accuracy: float, command: str, reproduce: str | None) -> str:
    """table.md: the summary table, the ground-truth accuracy and the commands behind them."""
    lines = [
        f"Ground-truth classifier test accuracy (max accuracy): {ground_truth_accuracy:.4f}",
        "",
        "| source | λ | collect | final accuracy | relative to ground truth | samples to reach 97% of it | samples seen |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lam = "-" if row.lam is None or pd.isna(row.lam) else f"{row.lam:g}"
        collect = row.collect if isinstance(row.collect, str) else "-"
        reach = "not reached" if row.samples_to_97pct is None or pd.isna(row.samples_to_97pct) else f"{int(row.samples_to_97pct):,}"
        lines.append(
            f"| {row.source} | {lam} | {collect} | {row.final_accuracy:.4f} | "
            f"{row.relative_to_ground_truth:.3f} | {reach} | {row.samples_seen:,} |"
        )
    lines += [""]
    if reproduce:
        lines.append(f"Reproduce with: `{reproduce}`")
    lines += [f"Made by: `{command}`", ""]
    return "\n".join(lines)


def search_table(selection_records: dict[str, dict]) -> pd.DataFrame:
    """One row per autoencoder and (λ, collect) tried, with its validation score and whether it was chosen."""
    rows = []
    for name, record in selection_records.items():
        best = record.get("best", {})
        for row in record.get("grid", []):
            chosen = row["lam"] == best.get("lam") and row["collect"] == best.get("collect")
            rows.append({"autoencoder": name, **row, "chosen": chosen})
    return pd.DataFrame(rows)
