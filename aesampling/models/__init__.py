"""Keras builders of the autoencoders r and the classifier C, Table I's presets, and fitting them on real data."""
