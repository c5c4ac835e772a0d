"""Class-incremental learning by replay: a learner meets the classes a few at a time, keeps no past data, and
rehearses past tasks on replayed samples (pseudo-rehearsal, the paper's purpose), from reinjection sampling of an
autoencoder or from the usual comparators (a VAE, a small buffer, noise), all in one harness."""
