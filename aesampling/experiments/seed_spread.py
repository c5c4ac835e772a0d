"""Stage 6 (optional): one dataset's reports, one per seed, summarised as mean ± spread per source."""

from __future__ import annotations

import time
from pathlib import Path

from aesampling.io import storage
from aesampling.reporting import plots
from aesampling.reporting import seed_summary
from aesampling.errors import UserInputError
from aesampling.experiments import outputs
from aesampling.experiments.configs import SeedSpreadConfig
from aesampling.experiments.records import command_line, run_record

_OUTPUTS = ("table.md", "metrics.json", "config.json", "seeds.png")


def _read_run(folder: str) -> tuple[int, str, dict, dict]:
    """(seed, dataset, metrics, config) of one report folder; the seed is its ground-truth classifier's."""
    metrics = storage.read_record(Path(folder) / "metrics.json", "a report's metrics (report.py)",
                             "ground_truth_accuracy", "table")
    config = storage.read_record(Path(folder) / "config.json", "a report's record (report.py)",
                            "report.config.dataset", "ground_truth_classifier.config.seed")
    seed = config["ground_truth_classifier"]["config"]["seed"]
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise UserInputError(f"{folder}/config.json: the classifier's seed must be an integer, got {seed!r}")
    return seed, config["report"]["config"]["dataset"], metrics, config


@outputs.stage
def run_seed_spread(config: SeedSpreadConfig) -> dict:
    """Writes table.md, metrics.json (per-seed values, summary, deep-against-shallow differences), config.json
    and seeds.png."""
    started = time.perf_counter()
    out = Path(config.output_dir)
    outputs.claim({f"the seed spread's {name}": out / name for name in _OUTPUTS},
                  {f"run {folder}'s {name}": Path(folder) / name
                   for folder in config.runs for name in ("metrics.json", "config.json")}, config=config)
    runs = [_read_run(folder) for folder in config.runs]
    datasets = sorted({dataset for _, dataset, _, _ in runs})
    if len(datasets) > 1:
        raise UserInputError(f"the runs are of different datasets: {', '.join(datasets)}")
    seeds = [seed for seed, *_ in runs]
    repeated = sorted({s for s in seeds if seeds.count(s) > 1})
    if repeated:
        raise UserInputError(f"two runs have the same seed ({', '.join(map(str, repeated))}): "
                             "a seed spread needs one run per seed")
    frame = seed_summary.per_seed({seed: metrics for seed, _, metrics, _ in runs})
    summary = seed_summary.summary(frame)
    storage.write_text(out / "table.md", seed_summary.markdown(frame, dataset=datasets[0], command=command_line(),
                                                         reproduce=config.reproduce_command))
    storage.write_json(out / "metrics.json", {
        "seeds": sorted(seeds),
        "per_seed": frame.to_dict(orient="records"),
        "summary": summary.to_dict(orient="records"),
        "deep_against_shallow": seed_summary.paired_differences(frame).to_dict(orient="records"),
    })
    plots.plot_seed_spread(frame, [s for s in seed_summary.source_order(frame) if s != seed_summary.GROUND_TRUTH],
                              out / "seeds.png", title=f"{datasets[0]}: {len(seeds)} seeds, one dot each; bar: mean")
    storage.write_json(out / "config.json", {
        "seed_spread": run_record(config, started),
        "runs": {str(seed): {"folder": folder, "report": record["report"],
                             "ground_truth_classifier": record["ground_truth_classifier"]}
                 for (seed, _, _, record), folder in zip(runs, config.runs)},
    })
    return {"summary": summary, "seeds": sorted(seeds), "dataset": datasets[0]}
