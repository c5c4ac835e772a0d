"""The validation search over λ and the collected state."""

import json

import numpy as np
import pytest

from aesampling.data import datasets
from aesampling.selection import lambda_search
from aesampling.models import builders
from aesampling.models import fitting
from aesampling.errors import UserInputError
from aesampling.models.presets import ClassifierPreset
from aesampling.sampling.reinjection import ReinjectionConfig


def test_search_scores_every_pair_on_the_validation_split(digits):
    split = datasets.split_validation(digits, 0.2)
    classifier = fitting.build_classifier_from_preset(ClassifierPreset((32,), "relu", 10, 64), 64, 10)
    fitting.fit_classifier(classifier, split, epochs=10, batch_size=64, verbose=0)
    autoencoder = builders.build_autoencoder(64, [16], "tanh")
    autoencoder.fit(split.x_train, split.x_train, epochs=5, batch_size=64, verbose=0)
    seen = []
    rows = lambda_search.search(
        autoencoder, classifier, split.x_val, split.y_val, base=ReinjectionConfig(lam=0.0, num_chains=10),
        lambdas=(0.01, 0.1), collects=("noisy", "clean"), burn_ins=(2, 6), epochs=2, steps_per_epoch=10, seed=0,
        on_result=seen.append,
    )
    assert [(r["burn_in"], r["lam"], r["collect"]) for r in rows] == [
        (b, lam, c) for b in (2, 6) for lam in (0.01, 0.1) for c in ("noisy", "clean")]
    assert {r["reinjections"] - r["burn_in"] for r in rows} == {8}  # same samples per step everywhere
    assert seen == rows
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)


def test_best_setting_breaks_ties_in_grid_order():
    rows = [{"score": 0.5, "lam": 0.01}, {"score": 0.7, "lam": 0.1}, {"score": 0.7, "lam": 1.0}]
    assert lambda_search.best_setting(rows)["lam"] == 0.1


def test_search_refuses_a_missing_validation_split_and_bad_grids(digits, linear_autoencoder):
    ae = linear_autoencoder(64, 0.5)
    kwargs = dict(base=ReinjectionConfig(lam=0.0), burn_ins=(2,), epochs=1, steps_per_epoch=1, seed=0)
    with pytest.raises(UserInputError, match="validation split"):
        lambda_search.search(ae, ae, None, None, lambdas=(0.1,), collects=("noisy",), **kwargs)
    with pytest.raises(UserInputError, match="unknown collect"):
        lambda_search.search(ae, ae, digits.x_test, digits.y_test, lambdas=(0.1,), collects=("both",), **kwargs)


def test_read_best(tmp_path):
    good = tmp_path / "good.json"
    best = {"lam": 0.02, "collect": "clean", "burn_in": 30, "reinjections": 38}
    good.write_text(json.dumps({"best": best, "grid": []}))
    assert lambda_search.read_best(str(good)) == {**best, "start": None}  # made before the start was a setting
    moments = tmp_path / "moments.json"
    moments.write_text(json.dumps({"best": {**best, "start": "moments"}, "grid": [],
                                   "start_moments": {"mean": [0.5, 0.25], "std": [0.1, 0.0]}}))
    assert lambda_search.read_best(str(moments))["start"] == "moments"
    np.testing.assert_array_equal(lambda_search.read_start_moments(str(moments)).mean, [0.5, 0.25])
    with pytest.raises(UserInputError, match="holds no starting moments: .* recipe recommended"):
        lambda_search.read_start_moments(str(good))
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"grid": []}))
    with pytest.raises(UserInputError, match="not a search result"):
        lambda_search.read_best(str(bad))


def _score_by_setting(monkeypatch, accuracy_of):
    """Makes every trial's validation accuracy accuracy_of(λ, collect, b), without training anything."""
    monkeypatch.setattr(lambda_search, "ReinjectionSampler", lambda autoencoder, config, seed, start: config)
    monkeypatch.setattr(lambda_search.learning_curves, "autoencoder_source", lambda config: (config, 1))

    def curve(config, per_step, ground_truth, x_val, y_val, *, epochs, steps_per_epoch, seed):
        accuracy = accuracy_of(config.lam, config.collect, config.burn_in)
        return [lambda_search.learning_curves.CurvePoint(e, e, accuracy, 0.0) for e in range(epochs + 1)]

    monkeypatch.setattr(lambda_search.learning_curves, "learning_curve", curve)


def _search(**kwargs):
    settings = dict(base=ReinjectionConfig(lam=0.0), lambdas=(0.01, 0.03, 0.1), collects=("noisy", "clean"),
                    burn_ins=(2, 30), epochs=1, steps_per_epoch=1, seed=0)
    return lambda_search.search(None, None, [0], [0], **{**settings, **kwargs})


def test_search_widens_past_the_edges_where_the_best_setting_sits(monkeypatch):
    # The optimum, λ = 0.001 and b = 120, lies beyond the grid's small-λ and long-burn-in edges.
    _score_by_setting(monkeypatch, lambda lam, collect, b: 1 - abs(lam - 0.001) - abs(b - 120) / 1000
                      - (collect == "clean") * 0.01)
    rows = _search(widenings=2)
    grid, widened = rows[:12], rows[12:]
    assert not any(r["widened"] for r in grid)
    assert [(r["lam"], r["collect"], r["burn_in"]) for r in widened] == [
        (0.00333, "noisy", 30), (0.01, "noisy", 60),  # round 1: one step past each edge of the grid's best
        (0.01, "noisy", 120),  # round 2 from (0.01, 60): λ 0.01 is no longer the smallest tried
    ]
    assert all(r["widened"] and r["reinjections"] == r["burn_in"] + 8 for r in widened)
    best = lambda_search.best_setting(rows)
    assert (best["lam"], best["burn_in"]) == (0.01, 120)
    # b = 120 is still the edge, so a third round tries b = 240 (and keeps b = 120).
    third = _search(widenings=3)
    assert (third[-1]["lam"], third[-1]["burn_in"]) == (0.01, 240)
    assert lambda_search.best_setting(third)["burn_in"] == 120


def test_search_stops_widening_once_the_best_setting_is_inside(monkeypatch):
    _score_by_setting(monkeypatch, lambda lam, collect, b: 1 - abs(lam - 0.3) - b / 1000)
    rows = _search(widenings=5)
    assert [(r["lam"], r["burn_in"]) for r in rows if r["widened"]] == [(0.333, 2), (1.11, 2)]
    assert len(_search(widenings=0)) == 12
    # A single value on an axis holds it fixed: nothing to widen.
    assert len(_search(lambdas=(0.1,), burn_ins=(30,), widenings=3)) == 2
    with pytest.raises(UserInputError, match="widenings"):
        _search(widenings=-1)


def test_the_fd_criterion_picks_the_closest_samples_without_training_a_student(monkeypatch):
    _score_by_setting(monkeypatch, lambda lam, collect, b: pytest.fail("the FD criterion trained a student"))
    fd_of = {0.01: 30.0, 0.03: 12.0, 0.1: float("inf")}  # λ = 0.1 blows up

    def fidelity(config):  # the sampler is its config here
        return {"fd": fd_of[config.lam] + (config.collect == "clean") + config.burn_in / 100, "class_tv": config.lam}

    rows = _search(criterion=lambda_search.FD, fidelity=fidelity)
    assert all(r["score"] is None for r in rows) and all(r["class_tv"] == r["lam"] for r in rows)
    assert [r["diverged"] for r in rows if r["lam"] == 0.1] == [True] * 4
    best = lambda_search.best_setting(rows, lambda_search.FD)
    assert (best["lam"], best["collect"], best["burn_in"]) == (0.03, "noisy", 2)
    assert lambda_search.criterion_value({"criterion": "fd", "grid": rows}) == -12.02
    # Under the student criterion the FD is recorded beside the score.
    _score_by_setting(monkeypatch, lambda lam, collect, b: 0.5)
    both = _search(fidelity=fidelity)
    assert all(r["score"] == 0.5 and r["fd"] is not None for r in both)


def test_a_student_search_widens_each_collected_state_toward_its_lowest_fd_without_students(monkeypatch):
    # Fashion-MNIST's shallow AE (2026-11-28): the student prefers noisy states at λ = 0.333, so its rounds widen
    # the noisy line only, while the clean states' FD keeps falling up to λ = 1.11, past what the student tried.
    students = []

    def accuracy_of(lam, collect, b):
        students.append((lam, collect))
        return 1 - abs(np.log10(lam / 0.333)) + (collect == "noisy") * 0.1

    _score_by_setting(monkeypatch, accuracy_of)

    def fidelity(config):
        if config.collect == "noisy":
            return {"fd": 100 + 50 * abs(np.log10(config.lam / 0.333)), "class_tv": 0.3}
        return {"fd": 50 + 10 * abs(np.log10(config.lam / 1.11)), "class_tv": 0.2}

    rows = _search(burn_ins=(2,), widenings=2, fidelity=fidelity, fd_widenings=4)
    student_rows = [r for r in rows if r["score"] is not None]
    assert [(r["lam"], r["collect"]) for r in student_rows if r["widened"]] == [(0.333, "noisy"), (1.11, "noisy")]
    # The FD rounds: the clean line's lowest FD sits on its edge three times; the noisy line's never does.
    assert [(r["lam"], r["collect"], r["burn_in"], r["widened"]) for r in rows[len(student_rows):]] == [
        (0.333, "clean", 2, True), (1.11, "clean", 2, True), (3.7, "clean", 2, True)]
    assert all(r["score"] is None and r["final_accuracy"] is None for r in rows[len(student_rows):])
    assert students == [(r["lam"], r["collect"]) for r in student_rows]  # no student for the FD rounds
    best = lambda_search.best_setting(rows)
    assert (best["lam"], best["collect"]) == (0.333, "noisy")  # the student's choice is as before
    fd_best = lambda_search.best_setting(rows, lambda_search.FD)
    assert (fd_best["lam"], fd_best["collect"]) == (1.11, "clean")
    assert lambda_search.criterion_value({"criterion": "student", "grid": rows}) == best["score"]
    # Without them, or without an FD measure, the search is the student's alone.
    assert _search(burn_ins=(2,), widenings=2, fidelity=fidelity) == student_rows
    with pytest.raises(UserInputError, match="`fd_widenings` belong to the student criterion with FD measured"):
        _search(burn_ins=(2,), widenings=2, fd_widenings=4)
    with pytest.raises(UserInputError, match="`fd_widenings` must be an integer >= 0"):
        _search(fd_widenings=-1)


def test_a_mixing_burn_in_is_read_per_setting_and_never_widened(monkeypatch):
    # The mixing curve says b = 5 for noisy chains and b = 20 for clean ones; the score prefers long burn-ins, the
    # largest λ and noisy states, so λ is widened past 0.1 and b stays where the curve put it.
    _score_by_setting(monkeypatch, lambda lam, collect, b: lam + b / 1000 + (collect == "noisy"))
    asked = []

    def mixing_burn_in(config):
        asked.append((config.lam, config.collect))
        return 5 if config.collect == "noisy" else 20

    rows = _search(burn_ins=(lambda_search.MIXING,), widenings=1, mixing_burn_in=mixing_burn_in)
    assert [(r["lam"], r["collect"], r["burn_in"], r["burn_in_from"]) for r in rows] == [
        (lam, c, 5 if c == "noisy" else 20, "mixing") for lam in (0.01, 0.03, 0.1) for c in ("noisy", "clean")
    ] + [(0.333, "noisy", 5, "mixing")]
    assert asked[-1] == (0.333, "noisy") and len(asked) == 7
    with pytest.raises(UserInputError, match="mixing curve measures FD: it needs FD samples"):
        _search(burn_ins=(lambda_search.MIXING,))


def test_the_mixing_curve_burn_in_ends_where_fd_has_come_most_of_its_way():
    from aesampling.quality.diagnostics import burn_in_from_mixing

    steps = [{"t": 1, "fd": 100.0}, {"t": 2, "fd": 50.0}, {"t": 5, "fd": 18.0}, {"t": 10, "fd": 10.0},
             {"t": 20, "fd": 11.0}]
    assert burn_in_from_mixing(steps) == 5  # 18 <= 10 + 0.1·(100 - 10)
    assert burn_in_from_mixing([{"t": 1, "fd": 3.0}, {"t": 2, "fd": 3.0}]) == 1  # flat from the start
    assert burn_in_from_mixing([{"t": 1, "fd": float("nan")}, {"t": 3, "fd": 7.0}]) == 3
    with pytest.raises(UserInputError, match="not finite"):
        burn_in_from_mixing([{"t": 1, "fd": float("inf")}])


def test_the_fd_criterion_passes_over_collapsed_settings_and_widens_from_the_best_healthy_one(monkeypatch):
    # λ = 0.03 has the lowest FD but its samples collapsed; λ = 0.1, the best healthy setting, sits on the grid's
    # edge, so the widening tries λ = 0.333 (from the collapsed best, inside the grid, it would try nothing).
    _score_by_setting(monkeypatch, lambda lam, collect, b: pytest.fail("the FD criterion trained a student"))
    fd_of = {0.01: 30.0, 0.03: 12.0, 0.1: 20.0, 0.333: 25.0}
    collapsed_at = {0.03}

    def fidelity(config):
        return {"fd": fd_of[config.lam] + (config.collect == "clean") + config.burn_in / 100, "class_tv": 0.3,
                "class_counts": [5, 5], "collapsed": config.lam in collapsed_at}

    rows = _search(criterion=lambda_search.FD, fidelity=fidelity, widenings=1)
    assert [r["collapsed"] for r in rows] == [r["lam"] == 0.03 for r in rows] and rows[0]["class_counts"] == [5, 5]
    assert [(r["lam"], r["collect"], r["burn_in"]) for r in rows if r["widened"]] == [(0.333, "noisy", 2)]
    best = lambda_search.best_setting(rows, lambda_search.FD)
    assert (best["lam"], best["collect"], best["burn_in"]) == (0.1, "noisy", 2)
    assert lambda_search.criterion_value({"criterion": "fd", "grid": rows}) == -20.02
    assert lambda_search.collapse_warning(rows, lambda_search.FD) is None
    # Every setting collapsed (or, at λ = 0.1, diverged): the lowest FD all the same, and the search says so.
    collapsed_at = {0.01, 0.03}
    fd_of[0.1] = float("inf")
    rows = _search(criterion=lambda_search.FD, fidelity=fidelity)
    best = lambda_search.best_setting(rows, lambda_search.FD)
    assert (best["lam"], best["collect"], best["burn_in"]) == (0.03, "noisy", 2)
    assert lambda_search.collapse_warning(rows, lambda_search.FD) == (
        "every setting of the λ search collapsed or diverged: its fd choice, λ=0.03 (noisy, burn-in 2), collapsed "
        "too (class TV 0.300)")


def test_the_student_criterion_passes_over_a_setting_whose_class_tv_says_it_collapsed(monkeypatch):
    _score_by_setting(monkeypatch, lambda lam, collect, b: {0.01: 0.5, 0.03: 0.6, 0.1: 0.7}[lam] - b / 1000)

    def fidelity(config):  # no verdict of its own: class TV alone decides
        return {"fd": 10.0, "class_tv": 0.7 if config.lam == 0.1 else 0.3}

    rows = _search(fidelity=fidelity)
    assert [r["collapsed"] for r in rows] == [r["lam"] == 0.1 for r in rows]
    best = lambda_search.best_setting(rows)
    assert (best["lam"], best["collect"], best["burn_in"]) == (0.03, "noisy", 2)
    assert lambda_search.criterion_value({"criterion": "student", "grid": rows}) == pytest.approx(0.598, abs=1e-12)
    assert lambda_search.collapse_warning(rows) is None
    # Without an FD measure nothing is known to have collapsed: the highest score.
    plain = _search()
    assert {r["collapsed"] for r in plain} == {None} and lambda_search.best_setting(plain)["lam"] == 0.1


def test_a_noise_candidate_whose_choice_collapsed_loses_to_one_whose_did_not():
    assert lambda_search.best_candidate([0.9, 0.8, 0.8], [True, False, False]) == 1
    assert lambda_search.best_candidate([0.9, 0.8], [True, True]) == 0  # all collapsed: the best score
    assert lambda_search.best_candidate([0.7, 0.8]) == 1


def test_a_search_config_takes_its_datasets_preset_then_what_was_given():
    from aesampling import experiments

    data, chains = experiments.DataConfig(dataset="fashion_mnist"), ReinjectionConfig(lam=0.05)

    def config(**overrides):
        return experiments.LambdaSearchConfig.from_preset(data, autoencoder="a.keras", classifier="c.keras",
                                                          output="s.json", reinjection=chains, **overrides)

    student = config()
    assert (student.lambdas, student.epochs, student.widenings, student.fd_widenings) == ((0.01, 0.03, 0.1), 5, 2, 4)
    assert config(fd_samples=0, burn_ins=(2,)).fd_widenings == 0  # no FD measured: no FD rounds
    by_fd = config(criterion="fd")
    assert (by_fd.widenings, by_fd.fd_widenings) == (4, 0)  # the FD criterion's own rounds follow the lowest FD
    given = config(lambdas=(0.2,), widenings=None, epochs=1, fd_widenings=1)
    assert (given.lambdas, given.widenings, given.epochs, given.fd_widenings) == ((0.2,), 2, 1, 1)
    digits = experiments.LambdaSearchConfig.from_preset(experiments.DataConfig(dataset="digits"), autoencoder="a",
                                                        classifier="c", output="s.json", reinjection=chains)
    assert (digits.epochs, digits.steps_per_epoch) == (3, 30)
