"""Stage 1c: choose a DAE's noise levels among candidates by their λ searches' validation scores.

The paper grid-searched its DAEs' noise (Section IV-D); here the candidates'
λ searches on the validation split decide, so the test set plays no part.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

from aesampling.io import storage
from aesampling.selection import lambda_search
from aesampling.errors import UserInputError
from aesampling.experiments import outputs
from aesampling.experiments.configs import NoiseChoiceConfig
from aesampling.experiments.records import run_record


def _candidate(search_path: str) -> tuple[dict, dict]:
    """(summary, search record) of one candidate DAE: its noise levels, best validation score and stage times."""
    record = storage.read_json(search_path)
    try:
        autoencoder = record["config"]["autoencoder"]
        score = lambda_search.criterion_value(record)
        dataset = record["config"]["data"]["dataset"]
        lambda_search.best_of(record, search_path)
    except (KeyError, TypeError, ValueError) as e:
        raise UserInputError(f"{search_path} is not a λ search result (search_lambda.py output)") from e
    training_path = storage.sidecar_path(autoencoder)
    if not Path(autoencoder).is_file() or not training_path.is_file():
        raise UserInputError(f"{search_path} names {autoencoder}, which (or whose training record) is missing")
    training_record = storage.read_json(training_path)
    preset = training_record.get("preset", {})
    summary = {
        "search": search_path, "autoencoder": autoencoder, "dataset": dataset,
        "gaussian_noise_std": preset.get("gaussian_noise_std"), "salt_pepper_rate": preset.get("salt_pepper_rate"),
        "best_score": score, "best": record["best"], "grid": record["grid"],
        "train_seconds": training_record.get("wall_seconds"), "train_machine": training_record.get("machine", {}),
        "search_seconds": record.get("wall_seconds"), "search_machine": record.get("machine", {}),
    }
    return summary, record


@outputs.stage
def run_choose_noise(config: NoiseChoiceConfig) -> dict:
    """Copies the best-scoring candidate DAE and its search result to the outputs; records every candidate."""
    started = time.perf_counter()
    candidates, records = zip(*(_candidate(path) for path in config.searches))
    outputs.claim({**outputs.with_record("the chosen model", config.model_output),
                   "the chosen search result": config.search_output},
                  {f"candidate {c['autoencoder']}": c["autoencoder"] for c in candidates}, config=config,
                  suffixes={"the chosen model": ".keras", "the chosen search result": ".json"})
    datasets = sorted({c["dataset"] for c in candidates})
    if len(datasets) > 1:
        raise UserInputError(f"the candidate searches ran on different datasets: {datasets}")
    chosen = lambda_search.best_candidate([c["best_score"] for c in candidates],
                                          [bool(c["best"].get("collapsed")) for c in candidates])
    winner = candidates[chosen]["autoencoder"]
    for source, target in ((winner, config.model_output),
                           (storage.sidecar_path(winner), storage.sidecar_path(config.model_output))):
        with storage.atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    record = {**records[chosen],
              "noise_choice": run_record(config, started, candidates=list(candidates), chosen=chosen)}
    storage.write_json(config.search_output, record)
    return record
