"""The README's generated blocks: the paper's Table I beside our reports, and one block per committed report.

Only scripts/readme_results.py uses these; the library's reports (aesampling.reporting) know nothing of the README.

PAPER holds the "acc" column of Table I (Solinas et al., 2020): the test
accuracy of the ground-truth classifier and of the classifiers trained on
each generator, as the paper prints them. Our side comes from the committed
reports (results/<dataset>/metrics.json and config.json).
"""

from __future__ import annotations

import pandas as pd

from aesampling.errors import UserInputError
from aesampling.reporting import seed_summary, tables
from aesampling.reporting.sources import STUDENT_CHOICE, Source

GROUND_TRUTH = "ground_truth"
SOURCES = (GROUND_TRUTH, "lower_bound", "deep_ae", "shallow_ae", "deep_dae", "shallow_dae")
SOURCE_NAMES = {GROUND_TRUTH: "ground-truth classifier", "lower_bound": "lower bound (noise)", "deep_ae": "deep AE",
                "shallow_ae": "shallow AE", "deep_dae": "deep DAE", "shallow_dae": "shallow DAE"}

PAPER = {
    "mnist": {GROUND_TRUTH: 0.98, "lower_bound": 0.925, "deep_ae": 0.978, "shallow_ae": 0.975, "deep_dae": 0.978,
              "shallow_dae": 0.965},
    "fashion_mnist": {},
    "cifar10": {GROUND_TRUTH: 0.92, "lower_bound": 0.892, "deep_ae": 0.915, "shallow_ae": 0.906, "deep_dae": 0.915,
                "shallow_dae": 0.911},
    "cifar100": {GROUND_TRUTH: 0.75, "lower_bound": 0.643, "deep_ae": 0.749, "shallow_ae": 0.731, "deep_dae": 0.749,
                 "shallow_dae": 0.730},
}
DATASET_NAMES = {"mnist": "MNIST", "fashion_mnist": "Fashion-MNIST", "cifar10": "CIFAR-10", "cifar100": "CIFAR-100"}


def _with_ratio(accuracy: float | None, ground_truth: float | None, source: str, digits: int) -> str:
    if accuracy is None:
        return "-"
    if source == GROUND_TRUTH or not ground_truth:
        return f"{accuracy:.{digits}f}"
    return f"{accuracy:.{digits}f} ({accuracy / ground_truth:.3f})"


def _ours(metrics: dict) -> dict[str, float]:
    """Final test accuracy per source of one report, with the ground truth's under GROUND_TRUTH. An autoencoder
    whose report has only its class-balanced curve at the student's choice (`<ae>_balanced`, what the recommended
    recipe evaluates) is that curve's."""
    try:
        accuracies = {row["source"]: float(row["final_accuracy"]) for row in metrics["table"]}
        accuracies[GROUND_TRUTH] = float(metrics["ground_truth_accuracy"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"not a report's metrics.json ({e})") from e
    for name, accuracy in list(accuracies.items()):
        source = Source.parse(name)
        if source.balanced and source.choice == STUDENT_CHOICE and not source.is_bound:
            accuracies.setdefault(source.base, accuracy)
    return accuracies


def _made_by(report: tuple[dict, dict], folder: str) -> str:
    command = report[1]["report"]["config"]["reproduce_command"] or report[1]["report"]["command"]
    return (f"`{command}`, {machine_and_backend(report[1]['ground_truth_classifier']['machine'])}"
            f" ([report]({folder}/table.md))")


def paper_comparison(reports: dict[str, tuple[dict, dict] | None], folder_of: dict[str, str],
                     recommended: dict[str, tuple[dict, dict] | None] = (),
                     recommended_folder_of: dict[str, str] = ()) -> str:
    """The Markdown table: per dataset and source, the paper's accuracy and ours (ratio to the ground truth), with
    the paper's recipe and, where a committed report was made with it, the recommended one.

    Args:
      reports: per dataset of PAPER, the (metrics.json, config.json) of its committed report, or None.
      folder_of: per dataset, the report folder named in the "made by" column.
      recommended, recommended_folder_of: the same for the reports made with the recommended recipe.
    """
    recommended, recommended_folder_of = dict(recommended), dict(recommended_folder_of)
    lines = ["| dataset | source | paper: accuracy (/ ground truth) | ours, paper recipe: final accuracy "
             "(/ ground truth) | ours, recommended recipe | made by |", "|---|---|---|---|---|---|"]
    for dataset, paper in PAPER.items():
        report, other = reports.get(dataset), recommended.get(dataset)
        ours, theirs = _ours(report[0]) if report else {}, _ours(other[0]) if other else {}
        made_by = (_made_by(report, folder_of[dataset]) if report
                   else f"no committed report: `make {dataset}`")
        if other:
            made_by += f"; recommended: {_made_by(other, recommended_folder_of[dataset])}"
        for source in SOURCES:
            if source not in paper and source not in ours and source not in theirs:
                continue
            lines.append(f"| {DATASET_NAMES[dataset]} | {SOURCE_NAMES[source]} | "
                         f"{_with_ratio(paper.get(source), paper.get(GROUND_TRUTH), source, 3)} | "
                         f"{_with_ratio(ours.get(source), ours.get(GROUND_TRUTH), source, 4)} | "
                         f"{_with_ratio(theirs.get(source), theirs.get(GROUND_TRUTH), source, 4)} | {made_by} |")
            made_by = "same"
    return "\n".join(lines)


def machine_and_backend(machine: dict) -> str:
    """"AMD EPYC, 2 CPUs, no GPU, tensorflow 2.21.0" from a run record's machine (older records: no backend key)."""
    if machine.get("backend"):
        backend = f"{machine['backend']} {machine.get('backend_version', '')}".strip()
    else:
        backend = f"tensorflow {machine.get('tensorflow', '?')}"
    return f"{tables.describe_machine({'machine': {k: v for k, v in machine.items() if k != 'backend'}})}, {backend}"


def report_block(metrics: dict, config: dict, folder: str) -> str:
    """The README's block for one committed report: its table, the command and the machine behind it.

    `metrics` and `config` are the report's metrics.json and config.json;
    `folder` is where they lie, linked from the block.
    """
    try:
        command = config["report"]["config"]["reproduce_command"] or config["report"]["command"]
        machine = config["ground_truth_classifier"]["machine"]
        ground_truth = float(metrics["ground_truth_accuracy"])
        rows = metrics["table"]
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"{folder} does not hold a report's metrics.json and config.json ({e})") from e
    quality = {row["source"]: row for row in metrics.get("quality") or []}
    lines = [
        f"Made by `{command}` on {machine_and_backend(machine)}; report: [`{folder}/`]({folder}/table.md). "
        f"Ground-truth classifier: {ground_truth:.4f}."
        + (" FD: the samples' Fréchet distance to the validation images, as a share of N(0, I) noise's; class TV: "
           "to the real class frequencies (training and validation labels; `table.md` has all the quality metrics)." if quality else ""),
        "",
        f"| source | λ, collected state, R (b) | final accuracy | mean of last {tables.LAST_EPOCHS} epochs | "
        "final / ground truth |" + (" FD share | class TV |" if quality else ""),
        "|---|---|---|---|---|" + ("---|---|" if quality else ""),
    ]
    for row in rows:
        chain = "-"
        if row.get("lam") is not None and not pd.isna(row["lam"]):
            chain = f"{row['lam']:g}, {row['collect']}, {int(row['reinjections'])} ({int(row['burn_in'])})"
        line = (f"| {row['source']} | {chain} | {row['final_accuracy']:.4f} | "
                f"{row['last_epochs_mean_accuracy']:.4f} | {row['relative_to_ground_truth']:.3f} |")
        if quality:
            q = quality.get(row["source"], {})
            share = q.get("fd_share_of_noise")
            line += (f" {share:.1%} |" if share is not None else " - |")
            line += (f" {q['class_tv']:.3f} |" if "class_tv" in q else " - |")
        lines.append(line)
    return "\n".join(lines)


def seed_spread_block(metrics: dict, config: dict, folder: str) -> str:
    """The README's block for a committed seed spread: per source, the accuracy relative to the ground truth, the
    FD share and the class TV as mean ± standard deviation over the seeds."""
    try:
        stats = {(row["source"], row["metric"]): row for row in metrics["summary"]}
        seeds = metrics["seeds"]
        command = config["seed_spread"]["config"]["reproduce_command"] or config["seed_spread"]["command"]
        machine = (next(iter(config["runs"].values()))["ground_truth_classifier"].get("machine")
                   or config["seed_spread"]["machine"])
    except (KeyError, TypeError, StopIteration) as e:
        raise UserInputError(f"{folder} does not hold a seed spread's metrics.json and config.json ({e})") from e
    sources = tables.ordered_sources(list(dict.fromkeys(s for s, _ in stats if s != GROUND_TRUTH)))
    lines = [f"Made by `{command}` on {machine_and_backend(machine)}; seeds {', '.join(map(str, seeds))}; "
             f"report: [`{folder}/`]({folder}/table.md). Cells: mean ± standard deviation over the seeds.", "",
             "| source | final / ground truth | FD share | class TV |", "|---|---|---|---|"]
    if (GROUND_TRUTH, "final_accuracy") in stats:
        lines.append(f"| ground truth (accuracy) | {seed_summary.format_cell(stats[(GROUND_TRUTH, 'final_accuracy')], '.4f', False)} | "
                     "- | - |")
    for source in sources:
        lines.append(f"| {source} | " + " | ".join(
            seed_summary.format_cell(stats.get((source, metric)), fmt, False)
            for metric, fmt in (("relative_to_ground_truth", ".3f"), ("fd_share_of_noise", ".1%"),
                                ("class_tv", ".3f"))) + " |")
    return "\n".join(lines)


def class_incremental_block(metrics: dict, config: dict, folder: str) -> str:
    """The README's block for a committed class-incremental study: per method, the final accuracy as mean ± sd
    [min, max] over the seeds and its gap to joint."""
    try:
        rows, seeds = metrics["summary"], config["config"]["seeds"]
        command = config["config"]["reproduce_command"] or config["command"]
        machine = config["machine"]
    except (KeyError, TypeError) as e:
        raise UserInputError(f"{folder} does not hold a class-incremental study's metrics.json and config.json "
                             f"({e})") from e
    lines = [f"Made by `{command}` on {machine_and_backend(machine)} at code {config.get('code')}; seeds "
             f"{', '.join(map(str, seeds))}; report: [`{folder}/`]({folder}/table.md). Final accuracy on the test "
             "images of every class after the last task, mean ± sd over the seeds [min, max].", "",
             "| method | final accuracy | gap to joint |", "|---|---|---|"]
    for row in sorted(rows, key=lambda r: -r["final_mean"]):
        sd = "" if row["final_sd"] is None else f" ± {row['final_sd']:.4f}"
        gap = "-" if row["gap_to_joint"] is None else f"{row['gap_to_joint']:.4f}"
        lines.append(f"| {row['method']} | {row['final_mean']:.4f}{sd} [{row['final_min']:.4f}, "
                     f"{row['final_max']:.4f}] | {gap} |")
    return "\n".join(lines)
