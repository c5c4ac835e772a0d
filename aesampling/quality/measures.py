"""Sample quality: how close synthetic samples are to the data, in the ground-truth classifier's feature space.

The paper's claim is that reinjection samples the training distribution
(Proposition III.2); a student that learns from the samples does not prove
it, since soft labels of noise carry the classifier's knowledge too. These
metrics compare a set of samples F with real held-out images R directly,
both mapped by φ, the ground-truth classifier's last hidden layer:

- FD, the Fréchet distance between Gaussians fitted to φ(F) and φ(R):
  ||μ_F - μ_R||² + Tr(Σ_F + Σ_R - 2 (Σ_F Σ_R)^½) (the FID recipe with the
  classifier in place of Inception);
- precision, recall, density and coverage (Naeem et al., 2020), from the
  k-nearest-neighbour balls of the real and the synthetic features;
- class TV, the total-variation distance between the samples' hard-label
  frequencies and the real labels' ½ Σ_c |p_F(c) - p_R(c)|, and the
  per-class histogram;
- the label-switch rate of a chain: the share of consecutive states whose
  hard label differs (how often the chains cross between modes).
"""

from __future__ import annotations

import numpy as np
from sklearn.metrics import pairwise_distances
from sklearn.neighbors import NearestNeighbors

NEAREST_NEIGHBOURS = 5  # k of precision/recall/density/coverage, as Naeem et al. recommend
_CHUNK = 2048


def _trace_sqrt_product(a: np.ndarray, b: np.ndarray) -> float:
    """Tr((Σ_a Σ_b)^½) for centred rows a (N_a x d) and b (N_b x d), without a matrix square root.

    The eigenvalues of Σ_a Σ_b are those of the PSD matrix Σ_b^½ Σ_a Σ_b^½.
    When d exceeds a sample count, the non-zero ones are the squared
    singular values of b aᵀ / sqrt((N_a - 1)(N_b - 1)), found from the
    smaller Gram matrix instead.
    """
    (n_a, d), n_b = a.shape, len(b)
    if d <= min(n_a, n_b):
        cov_a, cov_b = a.T @ a / (n_a - 1), b.T @ b / (n_b - 1)
        w, v = np.linalg.eigh(cov_b)
        root_b = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
        eigenvalues = np.linalg.eigvalsh(root_b @ cov_a @ root_b)
        return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum())
    cross = b @ a.T  # (N_b, N_a)
    gram = cross @ cross.T if n_b <= n_a else cross.T @ cross
    eigenvalues = np.linalg.eigvalsh(gram)
    return float(np.sqrt(np.clip(eigenvalues, 0, None)).sum() / np.sqrt((n_a - 1) * (n_b - 1)))


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FD between Gaussians fitted to the rows of `a` and of `b` (each N x d, N >= 2; covariances with ddof 1)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    mean_a, mean_b = a.mean(axis=0), b.mean(axis=0)
    a, b = a - mean_a, b - mean_b
    trace_a = float((a * a).sum() / (len(a) - 1))
    trace_b = float((b * b).sum() / (len(b) - 1))
    distance = np.sum((mean_a - mean_b) ** 2) + trace_a + trace_b - 2 * _trace_sqrt_product(a, b)
    return float(max(distance, 0.0))


def _kth_neighbour_distance(x: np.ndarray, k: int) -> np.ndarray:
    """Distance from each row of x to its k-th nearest other row."""
    distances, _ = NearestNeighbors(n_neighbors=k + 1).fit(x).kneighbors(x)
    return distances[:, k]


def precision_recall_density_coverage(real: np.ndarray, fake: np.ndarray, k: int = NEAREST_NEIGHBOURS) -> dict:
    """Naeem et al. (2020): how much of F lies in R's k-NN balls and how much of R is covered by F.

    precision: share of F inside some real ball; recall: share of R inside
    some synthetic ball; density: mean count of real balls holding a
    synthetic point, over k (1 when F is distributed like R); coverage: share
    of real balls holding a synthetic point.
    """
    real, fake = np.asarray(real, np.float32), np.asarray(fake, np.float32)
    k = min(k, len(real) - 1, len(fake) - 1)
    real_radii = _kth_neighbour_distance(real, k)
    fake_radii = _kth_neighbour_distance(fake, k)
    inside_real = np.zeros(len(fake), bool)
    balls_holding = np.zeros(len(fake), np.int64)
    covered = np.zeros(len(real), bool)
    recalled = np.zeros(len(real), bool)
    for start in range(0, len(fake), _CHUNK):
        d = pairwise_distances(fake[start:start + _CHUNK], real)  # (chunk, |R|)
        within = d <= real_radii[None, :]
        inside_real[start:start + _CHUNK] = within.any(axis=1)
        balls_holding[start:start + _CHUNK] = within.sum(axis=1)
        covered |= within.any(axis=0)
        recalled |= (d <= fake_radii[start:start + _CHUNK, None]).any(axis=0)
    return {"precision": float(inside_real.mean()), "recall": float(recalled.mean()),
            "density": float(balls_holding.sum() / (k * len(fake))), "coverage": float(covered.mean()),
            "nearest_neighbours": int(k)}


def class_counts(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """How many integer labels fall in each class 0..num_classes - 1."""
    return np.bincount(np.asarray(labels, np.int64), minlength=num_classes)[:num_classes]


def class_histogram(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Frequencies of each class among integer labels (sums to 1)."""
    counts = class_counts(labels, num_classes)
    return counts / max(counts.sum(), 1)


def class_total_variation(labels: np.ndarray, real_labels: np.ndarray, num_classes: int) -> float:
    """½ Σ_c |p(c) - p_real(c)| between the label frequencies of two sets."""
    return float(0.5 * np.abs(class_histogram(labels, num_classes) - class_histogram(real_labels, num_classes)).sum())


def label_switch_rate(labels: np.ndarray) -> np.ndarray:
    """For chains' hard labels of shape (T, B): per step t = 1..T-1, the share of chains whose label changed."""
    labels = np.asarray(labels)
    return (labels[1:] != labels[:-1]).mean(axis=1)


def sample_quality(fake_features: np.ndarray, fake_labels: np.ndarray, real_features: np.ndarray,
                   real_labels: np.ndarray, num_classes: int) -> dict:
    """Every metric of one sample set against the real reference set (features φ, integer labels)."""
    return {
        "samples": int(len(fake_features)),
        "reference_examples": int(len(real_features)),
        "fd": frechet_distance(fake_features, real_features),
        **precision_recall_density_coverage(real_features, fake_features),
        "class_tv": class_total_variation(fake_labels, real_labels, num_classes),
        "class_histogram": class_histogram(fake_labels, num_classes).round(4).tolist(),
        "class_counts": class_counts(fake_labels, num_classes).tolist(),
    }
