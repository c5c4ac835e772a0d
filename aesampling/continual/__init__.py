"""Class-incremental learning by replay: tasks of classes learnt in turn, no past data kept, past tasks rehearsed
on replayed samples (reinjection, a VAE, a buffer, noise), all in one harness."""

# The principal directions of each past class that recommended replay chains start along, beside its moments
# (StartMoments.by_class): 0.676 ± 0.021 on split Fashion-MNIST against 0.648 ± 0.021 from the moments alone
# (results/split_fashion_mnist_class_directions_start).
REPLAY_START_DIRECTIONS = 16
