"""Stands in for an absent tensorflow_datasets: on PYTHONPATH, it makes every import of it fail, as on a JAX-only GPU machine."""

raise ImportError("tensorflow_datasets is not installed here (tests/without_tensorflow stands in for a machine without it)")
