"""Stage 0 (CIFAR only): cache the ResNet50 features of a dataset."""

from __future__ import annotations

import time
from pathlib import Path

from aesampling.data import datasets
from aesampling.data import resnet50
from aesampling.io import storage
from aesampling.errors import UserInputError
from aesampling.experiments import outputs
from aesampling.experiments.configs import ExtractConfig
from aesampling.experiments.records import run_record


@outputs.stage
def run_extract_features(config: ExtractConfig) -> Path:
    """Caches the ResNet50 features of a dataset that uses them; returns the cache path."""
    started = time.perf_counter()
    cfg = config.data
    if not datasets.dataset_spec(cfg.dataset).uses_features:
        raise UserInputError(f"{cfg.dataset} is used as pixels; feature extraction is for CIFAR")
    if cfg.cache_dir is None:
        raise UserInputError("give a feature cache folder")
    read = outputs.data_inputs(cfg)
    outputs.claim(outputs.with_record("the feature cache", read.pop("the feature cache")), read)
    path = resnet50.extract_to_cache(
        cfg.dataset, cache_dir=cfg.cache_dir, data_dir=cfg.data_dir, tfds_data_dir=cfg.tfds_data_dir,
        weights=cfg.resnet_weights, image_size=cfg.image_size, batch_size=cfg.extraction_batch_size,
        check_source=True,
    )
    storage.write_json(storage.sidecar_path(path), run_record(config, started, cache=str(path)))
    return path
