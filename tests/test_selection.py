"""The validation search over λ and the collected state."""

import json

import pytest

from aesampling import data, models, selection, training
from aesampling.errors import UserInputError
from aesampling.presets import ClassifierPreset
from aesampling.sampling import ReinjectionConfig


def test_search_scores_every_pair_on_the_validation_split(digits):
    split = data.split_validation(digits, 0.2)
    classifier = training.build_classifier_from_preset(ClassifierPreset((32,), "relu", 10, 64), 64, 10)
    training.fit_classifier(classifier, split, epochs=10, batch_size=64, verbose=0)
    autoencoder = models.build_autoencoder(64, [16], "tanh")
    autoencoder.fit(split.x_train, split.x_train, epochs=5, batch_size=64, verbose=0)
    seen = []
    rows = selection.search_chain_settings(
        autoencoder, classifier, split.x_val, split.y_val, base=ReinjectionConfig(lam=0.0, num_chains=10),
        lambdas=(0.01, 0.1), collects=("noisy", "clean"), burn_ins=(2, 6), epochs=2, steps_per_epoch=10, seed=0,
        on_result=seen.append,
    )
    assert [(r["burn_in"], r["lam"], r["collect"]) for r in rows] == [
        (b, lam, c) for b in (2, 6) for lam in (0.01, 0.1) for c in ("noisy", "clean")]
    assert {r["reinjections"] - r["burn_in"] for r in rows} == {8}  # same samples per step everywhere
    assert seen == rows
    assert all(0.0 <= r["score"] <= 1.0 for r in rows)
    assert selection.best_setting(rows)["score"] == max(r["score"] for r in rows)


def test_search_refuses_a_missing_validation_split_and_bad_grids(digits, linear_autoencoder):
    ae = linear_autoencoder(64, 0.5)
    kwargs = dict(base=ReinjectionConfig(lam=0.0), burn_ins=(2,), epochs=1, steps_per_epoch=1, seed=0)
    with pytest.raises(UserInputError, match="validation split"):
        selection.search_chain_settings(ae, ae, None, None, lambdas=(0.1,), collects=("noisy",), **kwargs)
    with pytest.raises(UserInputError, match="unknown collect"):
        selection.search_chain_settings(ae, ae, digits.x_test, digits.y_test, lambdas=(0.1,), collects=("both",), **kwargs)


def test_read_selection(tmp_path):
    good = tmp_path / "good.json"
    best = {"lam": 0.02, "collect": "clean", "burn_in": 30, "reinjections": 38}
    good.write_text(json.dumps({"best": best, "grid": []}))
    assert selection.read_selection(str(good)) == best
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"grid": []}))
    with pytest.raises(UserInputError, match="not a search result"):
        selection.read_selection(str(bad))
