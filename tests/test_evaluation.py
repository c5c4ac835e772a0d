"""The train-on-synthetic loop learns, its sources have the right batches, summaries are right."""

import numpy as np
import pandas as pd
import pytest

from aesampling.sampling import class_balance
from aesampling.evaluation import learning_curves
from aesampling.evaluation import curve_metrics
from aesampling.reporting import tables
from aesampling.models import fitting
from aesampling.errors import UserInputError
from aesampling.models.presets import ClassifierPreset
from aesampling.reproducibility import seed_everything
from aesampling.sampling.reinjection import ReinjectionConfig, ReinjectionSampler, StartMoments


@pytest.fixture(scope="module")
def ground_truth(digits):
    seed_everything(0)  # the same ground truth in every run (its soft labels feed the curves below)
    model = fitting.build_classifier_from_preset(ClassifierPreset((32,), "relu", epochs=30, batch_size=64), 64, 10)
    result = fitting.fit_classifier(model, digits, epochs=30, batch_size=64, verbose=0)
    assert result["test_accuracy"] > 0.9
    return model


def test_training_on_real_digits_beats_chance_within_a_few_hundred_steps(digits, ground_truth):
    source, per_step = learning_curves.real_data_source(digits.x_train, 64, seed=0)
    curve = learning_curves.learning_curve(
        source, per_step, ground_truth, digits.x_test, digits.y_test,
        epochs=3, steps_per_epoch=100, seed=1,
    )
    assert [p.epoch for p in curve] == [0, 1, 2, 3]
    assert [p.samples_seen for p in curve] == [0, 6400, 12800, 19200]
    assert curve[0].accuracy < 0.3  # untrained
    assert curve[-1].accuracy > 0.8  # chance is 0.1


def test_learning_curves_are_reproducible(digits, ground_truth):
    source, per_step = learning_curves.gaussian_source(64, 32, seed=3)
    run = lambda: [p.accuracy for p in learning_curves.learning_curve(  # noqa: E731
        source, per_step, ground_truth, digits.x_test, digits.y_test, epochs=2, steps_per_epoch=20, seed=4)]
    assert run() == run()


def test_sources_yield_batches_of_the_declared_size(digits, linear_autoencoder):
    sampler = ReinjectionSampler(linear_autoencoder(64, 0.5), ReinjectionConfig(lam=0.1, num_chains=5), seed=0)
    for source, size in [
        learning_curves.autoencoder_source(sampler),
        learning_curves.real_data_source(digits.x_train, 40, seed=0),
        learning_curves.gaussian_source(64, 40, seed=0),
    ]:
        first, second = source(0), source(1)
        assert first.shape == (size, 64)
        assert not np.allclose(first, second)
    real, _ = learning_curves.real_data_source(digits.x_train, 40, seed=0)
    rows = real(7)
    assert all((digits.x_train == row).all(axis=1).any() for row in rows)


def test_noise_at_the_moments_is_the_standard_noise_scaled_and_shifted():
    moments = StartMoments(np.array([1.0, 2.0, 3.0], np.float32), np.array([0.0, 1.0, 2.0], np.float32))
    z = learning_curves.gaussian_source(3, 5, seed=2)[0](4)
    shifted, per_step = learning_curves.gaussian_source(3, 5, seed=2, moments=moments)
    assert per_step == 5
    np.testing.assert_allclose(shifted(4), moments.mean + moments.std * z, rtol=1e-6)
    assert tables.ordered_sources(["lower_bound", "deep_ae", "moments_bound", "upper_bound"]) == [
        "upper_bound", "deep_ae", "moments_bound", "lower_bound"]


def test_noise_at_the_class_moments_takes_the_classes_in_turn():
    by_class = class_balance.ClassMoments(np.array([[1.0, 1.0], [-1.0, 5.0]], np.float32),
                                      np.array([[0.0, 0.0], [2.0, 0.5]], np.float32))
    z = learning_curves.gaussian_source(2, 5, seed=2)[0](3)
    noise, per_step = learning_curves.gaussian_source(2, 5, seed=2, class_moments=by_class)
    rows = np.array([0, 1, 0, 1, 0])
    assert per_step == 5
    np.testing.assert_allclose(noise(3), by_class.mean[rows] + by_class.std[rows] * z, rtol=1e-6)
    assert tables.ordered_sources(["lower_bound", "class_moments_bound", "deep_ae", "upper_bound"]) == [
        "upper_bound", "deep_ae", "class_moments_bound", "lower_bound"]


def test_samples_to_reach():
    assert curve_metrics.samples_to_reach([0, 10, 20, 30], [0.1, 0.5, 0.96, 0.97], 0.95) == 20
    assert curve_metrics.samples_to_reach([0, 10], [0.1, 0.5], 0.95) is None


def test_summary_table_orders_bounds_and_computes_ratios():
    curves = pd.DataFrame({
        "source": ["lower_bound"] * 3 + ["deep_ae"] * 3 + ["upper_bound"] * 3,
        "epoch": [0, 1, 2] * 3,
        "samples_seen": [0, 400, 800] * 3,
        "accuracy": [0.1, 0.5, 0.6, 0.1, 0.9, 0.95, 0.1, 0.97, 0.99],
    })
    chains = {"config": {"chains": {"lam": 0.05, "collect": "noisy", "reinjections": 10, "burn_in": 2}}}
    table = tables.summary_table(curves, {s: chains for s in curves["source"].unique()}, 1.0)
    assert list(table["source"]) == ["upper_bound", "deep_ae", "lower_bound"]
    row = table.set_index("source").loc["deep_ae"]
    assert row["final_accuracy"] == 0.95 and row["lam"] == 0.05 and row["relative_to_ground_truth"] == 0.95
    assert row["reinjections"] == 10 and row["burn_in"] == 2
    assert row["last_epochs_mean_accuracy"] == pytest.approx((0.1 + 0.9 + 0.95) / 3)
    assert pd.isna(row["samples_to_97pct"])
    assert table.set_index("source").loc["upper_bound", "samples_to_97pct"] == 400
    # Chains from the data's moments say so beside their collected state, and in the figures' titles.
    moments = {"config": {"reinjection": {**chains["config"]["chains"], "start": "moments", "balance": True}},
               "accepted_share": 0.5}

    def collect_of(**reinjection):
        """The deep AE's collect column when its record's chain settings are the moments' with `reinjection`."""
        record = {**moments, "config": {"reinjection": {**moments["config"]["reinjection"], **reinjection}}}
        table = tables.summary_table(curves, {**{s: chains for s in curves["source"].unique()}, "deep_ae": record},
                                     1.0)
        return table.set_index("source").loc["deep_ae", "collect"]

    assert collect_of() == "noisy, from moments, balanced (50.0% of slots filled)"
    assert collect_of(refill="clone") == "noisy, from moments, balanced by cloning (50.0% of slots filled)"
    # Records since the balance became its own settings: {"balance": {"refill": ..., "patience": ...}}.
    assert collect_of(balance={"refill": "class_moments", "patience": 2}) == \
        "noisy, from moments, balanced by cloning and class moments (50.0% of slots filled)"
    assert collect_of(balance={"refill": "clone", "patience": 2, "pool": 4}) == \
        "noisy, from moments, balanced by cloning from 4·B chains (50.0% of slots filled)"
    assert collect_of(refill="class_moments") == \
        "noisy, from moments, balanced by cloning and class moments (50.0% of slots filled)"
    assert collect_of(balance={"refill": "start", "patience": 2, "pool": 8}) == \
        "noisy, from moments, balanced (50.0% of slots filled)"
    assert tables.common_start_text([{"start": "moments"}] * 2) == "N(μ, σ²) at the data's moments"
    assert tables.common_start_text([{"start": "moments"}], short=True) == "N(μ, σ²)"
    assert tables.common_start_text([{}, {"start": "normal"}]) == "N(0, I)"
    assert tables.common_start_text([{}, {"start": "moments"}]) == "their start"


def test_the_report_states_how_far_the_best_autoencoder_teaches_beyond_labelled_noise():
    """table.md's first sentence: the best autoencoder source against the strongest noise bound, at the same budget."""
    curves = pd.DataFrame({
        "source": ["upper_bound"] * 3 + ["deep_ae"] * 3 + ["shallow_ae"] * 3 + ["lower_bound"] * 3
                  + ["moments_bound"] * 3,
        "epoch": [0, 1, 2] * 5,
        "samples_seen": [0, 400, 800] * 5,
        "accuracy": [0.1, 0.97, 0.99, 0.1, 0.98, 0.96, 0.1, 0.5, 0.7, 0.1, 0.5, 0.8, 0.1, 0.6, 0.85],
    })
    chains = {"config": {"chains": {"lam": 0.05, "collect": "noisy", "reinjections": 10, "burn_in": 2}}}
    table = tables.summary_table(curves, {s: chains for s in curves["source"].unique()}, 1.0)
    verdict = tables.autoencoders_against_noise(table)
    assert verdict["autoencoder"] == "deep_ae" and verdict["noise"] == "moments_bound"  # the strongest floor
    assert verdict["points_ahead"] == pytest.approx(11.0) and verdict["samples_seen"] == 800
    assert verdict["autoencoder_samples_to_97pct"] == 400 and verdict["noise_samples_to_97pct"] is None
    assert tables.verdict_line(verdict) == (
        "After 800 samples, the best autoencoder source (deep_ae) teaches 0.960 of the ground truth and labelled "
        "noise (moments_bound) 0.850: 11.0 points ahead. 97% of the ground truth: after 400 samples against not "
        "within the run.")
    behind = tables.summary_table(curves[curves["source"] != "deep_ae"], {s: chains for s in curves["source"]}, 1.0)
    assert "15.0 points behind" in tables.verdict_line(tables.autoencoders_against_noise(behind))
    text = tables.markdown_table(table, 1.0, "python scripts/report.py", None)
    assert text.splitlines()[2] == tables.verdict_line(verdict)
    shorter = tables.summary_table(curves[curves["source"].str.endswith("bound") | (curves["epoch"] < 2)],
                                   {s: chains for s in curves["source"]}, 1.0)  # the autoencoders' first epoch only
    assert tables.verdict_line(tables.autoencoders_against_noise(shorter)).startswith(
        "After 400 samples (800 for the noise), the best autoencoder source (deep_ae) teaches 0.980 of the ground "
        "truth and labelled noise (moments_bound) 0.850")
    no_ground_truth = tables.summary_table(curves, {s: chains for s in curves["source"]}, 0.0)  # ratios are NaN
    assert tables.autoencoders_against_noise(no_ground_truth) is None
    bounds_only = tables.summary_table(curves[curves["source"].str.endswith("bound")], {s: chains for s in
                                                                                     curves["source"]}, 1.0)
    assert tables.autoencoders_against_noise(bounds_only) is None and tables.verdict_line(None) is None
    assert "points" not in tables.markdown_table(bounds_only, 1.0, "python scripts/report.py", None)


def test_stage_timings_count_the_interrupted_runs_of_a_resumed_curve():
    classifier = {"wall_seconds": 10.0}
    curves = {"upper_bound": {"wall_seconds": 5.0}, "deep_ae": {"wall_seconds": 7.0, "interrupted_runs_seconds": 70.0}}
    timings = tables.stage_timings(classifier, curves, {}, {}).set_index("stage")["seconds"]
    assert timings["evaluate deep_ae"] == 77.0 and timings["evaluate upper_bound"] == 5.0
    assert timings["train classifier"] == 10.0


def test_a_dae_chosen_among_noise_candidates_reports_every_candidate():
    def candidate(rate, score, lam):
        grid = [{"lam": lam, "collect": "noisy", "burn_in": 2, "reinjections": 10, "score": score}]
        return {"salt_pepper_rate": rate, "gaussian_noise_std": 0.5, "best_score": score, "grid": grid,
                "best": {"lam": lam, "collect": "noisy", "burn_in": 2, "reinjections": 10},
                "train_seconds": 100.0 * rate, "train_machine": {}, "search_seconds": 10.0 * rate, "search_machine": {}}

    chosen = candidate(0.1, 0.65, 0.1)
    searches = {
        "shallow_ae": {"wall_seconds": 3.0, "best": {"lam": 0.1, "collect": "noisy", "burn_in": 2},
                       "grid": [{"lam": 0.1, "collect": "noisy", "burn_in": 2, "score": 0.7}]},
        "shallow_dae": {**chosen, "noise_choice": {"candidates": [candidate(0.5, 0.43, 0.01), chosen], "chosen": 1,
                                                   "wall_seconds": 0.5}},
    }
    curves = {"shallow_dae": {"wall_seconds": 7.0, "autoencoder_record": {"wall_seconds": 10.0}}}
    timings = tables.stage_timings({"wall_seconds": 1.0}, curves, searches, {}).set_index("stage")["seconds"]
    assert "train shallow_dae" not in timings and "λ search shallow_dae" not in timings  # counted per candidate
    assert timings["train shallow_dae (s&p 0.5, σ 0.5)"] == 50.0 and timings["train shallow_dae (s&p 0.1, σ 0.5)"] == 10.0
    assert timings["λ search shallow_dae (s&p 0.5, σ 0.5)"] == 5.0 and timings["choose noise shallow_dae"] == 0.5
    assert timings["λ search shallow_ae"] == 3.0

    lines = tables.noise_table(searches)
    assert lines[4] == "| shallow_dae | s&p 0.5, σ 0.5 | 0.4300 | 0.01, noisy, 10 (2) |  |"
    assert lines[5] == "| shallow_dae | s&p 0.1, σ 0.5 | 0.6500 | 0.1, noisy, 10 (2) | yes |"
    searched = tables.search_table(searches)
    assert list(searched["autoencoder"]) == ["shallow_ae", "shallow_dae (s&p 0.5, σ 0.5)", "shallow_dae (s&p 0.1, σ 0.5)"]
    assert list(searched["chosen"]) == [True, False, True]
    assert tables.noise_table({"shallow_ae": searches["shallow_ae"]}) == []


def test_a_run_compared_with_its_reference():
    def record(finals, ground_truth=0.9):
        return {"ground_truth_accuracy": ground_truth,
                "table": [{"source": s, "final_accuracy": a, "last_epochs_mean_accuracy": a - 0.01}
                          for s, a in finals.items()]}

    reference = record({"upper_bound": 0.88, "deep_ae": 0.80, "lower_bound": 0.60})
    run = record({"lower_bound": 0.62, "deep_ae": 0.85, "shallow_ae": 0.70, "upper_bound": 0.88})
    comparison = tables.compare_with_reference(reference, run)
    assert list(comparison["source"]) == ["upper_bound", "deep_ae", "shallow_ae", "lower_bound"]
    rows = comparison.set_index("source")
    assert rows.loc["deep_ae", "difference_final_accuracy"] == pytest.approx(0.05)
    assert rows.loc["lower_bound", "difference_last_epochs_mean_accuracy"] == pytest.approx(0.02)
    assert np.isnan(rows.loc["shallow_ae", "reference_final_accuracy"])  # a source the reference lacks
    page = tables.comparison_markdown(comparison, reference, run, reference_path="r.json", run_path="x.json",
                                         command="python scripts/compare.py")
    assert "| deep_ae | 0.8000 | 0.8500 | +0.0500 |" in page and "| shallow_ae | - | 0.7000 | - |" in page
    with pytest.raises(UserInputError, match="metrics.json"):
        tables.compare_with_reference({"rows": []}, run)


def test_the_quality_table_shows_fd_beside_recall_and_coverage_and_marks_collapsed_sources():
    def quality(fd, recall, coverage, class_tv, collapse=None):
        return {"quality": {"fd": fd, "precision": 0.5, "recall": recall, "density": 0.9, "coverage": coverage,
                            "class_tv": class_tv, "samples": 1000, "reference_examples": 600,
                            "class_histogram": [0.5, 0.5], **({"collapse": collapse,
                                                               "collapsed": collapse["collapsed"]} if collapse else {})}}

    warning = "conv_ae's samples collapsed (recall 0.000 < 0.05): 94% are Bag (data 10%)"
    records = {"lower_bound": quality(4000.0, 0.8, 0.0, 0.2, {"collapsed": False, "warning": None}),
               "conv_ae": quality(72.0, 0.0, 0.01, 0.3, {"collapsed": True, "warning": warning}),
               "old_ae": quality(400.0, 0.5, 0.2, 0.7),  # recorded before the verdict: class TV decides
               "upper_bound": quality(1.0, 0.9, 0.99, 0.03)}
    table = tables.quality_table(records)
    assert list(table["source"]) == ["upper_bound", "conv_ae", "old_ae", "lower_bound"]
    assert list(table["collapsed"]) == [False, True, True, False]
    lines = tables.quality_lines(table)
    assert lines[2:4] == ["| source | FD | share | recall | coverage | class TV | precision | density | switch |",
                          "|---|---|---|---|---|---|---|---|---|"]
    assert lines[5] == "| conv_ae (collapsed) | 72 | 1.8% | 0.000 | 0.010 | 0.300 | 0.500 | 0.900 | - |"
    assert lines[6] == "| old_ae (collapsed) | 400 | 10.0% | 0.500 | 0.200 | 0.700 | 0.500 | 0.900 | - |"
    assert lines[4].startswith("| upper_bound | 1 |") and lines[7].startswith("| lower_bound | 4000 | 100.0% |")
    assert lines[8:] == ["", f"- conv_ae: {warning}", ""]
    assert "Collapsed: class TV above 0.6, recall below 0.05, or half the classes below 0.1× their data share" \
        in lines[0]
    searches = {"conv_ae": {"best_fd": {"lam": 0.05, "collect": "noisy", "burn_in": 2, "reinjections": 10,
                                        "collapsed": True}}}
    assert tables.lambda_choices_table(searches)[4] == "| conv_ae | - | 0.05 (noisy, 10 (2), collapsed: every setting did) | - |"
