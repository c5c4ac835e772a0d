"""The reinjection sampler against hand-computed chains of deterministic fake autoencoders."""

import dataclasses
import json
import math

import numpy as np
import pytest
from keras import ops

from aesampling.errors import UserInputError
from aesampling.sampling import reinjection
from aesampling.sampling.reinjection import ReinjectionConfig, ReinjectionSampler, StartMoments, chain_noise, start_for


def expected_chains(seed, restarts, chains, dim, reinjections, burn_in, lam, scale, collect):
    """x_0 = noise(r, 0); x_t = scale·x_{t-1} + sqrt(λ)·noise(r, t); keep t > burn_in, step-major."""
    out = []
    for r in range(restarts):
        x = ops.convert_to_numpy(chain_noise(seed, r, 0, (chains, dim)))
        for t in range(1, reinjections + 1):
            clean = scale * x
            x = clean + math.sqrt(lam) * ops.convert_to_numpy(chain_noise(seed, r, t, (chains, dim)))
            if t > burn_in:
                out.append(x if collect == "noisy" else clean)
    return np.concatenate(out)


@pytest.mark.parametrize("collect", ["noisy", "clean"])
def test_exact_chain_values_with_restarts_and_burn_in(linear_autoencoder, collect):
    config = ReinjectionConfig(lam=0.04, num_chains=3, reinjections=5, burn_in=2, collect=collect)
    sampler = ReinjectionSampler(linear_autoencoder(4, 0.5), config, seed=11)
    assert config.samples_per_restart == 3 * 3
    samples = sampler.sample(4 * 9)
    expected = expected_chains(11, 4, 3, 4, 5, 2, 0.04, 0.5, collect)
    np.testing.assert_allclose(samples, expected, rtol=1e-5, atol=1e-6)
    # the same restarts left where they were computed, for a caller that uses them there
    on_device = sampler.device_restarts(1, 2)
    assert not isinstance(on_device, np.ndarray) and tuple(on_device.shape) == (2 * 9, 4)
    np.testing.assert_array_equal(ops.convert_to_numpy(on_device), sampler.restarts(1, 2))
    np.testing.assert_allclose(ops.convert_to_numpy(on_device), expected[9:27], rtol=1e-5, atol=1e-6)


def test_samplers_that_differ_in_lambda_and_burn_in_share_one_compiled_loop(linear_autoencoder, monkeypatch):
    """A λ search builds one sampler per setting: those of one autoencoder share the compiled loop, with sqrt(λ)
    and b as its arguments, and each still gives its own chains exactly; another collected state, seed or
    autoencoder gets its own loop."""
    monkeypatch.setattr(reinjection, "SHARED_LOOPS", reinjection.SharedLoops(kept=3))
    autoencoder = linear_autoencoder(4, 0.5)
    settings = [(0.04, 2), (0.5, 1), (2.0, 4)]  # (λ, b), R - b = 3 collected states each
    samplers = [ReinjectionSampler(autoencoder, ReinjectionConfig(lam=lam, num_chains=3, reinjections=b + 3,
                                                                  burn_in=b), seed=11) for lam, b in settings]
    assert len(reinjection.SHARED_LOOPS) == 1 and len({id(s._restarts) for s in samplers}) == 1
    for (lam, b), sampler in zip(settings, samplers):
        np.testing.assert_allclose(sampler.sample(2 * 9), expected_chains(11, 2, 3, 4, b + 3, b, lam, 0.5, "noisy"),
                                   rtol=1e-5, atol=1e-6)
    clean = ReinjectionSampler(autoencoder, ReinjectionConfig(lam=0.04, num_chains=3, reinjections=5, burn_in=2,
                                                              collect="clean"), seed=11)
    other_seed = ReinjectionSampler(autoencoder, ReinjectionConfig(lam=0.04, num_chains=3, reinjections=5,
                                                                   burn_in=2), seed=12)
    assert len({id(s._restarts) for s in (samplers[0], clean, other_seed)}) == 3
    np.testing.assert_allclose(clean.sample(9), expected_chains(11, 1, 3, 4, 5, 2, 0.04, 0.5, "clean"),
                               rtol=1e-5, atol=1e-6)
    ReinjectionSampler(linear_autoencoder(4, 0.25), ReinjectionConfig(lam=0.04, num_chains=3, reinjections=5,
                                                                      burn_in=2), seed=11)
    assert len(reinjection.SHARED_LOOPS) == 3  # at most `kept`: the least recently used loop went


def test_restart_and_burn_in_bookkeeping(linear_autoencoder):
    # r(x) = x and λ = 0: each chain stays at its starting point x_0, so every
    # collected state of restart k equals that restart's N(0, I) draw.
    config = ReinjectionConfig(lam=0.0, num_chains=2, reinjections=4, burn_in=1)
    samples = ReinjectionSampler(linear_autoencoder(3, 1.0), config, seed=5).sample(2 * 3 * 3)
    assert samples.shape == (18, 3)
    for restart in range(3):
        start = ops.convert_to_numpy(chain_noise(5, restart, 0, (2, 3)))
        block = samples[restart * 6:(restart + 1) * 6].reshape(3, 2, 3)
        np.testing.assert_array_equal(block, np.broadcast_to(start, (3, 2, 3)))
    assert not np.allclose(samples[:6], samples[6:12])  # a restart starts from fresh noise


def test_chains_can_start_at_the_datas_moments(linear_autoencoder):
    # r(x) = x and λ = 0: every collected state is x_0 = μ + σ ⊙ z, z the N(0, I) start's own draw.
    config = ReinjectionConfig(lam=0.0, num_chains=2, reinjections=3, burn_in=1, start="moments")
    data = np.array([[0.0, 1.0, 5.0], [2.0, 1.0, 7.0], [4.0, 1.0, 9.0]], np.float32)
    start = StartMoments.of(data)
    np.testing.assert_allclose(start.mean, [2.0, 1.0, 7.0])
    np.testing.assert_allclose(start.std, [np.sqrt(8 / 3), 0.0, np.sqrt(8 / 3)], rtol=1e-6)
    samples = ReinjectionSampler(linear_autoencoder(3, 1.0), config, seed=5, start=start).sample(2 * 2 * 2)
    for restart in range(2):
        z = ops.convert_to_numpy(chain_noise(5, restart, 0, (2, 3)))
        block = samples[restart * 4:(restart + 1) * 4].reshape(2, 2, 3)
        np.testing.assert_allclose(block, np.broadcast_to(start.mean + start.std * z, (2, 2, 3)),
                                   rtol=1e-6, atol=1e-6)
    # The default start is N(0, I) itself, as before.
    plain = ReinjectionSampler(linear_autoencoder(3, 1.0), dataclasses.replace(config, start="normal"),
                               seed=5).sample(4)
    np.testing.assert_array_equal(plain[:2], ops.convert_to_numpy(chain_noise(5, 0, 0, (2, 3))))


def test_bad_starting_moments_are_refused(linear_autoencoder):
    config = ReinjectionConfig(lam=0.1, num_chains=2, reinjections=3, burn_in=1, start="moments")
    with pytest.raises(UserInputError, match=r"starting moments of shape \[\(4,\)\] for an autoencoder of n = 3"):
        ReinjectionSampler(linear_autoencoder(3, 1.0), config, seed=0, start=StartMoments.of(np.ones((5, 4))))
    with pytest.raises(UserInputError, match="starting moments need 2 or more rows"):
        StartMoments.of(np.ones((1, 3)))
    # The settings and the moments go together: neither without the other.
    with pytest.raises(UserInputError, match="start at 'moments' but starting moments were not given"):
        ReinjectionSampler(linear_autoencoder(3, 1.0), config, seed=0)
    with pytest.raises(UserInputError, match="start at 'normal' but starting moments were given"):
        ReinjectionSampler(linear_autoencoder(3, 1.0), dataclasses.replace(config, start="normal"), seed=0,
                           start=StartMoments.of(np.ones((5, 3))))
    with pytest.raises(UserInputError, match="`start` must be one of"):
        ReinjectionConfig(lam=0.1, start="data")


def test_starting_moments_round_trip_through_a_record():
    moments = StartMoments.of(np.random.default_rng(0).random((10, 4)))
    back = StartMoments.from_record(json.loads(json.dumps(moments.to_record())), "search.json")
    np.testing.assert_array_equal(back.mean, moments.mean)
    np.testing.assert_array_equal(back.std, moments.std)
    for bad in (None, {"mean": [0.0]}, {"mean": [0.0, 1.0], "std": [1.0]}, {"mean": ["a"], "std": [1.0]},
                {"mean": [0.0], "std": [-1.0]}):
        with pytest.raises(UserInputError, match="search.json"):
            StartMoments.from_record(bad, "search.json")
    config = ReinjectionConfig(lam=0.1)
    assert start_for(config, moments) is None
    assert start_for(dataclasses.replace(config, start="moments"), moments) is moments
    with pytest.raises(UserInputError, match="need those moments"):
        start_for(dataclasses.replace(config, start="moments"), None)


def test_chains_per_class_can_start_along_each_classs_principal_directions(linear_autoencoder):
    # Two classes in R^3 whose first two features move together (class 0: along (1, 1, 0), sd 2; class 1: along
    # (1, -1, 0), sd 3), plus independent noise of sd 0.1. With r(x) = x and λ = 0 the samples are the starts: with
    # one direction per class they keep each class's correlation and (within the small share of the noise that lies
    # along the direction) its per-feature deviation; without, they lose the correlation.
    rng = np.random.default_rng(0)
    along = [np.array([1.0, 1.0, 0.0]) / np.sqrt(2), np.array([1.0, -1.0, 0.0]) / np.sqrt(2)]
    x = np.concatenate([mean + rng.standard_normal((4000, 1)) * sd * v + 0.1 * rng.standard_normal((4000, 3))
                        for mean, sd, v in ((np.array([5.0, 0.0, 1.0]), 2.0, along[0]),
                                            (np.array([-5.0, 2.0, 0.0]), 3.0, along[1]))]).astype(np.float32)
    y = np.repeat([0, 1], 4000)
    start = StartMoments.by_class(x, y, directions=1)
    assert start.directions.shape == (2, 1, 3) and start.spread.shape == (2, 1) and start.direction_count == 1
    np.testing.assert_allclose(np.abs(start.directions[:, 0] @ np.stack(along).T), np.eye(2), atol=0.01)
    np.testing.assert_allclose(start.spread[:, 0], [2.0, 3.0], rtol=0.05)
    # What is left outside the direction: half the noise of the two moving features lies along it.
    np.testing.assert_allclose(start.std, [[0.1 / np.sqrt(2), 0.1 / np.sqrt(2), 0.1]] * 2, rtol=0.1)
    config = ReinjectionConfig(lam=0.0, num_chains=2, reinjections=2, burn_in=1, start="moments")
    identity = linear_autoencoder(3, 1.0)
    samples = ReinjectionSampler(identity, config, seed=3, start=start).sample(8000).reshape(-1, 2, 3)
    plain = ReinjectionSampler(identity, config, seed=3, start=StartMoments.by_class(x, y)).sample(8000)
    for c in (0, 1):  # chain c starts at class c
        drawn, real = samples[:, c], x[y == c]
        np.testing.assert_allclose(drawn.mean(axis=0), real.mean(axis=0), atol=0.15)
        np.testing.assert_allclose(drawn.std(axis=0), real.std(axis=0), rtol=0.05, atol=0.01)
        assert abs(np.corrcoef(drawn[:, :2].T)[0, 1] - np.corrcoef(real[:, :2].T)[0, 1]) < 0.02
        assert abs(np.corrcoef(plain.reshape(-1, 2, 3)[:, c, :2].T)[0, 1]) < 0.05
    with pytest.raises(UserInputError, match="principal directions per class must be an integer in \\[0, n\\)"):
        StartMoments.by_class(x, y, directions=3)
    with pytest.raises(UserInputError, match="need 3 or more rows of every class; got 2 of class 1"):
        StartMoments.by_class(x[:4002], y[:4002], directions=2)
    with pytest.raises(UserInputError, match="principal directions go with moments per class"):
        ReinjectionSampler(identity, config, seed=3, start=dataclasses.replace(start, spread=start.spread[:1]))
    back = StartMoments.from_record(json.loads(json.dumps(start.to_record())), "moments.json")
    for part in ("mean", "std", "directions", "spread"):
        np.testing.assert_array_equal(getattr(back, part), getattr(start, part))
    with pytest.raises(UserInputError, match="moments.json: principal directions go with moments per class"):
        StartMoments.from_record({**start.to_record(), "spread": [[1.0, 2.0]]}, "moments.json")


def test_lambda_zero_collects_the_fixed_point(linear_autoencoder):
    # r(x) = 0·x + 0.3 maps everything to 0.3; with λ = 0 every sample is exactly 0.3.
    config = ReinjectionConfig(lam=0.0, num_chains=4, reinjections=3, burn_in=0)
    samples = ReinjectionSampler(linear_autoencoder(6, 0.0, 0.3), config, seed=0).sample(30)
    assert samples.shape == (30, 6)
    np.testing.assert_array_equal(samples, np.float32(0.3))


def test_same_seed_same_samples_whatever_the_chunking(linear_autoencoder):
    model = linear_autoencoder(5, 0.9, 0.05)
    config = ReinjectionConfig(lam=0.1, num_chains=7, reinjections=6, burn_in=2)
    first = ReinjectionSampler(model, config, seed=123).sample(500)
    again = ReinjectionSampler(model, config, seed=123)
    chunked = np.concatenate(list(again.iter_samples(500, chunk_samples=30)))
    np.testing.assert_array_equal(first, chunked)
    other = ReinjectionSampler(model, config, seed=124).sample(500)
    assert not np.allclose(first, other)


def test_sample_counts_not_multiple_of_a_restart(linear_autoencoder):
    sampler = ReinjectionSampler(linear_autoencoder(2, 0.5), ReinjectionConfig(lam=0.1, num_chains=3), seed=0)
    assert sampler.sample(0).shape == (0, 2)
    assert sampler.sample(25).shape == (25, 2)
    sizes = [len(c) for c in sampler.iter_samples(100, chunk_samples=48)]
    assert sum(sizes) == 100 and max(sizes) <= 48


@pytest.mark.parametrize("kwargs, message", [
    ({"lam": -0.1}, "`lam`"),
    ({"lam": float("nan")}, "`lam`"),
    ({"lam": 0.1, "num_chains": 0}, "chains"),
    ({"lam": 0.1, "reinjections": 0}, "reinjections"),
    ({"lam": 0.1, "reinjections": 4, "burn_in": 4}, "`burn_in`"),
    ({"lam": 0.1, "burn_in": -1}, "`burn_in`"),
    ({"lam": 0.1, "collect": "both"}, "collect"),
])
def test_bad_chain_settings_are_refused(kwargs, message):
    with pytest.raises(UserInputError, match=message):
        ReinjectionConfig(**kwargs)


@pytest.mark.parametrize("seed", [-1, 2**31, 1.5])
def test_seed_out_of_range(linear_autoencoder, seed):
    with pytest.raises(UserInputError, match="seed"):
        ReinjectionSampler(linear_autoencoder(2, 1.0), ReinjectionConfig(lam=0.1), seed=seed)


def test_works_with_a_trained_keras_autoencoder(digits):
    from aesampling.models import builders

    model = builders.build_autoencoder(digits.input_dim, [8], "tanh")
    model.fit(digits.x_train, digits.x_train, epochs=1, batch_size=256, verbose=0)
    samples = ReinjectionSampler(model, ReinjectionConfig(lam=0.05, collect="clean"), seed=0).sample(1000)
    assert samples.shape == (1000, 64) and samples.dtype == np.float32
    assert 0.0 <= samples.min() and samples.max() <= 1.0  # clean states are sigmoid outputs


def test_chain_settings_resolve_flag_then_search_result_then_preset():
    from aesampling.sampling.reinjection import resolve_chain_settings

    preset = ReinjectionConfig(lam=0.05, num_chains=50, reinjections=10, burn_in=2, collect="noisy")
    chosen = {"lam": 0.3, "collect": "clean", "burn_in": 30, "reinjections": 38}
    assert resolve_chain_settings(preset) == preset
    assert resolve_chain_settings(preset, chosen=chosen, lam=None, num_chains=None) == ReinjectionConfig(
        lam=0.3, num_chains=50, reinjections=38, burn_in=30, collect="clean")
    assert resolve_chain_settings(preset, chosen=chosen, lam=0.01, num_chains=7, burn_in=31) == ReinjectionConfig(
        lam=0.01, num_chains=7, reinjections=38, burn_in=31, collect="clean")
    with pytest.raises(UserInputError, match="`burn_in`"):  # b = 30 from the search with the preset's R = 10
        resolve_chain_settings(preset, chosen={"burn_in": 30})
    with pytest.raises(ValueError, match="unknown chain settings"):
        resolve_chain_settings(preset, chains=3)


def test_a_dataset_s_chain_settings_start_from_its_presets():
    from aesampling.models import presets

    assert presets.chain_settings("digits") == presets.experiment_presets("digits").sampler
    assert presets.chain_settings("digits", default_lam=0.0, num_chains=7) == ReinjectionConfig(
        lam=0.0, num_chains=7, reinjections=10, burn_in=2, collect="noisy")
    assert presets.chain_settings("digits", chosen={"lam": 0.3}, default_lam=0.0).lam == 0.3  # a search beats it
    assert presets.chain_settings(None, chosen={"lam": 0.3}) == ReinjectionConfig(lam=0.3)
    assert presets.chain_settings("", chosen={"lam": 0.3}) == ReinjectionConfig(lam=0.3)  # --dataset=
    with pytest.raises(UserInputError, match="λ is unset: give `lam`"):
        presets.chain_settings(None, num_chains=7)
