"""Stage 1b: the λ search of one autoencoder on the validation split (aesampling.selection.lambda_search)."""

from __future__ import annotations

import time

from absl import logging

from aesampling.quality import diagnostics
from aesampling.io import storage
from aesampling.selection import lambda_estimate
from aesampling.selection import lambda_search
from aesampling.reproducibility import seed_everything
from aesampling.experiments import outputs
from aesampling.experiments.configs import LambdaSearchConfig
from aesampling.experiments.inputs import load_curve_inputs, start_moments, validation_reference
from aesampling.experiments.records import run_record, split_sizes


def _log(row: dict) -> None:
    student = "" if row["score"] is None else f"mean validation accuracy {row['score']:.4f}"
    fd = "" if row["fd"] is None else f"FD {row['fd']:.4g}"
    fd += "" if row.get("class_tv") is None else f", class TV {row['class_tv']:.3f}"
    logging.info("λ=%g collect=%s burn-in=%d%s%s: %s", row["lam"], row["collect"], row["burn_in"],
                 " (from the mixing curve)" if row["burn_in_from"] == lambda_search.MIXING else "",
                 " (widened)" if row["widened"] else "", ", ".join(p for p in (student, fd) if p))


def run_lambda_search(config: LambdaSearchConfig) -> dict:
    """Scores the (λ, collect, burn-in) grid on the validation split; writes the best setting and the grid as JSON."""
    started = time.perf_counter()
    outputs.claim({"the search result": config.output},
                  {"the classifier": config.classifier, "the autoencoder": config.autoencoder},
                  suffixes={"the search result": ".json"})
    seed_everything(config.seed)
    inputs = load_curve_inputs(config.data, config.classifier, config.autoencoder)
    moments = start_moments(config.reinjection, inputs.dataset)
    fidelity = mixing_burn_in = None
    if config.fd_samples:
        space = diagnostics.FeatureSpace(inputs.classifier)
        dataset = inputs.dataset
        reference = validation_reference(space, dataset)
        fidelity = diagnostics.fidelity(space, reference, config.fd_samples)
        mixing_burn_in = diagnostics.mixing_burn_in(inputs.autoencoder, space, reference, seed=config.seed,
                                                    chains=config.mixing_chains, moments=moments)
    grid = lambda_search.search(
        inputs.autoencoder, inputs.classifier, inputs.dataset.x_val, inputs.dataset.y_val, base=config.reinjection,
        lambdas=config.lambdas, collects=config.collects, burn_ins=config.burn_ins, epochs=config.epochs,
        steps_per_epoch=config.steps_per_epoch, seed=config.seed, widenings=config.widenings, on_result=_log,
        criterion=config.criterion, fidelity=fidelity, mixing_burn_in=mixing_burn_in, moments=moments,
        fd_widenings=config.fd_widenings,
    )
    choices = {"best": lambda_search.best_setting(grid, config.criterion)}
    if config.criterion == lambda_search.STUDENT:
        choices["best_student"] = choices["best"]
    if fidelity is not None:
        choices["best_fd"] = lambda_search.best_setting(grid, lambda_search.FD)
    eq5 = lambda_estimate.estimates(inputs.autoencoder, inputs.dataset.x_val, seed=config.seed)
    logging.info("λ read through Eq. 5 at noise levels s: %s", eq5)
    record = run_record(config, started, criterion=config.criterion, grid=grid, lambda_from_eq5=eq5,
                        **split_sizes(inputs.dataset),
                        **{name: {**{k: row[k] for k in lambda_search.SEARCHED_FIELDS}, "start": config.reinjection.start}
                           for name, row in choices.items()},
                        **({"start_moments": moments.to_record()} if moments is not None else {}))
    storage.write_json(config.output, record)
    return record
