"""Stage 1b: the λ search of one autoencoder on the validation split (aesampling.selection.lambda_search)."""

from __future__ import annotations

import time

from absl import logging

from aesampling.data import datasets
from aesampling.quality import collapse, diagnostics
from aesampling.io import storage
from aesampling.selection import lambda_estimate
from aesampling.selection import lambda_search
from aesampling.reproducibility import seed_everything
from aesampling.experiments import outputs
from aesampling.reporting.progress import Progress
from aesampling.experiments.configs import LambdaSearchConfig
from aesampling.experiments.inputs import load_curve_inputs, start_moments, validation_reference
from aesampling.experiments.records import run_record, split_sizes


def _logger(grid_size: int):
    """Logs each setting as the search scores it, with the settings done and the grid's time left (widening rounds
    add settings beyond the grid)."""
    progress = Progress("λ search", grid_size, "settings")

    def log(row: dict) -> None:
        progress.advance(1)
        left = progress.time_left()
        _log(row, f"[{progress.done}/{grid_size}{', ' + left if left else ''}] " if not row["widened"] else "")

    return log


def _log(row: dict, prefix: str = "") -> None:
    student = "" if row["score"] is None else f"mean validation accuracy {row['score']:.4f}"
    fd = "" if row["fd"] is None else f"FD {row['fd']:.4g}"
    fd += "" if row.get("class_tv") is None else f", class TV {row['class_tv']:.3f}"
    fd += " (collapsed)" if row.get("collapsed") else ""
    logging.info("%sλ=%g collect=%s burn-in=%d%s%s: %s", prefix, row["lam"], row["collect"], row["burn_in"],
                 " (from the mixing curve)" if row["burn_in_from"] == lambda_search.MIXING else "",
                 " (widened)" if row["widened"] else "", ", ".join(p for p in (student, fd) if p))


def _log_histograms(choices: dict, reference: diagnostics.Reference, dataset: str) -> None:
    """Each choice's class histogram beside the data's (from its FD samples)."""
    data = collapse.class_counts(reference.labels, reference.num_classes)
    for name, row in choices.items():
        if row.get("class_counts") is not None and name != "best":
            verdict = collapse.assess(row["class_counts"], data, class_names=datasets.class_names(dataset),
                                      what=f"the {name.removeprefix('best_')} choice's samples (λ={row['lam']:g})")
            logging.info("%s", verdict.histogram_text())


@outputs.stage
def run_lambda_search(config: LambdaSearchConfig) -> dict:
    """Scores the (λ, collect, burn-in) grid on the validation split; writes the best setting and the grid as JSON."""
    started = time.perf_counter()
    outputs.claim({"the search result": config.output}, config=config,
                  suffixes={"the search result": ".json"})
    seed_everything(config.seed)
    inputs = load_curve_inputs(config.data, config.classifier, config.autoencoder)
    moments = start_moments(config.reinjection, inputs.dataset)
    fidelity = mixing_burn_in = reference = None
    if config.fd_samples:
        diagnostics.check_mixing_memory(inputs.autoencoder, inputs.classifier, config.reinjection,
                                        config.mixing_chains)
        space = diagnostics.FeatureSpace(inputs.classifier, feature_layer=config.feature_layer)
        dataset = inputs.dataset
        reference = validation_reference(space, dataset)
        fidelity = diagnostics.fidelity(space, reference, config.fd_samples)
        mixing_burn_in = diagnostics.mixing_burn_in(inputs.autoencoder, space, reference, seed=config.seed,
                                                    chains=config.mixing_chains, moments=moments)
    grid = lambda_search.search(
        inputs.autoencoder, inputs.classifier, inputs.dataset.x_val, inputs.dataset.y_val, base=config.reinjection,
        lambdas=config.lambdas, collects=config.collects, burn_ins=config.burn_ins, epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch, seed=config.seed, widenings=config.widenings, on_result=_logger(len(config.lambdas) * len(config.collects) * len(config.burn_ins)),
        criterion=config.criterion, fidelity=fidelity, mixing_burn_in=mixing_burn_in, moments=moments,
        fd_widenings=config.fd_widenings,
    )
    choices = {"best": lambda_search.best_setting(grid, config.criterion)}
    if config.criterion == lambda_search.STUDENT:
        choices["best_student"] = choices["best"]
    if fidelity is not None:
        choices["best_fd"] = lambda_search.best_setting(grid, lambda_search.FD)
        _log_histograms(choices, reference, inputs.dataset.name)
    criteria = [name.removeprefix("best_") for name in choices if name != "best"]
    warnings = {c: warning for c in criteria if (warning := lambda_search.collapse_warning(grid, c))}
    for warning in warnings.values():
        logging.warning("%s", warning)
    eq5 = lambda_estimate.estimates(inputs.autoencoder, inputs.dataset.x_val, seed=config.seed)
    logging.info("λ read through Eq. 5 at noise levels s: %s", eq5)
    record = run_record(config, started, criterion=config.criterion, grid=grid, lambda_from_eq5=eq5,
                        **split_sizes(inputs.dataset),
                        **{name: {**{k: row[k] for k in lambda_search.SEARCHED_FIELDS}, "start": config.reinjection.start,
                                  "collapsed": row.get("collapsed")}
                           for name, row in choices.items()},
                        collapse_warnings=warnings,
                        **({"start_moments": moments.to_record()} if moments is not None else {}))
    storage.write_json(config.output, record)
    return record
