"""The paper's Table I accuracies beside ours, for the README.

PAPER holds the "acc" column of Table I (Solinas et al., 2020): the test
accuracy of the ground-truth classifier and of the classifiers trained on
each generator, as the paper prints them. Our side comes from the committed
reports (results/<dataset>/metrics.json and config.json).
"""

from __future__ import annotations


from aesampling import reporting
from aesampling.errors import UserInputError

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
    """Final test accuracy per source of one report, with the ground truth's under GROUND_TRUTH."""
    try:
        accuracies = {row["source"]: float(row["final_accuracy"]) for row in metrics["table"]}
        accuracies[GROUND_TRUTH] = float(metrics["ground_truth_accuracy"])
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"not a report's metrics.json ({e})") from e
    return accuracies


def comparison(reports: dict[str, tuple[dict, dict] | None], folder_of: dict[str, str]) -> str:
    """The Markdown table: per dataset and source, the paper's accuracy and ours (ratio to the ground truth).

    Args:
      reports: per dataset of PAPER, the (metrics.json, config.json) of its committed report, or None.
      folder_of: per dataset, the report folder named in the "made by" column.
    """
    lines = ["| dataset | source | paper: accuracy (/ ground truth) | ours: final accuracy (/ ground truth) "
             "| made by |", "|---|---|---|---|---|"]
    for dataset, paper in PAPER.items():
        report = reports.get(dataset)
        ours = _ours(report[0]) if report else {}
        if report:
            command = report[1]["report"]["config"]["reproduce_command"] or report[1]["report"]["command"]
            made_by = (f"`{command}`, {reporting.machine_and_backend(report[1]['ground_truth_classifier']['machine'])}"
                       f" ([report]({folder_of[dataset]}/table.md))")
        else:
            made_by = f"no committed report: `make {dataset}`"
        for source in SOURCES:
            if source not in paper and source not in ours:
                continue
            lines.append(f"| {DATASET_NAMES[dataset]} | {SOURCE_NAMES[source]} | "
                         f"{_with_ratio(paper.get(source), paper.get(GROUND_TRUTH), source, 3)} | "
                         f"{_with_ratio(ours.get(source), ours.get(GROUND_TRUTH), source, 4)} | {made_by} |")
            made_by = "same"
    return "\n".join(lines)
