"""Sample-quality metrics on cases with known answers."""

import numpy as np
import pytest

from aesampling.quality import measures


def with_moments(rng, n, mean, cov):
    """n points whose sample mean and covariance (ddof 1) are exactly `mean` and `cov`."""
    z = rng.normal(size=(n, len(mean)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return z @ np.linalg.cholesky(cov).T + mean


def test_fd_of_a_set_with_itself_is_zero():
    x = np.random.default_rng(0).normal(size=(500, 6))
    assert measures.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-6)


def test_fd_of_two_gaussians_matches_the_closed_form():
    rng = np.random.default_rng(1)
    mean_a, mean_b = np.array([0.0, 1.0, -2.0]), np.array([3.0, 1.0, 0.0])
    cov_a = np.array([[2.0, 0.3, 0.0], [0.3, 1.0, 0.2], [0.0, 0.2, 0.5]])
    cov_b = np.diag([1.0, 4.0, 0.25])
    a, b = with_moments(rng, 400, mean_a, cov_a), with_moments(rng, 300, mean_b, cov_b)
    # Tr((Σa Σb)^½) = Tr((Σb^½ Σa Σb^½)^½), whose eigenvalues are real.
    root_b = np.diag(np.sqrt(np.diag(cov_b)))
    cross = np.sqrt(np.linalg.eigvalsh(root_b @ cov_a @ root_b)).sum()
    expected = np.sum((mean_a - mean_b) ** 2) + np.trace(cov_a) + np.trace(cov_b) - 2 * cross
    assert measures.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)


def test_precision_recall_density_coverage_bounds():
    rng = np.random.default_rng(2)
    real = rng.normal(size=(300, 4))
    same = measures.precision_recall_density_coverage(real, real)
    assert same["precision"] == same["recall"] == same["coverage"] == 1.0 and same["density"] >= 1.0
    far = measures.precision_recall_density_coverage(real, real + 100.0)
    assert far["precision"] == far["recall"] == far["coverage"] == far["density"] == 0.0
    # Half the synthetic points far away: precision and density halve, the real data stay covered.
    half = measures.precision_recall_density_coverage(real, np.concatenate([real, real + 100.0]))
    assert half["precision"] == 0.5 and half["coverage"] == 1.0


def test_class_total_variation_of_one_class():
    real = np.repeat(np.arange(10), 30)
    assert measures.class_total_variation(np.zeros(50, int), real, 10) == pytest.approx(0.9)
    assert measures.class_total_variation(real[::-1], real, 10) == 0.0
    assert measures.class_histogram(np.array([0, 0, 2, 2]), 3).tolist() == [0.5, 0.0, 0.5]


def test_label_switch_rate_per_step():
    labels = np.array([[0, 1, 2, 3], [0, 1, 5, 3], [4, 1, 5, 6]])  # (T = 3, B = 4)
    assert measures.label_switch_rate(labels).tolist() == [0.25, 0.5]


def test_fd_with_fewer_samples_than_dimensions_matches_the_covariance_formula():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(12, 40)), rng.normal(1.0, 2.0, size=(9, 40))
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    eigenvalues = np.linalg.eigvals(cov_a @ cov_b)
    expected = (np.sum((a.mean(0) - b.mean(0)) ** 2) + np.trace(cov_a) + np.trace(cov_b)
                - 2 * np.sqrt(np.clip(eigenvalues.real, 0, None)).sum())
    assert measures.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6)
