"""λ read from the autoencoder alone, through Proposition III.2 (Eq. 5).

A perfect lossy autoencoder satisfies r(x) - x ≈ (λ/2)·∇log p(x). The score
∇log p is unknown, but for x̃ = x + s·ε (x ~ p, ε ~ N(0, I)) the score of
the smoothed density p_s has a noisy unbiased target: E[-ε/s | x̃] =
∇log p_s(x̃) (denoising score matching). Write d(x̃) = r(x̃) - x̃ and suppose
d = c·∇log p_s with c = λ/2. Then

    E⟨d, -ε/s⟩ = c·E‖∇log p_s‖²   and   E‖d‖² = c²·E‖∇log p_s‖²,

so c = E‖d‖² / E⟨d, -ε/s⟩, that is

    λ̂(s) = -2s · E‖r(x̃) - x̃‖² / E⟨r(x̃) - x̃, ε⟩.

p_s tends to p as s → 0 (for Gaussian data of variance σ², λ̂(s) =
λ·(1 + s²/σ²)), while the estimate gets noisier, so a few small s are
tried. Each point is perturbed by +s·ε and by -s·ε (antithetic pairs),
which cancels the term of E⟨d, ε⟩ that is odd in ε and would otherwise
dominate its variance at small s. The estimate is positive only where r
moves noisy points back towards the data (E⟨d, ε⟩ < 0); elsewhere it is
reported as None.
"""

from __future__ import annotations

import numpy as np
from keras import ops

from aesampling import backend
from aesampling.models import shapes

NOISE_LEVELS = (0.05, 0.1, 0.2)


def estimate_lambda(reconstruct, x: np.ndarray, noise_std: float, *, seed: int = 0) -> float | None:
    """λ̂(s) of Eq. 5 on the real points x (rows), s = `noise_std`; None when r does not denoise them.

    `reconstruct` maps a float32 batch to r(batch) as a numpy array (e.g. a
    Keras model's `predict`).
    """
    x = np.asarray(x, np.float32)
    noise = ops.convert_to_numpy(backend.standard_normal(seed, 0, 0, x.shape))
    noise = np.concatenate([noise, -noise])  # antithetic pairs: the terms odd in ε cancel between x ± s·ε
    noisy = np.concatenate([x, x]) + np.float32(noise_std) * noise
    shift = np.asarray(reconstruct(noisy), np.float64) - noisy
    alignment = float(np.mean(np.sum(shift * noise, axis=1)))
    if not alignment < 0:
        return None
    return float(-2.0 * noise_std * np.mean(np.sum(shift * shift, axis=1)) / alignment)


def estimates(autoencoder, x: np.ndarray, noise_levels=NOISE_LEVELS, *, seed: int = 0) -> dict[str, float | None]:
    """{str(s): λ̂(s)} for each noise level s, on the real points x (rows of n values, fitted to r's input shape)."""
    sample_shape = shapes.autoencoder_shape(autoencoder)

    def reconstruct(batch):
        shaped = shapes.fit_rows(batch, sample_shape, "the validation images")
        return autoencoder.predict(shaped, batch_size=4096, verbose=0).reshape(len(batch), -1)

    return {f"{s:g}": estimate_lambda(reconstruct, x, s, seed=seed) for s in noise_levels}
