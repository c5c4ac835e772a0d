"""Mode collapse: samples whose hard labels pile into a few classes, which FD alone can hide.

C's hard labels of a sample set F give its class frequencies p_F(c); the
data's labels give p_R(c). F is collapsed when any of these holds:

- class TV ½ Σ_c |p_F(c) - p_R(c)| > MAX_CLASS_TV = 0.6. In the committed
  results (results/*/metrics.json) healthy autoencoder samples reach 0.53 at
  most (Fashion-MNIST's deep DAE at λ = 1.11, whose student reaches 0.83
  against the ground truth's 0.89), collapsed ones 0.62 and more: the FD
  choice of that DAE (0.79 and 0.88, students 0.46 to 0.59), noise at the
  data's moments (0.62), N(0, I) noise (0.71); a user's conv AE at
  λ = 0.05 had 0.66 and taught a student 0.16 against 0.73. On data of
  equal class shares, a class holding over 70% of F crosses it.
- half the classes or more starved, p_F(c) < STARVED_SHARE·p_R(c) with
  STARVED_SHARE = 0.1 (classes absent from the data do not count). Healthy
  samples starve 2 classes of 10 at most; a class-balanced deep DAE that
  starves 5 (4 classes hold 97% of its samples, class TV 0.57) teaches a
  student 0.62 against 0.89.
- recall < MIN_RECALL = 0.05, where measured (measures.
  precision_recall_density_coverage): under 1 in 20 validation images has a
  sample among its k nearest. Real training images score 0.14 (Digits' upper
  bound, whose 10,000 draws of about 1,300 images repeat), healthy
  autoencoders 0.15 and more; noise at the data's moments 0.01, the conv AE
  0.000. Collapsed sets can keep a high recall (the DAE above: 0.09 to
  0.62), so recall only adds to the two class rules.

Coverage is reported beside recall but has no threshold: Fashion-MNIST's
shallow AE samples cover 0.4% of the real k-NN balls and still teach a
student 0.87 against 0.89.

`assess` (class histograms, counts or frequencies) and `assess_labels`
(hard labels) return a `Verdict`: its one-line `warning`, its
`histogram_text` beside the data's, and the `record` a stage writes.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from absl import logging

from aesampling.errors import UserInputError
from aesampling.quality import measures

MAX_CLASS_TV = 0.6
STARVED_SHARE = 0.1
MAX_STARVED_FRACTION = 0.5  # collapsed from this share of the data's classes starved
MIN_RECALL = 0.05
THRESHOLDS = {"max_class_tv": MAX_CLASS_TV, "starved_share": STARVED_SHARE,
              "max_starved_fraction": MAX_STARVED_FRACTION, "min_recall": MIN_RECALL}
HISTOGRAM_ROWS = 20  # more classes than this: the histogram shows the ones furthest from the data's share
NAMED_CLASSES = 10  # the warning names this many starved classes at most


def _beyond_thresholds(class_tv: float | None, recall: float | None) -> list[str]:
    """The reasons class TV and recall give for a collapse (empty when neither crosses its threshold)."""
    reasons = []
    if class_tv is not None and class_tv > MAX_CLASS_TV:
        reasons.append(f"class TV {class_tv:.3f} > {MAX_CLASS_TV:g}")
    if recall is not None and recall < MIN_RECALL:
        reasons.append(f"recall {recall:.3f} < {MIN_RECALL:g}")
    return reasons


def class_label(c: int, class_names: tuple[str, ...] | None) -> str:
    """Class c by its name, or "class c" where it has none (or its name is its number)."""
    return class_names[c] if class_names and class_names[c] != str(c) else f"class {c}"


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether samples collapsed: p_F and p_R, class TV, starved and dominant classes, recall, coverage.

    `sample_count`/`data_count` are the sizes behind the histograms when they came as counts (else None);
    `dominant` is the class with the largest excess p_F(c) - p_R(c).
    """

    histogram: np.ndarray
    data_histogram: np.ndarray
    class_tv: float
    starved: tuple[int, ...]
    dominant: int
    reasons: tuple[str, ...]
    recall: float | None = None
    coverage: float | None = None
    class_names: tuple[str, ...] | None = None
    what: str = "the samples"
    sample_count: int | None = None
    data_count: int | None = None

    @property
    def collapsed(self) -> bool:
        return bool(self.reasons)

    def label(self, c: int) -> str:
        return class_label(c, self.class_names)

    @property
    def warning(self) -> str | None:
        """One line naming what crossed which threshold, the dominant class and the starved ones; None when healthy."""
        if not self.collapsed:
            return None
        c = self.dominant
        text = (f"{self.what} collapsed ({'; '.join(self.reasons)}): {self.histogram[c]:.0%} are "
                f"{self.label(c)} (data {self.data_histogram[c]:.0%})")
        if self.starved:
            named = [self.label(s) for s in self.starved[:NAMED_CLASSES]]
            more = len(self.starved) - len(named)
            text += f"; starved: {', '.join(named)}" + (f" and {more} more" if more else "")
        return text

    def histogram_text(self) -> str:
        """p_F beside p_R, a line per class (the HISTOGRAM_ROWS furthest from p_R when there are more),
        starved classes marked."""
        classes = range(len(self.histogram))
        if len(classes) > HISTOGRAM_ROWS:
            furthest = np.argsort(-np.abs(self.histogram - self.data_histogram), kind="stable")[:HISTOGRAM_ROWS]
            classes = sorted(int(c) for c in furthest)
        names = {c: (f"{c} {self.class_names[c]}" if self.class_names and self.class_names[c] != str(c) else str(c))
                 for c in classes}
        width = max(len("class"), *(len(name) for name in names.values()))
        sizes = (f" ({self.sample_count:,} samples, {self.data_count:,} data labels)"
                 if self.sample_count is not None and self.data_count is not None else "")
        lines = [f"class histogram of {self.what} against the data's{sizes}:",
                 f"  {'class':<{width}}  samples     data"]
        for c in classes:
            mark = ("  empty" if self.histogram[c] == 0 else "  starved") if c in self.starved else ""
            mark += "  most over" if c == self.dominant and self.histogram[c] > self.data_histogram[c] else ""
            lines.append(f"  {names[c]:<{width}}  {self.histogram[c]:>7.1%}  {self.data_histogram[c]:>7.1%}{mark}")
        if len(classes) < len(self.histogram):
            lines.append(f"  ({len(self.histogram) - len(classes)} classes closer to their data share not shown)")
        return "\n".join(lines)

    def record(self) -> dict:
        """The verdict as a stage's JSON record holds it, thresholds included."""
        return {"collapsed": self.collapsed, "warning": self.warning, "reasons": list(self.reasons),
                "class_tv": self.class_tv, "recall": self.recall, "coverage": self.coverage,
                "dominant_class": self.dominant, "starved_classes": list(self.starved),
                "samples": self.sample_count, "data_labels": self.data_count,
                "class_histogram": self.histogram.round(4).tolist(),
                "data_histogram": self.data_histogram.round(4).tolist(),
                "class_names": None if self.class_names is None else list(self.class_names),
                "thresholds": dict(THRESHOLDS)}


def _frequencies(histogram, what: str) -> tuple[np.ndarray, int | None]:
    """(frequencies, count) of a histogram of counts or frequencies; count only for integer counts."""
    histogram = np.asarray(histogram)
    if histogram.ndim != 1 or histogram.dtype.kind not in "iuf" or not np.all(np.isfinite(histogram)) \
            or np.any(histogram < 0) or histogram.sum() <= 0:
        raise UserInputError(f"{what} must be a class histogram: one count or share >= 0 per class, not all 0")
    total = histogram.sum()
    return histogram / total, int(total) if histogram.dtype.kind in "iu" else None


def assess(histogram, data_histogram, *, recall: float | None = None, coverage: float | None = None,
           class_names=None, what: str = "the samples") -> Verdict:
    """The verdict on samples of class histogram `histogram` (counts or frequencies, one per class) against the
    data's `data_histogram`; `recall`, `coverage` where measured, `class_names` per class, `what` names the samples
    in the text."""
    p, sample_count = _frequencies(histogram, f"the class histogram of {what}")
    q, data_count = _frequencies(data_histogram, "the data's class histogram")
    if len(p) != len(q) or (class_names is not None and len(class_names) != len(q)):
        raise UserInputError(f"the class histogram of {what} has {len(p)} classes, the data's {len(q)}"
                             + ("" if class_names is None else f" and the class names {len(class_names)}"))
    class_tv = float(0.5 * np.abs(p - q).sum())
    present = q > 0
    floor = STARVED_SHARE * q
    starved = tuple(int(c) for c in np.flatnonzero(present & (p < floor) & ~np.isclose(p, floor, rtol=1e-9, atol=0)))
    reasons = _beyond_thresholds(class_tv, recall)
    if len(starved) >= MAX_STARVED_FRACTION * present.sum():
        reasons.append(f"{len(starved)} of {int(present.sum())} classes below {STARVED_SHARE:g}× their data share")
    return Verdict(p, q, class_tv, starved, int(np.argmax(p - q)), tuple(reasons), recall, coverage,
                   None if class_names is None else tuple(class_names), what, sample_count, data_count)


def class_counts(labels, num_classes: int) -> np.ndarray:
    """measures.class_counts of hard labels, checked to be integers in 0..num_classes - 1."""
    labels = np.asarray(labels)
    if labels.ndim != 1 or (labels.size and (labels.dtype.kind not in "iu" or labels.min() < 0
                                             or labels.max() >= num_classes)):
        raise UserInputError(f"hard labels must be integers in 0..{num_classes - 1}")
    return measures.class_counts(labels, num_classes)


def assess_labels(labels, data_labels, num_classes: int, **kwargs) -> Verdict:
    """`assess` on hard labels: the samples' and the data's, each in 0..num_classes - 1."""
    return assess(class_counts(labels, num_classes), class_counts(data_labels, num_classes), **kwargs)


def is_collapsed(measured: dict) -> bool | None:
    """Whether a measurement ({"collapsed", "class_tv", "recall"}, any missing) says its samples collapsed: its own
    "collapsed" where `assess` gave one, else class TV and recall against their thresholds; None when neither is
    measured."""
    if measured.get("collapsed") is not None:
        return bool(measured["collapsed"])
    if measured.get("class_tv") is None and measured.get("recall") is None:
        return None
    return bool(_beyond_thresholds(measured.get("class_tv"), measured.get("recall")))


def log(verdict: Verdict) -> None:
    """Logs the class histogram beside the data's, and the one-line warning when the samples collapsed."""
    logging.info("%s", verdict.histogram_text())
    if verdict.collapsed:
        logging.warning("%s", verdict.warning)
