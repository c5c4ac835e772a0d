"""Diagnosis: do an autoencoder's chains forget where they started? (diagnostics.start_dependence)

The same chains run from N(0, I), the paper's start, and from the training
data's moments, for up to a thousand reinjections at one λ and collected
state, without restart. Where both starts end in one distribution, the
samples a restart collects after its burn-in depend on the start only
through a burn-in that is too short; where they do not, the chains have not
mixed, and the start decides which classes they sample.
"""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd

from aesampling.quality import diagnostics
from aesampling.io import storage
from aesampling.reporting import plots
from aesampling.sampling.reinjection import MOMENTS_START, NORMAL_START, StartMoments
from aesampling.experiments import outputs
from aesampling.experiments.configs import StationarityConfig
from aesampling.experiments.inputs import load_curve_inputs, validation_reference
from aesampling.experiments.records import run_record

STARTS = {NORMAL_START: "N(0, I)", MOMENTS_START: "the data's moments"}


def stationarity_frame(result: dict) -> pd.DataFrame:
    """One row per step t: each start's FD and class TV to the real data, and the starts against each other."""
    frame = pd.DataFrame(result["between_starts"])
    for start, rows in result["starts"].items():
        frame[f"fd_{start}"] = [row["fd"] for row in rows]
        frame[f"class_tv_{start}"] = [row["class_tv"] for row in rows]
    columns = ["t"] + [f"{metric}_{start}" for start in STARTS for metric in ("fd", "class_tv")]
    return frame[columns + ["class_tv_between", "class_tv_within", "fd_between", "fd_within", "same_label_share",
                            "coupled_share"]]


@outputs.stage
def run_stationarity(config: StationarityConfig) -> dict:
    """Writes the CSV, its figure (.png) and the JSON record (with each start's class histograms)."""
    started = time.perf_counter()
    figure = storage.sidecar_path(config.output, ".png")
    outputs.claim({**outputs.with_record("the stationarity table", config.output), "the figure": figure},
                  config=config, suffixes={"the stationarity table": ".csv"})
    inputs = load_curve_inputs(config.data, config.classifier, config.autoencoder)
    dataset = inputs.dataset
    space = diagnostics.FeatureSpace(inputs.classifier, feature_layer=config.feature_layer)
    reference = validation_reference(space, dataset)
    result = diagnostics.start_dependence(inputs.autoencoder, config.reinjection, space, reference,
                                          seed=config.seed, moments=StartMoments.of(dataset.x_train),
                                          steps=config.steps, chains=config.chains)
    frame = stationarity_frame(result)
    # The table last: it is what make waits for, so a run stopped between the three files leaves no table
    # without its figure and record.
    plots.plot_stationarity(frame, figure, starts=STARTS,
                               title=f"{Path(config.autoencoder).stem}: λ = {config.reinjection.lam:g}, "
                                     f"{config.reinjection.collect} states, {config.chains} chains per start")
    record = run_record(config, started, **result)
    storage.write_json(storage.sidecar_path(config.output), record)
    with storage.atomic_path(config.output) as tmp:
        frame.to_csv(tmp, index=False)
    return record
