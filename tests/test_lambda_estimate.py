"""λ from the autoencoder alone (Eq. 5), on a Gaussian whose perfect lossy autoencoder is known in closed form."""

import numpy as np
import pytest

from aesampling.selection import lambda_estimate


@pytest.mark.parametrize("noise_std", [0.05, 0.2])
def test_the_perfect_lossy_autoencoder_of_a_gaussian_gives_back_its_lambda(linear_autoencoder, noise_std):
    # p = N(0, I): ∇log p(x) = -x, so Eq. 5's r(x) = x - (λ/2)·x; the smoothed density gives λ·(1 + s²).
    lam = 0.1
    x = np.random.default_rng(0).standard_normal((20000, 8)).astype(np.float32)
    found = lambda_estimate.estimates(linear_autoencoder(8, 1 - lam / 2), x, (noise_std,))[f"{noise_std:g}"]
    assert found == pytest.approx(lam * (1 + noise_std**2), rel=0.03)


def test_an_autoencoder_that_does_not_denoise_has_no_estimate(linear_autoencoder):
    x = np.random.default_rng(1).standard_normal((2000, 4)).astype(np.float32)
    assert lambda_estimate.estimates(linear_autoencoder(4, 1.0), x) == {"0.05": None, "0.1": None, "0.2": None}
    assert lambda_estimate.estimates(linear_autoencoder(4, 1.1), x)["0.1"] is None  # pushes points away
