"""Class-incremental learning by replay: tasks of classes learnt in turn, no past data kept, past tasks rehearsed
on replayed samples (reinjection, a VAE, a buffer, noise), all in one harness."""
