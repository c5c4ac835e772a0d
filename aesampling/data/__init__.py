"""The dataset registry, the readers of each source, and the ResNet50 features of CIFAR."""
