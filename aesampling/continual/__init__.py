"""Class-incremental learning by replay: tasks of classes learnt in turn, no past data kept, past tasks rehearsed
on replayed samples (reinjection, a VAE, a buffer, noise), all in one harness."""

# The principal directions of each past class that recommended replay chains start along, beside its moments
# (StartMoments.by_class): 0.676 ± 0.021 on split Fashion-MNIST against 0.648 ± 0.021 from the moments alone
# (results/split_fashion_mnist_class_directions_start).
REPLAY_START_DIRECTIONS = 16

# The grid FD chooses the replay chains' λ from after each task where neither a given λ, a given grid nor the recipe
# fixes it (results/split_fashion_mnist_clean_replay: clean states alone, λ up to 3 and beyond, end 0.020 higher on
# average than 0.01, 0.1, 1 with both states; offered noisy states, FD took λ = 0.3 noisy after the first task in 2
# of 5 seeds, and those seeds lost 0.04-0.06).
REPLAY_FD_LAMBDAS = (0.1, 0.3, 1.0, 3.0)
