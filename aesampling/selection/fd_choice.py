"""λ by FD alone, from Python: the search's FD criterion (`lambda_search`) with its measuring set up.

    config, rows = choose_lambda_by_fd(autoencoder, classifier, x_val, y_val)
    samples = ReinjectionSampler(autoencoder, config, seed=0).sample(10000)

Each (λ, collect) setting's first samples are measured against the
validation images in C's feature space (no student is trained), the grid is
widened where the lowest FD sits on its edge, and the setting of lowest FD
among those whose samples did not collapse (aesampling.quality.collapse) is
returned; a warning says so when every setting collapsed.
"""

from __future__ import annotations

import dataclasses

from absl import logging

from aesampling.models import presets, shapes
from aesampling.quality import diagnostics
from aesampling.sampling.reinjection import ReinjectionConfig, StartMoments
from aesampling.selection import lambda_search

DEFAULTS = presets.LambdaSearchSettings()


def choose_lambda_by_fd(autoencoder, classifier, x_val, y_val, *, base: ReinjectionConfig | None = None,
                        lambdas=DEFAULTS.lambdas, collects=DEFAULTS.collects, burn_ins=None,
                        widenings: int = DEFAULTS.fd_widenings, samples: int = diagnostics.FIDELITY_SAMPLES,
                        seed: int = 0, feature_layer: str | None = None, class_labels=None,
                        moments: StartMoments | None = None) -> tuple[ReinjectionConfig, list[dict]]:
    """(the chosen chain settings, one row per setting measured) for autoencoder r and classifier C.

    Args:
      x_val, y_val: held-out real samples (rows of any layout with n values) and their labels.
      base: the chain settings λ, collect and b are searched around (B, R - b, start); default
        ReinjectionConfig(lam=0) with its defaults.
      lambdas, collects: the grid; burn_ins: b values, default (base.burn_in,); "mixing" reads each setting's
        burn-in from its chains' mixing curve.
      widenings: rounds of widening λ (and b) beyond the grid's edge where the lowest FD sits on it.
      samples: samples measured per setting.
      feature_layer: C's layer whose output is φ (default: its penultimate representation).
      class_labels: the real labels whose class frequencies collapse is judged against (default y_val).
      moments: the data's StartMoments, where chains start when `base.start` is "moments".
    """
    base = ReinjectionConfig(lam=0.0) if base is None else base
    burn_ins = (base.burn_in,) if burn_ins is None else tuple(burn_ins)
    space = diagnostics.FeatureSpace(classifier, feature_layer=feature_layer)
    num_classes = shapes.output_shape(classifier)[0]
    reference = diagnostics.Reference.of(space, x_val, y_val, num_classes, class_labels=class_labels)
    mixing_burn_in = None
    if lambda_search.MIXING in burn_ins:
        mixing_burn_in = diagnostics.mixing_burn_in(autoencoder, space, reference, seed=seed, moments=moments)
    rows = lambda_search.search(
        autoencoder, classifier, x_val, y_val, base=base, lambdas=tuple(lambdas), collects=tuple(collects),
        burn_ins=burn_ins, epochs=1, steps_per_epoch=1, seed=seed, widenings=widenings,
        criterion=lambda_search.FD, fidelity=diagnostics.fidelity(space, reference, samples),
        mixing_burn_in=mixing_burn_in, moments=moments)
    if (warning := lambda_search.collapse_warning(rows, lambda_search.FD)) is not None:
        logging.warning("%s", warning)
    best = lambda_search.best_setting(rows, lambda_search.FD)
    chosen = dataclasses.replace(base, lam=best["lam"], collect=best["collect"], burn_in=best["burn_in"],
                                 reinjections=best["reinjections"])
    return chosen, rows
