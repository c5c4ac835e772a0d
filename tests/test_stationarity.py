"""Do the chains forget their start? diagnostics.start_dependence and scripts/stationarity.py."""

import json

import keras
import numpy as np
import pandas as pd
import pytest

from aesampling.quality import diagnostics
from aesampling.errors import UserInputError
from aesampling.sampling.reinjection import ReinjectionConfig, ReinjectionSampler, StartMoments
from support import run_script

DIM, CLASSES = 6, 3


@pytest.fixture
def space():
    """C: a fixed random ReLU classifier on R^6 with 3 classes, and the reference set it measures against."""
    keras.utils.set_random_seed(1)
    inputs = keras.Input((DIM,))
    hidden = keras.layers.Dense(16, activation="relu")(inputs)
    classifier = keras.Model(inputs, keras.layers.Dense(CLASSES, activation="sigmoid")(hidden))
    feature_space = diagnostics.FeatureSpace(classifier)
    x_real = np.random.default_rng(0).normal(size=(400, DIM)).astype(np.float32)
    return feature_space, diagnostics.Reference.of(feature_space, x_real, feature_space(x_real)[1], CLASSES)


# Moments far from N(0, I): chains that keep their start give other labels from each start.
FAR_AWAY = StartMoments(np.full(DIM, 4.0, np.float32), np.full(DIM, 0.5, np.float32))


def test_a_chain_at_step_t_is_the_same_chain_as_in_one_long_run(linear_autoencoder):
    autoencoder = linear_autoencoder(DIM, 0.7, 0.1)
    config = ReinjectionConfig(lam=0.2, num_chains=5, reinjections=7, burn_in=0, collect="clean")
    whole = ReinjectionSampler(autoencoder, config, seed=4).restarts(0, 1).reshape(7, 5, DIM)
    for t in (1, 4, 7):
        np.testing.assert_allclose(diagnostics.states_at_step(autoencoder, config, t, seed=4, chains=5),
                                   whole[t - 1], atol=1e-6)
    with pytest.raises(UserInputError, match="steps t start at 1"):
        diagnostics.states_at_step(autoencoder, config, 0, seed=4, chains=5)


def test_a_constant_autoencoder_forgets_its_start_at_once(linear_autoencoder, space):
    # r(x) = 0.3: whatever x_0, the clean state r(x_0) is the same, so both starts give identical sets.
    constant = linear_autoencoder(DIM, 0.0, 0.3)
    result = diagnostics.start_dependence(constant, ReinjectionConfig(lam=0.1, collect="clean"), *space,
                                          seed=0, moments=FAR_AWAY, steps=(3, 1), chains=40)
    assert [row["t"] for row in result["between_starts"]] == [1, 3]
    for row in result["between_starts"]:
        assert row["class_tv_between"] == row["class_tv_within"] == 0.0
        assert row["fd_between"] == pytest.approx(0.0, abs=1e-3)
        assert row["same_label_share"] == row["coupled_share"] == 1.0  # every chain's two copies have met
    normal, moments = result["starts"]["normal"], result["starts"]["moments"]
    assert [r["class_histogram"] for r in normal] == [r["class_histogram"] for r in moments]
    assert all(abs(sum(r["class_histogram"]) - 1.0) < 1e-3 for r in normal)


def test_an_identity_autoencoder_never_forgets_its_start(linear_autoencoder, space):
    # r(x) = x and λ = 0: each chain stays at x_0, so the starts stay as far apart as they began.
    result = diagnostics.start_dependence(linear_autoencoder(DIM, 1.0), ReinjectionConfig(lam=0.0), *space,
                                          seed=0, moments=FAR_AWAY, steps=(1, 50), chains=400)
    first, last = result["between_starts"]
    assert first["fd_between"] == pytest.approx(last["fd_between"], rel=1e-4)
    assert last["fd_between"] > 20 * last["fd_within"]
    assert last["coupled_share"] == 0.0 and last["same_label_share"] < 0.9
    far = space[0](FAR_AWAY.mean + FAR_AWAY.std * np.random.default_rng(2).normal(size=(400, DIM)))[0]
    assert result["starts"]["moments"][1]["fd"] == pytest.approx(
        diagnostics.measures.frechet_distance(far, space[1].features), rel=0.2)
    with pytest.raises(UserInputError, match="4 chains or more"):
        diagnostics.start_dependence(linear_autoencoder(DIM, 1.0), ReinjectionConfig(lam=0.0), *space, seed=0,
                                     moments=FAR_AWAY, steps=(1,), chains=3)


def test_stationarity_script_writes_table_figure_and_record(digits_models, tmp_path):
    out = tmp_path / "stationarity.csv"
    result = run_script("stationarity", "--dataset=digits", f"--autoencoder={digits_models / 'ae.keras'}",
                        f"--classifier={digits_models / 'classifier.keras'}", "--lam=0.05", "--steps=1,4",
                        "--stationarity_chains=40", f"--output={out}")
    assert "class TV between the starts" in result.stdout
    frame = pd.read_csv(out)
    assert frame["t"].tolist() == [1, 4]
    assert list(frame.columns) == ["t", "fd_normal", "class_tv_normal", "fd_moments", "class_tv_moments",
                                   "class_tv_between", "class_tv_within", "fd_between", "fd_within",
                                   "same_label_share", "coupled_share"]
    assert out.with_suffix(".png").stat().st_size > 1000
    record = json.loads(out.with_suffix(".json").read_text())
    assert record["config"]["chains"] == 40 and record["config"]["reinjection"]["lam"] == 0.05
    assert len(record["starts"]["moments"][1]["class_histogram"]) == 10


@pytest.mark.parametrize("flags, message", [
    (["--steps=1,x"], "--steps must be integers"),
    (["--steps=0,5"], "the reinjection steps must be integers >= 1"),
    (["--stationarity_chains=2"], "--stationarity_chains must be an integer >= 4"),
    (["--chains=50", "--burn_in=3"], "Unknown command line flag 'chains'"),
])
def test_stationarity_script_mistakes_give_one_line_errors(flags, message, tmp_path):
    result = run_script("stationarity", "--dataset=digits", "--autoencoder=x.keras", "--classifier=c.keras",
                        "--lam=0.1", f"--output={tmp_path / 's.csv'}", *flags, check=False)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")
    assert message in result.stderr


def test_stationarity_outputs_never_land_on_the_search_result(digits_models, tmp_path):
    # The record of out.csv is out.json: with --chains_file=out.json it would overwrite the search result.
    search = tmp_path / "out.json"
    search.write_text('{"best": {"lam": 0.05, "collect": "noisy", "burn_in": 1, "reinjections": 3}}')
    before = search.read_bytes()
    result = run_script("stationarity", "--dataset=digits", f"--autoencoder={digits_models / 'ae.keras'}",
                        f"--classifier={digits_models / 'classifier.keras'}", f"--chains_file={search}",
                        f"--output={tmp_path / 'out.csv'}", check=False)
    assert result.returncode == 1 and "would overwrite the search result" in result.stderr
    assert search.read_bytes() == before and not (tmp_path / "out.csv").exists()
