"""Seed spread: one protocol repeated with several seeds, each source's numbers as mean ± spread.

Each seed's run trains its own classifier C and autoencoders r, searches λ
and evaluates every source (the Makefile's `<dataset>_seeds` target); this
module reads only their reports' metrics.json. A difference between two
sources (the deep AE against the shallow AE) is beyond seed noise when it
has the same sign in every seed: `paired_differences` counts those seeds.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from aesampling.errors import UserInputError
from aesampling.reporting import tables
from aesampling.reporting.sources import Source

GROUND_TRUTH = "ground_truth"
ACCURACY_METRICS = ("final_accuracy", "last_epochs_mean_accuracy", "relative_to_ground_truth")
QUALITY_METRICS = ("fd", "fd_share_of_noise", "precision", "recall", "density", "coverage", "class_tv")
SMALLER_IS_BETTER = frozenset({"fd", "fd_share_of_noise", "class_tv"})
# The deep and the shallow autoencoder of each kind, compared seed by seed at each λ choice.
DEEP_AND_SHALLOW = (("deep_ae", "shallow_ae"), ("deep_dae", "shallow_dae"))
COMPARED_METRICS = ("relative_to_ground_truth", "fd_share_of_noise", "class_tv")


def _number(value) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        value = float(value)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def per_seed(metrics_by_seed: dict[int, dict]) -> pd.DataFrame:
    """Rows (seed, source, metric, value) from each seed's metrics.json.

    The metrics: each source's accuracies (ACCURACY_METRICS) and chosen λ ("lam") from the summary table, its
    sample quality (QUALITY_METRICS), and the ground truth's test accuracy as source "ground_truth". Missing and
    non-finite values are left out.
    """
    rows = []
    for seed, metrics in metrics_by_seed.items():
        rows.append((seed, GROUND_TRUTH, "final_accuracy", _number(metrics["ground_truth_accuracy"])))
        for row in metrics.get("table") or []:
            rows += [(seed, row["source"], name, _number(row.get(name))) for name in (*ACCURACY_METRICS, "lam")]
        for row in metrics.get("quality") or []:
            rows += [(seed, row["source"], name, _number(row.get(name))) for name in QUALITY_METRICS]
    frame = pd.DataFrame(rows, columns=["seed", "source", "metric", "value"])
    return frame.dropna(subset=["value"]).reset_index(drop=True)


def source_order(frame: pd.DataFrame) -> list[str]:
    """The ground truth, then the sources in report order (upper bound first, lower bound last)."""
    sources = [s for s in dict.fromkeys(frame["source"]) if s != GROUND_TRUTH]
    return [*([GROUND_TRUTH] if GROUND_TRUTH in set(frame["source"]) else []), *tables.ordered_sources(sources)]


def summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Per (source, metric): the number of seeds, mean, sample standard deviation (NaN for one seed), min, max."""
    grouped = frame.groupby(["source", "metric"], sort=False)["value"]
    table = grouped.agg(seeds="count", mean="mean", std=lambda v: v.std(ddof=1), min="min", max="max")
    table = table.reset_index()
    rank = {s: i for i, s in enumerate(source_order(frame))}
    return table.sort_values("source", key=lambda c: c.map(rank), kind="stable").reset_index(drop=True)


def paired_differences(frame: pd.DataFrame, pairs=DEEP_AND_SHALLOW, metrics=COMPARED_METRICS) -> pd.DataFrame:
    """Each pair's difference first − second, seed by seed, at every λ choice both sources were evaluated at.

    Returns rows (first, second, metric, seeds, mean_difference, first_better): `seeds` counts the seeds in which
    both have the metric, `first_better` those in which the first source is strictly better (larger, or smaller
    for SMALLER_IS_BETTER metrics).
    """
    values = frame.pivot_table(index="seed", columns=["source", "metric"], values="value", aggfunc="first")
    rows = []
    measured = [Source.parse(name) for name in dict.fromkeys(frame["source"]) if name != GROUND_TRUTH]
    for first_base, second_base in pairs:
        for source in (s for s in measured if s.base == first_base):  # each λ choice and collection of the first
            first, second = source.name, source.with_base(second_base).name
            for metric in metrics:
                if (first, metric) not in values.columns or (second, metric) not in values.columns:
                    continue
                both = values[[(first, metric), (second, metric)]].dropna()
                if both.empty:
                    continue
                difference = both[(first, metric)] - both[(second, metric)]
                better = difference < 0 if metric in SMALLER_IS_BETTER else difference > 0
                rows.append({"first": first, "second": second, "metric": metric, "seeds": len(both),
                             "mean_difference": float(difference.mean()), "first_better": int(better.sum())})
    return pd.DataFrame(rows, columns=["first", "second", "metric", "seeds", "mean_difference", "first_better"])


def format_cell(stats: dict | None, fmt: str, with_range: bool = True) -> str:
    """'mean ± std [min, max]' of one summary row (without the range: 'mean ± std'), or '-'; one seed gives its
    value alone."""
    if stats is None:
        return "-"
    if stats["seeds"] == 1:
        return format(stats["mean"], fmt)
    cell = f"{stats['mean']:{fmt}} ± {stats['std']:{fmt}}"
    return cell + (f" [{stats['min']:{fmt}}, {stats['max']:{fmt}}]" if with_range else "")


_ACCURACY_COLUMNS = (("final accuracy", "final_accuracy", ".4f"),
                     (f"mean of last {tables.LAST_EPOCHS} epochs", "last_epochs_mean_accuracy", ".4f"),
                     ("relative to ground truth", "relative_to_ground_truth", ".3f"))
_QUALITY_COLUMNS = (("FD share of the noise's", "fd_share_of_noise", ".1%"), ("FD", "fd", ".4g"),
                    ("precision", "precision", ".3f"), ("recall", "recall", ".3f"), ("density", "density", ".3f"),
                    ("coverage", "coverage", ".3f"), ("class TV", "class_tv", ".3f"))
_METRIC_NAMES = {"relative_to_ground_truth": "accuracy relative to ground truth",
                 "fd_share_of_noise": "FD share of the noise's", "class_tv": "class TV"}


def markdown(frame: pd.DataFrame, *, dataset: str, command: str, reproduce: str | None) -> str:
    """table.md of a seed spread: accuracies, sample quality and the deep-against-shallow differences."""
    stats = {(row.source, row.metric): row._asdict() for row in summary(frame).itertuples(index=False)}
    seeds = sorted(frame["seed"].unique())
    sources = source_order(frame)
    lambdas = frame[frame["metric"] == "lam"].sort_values("seed")
    lines = [f"Seed spread of {dataset} over seeds {', '.join(str(s) for s in seeds)}: one whole run per seed "
             "(its own ground-truth classifier, autoencoders, λ searches and curves). "
             "Cells: mean ± standard deviation over the seeds [min, max].", "",
             "| source | λ per seed | " + " | ".join(c[0] for c in _ACCURACY_COLUMNS) + " |",
             "|---|---|" + "---|" * len(_ACCURACY_COLUMNS)]
    for source in sources:
        if not any((source, c[1]) in stats for c in _ACCURACY_COLUMNS):
            continue
        chosen = " / ".join(f"{v:g}" for v in lambdas[lambdas["source"] == source]["value"]) or "-"
        lines.append(f"| {source} | {chosen} | "
                     + " | ".join(format_cell(stats.get((source, c[1])), c[2]) for c in _ACCURACY_COLUMNS) + " |")
    quality_sources = [s for s in sources if any((s, c[1]) in stats for c in _QUALITY_COLUMNS)]
    if quality_sources:
        lines += ["", "Sample quality of each source against the validation images (as in each run's table.md):", "",
                  "| source | " + " | ".join(c[0] for c in _QUALITY_COLUMNS) + " |",
                  "|---|" + "---|" * len(_QUALITY_COLUMNS)]
        lines += [f"| {s} | " + " | ".join(format_cell(stats.get((s, c[1])), c[2]) for c in _QUALITY_COLUMNS) + " |"
                  for s in quality_sources]
    differences = paired_differences(frame)
    if not differences.empty:
        lines += ["", "Deep against shallow, seed by seed: the mean over the seeds of deep − shallow, and in how many "
                  "seeds the deep autoencoder is better (higher accuracy; lower FD share and class TV). A claim "
                  "holds beyond seed noise when it holds in every seed.", "",
                  "| deep | shallow | metric | mean of deep − shallow | deep better in |", "|---|---|---|---|---|"]
        for row in differences.itertuples(index=False):
            fmt = ".1%" if row.metric == "fd_share_of_noise" else ".4f"
            lines.append(f"| {row.first} | {row.second} | {_METRIC_NAMES.get(row.metric, row.metric)} | "
                         f"{row.mean_difference:+{fmt}} | {row.first_better} of {row.seeds} seeds |")
    lines += [""]
    if reproduce:
        lines.append(f"Reproduce with: `{reproduce}`")
    lines += [f"Made by: `{command}`", ""]
    return "\n".join(lines)


# The accuracies two seed spreads are compared on (compare_spreads).
SPREAD_COMPARED_METRICS = ("final_accuracy", "relative_to_ground_truth")


def compare_spreads(reference: dict, run: dict, metrics=SPREAD_COMPARED_METRICS) -> pd.DataFrame:
    """A seed spread beside a reference spread (two seed_spread.py metrics.json records), per source and metric.

    Rows (source, metric, reference_{seeds,mean,std}, run_{seeds,mean,std}, difference, standard_error, critical,
    agrees, seed_differences, paired_p): seed_differences = {seed: run − reference} for the seeds both spreads ran
    (the same seed on two machines, or the same models under two recipes), and paired_p the two-sided p-value of
    the paired t-test on them (NaN for fewer than two seeds; 0 or 1 when they do not vary); difference = run mean −
    reference mean;
    standard_error = sqrt(s_ref²/n_ref + s_run²/n_run), from the two seed-to-seed sample standard deviations;
    agrees when |difference| ≤ critical · standard_error, critical being Welch's two-sided 95 % t value at the
    Welch-Satterthwaite degrees of freedom (4.30 at 2 degrees, 2.78 at 4): no difference the seeds can detect.
    agrees is None where a side has fewer than two seeds or lacks the source.
    """
    def seeds_frame(record: dict, side: str) -> pd.DataFrame:
        try:
            return pd.DataFrame(record["per_seed"], columns=["seed", "source", "metric", "value"])
        except (KeyError, TypeError) as e:
            raise UserInputError(f"the {side} is not a seed spread's metrics.json (no 'per_seed' rows)") from e

    frames = {"reference": seeds_frame(reference, "reference"), "run": seeds_frame(run, "run")}
    summaries = {side: {(row.source, row.metric): row._asdict() for row in summary(frame).itertuples(index=False)}
                 for side, frame in frames.items()}
    values = {side: frame.set_index(["source", "metric", "seed"])["value"].sort_index()
              for side, frame in frames.items()}
    rows = []
    for source in source_order(pd.concat(frames.values())):
        for metric in metrics:
            cells = {side: summaries[side].get((source, metric)) for side in frames}
            if not any(cells.values()):
                continue
            row = {"source": source, "metric": metric}
            for side, cell in cells.items():
                row.update({f"{side}_seeds": cell["seeds"] if cell else 0,
                            f"{side}_mean": cell["mean"] if cell else np.nan,
                            f"{side}_std": cell["std"] if cell else np.nan})
            row["difference"] = row["run_mean"] - row["reference_mean"]
            row.update(_welch(row) if min(row["reference_seeds"], row["run_seeds"]) >= 2
                       else {"standard_error": np.nan, "critical": np.nan, "agrees": None})
            per_side = {side: values[side].get((source, metric)) for side in frames}
            row["seed_differences"] = ({} if any(v is None for v in per_side.values()) else {
                int(seed): float(per_side["run"][seed] - per_side["reference"][seed])
                for seed in sorted(set(per_side["run"].index) & set(per_side["reference"].index))})
            row["paired_p"] = _paired_p(list(row["seed_differences"].values()))
            rows.append(row)
    return pd.DataFrame(rows, columns=["source", "metric", "reference_seeds", "reference_mean", "reference_std",
                                       "run_seeds", "run_mean", "run_std", "difference", "standard_error", "critical",
                                       "agrees", "seed_differences", "paired_p"])


def _paired_p(differences: list[float]) -> float:
    """Two-sided p-value of the paired t-test that the mean of `differences` (one per seed) is 0."""
    if len(differences) < 2:
        return np.nan
    mean, spread = float(np.mean(differences)), float(np.std(differences, ddof=1))
    if spread == 0:  # scipy's test is undefined there
        return 1.0 if abs(mean) <= 1e-12 else 0.0
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def _welch(row: dict) -> dict:
    """Welch's test of one row's two means: standard error, 95 % critical t value, and the verdict."""
    shares = [row[f"{side}_std"] ** 2 / row[f"{side}_seeds"] for side in ("reference", "run")]
    error = float(np.sqrt(sum(shares)))
    if error == 0:  # both sides the same in every seed: they agree only where the means are equal
        return {"standard_error": 0.0, "critical": np.nan, "agrees": bool(abs(row["difference"]) <= 1e-12)}
    freedom = sum(shares) ** 2 / sum(share ** 2 / (row[f"{side}_seeds"] - 1)
                                     for share, side in zip(shares, ("reference", "run")))
    critical = float(stats.t.ppf(0.975, freedom))
    return {"standard_error": error, "critical": critical, "agrees": bool(abs(row["difference"]) <= critical * error)}


def spread_comparison_markdown(comparison: pd.DataFrame, *, reference_path: str, run_path: str,
                               command: str) -> str:
    """comparison.md of a seed spread: each accuracy's mean ± std beside the reference's, and whether they agree."""
    names = {"final_accuracy": "final accuracy", "relative_to_ground_truth": "relative to ground truth"}
    lines = [f"Made by `{command}`.", "",
             f"This seed spread: `{run_path}`. Reference: `{reference_path}`.",
             "Cells: mean ± standard deviation over the seeds (number of seeds). Two means agree within the seed "
             "spread when Welch's t-test finds no difference at 95 %: |difference| ≤ t · sqrt(s_ref²/n_ref + "
             "s_run²/n_run), t the test's critical value at its degrees of freedom. With three seeds a side the "
             "test sees only large differences, and about one agreeing accuracy in twenty is still marked no. "
             "Seed by seed: this run − the reference for each seed both ran (the same seed on two machines, or the "
             "same models under two recipes), and p, the two-sided p-value of the paired t-test on those "
             "differences: where the seeds pair, it can find a difference the means hide.", "",
             "| source | metric | reference | this run | difference | t × standard error | agree | seed by seed |",
             "|---|---|---|---|---|---|---|---|"]

    def cell(row, side: str) -> str:
        seeds = getattr(row, f"{side}_seeds")
        if seeds == 0:
            return "-"
        mean, std = getattr(row, f"{side}_mean"), getattr(row, f"{side}_std")
        return f"{mean:.4f} ({seeds})" if seeds == 1 else f"{mean:.4f} ± {std:.4f} ({seeds})"

    for row in comparison.itertuples(index=False):
        verdict = "-" if row.agrees is None else ("yes" if row.agrees else "**no**")
        difference = "-" if pd.isna(row.difference) else f"{row.difference:+.4f}"
        bound = ("-" if pd.isna(row.standard_error) else
                 "0" if row.standard_error == 0 else f"{row.critical * row.standard_error:.4f}")
        paired = " / ".join(f"{seed}: {value:+.4f}" for seed, value in row.seed_differences.items()) or "-"
        paired += "" if pd.isna(row.paired_p) else f" (p = {row.paired_p:.3f})"
        lines.append(f"| {row.source} | {names.get(row.metric, row.metric)} | {cell(row, 'reference')} | "
                     f"{cell(row, 'run')} | {difference} | {bound} | {verdict} | {paired} |")
    judged = comparison["agrees"].dropna()
    lines += ["", (f"{int(judged.sum())} of {len(judged)} accuracies agree within the seed spread."
                   if len(judged) else "No accuracy has two seeds or more in both spreads: nothing to judge."), ""]
    return "\n".join(lines)
