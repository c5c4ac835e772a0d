"""Chains that start at the training data's moments, through the scripts: search, sample, evaluate."""

import json

import numpy as np
import pytest
from keras import ops

import aesampling
from aesampling.io import storage
from aesampling import experiments
from aesampling.sampling.reinjection import StartMoments, chain_noise
from support import run_script


def test_a_moments_search_carries_its_start_to_sample_and_evaluate(digits_models, tmp_path):
    models = {"autoencoder": digits_models / "ae.keras", "classifier": digits_models / "classifier.keras"}
    model_flags = [f"--{name}={path}" for name, path in models.items()]
    search = tmp_path / "search.json"
    tiny_grid = ["--criterion=fd", "--lambdas=0.1", "--collects=clean", "--burn_ins=1", "--widenings=0",
                 "--fd_samples=200", "--mixing_chains=20"]
    run_script("search_lambda", "--dataset=digits", *model_flags, *tiny_grid, f"--output={search}")  # recommended
    record = json.loads(search.read_text())
    assert record["best"]["start"] == record["best_fd"]["start"] == "moments"
    assert aesampling.recipe("paper").start == "normal"  # make passes --recipe=paper (tests/test_scripts.py)
    # The search stores μ and σ of the training split, the only numbers of the data it keeps.
    x_train = experiments.inputs.load_data(experiments.DataConfig(dataset="digits")).x_train
    moments = StartMoments.from_record(record["start_moments"], str(search))
    np.testing.assert_allclose(moments.mean, x_train.mean(axis=0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(moments.std, x_train.std(axis=0), rtol=1e-5, atol=1e-6)

    # sample.py takes the start and the moments from the search result alone. Clean states: the first state
    # of a chain is r(x_0), x_0 = μ + σ ⊙ z; --start=normal overrides the file and starts at z.
    autoencoder = storage.load_model(models["autoencoder"])
    z = ops.convert_to_numpy(chain_noise(3, 0, 0, (10, 64)))
    for start, x_0 in (([], moments.mean + moments.std * z), (["--start=normal"], z)):
        out = tmp_path / f"samples{len(start)}.npz"
        run_script("sample", f"--autoencoder={models['autoencoder']}", f"--chains_file={search}",
                   "--num_samples=50", "--seed=3", f"--output={out}", *start)
        np.testing.assert_allclose(np.load(out)["chain_progress"][0], autoencoder.predict(x_0, verbose=0),
                                   atol=1e-5)
        assert json.loads(out.with_suffix(".json").read_text())["config"]["reinjection"]["start"] == \
            ("normal" if start else "moments")

    # evaluate.py reads the start from the search and the moments from its own training split.
    curve = tmp_path / "curve.csv"
    run_script("evaluate", "--dataset=digits", "--source=ae", *model_flags, f"--chains_file={search}",
               "--epochs=1", "--steps_per_epoch=2", "--quality_samples=100", "--mixing_chains=20",
               f"--output={curve}")
    evaluated = json.loads(curve.with_suffix(".json").read_text())
    assert evaluated["config"]["reinjection"]["start"] == "moments" and evaluated["mixing"]["steps"]

    # Moments that cannot be had are named in one line.
    no_moments = tmp_path / "no_moments.json"
    no_moments.write_text(json.dumps({k: v for k, v in record.items() if k != "start_moments"}))
    for flags, message in (([f"--chains_file={no_moments}"], "holds no starting moments"),
                           (["--lam=0.1", "--start=moments"], "give --chains_file")):
        result = run_script("sample", f"--autoencoder={models['autoencoder']}", "--num_samples=10",
                            f"--output={tmp_path / 'bad.npz'}", *flags, check=False)
        assert result.returncode == 1 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1
        assert not (tmp_path / "bad.npz").exists()


def test_chains_can_start_at_each_class_s_moments_in_turn():
    """Per class, chain i of every restart starts at x_0 = μ_c + σ_c ⊙ z with c = i mod C."""
    x = np.array([[0.0, 1.0], [0.2, 1.0], [5.0, 5.0], [5.0, 7.0], [9.0, 0.0], [9.0, 0.0]], np.float32)
    moments = StartMoments.by_class(x, np.array([4, 4, 7, 7, 2, 2]))
    assert moments.classes == 3 and StartMoments.of(x).classes is None
    np.testing.assert_allclose(moments.mean, [[9.0, 0.0], [0.1, 1.0], [5.0, 6.0]])  # labels 2, 4, 7
    np.testing.assert_allclose(moments.std, [[0.0, 0.0], [0.1, 0.0], [0.0, 1.0]], atol=1e-6)

    def identity(x):
        return x

    config = aesampling.ReinjectionConfig(lam=0.0, num_chains=7, reinjections=1, burn_in=0, collect="clean",
                                          start="moments")
    sampler = aesampling.ReinjectionSampler(identity, config, seed=5, input_dim=2, start=moments)
    states = sampler.restarts(0, 2).reshape(2, 7, 2)  # r is the identity and λ = 0: the states are the starts
    z = ops.convert_to_numpy(chain_noise(5, 1, 0, (7, 2)))
    classes = np.arange(7) % 3
    np.testing.assert_allclose(states[1], moments.mean[classes] + moments.std[classes] * z, rtol=1e-6, atol=1e-6)
    for wrong in (StartMoments(np.zeros((3, 5), np.float32), np.ones((3, 5), np.float32)),
                  StartMoments(np.zeros(2, np.float32), np.ones((3, 2), np.float32))):
        with pytest.raises(aesampling.UserInputError, match=r"they must be \(2,\), or \(C, 2\) per class"):
            aesampling.ReinjectionSampler(identity, config, seed=5, input_dim=2, start=wrong)
    with pytest.raises(aesampling.UserInputError, match="2 or more rows of every class; got 1 of class 2$"):
        StartMoments.by_class(x[:5], np.array([4, 4, 7, 7, 2]))
    with pytest.raises(aesampling.UserInputError, match="got no rows$"):
        StartMoments.by_class(x[:0], np.array([], np.int64))
    # Written and read back as lists of lists, exactly.
    back = StartMoments.from_record(json.loads(json.dumps(moments.to_record())), "moments.json")
    np.testing.assert_array_equal(back.mean, moments.mean)
    np.testing.assert_array_equal(back.std, moments.std)
    assert back.classes == 3
