"""Choosing the sampler's λ, collected state and burn-in on a validation split, and λ read off r through Eq. 5."""
