"""The numbers a report shows: the summary table per source and the λ search grid."""

from __future__ import annotations

from pathlib import PurePath

import pandas as pd

from aesampling.evaluation import learning_curves
from aesampling.evaluation import curve_metrics
from aesampling.errors import UserInputError
from aesampling.quality import collapse
from aesampling.reporting.sources import Source
from aesampling.sampling.reinjection import BALANCE_POOL, CLASS_MOMENTS_REFILL, CLONE_REFILL

RELATIVE_TARGET = 0.97  # "samples needed to reach 97% of the ground-truth accuracy"
LAST_EPOCHS = 5  # the final accuracy of one epoch moves by about 0.01; the mean over the last few is steadier


def ordered_sources(sources: list[str]) -> list[str]:
    """The sources in report order: the upper bound, the others as given, the noise bounds."""
    upper, *lower = learning_curves.BOUNDS
    middle = [s for s in sources if s not in learning_curves.BOUNDS]
    return [s for s in [upper, *middle, *lower] if s in sources]


def reinjection_settings(config: dict) -> dict:
    """The chain settings (λ, B, R, b, collect) of a recorded config; records before 2026-11-28 call them `chains`."""
    return config["reinjection"] if "reinjection" in config else config["chains"]


def start_text(chains: dict, *, short: bool = False) -> str:
    """Where recorded chains started: N(0, I), or the data's moments (records before the start was a setting: N(0, I)).

    `short` leaves out "at the data's moments" (an axis label)."""
    if chains.get("start") != "moments":
        return "N(0, I)"
    return "N(μ, σ²)" if short else "N(μ, σ²) at the data's moments"


def common_start_text(chain_settings: list[dict], *, short: bool = False) -> str:
    """start_text of chains that all started alike, or "their start" when they differ."""
    texts = {start_text(chains, short=short) for chains in chain_settings}
    return texts.pop() if len(texts) == 1 else "their start"


def _collect_text(chains: dict, record: dict) -> str:
    """The collected state, for chains from the data's moments that start, and for class-balanced chains the share
    of the K slots per restart they filled (and how stuck chains were refilled, unless from the start, and the pool
    G·B, unless the default)."""
    text = chains["collect"] + (", from moments" if chains.get("start") == "moments" else "")
    balance = chains.get("balance")
    if not balance:
        return text
    kept = record.get("accepted_share")
    refilled = {CLONE_REFILL: " by cloning", CLASS_MOMENTS_REFILL: " by cloning and class moments"}.get(
        balance.get("refill") if isinstance(balance, dict) else chains.get("refill"), "")
    pool = balance.get("pool", BALANCE_POOL) if isinstance(balance, dict) else BALANCE_POOL
    pooled = f" from {pool}·B chains" if pool != BALANCE_POOL else ""
    return f"{text}, balanced{refilled}{pooled}" + (f" ({kept:.1%} of slots filled)" if kept is not None else "")


def summary_table(curves: pd.DataFrame, records: dict[str, dict], ground_truth_accuracy: float) -> pd.DataFrame:
    """Final accuracy per source (and its mean over the last epochs), its ratio to the ground truth,
    samples to 97% of it, λ."""
    rows = []
    target = RELATIVE_TARGET * ground_truth_accuracy
    for source in ordered_sources(list(curves["source"].unique())):
        curve = curves[curves["source"] == source].sort_values("epoch")
        final = float(curve["accuracy"].iloc[-1])
        chains = reinjection_settings(records[source]["config"])
        is_autoencoder = source not in learning_curves.BOUNDS
        rows.append({
            "source": source,
            "lam": chains["lam"] if is_autoencoder else None,
            "collect": _collect_text(chains, records[source]) if is_autoencoder else None,
            "reinjections": chains["reinjections"] if is_autoencoder else None,
            "burn_in": chains["burn_in"] if is_autoencoder else None,
            "final_accuracy": final,
            "last_epochs_mean_accuracy": float(curve["accuracy"].iloc[-LAST_EPOCHS:].mean()),
            "relative_to_ground_truth": final / ground_truth_accuracy if ground_truth_accuracy > 0 else float("nan"),
            "samples_to_97pct": curve_metrics.samples_to_reach(curve["samples_seen"], curve["accuracy"], target),
            "epochs": int(curve["epoch"].max()),
            "samples_seen": int(curve["samples_seen"].max()),
        })
    return pd.DataFrame(rows)


NOISE_BOUNDS = tuple(bound for bound in learning_curves.BOUNDS if bound != learning_curves.UPPER_BOUND)


def autoencoders_against_noise(table: pd.DataFrame) -> dict | None:
    """The best autoencoder source's final accuracy against the strongest labelled-noise bound's, both as ratios to
    the ground truth (`summary_table` rows), with the samples each needed to reach 97% of it; None when the table
    lacks either side."""
    measured = table[table["relative_to_ground_truth"].notna()]  # no ratio without a ground-truth accuracy
    autoencoders = measured[~measured["source"].isin(learning_curves.BOUNDS)]
    noise = measured[measured["source"].isin(NOISE_BOUNDS)]
    if autoencoders.empty or noise.empty:
        return None
    best = autoencoders.loc[autoencoders["relative_to_ground_truth"].idxmax()]
    floor = noise.loc[noise["relative_to_ground_truth"].idxmax()]

    def reach(row) -> int | None:
        value = row["samples_to_97pct"]
        return None if value is None or pd.isna(value) else int(value)

    return {
        "autoencoder": best["source"], "autoencoder_ratio": float(best["relative_to_ground_truth"]),
        "autoencoder_samples_to_97pct": reach(best),
        "noise": floor["source"], "noise_ratio": float(floor["relative_to_ground_truth"]),
        "noise_samples_to_97pct": reach(floor),
        "points_ahead": 100 * float(best["relative_to_ground_truth"] - floor["relative_to_ground_truth"]),
        "samples_seen": int(best["samples_seen"]), "noise_samples_seen": int(floor["samples_seen"]),
    }


def verdict_line(verdict: dict | None) -> str | None:
    """One sentence: how far the best autoencoder's samples teach beyond labelled noise."""
    if verdict is None:
        return None

    def reach(samples: int | None) -> str:
        return "not within the run" if samples is None else f"after {samples:,} samples"

    ahead = verdict["points_ahead"]
    budget = f"{verdict['samples_seen']:,} samples"
    if verdict["noise_samples_seen"] != verdict["samples_seen"]:
        budget += f" ({verdict['noise_samples_seen']:,} for the noise)"
    return (f"After {budget}, the best autoencoder source ({verdict['autoencoder']}) "
            f"teaches {verdict['autoencoder_ratio']:.3f} of the ground truth and labelled noise "
            f"({verdict['noise']}) {verdict['noise_ratio']:.3f}: {abs(ahead):.1f} points "
            f"{'ahead' if ahead >= 0 else 'behind'}. 97% of the ground truth: "
            f"{reach(verdict['autoencoder_samples_to_97pct'])} against {reach(verdict['noise_samples_to_97pct'])}.")


QUALITY_COLUMNS = ("fd", "recall", "coverage", "class_tv", "precision", "density")


def quality_table(records: dict[str, dict]) -> pd.DataFrame:
    """Sample quality per source (evaluate.py's records), with FD as a share of the noise's (lower bound's) and
    whether the samples collapsed (collapse.is_collapsed; records made before the verdict: from class TV and
    recall) with the verdict's warning."""
    rows = []
    noise = (records.get(learning_curves.LOWER_BOUND, {}).get("quality") or {}).get("fd")
    for source in ordered_sources(list(records)):
        quality = records[source].get("quality")
        if not quality:
            continue
        mixing = records[source].get("mixing") or {}
        rows.append({"source": source, **{k: quality[k] for k in QUALITY_COLUMNS},
                     "fd_share_of_noise": quality["fd"] / noise if noise else None,
                     "label_switch_rate": mixing.get("collected_label_switch_rate"),
                     "collapsed": bool(collapse.is_collapsed(quality)),
                     "collapse_warning": (quality.get("collapse") or {}).get("warning"),
                     "samples": quality["samples"], "reference_examples": quality["reference_examples"],
                     "class_histogram": quality["class_histogram"]})
    return pd.DataFrame(rows)


def distinct_mixing(mixing: dict[str, list[dict]]) -> dict[str, list[dict]]:
    """The mixing curves worth drawing: a class-balanced source's is left out when it repeats its plain source's
    (balancing changes which states are kept, not the chains)."""
    def repeats_its_plain_source(name: str, steps) -> bool:
        source = Source.parse(name)
        return source.balanced and mixing.get(source.unbalanced().name) == steps

    return {name: steps for name, steps in mixing.items() if not repeats_its_plain_source(name, steps)}


def quality_lines(quality: pd.DataFrame) -> list[str]:
    """table.md's sample-quality table (empty when no curve record measured it)."""
    if quality.empty:
        return []
    first = quality.iloc[0]
    lines = [f"Sample quality of {int(first.samples):,} samples of each source against the "
             f"{int(first.reference_examples):,} validation images, in the ground-truth classifier's last hidden "
             "layer (FD: Fréchet distance; share: of the N(0, I) noise's FD; recall, coverage, precision, density: "
             "Naeem et al. 2020, k = 5; class TV: to the real class frequencies (training and validation labels); "
             "switch: label changes per collected reinjection). A low FD is no success alone: read it with recall, "
             f"coverage and class TV. Collapsed: class TV above {collapse.MAX_CLASS_TV:g}, recall below "
             f"{collapse.MIN_RECALL:g}, or half the classes below {collapse.STARVED_SHARE:g}× their data share "
             "(aesampling/quality/collapse.py):", "",
             "| source | FD | share | recall | coverage | class TV | precision | density | switch |",
             "|---|---|---|---|---|---|---|---|---|"]
    for row in quality.itertuples():
        share = "-" if row.fd_share_of_noise is None or pd.isna(row.fd_share_of_noise) else f"{row.fd_share_of_noise:.1%}"
        switch = "-" if row.label_switch_rate is None or pd.isna(row.label_switch_rate) else f"{row.label_switch_rate:.3f}"
        source = f"{row.source} (collapsed)" if row.collapsed else row.source
        lines.append(f"| {source} | {row.fd:.4g} | {share} | {row.recall:.3f} | {row.coverage:.3f} | "
                     f"{row.class_tv:.3f} | {row.precision:.3f} | {row.density:.3f} | {switch} |")
    warnings = [f"- {row.source}: {row.collapse_warning}" for row in quality.itertuples()
                if row.collapsed and isinstance(row.collapse_warning, str)]
    return [*lines, "", *([*warnings, ""] if warnings else [])]


def markdown_table(
    table: pd.DataFrame, ground_truth_accuracy: float, command: str, reproduce: str | None,
    timings: pd.DataFrame | None = None, search_lines: list[str] = (), quality: pd.DataFrame | None = None,
) -> str:
    """table.md: the summary table, the ground-truth accuracy and the commands behind them."""
    verdict = verdict_line(autoencoders_against_noise(table))
    lines = [
        f"Ground-truth classifier test accuracy (max accuracy): {ground_truth_accuracy:.4f}",
        "",
        *([verdict, ""] if verdict else []),
        "| source | λ | collect | R (burn-in) | final accuracy | mean of last "
        f"{LAST_EPOCHS} epochs | relative to ground truth | samples to reach 97% of it | samples seen |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in table.itertuples():
        lam = "-" if row.lam is None or pd.isna(row.lam) else f"{row.lam:g}"
        collect = row.collect if isinstance(row.collect, str) else "-"
        chain = "-" if pd.isna(row.reinjections) else f"{int(row.reinjections)} ({int(row.burn_in)})"
        reach = "not reached" if row.samples_to_97pct is None or pd.isna(row.samples_to_97pct) else f"{int(row.samples_to_97pct):,}"
        lines.append(
            f"| {row.source} | {lam} | {collect} | {chain} | {row.final_accuracy:.4f} | "
            f"{row.last_epochs_mean_accuracy:.4f} | {row.relative_to_ground_truth:.3f} | {reach} | "
            f"{row.samples_seen:,} |"
        )
    lines += ["", *(quality_lines(quality) if quality is not None else []), *search_lines]
    if timings is not None and len(timings):
        lines += ["Wall time of each stage:", "", "| stage | seconds | machine |", "|---|---|---|"]
        lines += [f"| {row.stage} | {row.seconds:,.0f} | {row.machine} |" for row in timings.itertuples()]
        lines += [f"| total | {timings['seconds'].sum():,.0f} | |", ""]
    if reproduce:
        lines.append(f"Reproduce with: `{reproduce}`")
    lines += [f"Made by: `{command}`", ""]
    return "\n".join(lines)


def search_table(search_records: dict[str, dict]) -> pd.DataFrame:
    """One row per autoencoder and setting tried, with its validation score and whether it was chosen."""
    rows = []
    for name, record in search_records.items():
        choice = record.get("noise_choice")
        searches = [(name, record)]
        if choice:  # a DAE chosen among noise candidates: every candidate's search, named by its noise
            searches = [(f"{name} ({noise_label(c)})", c if i == choice["chosen"] else {**c, "best": {}})
                        for i, c in enumerate(choice["candidates"])]
        for label, search in searches:
            best = search.get("best", {})
            for row in search.get("grid", []):
                chosen = all(row.get(k) == best.get(k) for k in ("lam", "collect", "burn_in"))
                shown = {k: v for k, v in row.items() if k != "class_counts"}  # a list per row: in the JSON only
                rows.append({"autoencoder": label, **shown, "chosen": chosen})
    return pd.DataFrame(rows)


def lambda_choices_table(search_records: dict[str, dict]) -> list[str]:
    """Markdown lines: each autoencoder's λ chosen by the student and by the lowest FD, beside Eq. 5's estimates."""
    def setting(best: dict | None) -> str:
        if not best:
            return "-"
        collapsed = ", collapsed: every setting did" if best.get("collapsed") else ""
        return f"{best['lam']:g} ({best['collect']}, {best['reinjections']} ({best['burn_in']}){collapsed})"

    lines, levels = [], []
    for name, record in search_records.items():
        estimates = record.get("lambda_from_eq5") or {}
        levels = levels or list(estimates)
        shown = " / ".join("-" if estimates.get(s) is None else f"{estimates[s]:.3g}" for s in levels) or "-"
        lines.append(f"| {name} | {setting(record.get('best_student'))} | {setting(record.get('best_fd'))} | "
                     f"{shown} |")
    if not lines:
        return []
    return ["λ of each autoencoder: the λ search's choices on the validation split (λ (collect, R (burn-in))) "
            "beside λ read from the autoencoder alone through Eq. 5, r(x) - x ≈ (λ/2)·∇log p(x), on the "
            f"validation images smoothed by noise of standard deviation s = {' / '.join(levels) or '-'} "
            "(aesampling/selection/lambda_estimate.py):", "",
            "| autoencoder | student's choice | lowest FD's choice | Eq. 5 estimate |", "|---|---|---|---|",
            *lines, ""]


def noise_label(candidate: dict) -> str:
    """'s&p 0.1, σ 0.5': a candidate DAE's salt-and-pepper rate and pre-activation Gaussian σ."""
    return f"s&p {candidate['salt_pepper_rate']:g}, σ {candidate['gaussian_noise_std']:g}"


def noise_table(search_records: dict[str, dict]) -> list[str]:
    """Markdown lines: each DAE's noise candidates with their best validation score, the chosen one marked."""
    lines = []
    for name, record in search_records.items():
        choice = record.get("noise_choice")
        if not choice:
            continue
        for i, candidate in enumerate(choice["candidates"]):
            best = candidate["best"]
            lines.append(f"| {name} | {noise_label(candidate)} | {candidate['best_score']:.4f} | "
                         f"{best['lam']:g}, {best['collect']}, {best['reinjections']} ({best['burn_in']}) | "
                         f"{'yes' if i == choice['chosen'] else ''} |")
    if not lines:
        return []
    return ["DAE noise, chosen on the validation split (best λ search score of each candidate: mean student "
            "accuracy, or -FD under the FD criterion):", "",
            "| DAE | noise | best validation score | its λ, collect, R (burn-in) | chosen |",
            "|---|---|---|---|---|", *lines, ""]


def describe_machine(record: dict) -> str:
    machine = record.get("machine", {})
    gpus = machine.get("gpus") or []
    device = f"{len(gpus)} GPU" if gpus else "no GPU"
    backend = f", {machine['backend']}" if machine.get("backend") else ""
    return f"{machine.get('processor', '?')}, {machine.get('cpu_count', '?')} CPUs, {device}{backend}"


def stage_timings(
    classifier_record: dict | None, curve_records: dict[str, dict], search_records: dict[str, dict],
    sample_records: dict[str, dict], feature_record: dict | None = None,
) -> pd.DataFrame:
    """Wall seconds and machine of every stage behind a report, in workflow order (the classifier's training when
    its record is given).

    A learning curve resumed after an interrupt counts the time its interrupted runs spent too.
    """
    stages = []
    if feature_record:
        stages.append(("extract ResNet50 features", feature_record))
    if classifier_record:
        stages.append(("train classifier", classifier_record))
    noise_chosen = {name for name, record in search_records.items() if "noise_choice" in record}
    trained = set()  # an autoencoder evaluated at both λ choices was trained once
    for source, record in curve_records.items():
        path = record.get("config", {}).get("autoencoder")
        name = PurePath(path).stem if path else source
        if "autoencoder_record" in record and name not in noise_chosen and path not in trained:
            trained.add(path)
            stages.append((f"train {name}", record["autoencoder_record"]))
    for name, record in search_records.items():
        if name not in noise_chosen:
            stages.append((f"λ search {name}", record))
            continue
        for candidate in record["noise_choice"]["candidates"]:  # every candidate DAE was trained and searched
            noise = noise_label(candidate)
            stages.append((f"train {name} ({noise})",
                           {"wall_seconds": candidate["train_seconds"], "machine": candidate["train_machine"]}))
            stages.append((f"λ search {name} ({noise})",
                           {"wall_seconds": candidate["search_seconds"], "machine": candidate["search_machine"]}))
        stages.append((f"choose noise {name}", record["noise_choice"]))
    stages += [(f"evaluate {source}", record) for source, record in curve_records.items()]
    for name, record in sample_records.items():
        if record.get("samples_record"):
            stages.append((f"sample {name}", record["samples_record"]))
        stages.append((f"label {name}", record))
    return pd.DataFrame(
        [{"stage": stage, "seconds": float(r["wall_seconds"]) + float(r.get("interrupted_runs_seconds", 0.0)),
          "machine": describe_machine(r)} for stage, r in stages],
        columns=["stage", "seconds", "machine"],
    )


def compare_with_reference(reference: dict, run: dict) -> pd.DataFrame:
    """Final and last-epochs accuracies of a run beside a reference run's (two metrics.json records), per source.

    Sources of only one of the two runs get NaN on the other side.
    """
    def by_source(record: dict) -> dict:
        try:
            return {row["source"]: row for row in record["table"]}
        except (KeyError, TypeError) as e:
            raise UserInputError("not a report's metrics.json (no 'table' of sources)") from e

    ours, theirs = by_source(run), by_source(reference)
    rows = []
    for source in ordered_sources(list(dict.fromkeys([*theirs, *ours]))):
        row = {"source": source}
        for field in ("final_accuracy", "last_epochs_mean_accuracy"):
            row[f"reference_{field}"] = float(theirs[source][field]) if source in theirs else float("nan")
            row[f"run_{field}"] = float(ours[source][field]) if source in ours else float("nan")
            row[f"difference_{field}"] = row[f"run_{field}"] - row[f"reference_{field}"]
        rows.append(row)
    return pd.DataFrame(rows)


def comparison_markdown(comparison: pd.DataFrame, reference: dict, run: dict, *, reference_path: str,
                        run_path: str, command: str) -> str:
    """comparison.md: a run's accuracies beside the reference's, with both ground truths and the command."""
    lines = [
        f"Made by `{command}`.",
        "",
        f"This run: `{run_path}`, ground truth {run['ground_truth_accuracy']:.4f}. "
        f"Reference: `{reference_path}`, ground truth {reference['ground_truth_accuracy']:.4f}.",
        "Another machine, backend or a shorter run (SMOKE=1) moves these numbers; on the reference's machine,",
        "backend and settings, the same seed gives the same numbers.",
        "",
        f"| source | final: reference | final: this run | difference | mean of last {LAST_EPOCHS}: reference | "
        "this run | difference |",
        "|---|---|---|---|---|---|---|",
    ]

    def cell(value: float, signed: bool = False) -> str:
        return "-" if pd.isna(value) else (f"{value:+.4f}" if signed else f"{value:.4f}")

    for row in comparison.to_dict(orient="records"):
        lines.append(
            f"| {row['source']} | {cell(row['reference_final_accuracy'])} | {cell(row['run_final_accuracy'])} | "
            f"{cell(row['difference_final_accuracy'], True)} | {cell(row['reference_last_epochs_mean_accuracy'])} | "
            f"{cell(row['run_last_epochs_mean_accuracy'])} | {cell(row['difference_last_epochs_mean_accuracy'], True)} |")
    return "\n".join(lines) + "\n"
