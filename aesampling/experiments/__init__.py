"""The experimental workflow of Figure 2: one stage per module, each a keyword-only entry point.

Each `run_*` takes one immutable config (configs.py), does one job, writes
its outputs atomically and a JSON record (records.py: config, command,
machine, timings, metrics) next to them. The scripts in scripts/ only turn
flags into these configs.

    run_extract_features   CIFAR images -> cached ResNet50 features          (extract_features.py)
    run_train              real data -> autoencoder.keras / classifier.keras (train.py)
    run_lambda_search      r, C, validation split -> chosen λ, collect, b    (choose_lambda.py)
    run_choose_noise       candidate DAEs' λ searches -> the chosen DAE      (choose_noise.py)
    run_sample             autoencoder -> samples.npz           (Algorithm 1, sample.py)
    run_label              samples.npz + classifier -> labelled .npz (Algorithm 2, label.py)
    run_quality            any samples.npz + classifier -> FD, recall, coverage, collapse (assess.py)
    run_evaluate           one source -> learning curve CSV     (Section IV-G, evaluate.py)
    run_report             curves + samples -> table, figures   (report.py)
    run_stationarity       r, C -> do chains forget their start? (stationarity.py)
    run_seed_spread        reports of several seeds -> mean ± spread (seed_spread.py)
    run_class_incremental  tasks of classes in turn, replayed -> accuracy per task (class_incremental.py)
"""

from aesampling.experiments.assess import run_quality
from aesampling.experiments.class_incremental import run_class_incremental
from aesampling.experiments.configs import (ClassIncrementalConfig, DataConfig, EvaluateConfig, ExtractConfig,
                                            LabelConfig, LambdaSearchConfig, NoiseChoiceConfig, QualityConfig,
                                            ReportConfig, SampleConfig, SeedSpreadConfig, StationarityConfig,
                                            TrainConfig)
from aesampling.experiments.evaluate import run_evaluate
from aesampling.experiments.extract_features import run_extract_features
from aesampling.experiments.inputs import load_data
from aesampling.experiments.label import run_label
from aesampling.experiments.choose_noise import run_choose_noise
from aesampling.experiments.records import machine_description
from aesampling.experiments.report import run_report
from aesampling.experiments.sample import run_sample
from aesampling.experiments.choose_lambda import run_lambda_search
from aesampling.experiments.seed_spread import run_seed_spread
from aesampling.experiments.stationarity import run_stationarity
from aesampling.experiments.train import run_train

__all__ = [
    "ClassIncrementalConfig", "DataConfig", "EvaluateConfig", "ExtractConfig", "LabelConfig", "LambdaSearchConfig",
    "NoiseChoiceConfig", "QualityConfig", "ReportConfig", "SampleConfig", "SeedSpreadConfig", "StationarityConfig",
    "TrainConfig", "load_data", "machine_description",
    "run_choose_noise", "run_class_incremental", "run_evaluate", "run_extract_features", "run_label",
    "run_lambda_search", "run_quality", "run_report", "run_sample", "run_seed_spread", "run_stationarity",
    "run_train",
]
