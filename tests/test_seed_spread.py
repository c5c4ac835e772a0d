"""The seed spread: per-seed values, mean ± spread, deep against shallow seed by seed, and the script's errors."""

import json
import sys

import numpy as np
import pytest

from aesampling.reporting import seed_summary
from support import SCRIPTS, assert_one_line_error, run_script


def _metrics(ground_truth, accuracies, fd_shares, class_tvs=None, lam=0.1):
    """A report's metrics.json with the given final accuracies and FD shares per source."""
    table = [{"source": s, "final_accuracy": a, "last_epochs_mean_accuracy": a,
              "relative_to_ground_truth": a / ground_truth, "lam": None if "bound" in s else lam}
             for s, a in accuracies.items()]
    quality = [{"source": s, "fd": 100 * share, "fd_share_of_noise": share, "precision": 0.5, "recall": 0.5,
                "density": 0.5, "coverage": 0.5, "class_tv": (class_tvs or {}).get(s, 0.1)}
               for s, share in fd_shares.items()]
    return {"ground_truth_accuracy": ground_truth, "table": table, "quality": quality}


SEED_0 = _metrics(0.90, {"upper_bound": 0.90, "shallow_ae": 0.85, "deep_ae": 0.87, "lower_bound": 0.6},
                  {"upper_bound": 0.01, "shallow_ae": 0.3, "deep_ae": 0.05, "lower_bound": 1.0},
                  {"shallow_ae": 0.2, "deep_ae": 0.3})
SEED_1 = _metrics(0.80, {"upper_bound": 0.80, "shallow_ae": 0.78, "deep_ae": 0.76, "lower_bound": 0.5},
                  {"upper_bound": 0.03, "shallow_ae": 0.2, "deep_ae": 0.04, "lower_bound": 1.0},
                  {"shallow_ae": 0.2, "deep_ae": 0.1}, lam=0.333)


def test_summary_gives_mean_sample_std_and_range():
    frame = seed_summary.per_seed({0: SEED_0, 1: SEED_1})
    summary = seed_summary.summary(frame).set_index(["source", "metric"])
    row = summary.loc[("deep_ae", "final_accuracy")]
    assert row["seeds"] == 2 and row["mean"] == pytest.approx(0.815)
    assert row["std"] == pytest.approx(np.std([0.87, 0.76], ddof=1))
    assert (row["min"], row["max"]) == (0.76, 0.87)
    assert summary.loc[("ground_truth", "final_accuracy")]["mean"] == pytest.approx(0.85)
    assert summary.loc[("deep_ae", "lam")]["max"] == 0.333
    # The bounds have no λ; the ground truth leads and the lower bound closes the order.
    assert ("upper_bound", "lam") not in summary.index
    assert seed_summary.source_order(frame) == ["ground_truth", "upper_bound", "shallow_ae", "deep_ae", "lower_bound"]


def test_one_seed_has_no_spread():
    summary = seed_summary.summary(seed_summary.per_seed({3: SEED_0})).set_index(["source", "metric"])
    assert summary.loc[("deep_ae", "fd")]["seeds"] == 1 and np.isnan(summary.loc[("deep_ae", "fd")]["std"])


def test_deep_against_shallow_counts_the_seeds_where_deep_is_better():
    differences = seed_summary.paired_differences(seed_summary.per_seed({0: SEED_0, 1: SEED_1}))
    by_metric = differences.set_index("metric")
    accuracy = by_metric.loc["relative_to_ground_truth"]
    assert (accuracy["first"], accuracy["second"], accuracy["seeds"]) == ("deep_ae", "shallow_ae", 2)
    assert accuracy["first_better"] == 1  # better in seed 0 (0.87 > 0.85), worse in seed 1 (0.76 < 0.78)
    assert accuracy["mean_difference"] == pytest.approx(((0.87 - 0.85) / 0.9 + (0.76 - 0.78) / 0.8) / 2)
    assert by_metric.loc["fd_share_of_noise"]["first_better"] == 2  # smaller is better
    assert by_metric.loc["class_tv"]["first_better"] == 1  # 0.3 > 0.2 in seed 0, 0.1 < 0.2 in seed 1
    assert set(differences["first"]) == {"deep_ae"}  # no DAE in these runs


def _spread(*seeds: dict) -> dict:
    """A seed spread's metrics.json (the part compare_spreads reads) of the given per-seed reports."""
    frame = seed_summary.per_seed(dict(enumerate(seeds)))
    return {"per_seed": frame.to_dict(orient="records")}


def test_two_spreads_agree_when_welch_s_test_finds_no_difference():
    reference = _spread(SEED_0, SEED_1)
    shifted = [_metrics(0.90, {"upper_bound": 0.90, "shallow_ae": a, "deep_ae": 0.67, "lower_bound": 0.6},
                        {"shallow_ae": 0.3}) for a in (0.86, 0.79)]
    comparison = seed_summary.compare_spreads(reference, _spread(*shifted)).set_index(["source", "metric"])
    shallow = comparison.loc[("shallow_ae", "final_accuracy")]
    assert shallow["difference"] == pytest.approx((0.86 + 0.79 - 0.85 - 0.78) / 2)
    reference_std, run_std = np.std([0.85, 0.78], ddof=1), np.std([0.86, 0.79], ddof=1)
    assert shallow["standard_error"] == pytest.approx(np.sqrt(reference_std ** 2 / 2 + run_std ** 2 / 2))
    assert shallow["critical"] == pytest.approx(4.303, abs=1e-3)  # equal spreads of 2 seeds: 2 degrees of freedom
    assert shallow["agrees"]
    # The deep AE at 0.67 / 0.9 = 0.744 of the ground truth in both seeds, against 0.967 and 0.950: only the
    # reference varies (standard error 0.0083, 1 degree of freedom, t = 12.71), and 0.214 is beyond 0.106.
    deep = comparison.loc[("deep_ae", "relative_to_ground_truth")]
    assert deep["difference"] == pytest.approx(0.67 / 0.9 - (0.87 / 0.9 + 0.76 / 0.8) / 2)
    assert deep["standard_error"] == pytest.approx(np.std([0.87 / 0.9, 0.76 / 0.8], ddof=1) / np.sqrt(2))
    assert deep["critical"] == pytest.approx(12.706, abs=1e-3)
    assert deep["agrees"] is not None and not deep["agrees"]
    assert deep["seed_differences"] == pytest.approx({0: 0.67 / 0.9 - 0.87 / 0.9, 1: 0.67 / 0.9 - 0.76 / 0.8})
    differences = np.array(list(deep["seed_differences"].values()))
    t_value = differences.mean() / (differences.std(ddof=1) / np.sqrt(2))
    assert deep["paired_p"] == pytest.approx(2 * (0.5 - np.arctan(abs(t_value)) / np.pi))  # t with 1 degree: Cauchy
    # The same value in every seed of both: no spread, and the means are equal.
    assert comparison.loc[("upper_bound", "relative_to_ground_truth")]["standard_error"] == 0
    assert comparison.loc[("upper_bound", "relative_to_ground_truth")]["agrees"]
    page = seed_summary.spread_comparison_markdown(comparison.reset_index(), reference_path="r.json",
                                                   run_path="x.json", command="python scripts/compare.py")
    assert "| deep_ae | relative to ground truth | 0.9583 ± 0.0118 (2) | 0.7444 ± 0.0000 (2) | -0.2139 | 0.1059 " \
           "| **no** | 0: -0.2222 / 1: -0.2056 (p = 0.025) |" in page
    assert ("| upper_bound | relative to ground truth | 1.0000 ± 0.0000 (2) | 1.0000 ± 0.0000 (2) | +0.0000 | 0 "
            "| yes | 0: +0.0000 / 1: +0.0000 (p = 1.000) |") in page
    assert "8 of 9 accuracies agree within the seed spread." in page


def test_a_spread_of_one_seed_or_a_missing_source_is_not_judged():
    comparison = seed_summary.compare_spreads(_spread(SEED_0, SEED_1), _spread(SEED_0)).set_index(
        ["source", "metric"])
    assert comparison.loc[("shallow_ae", "final_accuracy")]["agrees"] is None  # one seed: no spread to judge by
    extra = _metrics(0.9, {"upper_bound": 0.9, "shallow_dae": 0.8}, {})
    comparison = seed_summary.compare_spreads(_spread(SEED_0, SEED_1), _spread(extra, extra)).set_index(
        ["source", "metric"])
    row = comparison.loc[("shallow_dae", "relative_to_ground_truth")]
    assert row["reference_seeds"] == 0 and np.isnan(row["difference"]) and row["agrees"] is None
    assert row["seed_differences"] == {}
    with pytest.raises(seed_summary.UserInputError, match="reference is not a seed spread"):
        seed_summary.compare_spreads({"table": []}, _spread(SEED_0))


def test_markdown_shows_every_source_with_its_spread():
    frame = seed_summary.per_seed({0: SEED_0, 1: SEED_1})
    page = seed_summary.markdown(frame, dataset="toy", command="python x.py", reproduce="make toy_seeds")
    assert "over seeds 0, 1" in page and "Reproduce with: `make toy_seeds`" in page
    deep = next(line for line in page.splitlines() if line.startswith("| deep_ae | 0.1 / 0.333 |"))
    assert "0.8150 ± 0.0778 [0.7600, 0.8700]" in deep
    assert "| deep_ae | shallow_ae | FD share of the noise's | -20.5% | 2 of 2 seeds |" in page


def _write_run(folder, seed, metrics, dataset="toy"):
    folder.mkdir(parents=True)
    (folder / "metrics.json").write_text(json.dumps(metrics))
    (folder / "config.json").write_text(json.dumps({
        "report": {"config": {"dataset": dataset}}, "ground_truth_classifier": {"config": {"seed": seed}}}))
    return str(folder)


def test_script_writes_the_spread_of_its_runs(tmp_path):
    runs = [_write_run(tmp_path / "0", 0, SEED_0), _write_run(tmp_path / "1", 1, SEED_1)]
    out = tmp_path / "spread"
    run_script("seed_spread", f"--runs={','.join(runs)}", f"--output_dir={out}", "--reproduce_command=make x")
    for name in ("table.md", "metrics.json", "config.json", "seeds.png"):
        assert (out / name).is_file(), name
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["seeds"] == [0, 1] and len(metrics["deep_against_shallow"]) == 3
    config = json.loads((out / "config.json").read_text())
    assert config["runs"]["1"]["folder"] == runs[1]
    # The README's block, as scripts/readme_results.py renders a committed seed spread.
    sys.path.insert(0, str(SCRIPTS))
    import _readme_tables

    block = _readme_tables.seed_spread_block(metrics, config, "results/toy_seeds")
    assert "Made by `make x`" in block and "seeds 0, 1" in block
    assert "| deep_ae | 0.958 ± 0.012 | 4.5% ± 0.7% | 0.200 ± 0.141 |" in block
    # A spread compares with a spread only (compare.py): one run's report against it is a user's mistake.
    mixed = run_script("compare", f"--reference={out / 'metrics.json'}", f"--run={runs[0]}/metrics.json",
                       f"--output={tmp_path / 'comparison.md'}", check=False)
    assert_one_line_error(mixed, "is a seed spread and the other is one run")
    assert not (tmp_path / "comparison.md").exists()


@pytest.mark.parametrize("case, message", [
    ("one run", "needs the reports of two seeds or more"),
    ("same seed", "two runs have the same seed (0)"),
    ("two datasets", "the runs are of different datasets"),
    ("output onto a run", "would overwrite run"),
    ("not a report", "is not a report's metrics"),
])
def test_script_errors_in_one_line_and_writes_nothing(tmp_path, case, message):
    first = _write_run(tmp_path / "0", 0, SEED_0)
    second = {"one run": None,
              "same seed": lambda: _write_run(tmp_path / "1", 0, SEED_1),
              "two datasets": lambda: _write_run(tmp_path / "1", 1, SEED_1, dataset="other"),
              "output onto a run": lambda: _write_run(tmp_path / "1", 1, SEED_1),
              "not a report": lambda: _write_run(tmp_path / "1", 1, {"table": []})}[case]
    runs = [first] + ([second()] if second else [])
    out = tmp_path / "0" if case == "output onto a run" else tmp_path / "spread"
    before = (tmp_path / "0" / "metrics.json").read_bytes()
    result = run_script("seed_spread", f"--runs={','.join(runs)}", f"--output_dir={out}", check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ") and message in result.stderr
    assert not (tmp_path / "spread").exists() or not any((tmp_path / "spread").iterdir())
    assert (tmp_path / "0" / "metrics.json").read_bytes() == before

