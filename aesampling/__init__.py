"""aesampling: labelled synthetic data from any trained autoencoder.

Implements the reinjection sampler of Solinas et al. (2020), "Generalization
of iterative sampling in autoencoders": chains x_{n+1} = r(x_n) + sqrt(λ)·ε_n
started from N(0, I), labelled by a ground-truth classifier, and the
train-on-synthetic evaluation of Section IV.
"""

__version__ = "0.1.0"
