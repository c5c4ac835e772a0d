"""The train-on-synthetic loop learns, its sources have the right batches, summaries are right."""

import numpy as np
import pandas as pd
import pytest

from aesampling import evaluation, metrics, reporting, training
from aesampling.presets import ClassifierPreset
from aesampling.sampling import ReinjectionConfig, ReinjectionSampler


@pytest.fixture(scope="module")
def ground_truth(digits):
    model = training.build_classifier_from_preset(ClassifierPreset((32,), "relu", epochs=30, batch_size=64), 64, 10)
    result = training.fit_classifier(model, digits, epochs=30, batch_size=64, verbose=0)
    assert result["test_accuracy"] > 0.9
    return model


def test_training_on_real_digits_beats_chance_within_a_few_hundred_steps(digits, ground_truth):
    source, per_step = evaluation.real_data_source(digits.x_train, 64, seed=0)
    curve = evaluation.learning_curve(
        source, per_step, ground_truth, digits.x_test, digits.y_test,
        epochs=3, steps_per_epoch=100, seed=1,
    )
    assert [p.epoch for p in curve] == [0, 1, 2, 3]
    assert [p.samples_seen for p in curve] == [0, 6400, 12800, 19200]
    assert curve[0].accuracy < 0.3  # untrained
    assert curve[-1].accuracy > 0.8  # chance is 0.1


def test_learning_curves_are_reproducible(digits, ground_truth):
    source, per_step = evaluation.gaussian_source(64, 32, seed=3)
    run = lambda: [p.accuracy for p in evaluation.learning_curve(  # noqa: E731
        source, per_step, ground_truth, digits.x_test, digits.y_test, epochs=2, steps_per_epoch=20, seed=4)]
    assert run() == run()


def test_sources_yield_batches_of_the_declared_size(digits, linear_autoencoder):
    import tensorflow as tf

    sampler = ReinjectionSampler(linear_autoencoder(64, 0.5), ReinjectionConfig(lam=0.1, num_chains=5), seed=0)
    for source, size in [
        evaluation.autoencoder_source(sampler),
        evaluation.real_data_source(digits.x_train, 40, seed=0),
        evaluation.gaussian_source(64, 40, seed=0),
    ]:
        first, second = source(tf.constant(0)), source(tf.constant(1))
        assert first.shape == (size, 64)
        assert not np.allclose(first, second)
    real, _ = evaluation.real_data_source(digits.x_train, 40, seed=0)
    rows = real(tf.constant(7)).numpy()
    assert all((digits.x_train == row).all(axis=1).any() for row in rows)


def test_samples_to_reach():
    assert metrics.samples_to_reach([0, 10, 20, 30], [0.1, 0.5, 0.96, 0.97], 0.95) == 20
    assert metrics.samples_to_reach([0, 10], [0.1, 0.5], 0.95) is None


def test_summary_table_orders_bounds_and_computes_ratios():
    curves = pd.DataFrame({
        "source": ["lower_bound"] * 3 + ["deep_ae"] * 3 + ["upper_bound"] * 3,
        "epoch": [0, 1, 2] * 3,
        "samples_seen": [0, 400, 800] * 3,
        "accuracy": [0.1, 0.5, 0.6, 0.1, 0.9, 0.95, 0.1, 0.97, 0.99],
    })
    chains = {"config": {"chains": {"lam": 0.05, "collect": "noisy", "reinjections": 10, "burn_in": 2}}}
    table = reporting.summary_table(curves, {s: chains for s in curves["source"].unique()}, 1.0)
    assert list(table["source"]) == ["upper_bound", "deep_ae", "lower_bound"]
    row = table.set_index("source").loc["deep_ae"]
    assert row["final_accuracy"] == 0.95 and row["lam"] == 0.05 and row["relative_to_ground_truth"] == 0.95
    assert row["reinjections"] == 10 and row["burn_in"] == 2
    assert row["last_epochs_mean_accuracy"] == pytest.approx((0.1 + 0.9 + 0.95) / 3)
    assert pd.isna(row["samples_to_97pct"])
    assert table.set_index("source").loc["upper_bound", "samples_to_97pct"] == 400


def test_stage_timings_count_the_interrupted_runs_of_a_resumed_curve():
    classifier = {"wall_seconds": 10.0}
    curves = {"upper_bound": {"wall_seconds": 5.0}, "deep_ae": {"wall_seconds": 7.0, "interrupted_runs_seconds": 70.0}}
    timings = reporting.stage_timings(classifier, curves, {}, {}).set_index("stage")["seconds"]
    assert timings["evaluate deep_ae"] == 77.0 and timings["evaluate upper_bound"] == 5.0
    assert timings["train classifier"] == 10.0
