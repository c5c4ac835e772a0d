"""Class-balanced collection (aesampling.sampling.class_balance) on fake autoencoders and a threshold classifier."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from aesampling.sampling import class_balance
from aesampling.evaluation import learning_curves
from aesampling.io import storage
from aesampling import backend, experiments
from support import run_script
from aesampling.errors import UserInputError
from aesampling.sampling.teacher import Labeler
from aesampling.sampling import refills
from aesampling.sampling.reinjection import Balance, ReinjectionConfig, ReinjectionSampler, StartMoments


def threshold_classifier(dim: int, threshold: float):
    """C(x) = (sigmoid(-s), sigmoid(s)) with s = 20·(x_0 - threshold): class 1 iff x_0 > threshold."""
    inputs = keras.Input((dim,))
    layer = keras.layers.Dense(2, activation="sigmoid")
    model = keras.Model(inputs, layer(inputs))
    kernel = np.zeros((dim, 2), np.float32)
    kernel[0] = (-20.0, 20.0)
    layer.kernel.assign(kernel)
    layer.bias.assign(np.array([20.0 * threshold, -20.0 * threshold], np.float32))
    return model


CONFIG = ReinjectionConfig(lam=0.25, num_chains=20, reinjections=6, burn_in=2, balance=Balance())


def test_restarted_chains_start_at_the_moments_too(linear_autoencoder):
    """r(x) = x, λ = 0: a chain keeps its start. Starts at μ = 5 are all class 1, so class 0's slots stay
    empty; a stuck chain restarted from N(0, I) instead would fill them (x_0 < 0.5 in 69% of draws)."""
    start = StartMoments(np.full(3, 5.0, np.float32), np.full(3, 0.1, np.float32))
    config = ReinjectionConfig(lam=0.0, num_chains=20, reinjections=6, burn_in=2, balance=Balance(), start="moments")
    sampler = class_balance.BalancedReinjectionSampler(linear_autoencoder(3, 1.0), config, threshold_classifier(3, 0.5),
                                                   seed=0, start=start)
    samples = sampler.sample(200)
    assert len(samples) > 0 and np.all(np.abs(samples - 5.0) < 1.0)
    assert sampler.accepted_share == pytest.approx(0.5)


def test_quotas_split_each_restart_evenly():
    assert class_balance.class_quotas(10, 3).tolist() == [4, 3, 3]
    assert class_balance.class_quotas(400, 10).tolist() == [40] * 10


def test_a_rare_class_gets_its_quota_in_every_restart(linear_autoencoder):
    autoencoder, classifier = linear_autoencoder(3, 0.5), threshold_classifier(3, 0.5)
    hard = lambda x: Labeler(classifier)(x)[1]  # noqa: E731
    plain = ReinjectionSampler(autoencoder, CONFIG, seed=0).sample(2000)
    assert np.mean(hard(plain) == 1) < 0.25  # x_0 > 0.5 is rare at the chains' stationary spread (σ ≈ 0.58)
    config = dataclasses.replace(CONFIG, balance=Balance(patience=8))
    sampler = class_balance.BalancedReinjectionSampler(autoencoder, config, classifier, seed=0)
    per_restart = CONFIG.samples_per_restart
    samples = sampler.restarts(0, 5)
    assert samples.shape == (5 * per_restart, 3) and sampler.accepted_share == 1.0
    labels = [hard(restart) for restart in samples.reshape(5, per_restart, 3)]
    for restart_labels in labels:  # 40 of each class per restart, in shuffled order
        assert sorted(restart_labels.tolist()) == [0] * (per_restart // 2) + [1] * (per_restart // 2)
    assert labels[0][:per_restart // 2].tolist() != [0] * (per_restart // 2)  # not class by class
    again = class_balance.BalancedReinjectionSampler(autoencoder, config, classifier, seed=0)
    np.testing.assert_array_equal(again.sample(300), samples[:300])  # same seed, same order, whatever the chunks
    np.testing.assert_array_equal(np.concatenate(list(again.iter_samples(400, chunk_samples=80))), samples[:400])


def step_by_step_restart(config, seed, restart, threshold):
    """(the accepted states, how many times a chain restarted) of one balanced restart for r(x) = x / 2 and C's
    class 1 iff x_0 > threshold, written out step by step in NumPy: every chain is classified at every step and
    offers its x_t once its age exceeds b; a chain whose class is full restarts from the draw keyed P·R + t."""
    pool, steps, burn_in = config.balance.pool * config.num_chains, config.balance.patience * config.reinjections, \
        config.burn_in
    draw = lambda t: keras.ops.convert_to_numpy(backend.standard_normal(seed, restart, t, (pool, 2)))  # noqa: E731
    quotas = class_balance.class_quotas(config.samples_per_restart, 2)
    x, age, accepted, restarted = draw(0), np.zeros(pool, int), [[], []], 0
    for t in range(1, steps + 1):
        if all(len(kept) == quota for kept, quota in zip(accepted, quotas)):
            break
        x, age = 0.5 * x + np.float32(np.sqrt(config.lam)) * draw(t), age + 1
        labels = (x[:, 0] > threshold).astype(int)
        for chain in np.flatnonzero(age > burn_in):
            if len(accepted[labels[chain]]) < quotas[labels[chain]]:
                accepted[labels[chain]].append(x[chain])
        stuck = (age > burn_in) & (np.array([len(kept) for kept in accepted])[labels] >= quotas[labels])
        x, age = np.where(stuck[:, None], draw(steps + t), x), np.where(stuck, 0, age)
        restarted += stuck.sum()
    return np.array(accepted[0] + accepted[1]).reshape(-1, 2), restarted


@pytest.mark.parametrize("burn_in", [0, 3])
def test_a_balanced_restart_is_the_step_by_step_algorithm(linear_autoencoder, burn_in):
    """The compiled restart (which only reinjects in the pool's first b steps, where no chain may offer) keeps
    the states of the algorithm run one step at a time (to rounding); class 1 (x_0 > 1) is rare enough that chains
    get stuck in class 0 and restart, and its slots do not all fill."""
    config = ReinjectionConfig(lam=0.25, num_chains=20, reinjections=6, burn_in=burn_in, balance=Balance(pool=2))
    sampler = class_balance.BalancedReinjectionSampler(linear_autoencoder(2, 0.5), config,
                                                       threshold_classifier(2, 1.0), seed=3)
    by_row = lambda rows: rows[np.lexsort(rows.T)]  # noqa: E731
    for restart in range(3):
        expected, restarted = step_by_step_restart(config, 3, restart, 1.0)
        got = sampler.restarts(restart, 1)
        assert len(expected) and restarted and (expected[:, 0] > 1.0).sum() < config.samples_per_restart // 2
        np.testing.assert_allclose(by_row(got), by_row(expected), rtol=1e-5, atol=1e-6)  # XLA may fuse a·x + c


def test_a_class_no_chain_reaches_leaves_its_slots_empty(linear_autoencoder):
    # r(x) = 0·x - 1: every state is -1 + sqrt(λ)·ε, never above 5, so class 1 stays empty whatever the restarts.
    sampler = class_balance.BalancedReinjectionSampler(linear_autoencoder(2, 0.0, -1.0), CONFIG,
                                                   threshold_classifier(2, 5.0), seed=1)
    samples = sampler.sample(250)
    assert samples.shape == (250, 2) and (samples[:, 0] < 5).all()
    assert sampler.accepted_share == 0.5  # each restart filled class 0's half of its K slots
    x, weights = learning_curves.autoencoder_source(sampler)[0].batch(sampler.weights(), 0)
    weights = keras.ops.convert_to_numpy(weights)
    assert weights.shape == (CONFIG.samples_per_restart,)
    np.testing.assert_allclose(weights, [2.0] * (len(weights) // 2) + [0.0] * (len(weights) // 2))


@pytest.mark.parametrize("collect", ["noisy", "clean"])
def test_cloning_stuck_chains_fills_more_of_a_rare_class_without_repeating_a_state(linear_autoencoder, collect):
    """r(x) = x, λ = 0.01: chains drift slowly, and class 1 (x_0 > 2.5, 0.6% of the N(0, I) starts) is rare.
    Stuck chains restarted from the start seldom land there; cloned onto a chain already there they fill more
    of its slots. A clone offers only states that differ from its donor's: with clean collection, r of the copied
    state would repeat the donor's next offer."""
    autoencoder, classifier = linear_autoencoder(2, 1.0), threshold_classifier(2, 2.5)
    filled = {}
    for refill in ("start", "clone"):
        config = ReinjectionConfig(lam=0.01, num_chains=20, reinjections=6, burn_in=2, collect=collect,
                                   balance=Balance(refill=refill))
        sampler = class_balance.BalancedReinjectionSampler(autoencoder, config, classifier, seed=0)
        samples = sampler.restarts(0, 5)
        labels = Labeler(classifier)(samples)[1]
        filled[refill] = int((labels == 1).sum())
        assert (labels == 0).sum() == 5 * config.samples_per_restart // 2
        assert len(np.unique(samples, axis=0)) == len(samples)
    assert filled["clone"] >= 1.25 * filled["start"] > 0, filled


def test_class_moments_refill_fills_a_class_the_start_never_reaches(linear_autoencoder):
    """r(x) = x, λ = 0.01, class 1 is x_0 > 5: no N(0, I) start gets there, so neither restarting nor cloning fills
    its slots. Restarted at class 1's moments (μ_1 = 6, σ_1 = 0.1), the stuck chains burn in there and fill them
    with chain states, not the moments' draws themselves."""
    autoencoder, classifier = linear_autoencoder(2, 1.0), threshold_classifier(2, 5.0)
    class_start = class_balance.ClassMoments(np.array([[0.0, 0.0], [6.0, 6.0]], np.float32),
                                         np.array([[1.0, 1.0], [0.1, 0.1]], np.float32))
    shares = {}
    for refill in ("start", "clone", "class_moments"):
        config = ReinjectionConfig(lam=0.01, num_chains=20, reinjections=6, burn_in=2, balance=Balance(refill=refill))
        sampler = class_balance.BalancedReinjectionSampler(
            autoencoder, config, classifier, seed=0, class_start=class_start if refill == "class_moments" else None)
        samples = sampler.restarts(0, 3)
        shares[refill] = sampler.accepted_share
    assert shares == {"start": 0.5, "clone": 0.5, "class_moments": 1.0}
    labels = Labeler(classifier)(samples)[1]
    rare = samples[labels == 1]
    assert len(rare) == 3 * config.samples_per_restart // 2 and np.all(np.abs(rare - 6.0) < 1.0)
    np.testing.assert_array_equal(class_balance.BalancedReinjectionSampler(
        autoencoder, config, classifier, seed=0, class_start=class_start).restarts(0, 3), samples)


def test_class_restarts_spread_over_the_classes_as_their_open_slots(linear_autoencoder):
    """4 restarting chains and open slots (1, 3): one chain restarts at class 0's moments, three at class 1's."""
    class_start = class_balance.ClassMoments(np.array([[-1.0, -1.0], [1.0, 1.0]], np.float32),
                                         np.ones((2, 2), np.float32))
    restarting = keras.ops.convert_to_tensor([True, False, True, True, False, True, False, False])
    x = refills.class_moments_start(keras.ops.zeros((8, 2)), restarting, keras.ops.convert_to_tensor([1, 3], "int32"),
                                    *(keras.ops.convert_to_tensor(m) for m in (class_start.mean, class_start.std)))
    x = keras.ops.convert_to_numpy(x)[np.array([0, 2, 3, 5])]
    np.testing.assert_array_equal(x[:, 0], [-1.0, 1.0, 1.0, 1.0])


def test_class_moments_are_per_class_and_go_with_their_refill(linear_autoencoder):
    x = np.array([[0.0, 1.0], [2.0, 3.0], [10.0, 10.0], [12.0, 14.0]], np.float32)
    moments = class_balance.ClassMoments.of(x, np.array([0, 0, 1, 1]), 2)
    np.testing.assert_allclose(moments.mean, [[1.0, 2.0], [11.0, 12.0]])
    np.testing.assert_allclose(moments.std, [[1.0, 1.0], [1.0, 2.0]])
    with pytest.raises(UserInputError, match=r"every class; class\(es\) \[2\] have fewer"):
        class_balance.ClassMoments.of(x, np.array([0, 0, 1, 1]), 3)
    autoencoder, classifier = linear_autoencoder(2, 1.0), threshold_classifier(2, 0.0)
    by_class = dataclasses.replace(CONFIG, balance=Balance(refill="class_moments"))
    with pytest.raises(UserInputError, match="not given: class moments go with refill 'class_moments'"):
        class_balance.make_sampler(autoencoder, by_class, seed=0, classifier=classifier)
    with pytest.raises(UserInputError, match="refill 'start' with class moments given"):
        class_balance.make_sampler(autoencoder, CONFIG, seed=0, classifier=classifier, class_moments=moments)
    with pytest.raises(UserInputError, match=r"they must be \(2, 3\)"):
        class_balance.make_sampler(linear_autoencoder(3, 1.0), by_class, seed=0, classifier=threshold_classifier(3, 0.0),
                               class_moments=moments)
    sampler = class_balance.make_sampler(autoencoder, by_class, seed=0, classifier=classifier, class_moments=moments)
    assert len(sampler.sample(100)) == 100


def test_each_recipe_s_chains_are_its_start_and_collection(linear_autoencoder):
    """recipe(name).chains(...) fills in the recipe's start and collection: the recommended chains start at the
    moments given and fill equal class quotas, the paper's start at N(0, I) and keep every state."""
    autoencoder, classifier = linear_autoencoder(3, 0.5), threshold_classifier(3, 0.0)
    moments = StartMoments(np.zeros(3, np.float32), np.ones(3, np.float32))
    settings = dict(lam=0.25, num_chains=20, reinjections=6, burn_in=2)
    paper, recommended = (experiments.recipes.recipe(name).chains(**settings) for name in ("paper", "recommended"))
    assert paper == ReinjectionConfig(**settings)
    assert recommended == ReinjectionConfig(**settings, start="moments", balance=Balance())
    sampler = class_balance.make_sampler(autoencoder, recommended, seed=0, classifier=classifier, moments=moments)
    _, hard = Labeler(classifier)(sampler.sample(400))
    assert np.bincount(hard, minlength=2).tolist() == [200, 200]
    assert isinstance(class_balance.make_sampler(autoencoder, paper, seed=0), ReinjectionSampler)
    # A λ search's choice carries its start: the recipe's is taken, another refused.
    assert experiments.recipes.recipe("recommended").chains(**settings, start="moments") == recommended
    assert experiments.recipes.recipe("paper").chains(**settings, start=None) == paper
    with pytest.raises(UserInputError, match="the recommended recipe fixes `start` at 'moments', got 'normal': leave"):
        experiments.recipes.recipe("recommended").chains(**settings, start="normal")
    with pytest.raises(UserInputError, match=r"the paper recipe fixes `balance` at None, got Balance\(refill='start'"):
        experiments.recipes.recipe("paper").chains(**settings, balance=Balance())


def test_refill_patience_and_pool_are_checked_and_live_only_under_balance():
    with pytest.raises(UserInputError, match="`refill` must be one of"):
        Balance(refill="copy")
    for bad in (0, 1.5, True):
        with pytest.raises(UserInputError, match="`patience` \\(P\\) must be an integer >= 1"):
            Balance(patience=bad)
        with pytest.raises(UserInputError, match="`pool` \\(G\\) must be an integer >= 1"):
            Balance(pool=bad)
    for balance in (Balance(refill="clone"), Balance(patience=4)):
        config = ReinjectionConfig(lam=0.1, balance=balance)
        assert config.without_balance() == ReinjectionConfig(lam=0.1) and config.without_balance().refill is None
    assert ReinjectionConfig(lam=0.1, balance=Balance(refill="clone")).refill == "clone"


def test_more_patience_fills_more_of_a_rare_class(linear_autoencoder):
    """The restart of test_cloning_... again: P·R steps bound it, so a larger P leaves fewer slots empty."""
    autoencoder, classifier = linear_autoencoder(2, 1.0), threshold_classifier(2, 2.5)
    shares = []
    for patience in (1, 2, 4):
        config = ReinjectionConfig(lam=0.01, num_chains=20, reinjections=6, burn_in=2,
                                   balance=Balance(patience=patience))
        sampler = class_balance.BalancedReinjectionSampler(autoencoder, config, classifier, seed=0)
        sampler.restarts(0, 5)
        shares.append(sampler.accepted_share)
    assert shares[0] < shares[1] < shares[2], shares


def test_a_larger_pool_runs_more_chains_and_fills_more_of_a_rare_class(linear_autoencoder):
    """The same restart with pools of G = 1, 2, 4: G·B chains run, and more of them reach the rare class."""
    autoencoder, classifier = linear_autoencoder(2, 1.0), threshold_classifier(2, 2.5)
    shares = []
    for pool in (1, 2, 4):
        config = ReinjectionConfig(lam=0.01, num_chains=20, reinjections=6, burn_in=2, balance=Balance(pool=pool))
        sampler = class_balance.BalancedReinjectionSampler(autoencoder, config, classifier, seed=0)
        assert sampler.pool_size == 20 * pool
        sampler.restarts(0, 5)
        shares.append(sampler.accepted_share)
    assert shares[0] < shares[1] < shares[2], shares


def test_a_student_learns_from_the_balanced_source(digits, linear_autoencoder):
    ground_truth = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10, activation="sigmoid")])
    config = ReinjectionConfig(lam=0.1, num_chains=10, reinjections=4, burn_in=1, balance=Balance())
    sampler = class_balance.make_sampler(linear_autoencoder(64, 0.5), config, seed=0, classifier=ground_truth)
    source, per_step = learning_curves.autoencoder_source(sampler)
    curve = learning_curves.learning_curve(source, per_step, ground_truth, digits.x_test, digits.y_test,
                                      epochs=1, steps_per_epoch=3, seed=0)
    assert len(curve) == 2 and np.isfinite(curve[-1].loss)


def test_balance_needs_the_classifier_and_one_device(linear_autoencoder):
    with pytest.raises(UserInputError, match="give `classifier`"):
        class_balance.make_sampler(linear_autoencoder(2, 0.5), CONFIG, seed=0)
    with pytest.raises(UserInputError, match="`balance` must be None or a Balance"):
        ReinjectionConfig(lam=0.1, balance=True)
    assert type(class_balance.make_sampler(linear_autoencoder(2, 0.5), ReinjectionConfig(lam=0.1), seed=0)) \
        is ReinjectionSampler


def test_sample_script_collects_balanced_classes_and_records_the_fill(digits_models, tmp_path):
    flags = [f"--autoencoder={digits_models / 'ae.keras'}", "--lam=0.1", "--num_samples=800"]
    run_script("sample", *flags, f"--output={tmp_path / 'plain.npz'}")
    run_script("sample", *flags, "--balance_classes", f"--classifier={digits_models / 'classifier.keras'}",
               f"--output={tmp_path / 'balanced.npz'}")
    labeler = Labeler(storage.load_model(digits_models / "classifier.keras"))
    counts = {name: np.bincount(labeler(np.load(tmp_path / f"{name}.npz")["x"])[1], minlength=10)
              for name in ("plain", "balanced")}
    record = json.loads((tmp_path / "balanced.json").read_text())
    assert record["config"]["reinjection"]["balance"] and 0 < record["accepted_share"] <= 1
    assert record["config"]["reinjection"]["balance"]["refill"] == "start"
    assert counts["balanced"].sum() == 800
    assert counts["balanced"].max() - counts["balanced"].min() < counts["plain"].max() - counts["plain"].min()
    run_script("sample", *flags, "--balance_classes", "--refill=clone", "--balance_patience=3", "--balance_pool=2",
               f"--classifier={digits_models / 'classifier.keras'}", f"--output={tmp_path / 'cloned.npz'}")
    cloned = json.loads((tmp_path / "cloned.json").read_text())["config"]["reinjection"]["balance"]
    assert cloned == {"refill": "clone", "patience": 3, "pool": 2}
    assert len(np.load(tmp_path / "cloned.npz")["x"]) == 800
    run_script("sample", *flags, "--balance_classes", "--refill=class_moments", "--dataset=digits",
               f"--classifier={digits_models / 'classifier.keras'}", f"--output={tmp_path / 'by_class.npz'}")
    by_class = json.loads((tmp_path / "by_class.json").read_text())
    assert by_class["config"]["reinjection"]["balance"]["refill"] == "class_moments"
    assert by_class["config"]["data"]["dataset"] == "digits" and 0 < by_class["accepted_share"] <= 1
    assert len(np.load(tmp_path / "by_class.npz")["x"]) == 800


def test_evaluate_refills_at_the_class_moments_and_draws_noise_there(digits_models, tmp_path):
    """evaluate reads the training data's class moments for refill "class_moments" and for class_moments_bound,
    whose noise lies far closer to the data (FD in C's features) than N(0, I) noise."""
    chains = ReinjectionConfig(lam=0.1, num_chains=10, reinjections=4, burn_in=1,
                               balance=Balance(refill="class_moments"))
    records = {source: experiments.run_evaluate(experiments.EvaluateConfig(
        data=experiments.DataConfig(dataset="digits"), source=source,
        classifier=str(digits_models / "classifier.keras"),
        output=str(tmp_path / f"{source}.csv"), reinjection=chains,
        autoencoder=str(digits_models / "ae.keras") if source == "ae" else None, epochs=1, steps_per_epoch=2,
        quality_samples=300, mixing_chains=10,
    )) for source in ("ae", "class_moments_bound", "lower_bound")}
    assert records["ae"]["config"]["reinjection"]["balance"]["refill"] == "class_moments"
    assert 0 < records["ae"]["accepted_share"] <= 1
    assert records["class_moments_bound"]["quality"]["fd"] < records["lower_bound"]["quality"]["fd"] / 10
