"""Sample quality of a source and mixing of the chains, measured with the ground-truth classifier.

`FeatureSpace` maps x to φ(x), the activations of C's penultimate layer, and
to C's hard label; the metrics themselves live in aesampling.quality.measures. The
reference set is the validation split: held-out real images that no model
was trained on and that the test set never replaces.
"""

from __future__ import annotations

import dataclasses
import math

import keras
import numpy as np

from aesampling.models import classifier_layers, shapes
from aesampling.quality import collapse, measures
from aesampling.errors import UserInputError
from aesampling.sampling.reinjection import (MOMENTS_START, check_fits_memory, NORMAL_START, ReinjectionConfig, ReinjectionSampler, Sampler, StartMoments,
                                 start_for)

MIXING_STEPS = (1, 2, 3, 5, 10, 20, 40, 60)
MIXING_CHAINS = 1000
MIXING_TOLERANCE = 0.1  # the burn-in ends where the chains' FD has gone 90% of its way from worst to best
QUALITY_SAMPLES = 10000
STATIONARITY_STEPS = (1, 3, 10, 30, 100, 300, 1000)
STATIONARITY_CHAINS = 2000
COUPLED_RMS = 1e-3  # two copies of a chain closer than this (root mean square over the features) have met
FIDELITY_SAMPLES = 5000


class FeatureSpace:
    """φ(x) and argmax C(x), in batches: φ is C's penultimate representation, or the layer named
    `feature_layer` (`classifier_layers.features_and_outputs`), flattened to one vector per sample.

    Samples of any layout with C's n input values are fitted to C's input shape.
    """

    def __init__(self, classifier: keras.Model, batch_size: int = 4096, feature_layer: str | None = None):
        self._both = classifier_layers.features_and_outputs(classifier, feature_layer)
        self._input_shape = shapes.input_shape(classifier)
        self.input_size = shapes.size(self._input_shape)  # n, the values of one sample
        self.widest = shapes.widest_layer(classifier)  # values per row of C's widest layer, φ's bound
        self._batch_size = batch_size

    def __call__(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(φ(x), hard labels) of the rows of x, in one predict call."""
        x = shapes.fit_rows(np.asarray(x, np.float32), self._input_shape, "the samples")
        features, probabilities = self._both.predict(x, batch_size=self._batch_size, verbose=0)
        features = np.asarray(features, np.float32)
        return features.reshape(len(features), -1), np.argmax(probabilities, axis=1)


@dataclasses.dataclass(frozen=True)
class Reference:
    """What samples are compared with: φ of the validation images, and real labels for the class frequencies.

    `labels` are the true labels whose frequencies the class TV compares
    with: by default the validation split's, better all the real labels
    known (training and validation), since a small validation split's
    frequencies are noisy.
    """

    features: np.ndarray
    labels: np.ndarray
    num_classes: int

    @classmethod
    def of(cls, space: FeatureSpace, x: np.ndarray, y: np.ndarray, num_classes: int,
           class_labels: np.ndarray | None = None) -> "Reference":
        if x is None or len(x) < 2:
            raise UserInputError("sample-quality metrics need a validation split of 2 examples or more")
        return cls(space(x)[0], np.asarray(y if class_labels is None else class_labels, np.int64), num_classes)


def source_quality(samples: np.ndarray, space: FeatureSpace, reference: Reference) -> dict:
    """FD, precision, recall, density, coverage, class TV and class histogram of `samples`."""
    features, labels = space(samples)
    return measures.sample_quality(features, labels, reference.features, reference.labels, reference.num_classes)


def judged_quality(samples: np.ndarray, space: FeatureSpace, reference: Reference, *,
                   class_names=None, what: str = "the samples") -> tuple[dict, collapse.Verdict]:
    """(`source_quality` with its "collapsed" flag, the collapse verdict on its class histogram, recall and
    coverage): FD is never read without them."""
    quality = source_quality(samples, space, reference)
    verdict = collapse.assess(quality["class_counts"], collapse.class_counts(reference.labels, reference.num_classes),
                              recall=quality["recall"], coverage=quality["coverage"], class_names=class_names,
                              what=what)
    return {**quality, "collapsed": verdict.collapsed}, verdict


def measure_samples(samples, classifier, x_real, y_real, *, class_labels=None, feature_layer: str | None = None,
                    class_names=None) -> dict:
    """The quality of any samples against held-out real ones (x_real, y_real), in C's feature space.

    Samples and real rows may have any layout with C's n input values. Returns
    FD, precision, recall, density, coverage, class TV, the class histogram and
    counts, "collapsed", and "collapse": the verdict's record, whose "warning"
    is one line (None when healthy). `class_labels`: the real labels whose
    class frequencies are compared with (default y_real); `feature_layer`: C's
    layer whose output is φ (default: its penultimate representation).
    """
    space = FeatureSpace(classifier, feature_layer=feature_layer)
    num_classes = shapes.output_shape(classifier)[0]
    reference = Reference.of(space, x_real, y_real, num_classes, class_labels=class_labels)
    quality, verdict = judged_quality(np.asarray(samples, np.float32), space, reference, class_names=class_names)
    return {**quality, "collapse": verdict.record()}


def mixing(autoencoder, reinjection: ReinjectionConfig, space: FeatureSpace, reference: Reference, *,
           seed: int, chains: int = MIXING_CHAINS, moments: StartMoments | None = None) -> dict:
    """How chains from their start approach the data: FD and class TV at the steps t of MIXING_STEPS.

    The chains use λ, the collected state and the start of `reinjection`
    (N(0, I), or the data's `moments` for start "moments"), without
    restart. The label-switch rate is the share of chains whose hard label
    changes from one state to the next, per step and averaged over the
    states `reinjection` collects (t = b + 1 .. R).
    """
    length = max(max(MIXING_STEPS), reinjection.reinjections)  # long enough to cover the collected states
    config = dataclasses.replace(reinjection, num_chains=chains, reinjections=length, burn_in=0)
    states = ReinjectionSampler(autoencoder, config, seed=seed, start=start_for(config, moments)).restarts(0, 1)
    states = states.reshape(config.reinjections, chains, -1)
    if not np.all(np.isfinite(states)):
        raise UserInputError(f"the chains produce NaN or inf at λ={reinjection.lam}: no mixing to measure")
    features, labels = space(states.reshape(-1, states.shape[-1]))
    features = features.reshape(length, chains, -1)
    labels = labels.reshape(length, chains)
    rows = []
    for t in MIXING_STEPS:
        rows.append({"t": t, "fd": measures.frechet_distance(features[t - 1], reference.features),
                     "class_tv": measures.class_total_variation(labels[t - 1], reference.labels,
                                                               reference.num_classes)})
    switches = measures.label_switch_rate(labels)  # switches[t - 2]: from state t - 1 to state t
    collected = switches[reinjection.burn_in:reinjection.reinjections - 1]
    return {"chains": chains, "steps": rows, "label_switch_rate": switches.round(4).tolist(),
            "collected_label_switch_rate": float(collected.mean()) if len(collected) else None,
            "burn_in_from_mixing": burn_in_from_mixing(rows)}


def check_mixing_memory(autoencoder, classifier, reinjection: ReinjectionConfig, chains: int, *,
                        field: str = "mixing_chains") -> None:
    """Raises UserInputError, before any work, when `mixing`'s `chains` would not fit in memory: each chain's
    states over the steps, with their features through C's widest layer, beside the chains themselves."""
    length = max(max(MIXING_STEPS), reinjection.reinjections)
    n = shapes.size(shapes.autoencoder_shape(autoencoder))
    per_chain = length * (2 * n + 2 * shapes.widest_layer(classifier)) + 3 * n + 2 * shapes.widest_layer(autoencoder)
    check_fits_memory(chains, per_chain, what=f"mixing chains of n = {n} over {length} steps", field=field)


def burn_in_from_mixing(steps: list[dict], tolerance: float = MIXING_TOLERANCE) -> int:
    """The burn-in b a mixing curve suggests: the first step t whose FD is within `tolerance` of the
    curve's range above its lowest FD, i.e. FD(t) <= min FD + tolerance·(max FD - min FD).

    `steps` are mixing()'s rows ({"t", "fd"}); states up to x_b are then
    dropped. Steps whose FD is not finite never qualify.
    """
    finite = [row for row in steps if math.isfinite(row["fd"])]
    if not finite:
        raise UserInputError("the chains' FD is not finite at any step: no burn-in to read from the mixing curve")
    low, high = min(row["fd"] for row in finite), max(row["fd"] for row in finite)
    return int(next(row["t"] for row in finite if row["fd"] <= low + tolerance * (high - low)))


def mixing_burn_in(autoencoder, space: FeatureSpace, reference: Reference, *, seed: int,
                   chains: int = MIXING_CHAINS, moments: StartMoments | None = None):
    """config -> the burn-in its mixing curve suggests (`burn_in_from_mixing`); 0 when its chains blow up.

    The λ search's burn-in for each (λ, collect) it tries (lambda_search.MIXING); `moments` as for `mixing`.
    """
    def burn_in(config: ReinjectionConfig) -> int:
        try:
            return mixing(autoencoder, config, space, reference, seed=seed, chains=chains,
                          moments=moments)["burn_in_from_mixing"]
        except UserInputError:  # NaN or inf states: the setting diverges whatever its burn-in
            return 0

    return burn_in


def states_at_step(autoencoder, reinjection: ReinjectionConfig, t: int, *, seed: int, chains: int,
                   moments: StartMoments | None = None) -> np.ndarray:
    """The state `reinjection` collects at step t (x_t, or r(x_{t-1}) for clean states) of `chains` chains from its
    start, without restart: shape (chains, n). Chain i is the same chain whatever t (counter-based noise)."""
    if t < 1:
        raise UserInputError(f"reinjection steps t start at 1, got {t}")
    config = dataclasses.replace(reinjection.without_balance(), num_chains=chains, reinjections=t, burn_in=t - 1)
    sampler = ReinjectionSampler(autoencoder, config, seed=seed, start=start_for(config, moments))
    return sampler.restarts(0, 1).reshape(chains, sampler.input_dim)


def start_dependence(autoencoder, reinjection: ReinjectionConfig, space: FeatureSpace, reference: Reference, *,
                     seed: int, moments: StartMoments, steps=STATIONARITY_STEPS,
                     chains: int = STATIONARITY_CHAINS) -> dict:
    """Do the chains forget where they started? The same chains run from N(0, I) and from the data's moments.

    At each step t of `steps`, the states x_t of `chains` chains from each
    start (λ and the collected state of `reinjection`, no restart, no class
    balance) are measured against the validation images (FD, class TV and
    hard-label histogram), and against each other. A chain that has reached
    the stationary distribution of x <- r(x) + sqrt(λ)·ε no longer depends
    on x_0, so the two starts' states become two samples of one distribution.
    To tell "one distribution" from sampling noise, each start's chains are
    split in halves A1, A2 (N(0, I)) and B1, B2 (moments):

        between = ½ (D(A1, B2) + D(B1, A2)),   within = ½ (D(A1, A2) + D(B1, B2))

    for D the class TV of the hard labels and the FD of the features: equal
    sample sizes on both sides, so between ≈ within exactly when the starts
    are forgotten, and between >> within while they are not.

    Chain i gets the same noise ε_t from both starts (the counter-based draw
    keyed by seed, restart and t), a synchronous coupling: where r contracts,
    its two copies meet and go on as one chain. `coupled_share` is the share of
    chains whose two copies are within COUPLED_RMS (root mean square over the
    n features) at step t, `same_label_share` the share whose two copies have
    the same hard label.
    """
    if chains < 4:
        raise UserInputError(f"telling the starts apart needs 4 chains or more, got {chains}")
    n, widest = space.input_size, max(shapes.widest_layer(autoencoder), space.widest)  # r may be a plain callable
    # Per chain, both starts held at once: each start's state, noise, r's and C's widest layers, its φ and the
    # NumPy copies of the state and φ.
    check_fits_memory(chains, 2 * (5 * n + 4 * widest), field="chains",
                      what=f"chains of n = {n} from each of two starts, through layers of up to {widest:,} values")
    half, num_classes = chains // 2, reference.num_classes
    per_start = {NORMAL_START: [], MOMENTS_START: []}
    between = []
    for t in sorted(set(int(t) for t in steps)):
        measured, paired = {}, {}
        for start, start_moments in ((NORMAL_START, None), (MOMENTS_START, moments)):
            config = dataclasses.replace(reinjection, start=start)
            x = states_at_step(autoencoder, config, t, seed=seed, chains=chains, moments=start_moments)
            if not np.all(np.isfinite(x)):
                raise UserInputError(f"the chains produce NaN or inf at λ={reinjection.lam} by step {t}: "
                                     "no stationarity to measure")
            features, labels = space(x)
            measured[start] = (features[:half], labels[:half]), (features[half:2 * half], labels[half:2 * half])
            paired[start] = x, labels
            per_start[start].append({
                "t": t, "fd": measures.frechet_distance(features, reference.features),
                "class_tv": measures.class_total_variation(labels, reference.labels, num_classes),
                "class_histogram": measures.class_histogram(labels, num_classes).round(4).tolist()})
        (a1, a2), (b1, b2) = measured[NORMAL_START], measured[MOMENTS_START]

        def tv(u, v):
            return measures.class_total_variation(u[1], v[1], num_classes)

        def fd(u, v):
            return measures.frechet_distance(u[0], v[0])

        between.append({"t": t, "class_tv_between": (tv(a1, b2) + tv(b1, a2)) / 2,
                        "class_tv_within": (tv(a1, a2) + tv(b1, b2)) / 2,
                        "fd_between": (fd(a1, b2) + fd(b1, a2)) / 2, "fd_within": (fd(a1, a2) + fd(b1, b2)) / 2,
                        **_paired_chains(paired[NORMAL_START], paired[MOMENTS_START])})
    return {"chains": chains, "lam": reinjection.lam, "collect": reinjection.collect, "starts": per_start,
            "between_starts": between}


def _paired_chains(a: tuple[np.ndarray, np.ndarray], b: tuple[np.ndarray, np.ndarray]) -> dict:
    """Shares of chains whose copies from two starts, (states, labels) each, have met, and have one label."""
    rms = np.sqrt(np.mean(np.square(a[0].astype(np.float64) - b[0]), axis=1))
    return {"coupled_share": float(np.mean(rms <= COUPLED_RMS)), "same_label_share": float(np.mean(a[1] == b[1]))}


def fidelity(space: FeatureSpace, reference: Reference, samples: int = FIDELITY_SAMPLES):
    """sampler -> {"fd", "class_tv", "class_counts", "collapsed"} of its first `samples` samples against the
    reference.

    The λ search's FD criterion: sampling and C's features only, no student.
    `collapsed` is collapse.assess's verdict on the hard labels. Chains that
    blow up give FD inf and the others None.
    """
    def measure(sampler: Sampler) -> dict:
        per_restart = sampler.config.samples_per_restart
        x = sampler.restarts(0, -(-samples // per_restart))[:samples]
        if not np.all(np.isfinite(x)):
            return {"fd": float("inf"), "class_tv": None, "class_counts": None, "collapsed": None}
        features, labels = space(x)
        counts = collapse.class_counts(labels, reference.num_classes)
        return {"fd": measures.frechet_distance(features, reference.features),
                "class_tv": measures.class_total_variation(labels, reference.labels, reference.num_classes),
                "class_counts": counts.tolist(),
                "collapsed": collapse.assess(counts, collapse.class_counts(reference.labels,
                                                                           reference.num_classes)).collapsed}

    return measure
