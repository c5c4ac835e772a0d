"""Class-incremental learning by replay (aesampling.continual, scripts/continual.py): the split, the targets and the
loss with exact values, no past-task image reaching a replay method, the report, resumption, and one-line errors."""

from __future__ import annotations

import dataclasses
import json
import os

import keras
import numpy as np
import pytest

from aesampling import experiments
from aesampling.continual import networks, protocol, replay, tasks
from aesampling.errors import UserInputError
from support import assert_one_line_error, run_script


def test_classes_split_in_label_order_or_say_why_not():
    assert tasks.split_classes(10, 5) == [(0, 1), (2, 3), (4, 5), (6, 7), (8, 9)]
    assert tasks.split_classes(100, 10)[9] == tuple(range(90, 100))
    with pytest.raises(UserInputError, match="the 10 classes do not split into `tasks` = 3 tasks of equal size"):
        tasks.split_classes(10, 3)


def test_streams_count_what_they_serve():
    stream = tasks.TaskStream(np.arange(6.0).reshape(6, 1), np.array([4, 4, 5, 5, 4, 5]), (0, 1, 0))
    x, y = stream.batch(50)
    assert x.shape == (50, 1) and stream.served == 50 and stream.served_classes == {4, 5}
    again = tasks.TaskStream(np.arange(6.0).reshape(6, 1), np.array([4, 4, 5, 5, 4, 5]), (0, 1, 0))
    np.testing.assert_array_equal(again.batch(50)[0], x)  # the same key, the same batches


def test_targets_and_the_distillation_loss_have_exact_values():
    np.testing.assert_array_equal(replay.one_hot_targets(np.array([2, 0]), 3),
                                  [[0, 0, 1, 1], [1, 0, 0, 1]])
    teacher = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3, use_bias=False)])
    teacher.layers[0].kernel.assign(np.array([[1.0, 0.0, 9.0], [0.0, 1.0, 9.0]], np.float32))
    x = np.array([[2.0, 0.0]], np.float32)  # logits (2, 0, 18): class 2 is not a past class
    soft = replay.teacher_targets(teacher, x, (0, 1), 3, soft=True)
    p0 = 1 / (1 + np.exp(-1.0))  # softmax of (2, 0) / T, T = 2
    np.testing.assert_allclose(soft, [[p0, 1 - p0, 0.0, 2.0]], rtol=1e-6)
    np.testing.assert_array_equal(replay.teacher_targets(teacher, x, (0, 1), 3, soft=False), [[1, 0, 0, 1]])
    logits = np.array([[1.0, 2.0, 3.0]], np.float32)
    loss = keras.ops.convert_to_numpy(networks.distillation_loss(np.array([[0.2, 0.8, 0.0, 2.0]], np.float32),
                                                                 logits))
    log_q = logits / 2 - np.log(np.exp(logits / 2).sum())
    np.testing.assert_allclose(loss, [-(0.2 * log_q[0, 0] + 0.8 * log_q[0, 1]) * 4], rtol=1e-5)


def test_draws_serve_chunks_in_order():
    calls = []
    draws = replay.Draws(lambda count, chunk: calls.append(chunk) or np.full((count, 1), chunk), chunk=4)
    np.testing.assert_array_equal(draws.take(6)[:, 0], [0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(draws.take(3)[:, 0], [1, 1, 2])
    assert calls == [0, 1, 2]
    mixed = replay.Mixture(replay.Draws(lambda count, chunk: np.zeros((count, 1)), 4),
                           replay.Draws(lambda count, chunk: np.ones((count, 1)), 4), share=0.25)
    np.testing.assert_array_equal(mixed.take(8)[:, 0], [0, 0, 0, 0, 0, 0, 1, 1])
    np.testing.assert_array_equal(mixed.take(1)[:, 0], [0])  # a share that rounds to nothing draws nothing


@pytest.fixture(scope="module")
def two_tasks(digits):
    from aesampling.data import datasets

    return tasks.split_tasks(datasets.split_validation(digits, 0.2), 5)[:2]


def test_replay_methods_never_see_a_past_task_image(two_tasks):
    run = protocol.Run(two_tasks, 10, protocol.Settings(iterations=3, fd_samples=200, lambdas=(0.1, 1.0),
                                                        lambda_widenings=0), seed=0)
    for name in ("reinjection", "reinjection_buffer", "vae_distill", "noise", "moments_noise", "none"):
        result = run.run_method(name)
        assert len(result["accuracies"]) == 2 and all(0 <= a <= 1 for a in result["accuracies"])
        for task, served in zip(two_tasks, result["served"]):
            for stream in served.values():  # the learner's and the generators' streams
                assert set(stream["classes"]) <= set(task.classes) and stream["examples"] == 3 * 128
        assert result["buffer_examples"] == (40 if name == "reinjection_buffer" else 0)  # 10 of each class of tasks 1, 2
    assert [c.lam for c in run.generators["reinjection"].chains][0] in (0.1, 1.0)  # chosen by FD
    assert len(run.generators["reinjection"].grid) == 2 and run.generators["reinjection"].grid[1][0].shape == (10, 64)
    joint = run.run_method("joint")
    assert joint["served"][1]["learner"]["classes"] == [0, 1, 2, 3]  # joint keeps every task's data, by design


@pytest.mark.parametrize("layout", ["image in, image out", "image in, flat out"])
def test_a_users_convolutional_autoencoder_replays(two_tasks, layout):
    layers = [keras.Input((8, 8, 1)), keras.layers.Conv2D(4, 3, padding="same", activation="relu")]
    if layout == "image in, flat out":
        layers += [keras.layers.Flatten(), keras.layers.Dense(64, activation="sigmoid")]
    else:
        layers += [keras.layers.Conv2D(1, 3, padding="same", activation="sigmoid")]
    run = protocol.Run(two_tasks, 10, protocol.Settings(iterations=3, lam=0.1, autoencoder=keras.Sequential(layers)),
                       seed=0)
    result = run.run_method("reinjection")
    assert len(result["accuracies"]) == 2 and result["chains"][0]["lam"] == 0.1


def test_balanced_replay_fills_equal_quotas_of_the_past_classes(two_tasks):
    run = protocol.Run(two_tasks, 10, protocol.Settings(iterations=5, lam=0.1), seed=0)
    result = run.run_method("balanced_reinjection")
    assert len(result["accuracies"]) == 2 and "reinjection" not in run.generators  # its own autoencoder
    run.generators["reinjection"] = run.generators["balanced_reinjection"]  # the same copy, drawn plainly
    plain = run._draws("reinjection", 1, 5, None, chunk=800).take(800)
    # A judge whose logits of classes 0 and 1 split the plain draws 20 / 80 along the line between the two classes'
    # mean images (the same on every backend): the balanced draws even out its labels of 0 and 1.
    first = two_tasks[0]
    w = first.x_train[first.y_train == 0].mean(axis=0) - first.x_train[first.y_train == 1].mean(axis=0)
    threshold = np.quantile(plain @ w, 0.8)
    judge = keras.Sequential([keras.Input((64,)), keras.layers.Dense(10)])
    kernel, bias = np.zeros((64, 10), np.float32), np.zeros(10, np.float32)
    kernel[:, 0], kernel[:, 1], bias[0], bias[1] = w, -w, -threshold, threshold
    judge.set_weights([kernel, bias])
    over_past = protocol.past_class_probabilities(judge, (0, 1), 64)
    x = np.random.default_rng(0).random((5, 64), np.float32)
    logits = np.asarray(judge.predict(x, verbose=0))[:, :2]
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(over_past.predict(x, verbose=0), expected, rtol=1e-5)

    def past_labels(drawn):
        return np.bincount(np.argmax(np.asarray(judge.predict(drawn, verbose=0))[:, :2], axis=1), minlength=2)

    balanced = past_labels(run._draws("balanced_reinjection", 1, 5, judge, chunk=800).take(800))
    assert balanced.sum() == 800 and np.ptp(past_labels(plain)) >= 400  # 640 / 160, give or take rounding
    assert np.ptp(balanced) < 240  # the gap between the two classes' counts, at least halved


def test_replay_chains_start_at_n01_or_at_the_moments_of_each_past_class(two_tasks):
    """Recipe recommended: chain i starts at the moments and principal directions of the i-th class seen so far, in
    turn."""
    assert protocol.Run(two_tasks, 10, protocol.Settings(), seed=0).start_moments(2) is None  # N(0, I)
    moments = dataclasses.replace(protocol.Settings().chains, start="moments")
    run = protocol.Run(two_tasks, 10, protocol.Settings(chains=moments, iterations=3, lam=0.3), seed=0)
    by_class = run.start_moments(2)
    k = protocol.Settings().start_directions
    assert by_class.mean.shape == (4, 64) and run.start_moments(1).mean.shape == (2, 64)
    assert by_class.directions.shape == (4, k, 64) and by_class.spread.shape == (4, k)
    seen = np.concatenate([t.x_train for t in two_tasks])
    for row, c in enumerate((0, 1, 2, 3)):  # classes in the tasks' order
        of_class = seen[np.concatenate([t.y_train for t in two_tasks]) == c]
        np.testing.assert_allclose(by_class.mean[row], of_class.mean(axis=0), atol=1e-6)
        v, s = by_class.directions[row], by_class.spread[row]
        np.testing.assert_allclose(v @ v.T, np.eye(k), atol=1e-5)
        # The class's variance along its own directions, and per feature what they leave plus what they carry.
        np.testing.assert_allclose(np.var((of_class - of_class.mean(axis=0)) @ v.T, axis=0), s ** 2, rtol=1e-4)
        np.testing.assert_allclose(by_class.std[row] ** 2 + (s[:, None] ** 2 * v ** 2).sum(axis=0),
                                   of_class.var(axis=0), rtol=1e-3, atol=1e-3)
    # moments_noise replays that start distribution itself: row i at the i-th class seen, in turn.
    drawn = run._moments_noise(2, np.random.default_rng(0), 4000).take(4000).reshape(1000, 4, 64)
    for row in range(4):
        np.testing.assert_allclose(drawn[:, row].mean(axis=0), by_class.mean[row], atol=0.15)
        v, s = by_class.directions[row], by_class.spread[row]  # σ² outside the directions, s² along them
        expected = by_class.std[row] ** 2 * (1 - (v ** 2).sum(axis=0)) + (s[:, None] ** 2 * v ** 2).sum(axis=0)
        np.testing.assert_allclose(drawn[:, row].var(axis=0), expected, rtol=0.2, atol=1e-3)
    result = run.run_method("reinjection")
    assert len(result["accuracies"]) == 2 and result["chains"][1]["start"] == "moments"
    for task, served in zip(two_tasks, result["served"]):  # the moments are all that is kept of past tasks
        for stream in served.values():
            assert set(stream["classes"]) <= set(task.classes)


def test_reinjection_and_its_vae_control_replay_the_start_share_from_where_the_chains_start(two_tasks, monkeypatch):
    moments = dataclasses.replace(protocol.Settings().chains, start="moments")
    run = protocol.Run(two_tasks, 10, protocol.Settings(chains=moments, iterations=3, lam=0.3, start_share=0.5),
                       seed=0)
    served, take = [], replay.Mixture.take
    monkeypatch.setattr(replay.Mixture, "take", lambda self, size: served.append(size) or take(self, size))
    result = run.run_method("reinjection")
    # Task 2: the autoencoder's own replay and the learner's, 128 a step for 3 steps each; a grid of 10 per task.
    assert sorted(served) == [10, 10] + [128] * 6
    buffered = run.run_method("reinjection_buffer")  # the same sequence: half the buffer, half the mixture
    assert len(result["accuracies"]) == len(buffered["accuracies"]) == 2
    assert sorted(served) == [10, 10] + [64] * 3 + [128] * 6
    sequence = run.generators["reinjection"]
    assert sequence.start_share == 0.5 and sequence.grid[1][0].shape == (10, 64)
    drawn = run._draws("reinjection", 2, 5, None, chunk=100).take(60)
    chains = protocol._sampler_draws(sequence, 2, 64, 5, run.start_moments(2), chunk=100).take(30)
    at_start = run._moments_noise(2, np.random.default_rng((5, protocol.START_DRAWS_STREAM)), 100).take(30)
    np.testing.assert_array_equal(drawn[:30], chains)
    np.testing.assert_array_equal(drawn[30:], at_start)
    served.clear()
    control = run.run_method("vae_distill_moments")  # its own VAE, rehearsing on the same kind of mixture
    assert len(control["accuracies"]) == 2 and control["chains"] is None and "vae" not in run.generators
    assert sorted(served) == [10, 10] + [128] * 6 and run.generators["vae_moments"].start_share == 0.5
    decoded = protocol._sampler_draws(run.generators["vae_moments"], 2, 64, 5, chunk=100).take(30)
    np.testing.assert_array_equal(run._draws("vae_moments", 2, 5, None, chunk=100).take(60),
                                  np.concatenate([decoded, at_start]))


def test_replay_labelled_a_block_at_a_time_is_the_replay_labelled_step_by_step(two_tasks, monkeypatch):
    """Blocks of 2 steps over 5 (the last one short) hand the learner the inputs of labelling each step apart, in
    the same order, with the same targets; and the buffer's and the noise's generators end in the same state."""
    run = protocol.Run(two_tasks, 10, protocol.Settings(iterations=5, replay_batch=8), seed=0)
    teacher = networks.build_learner(64, 10)

    def steps(block, name):
        monkeypatch.setattr(protocol, "STEP_BLOCK", block)
        buffer = replay.Buffer(2, seed=0)
        buffer.keep(two_tasks[0].x_train, two_tasks[0].y_train)
        source, noise = np.random.default_rng(1), np.random.default_rng(2)
        draws = replay.Draws(lambda count, _chunk: source.random((count, 64), np.float32), 7)
        served = list(run._replay_steps(protocol.METHODS[name], 2, draws, buffer, noise, teacher))
        return served, buffer.batch(1, 10)[0], noise.random()

    for name in ("reinjection_buffer", "noise"):
        (each, *each_after), (blocked, *blocked_after) = steps(1, name), steps(2, name)
        assert len(each) == len(blocked) == 5 and [len(x) for x in each[0][0]] == ([4, 4] if "buffer" in name else [8])
        np.testing.assert_array_equal(each_after[0], blocked_after[0])
        assert each_after[1] == blocked_after[1]
        for (x, targets), (x_blocked, targets_blocked) in zip(each, blocked):
            for part, part_blocked in zip(x, x_blocked, strict=True):
                np.testing.assert_array_equal(part, part_blocked)
            for part, part_blocked in zip(targets, targets_blocked, strict=True):
                np.testing.assert_allclose(part, part_blocked, rtol=1e-5, atol=1e-6)


def test_replay_weights_give_each_past_task_as_much_as_the_current_one(two_tasks):
    run = protocol.Run(two_tasks, 10, protocol.Settings(), seed=0)
    for current, replayed, t in ((128, 128, 2), (128, 32, 2), (64, 192, 5)):
        weights = run._weights(t, current, replayed)
        # Keras divides the weighted sum of losses by the batch size: the current batch's mean weighs 1/t
        assert weights[:current].sum() / (current + replayed) == pytest.approx(1 / t)
        assert weights[current:].sum() / (current + replayed) == pytest.approx(1 - 1 / t)
    assert run._weights(1, 128, 0) is None


def test_the_presets_set_the_iterations_unless_given():
    digits, fashion = experiments.DataConfig(dataset="digits"), experiments.DataConfig(dataset="fashion_mnist")
    assert experiments.ClassIncrementalConfig.from_preset(digits, output_dir="o").iterations == 250
    assert experiments.ClassIncrementalConfig.from_preset(fashion, output_dir="o", iterations=None).iterations == 2000
    assert experiments.ClassIncrementalConfig.from_preset(digits, output_dir="o", iterations=7).iterations == 7


def test_the_learner_is_the_protocols_mlp_or_the_classifier_preset(digits):
    from aesampling.experiments import class_incremental

    for learner, units in (("mlp", (400, 400)), ("classifier", (128, 128))):
        config = experiments.ClassIncrementalConfig(data=experiments.DataConfig(dataset="digits"), output_dir="o",
                                                    learner=learner, recipe="recommended")
        settings = class_incremental._settings(config, digits, None)
        assert settings.learner_units == units and settings.chains.start == "moments"
    with pytest.raises(UserInputError, match="`learner` must be one of mlp, classifier"):
        experiments.ClassIncrementalConfig(data=experiments.DataConfig(dataset="digits"), output_dir="o", learner="cnn")


def test_each_recipe_fixes_its_replay_unless_lam_lambdas_or_start_share_are_given(tmp_path):
    """paper: R = 10, b = 2, clean states, λ chosen by FD among 0.1-3, no start draws; recommended: R = 3, b = 0,
    noisy states, λ = 0.03, half start draws; `lam` fixes λ, `lambdas` asks FD to choose it, and `start_share` sets
    the share, under either recipe."""
    from aesampling.experiments.class_incremental import replay_settings

    data = experiments.DataConfig(dataset="digits")

    def resolved(**given):
        replay = replay_settings(experiments.ClassIncrementalConfig(data, "o", **given))
        chains = replay.chains
        return ((chains.reinjections, chains.burn_in, chains.collect, chains.start), replay.lam, replay.lambdas,
                replay.collects, replay.start_share)

    grid = (0.1, 0.3, 1.0, 3.0)
    assert resolved() == ((10, 2, "clean", "normal"), None, grid, ("clean",), 0.0)
    assert resolved(recipe="recommended") == ((3, 0, "noisy", "moments"), 0.03, grid, ("noisy",), 0.5)
    assert resolved(recipe="recommended", lambdas=(0.01, 0.1), start_share=0.0) == \
        ((3, 0, "noisy", "moments"), None, (0.01, 0.1), ("noisy",), 0.0)
    assert resolved(recipe="recommended", lam=0.2, collects=("clean", "noisy")) == \
        ((3, 0, "clean", "moments"), 0.2, grid, ("clean", "noisy"), 0.5)
    assert resolved(lam=0.2, start_share=0.25) == ((10, 2, "clean", "normal"), 0.2, grid, ("clean",), 0.25)
    # A run's chains after every task are the recipe's, named in its table and record; a fixed λ needs no
    # validation split.
    for recipe, given, expected, share in (
            ("recommended", {"validation_fraction": 0.0}, (0.03, 3, 0, "noisy", "moments"), 0.5),
            ("paper", {"lam": 0.1}, (0.1, 10, 2, "clean", "normal"), 0.0)):
        out = tmp_path / recipe
        config = experiments.ClassIncrementalConfig(
            dataclasses.replace(data, validation_fraction=given.get("validation_fraction")), str(out),
            methods=("reinjection",), tasks=2, iterations=3, recipe=recipe, lam=given.get("lam"))
        result = experiments.run_class_incremental(config)
        chains = result["chains"]["0"]["reinjection"]
        assert [(c["lam"], c["reinjections"], c["burn_in"], c["collect"], c["start"]) for c in chains] == [expected] * 2
        starts = "; 50% of reinjection replay drawn where the chains start" if share else ""
        assert (f"λ = {expected[0]:g}, R = {expected[1]}, b = {expected[2]}, collecting {expected[3]} states{starts}."
                in (out / "table.md").read_text())
        assert result["replay_chains"] == {"reinjections": expected[1], "burn_in": expected[2],
                                           "collects": [expected[3]], "lam": expected[0], "lambdas": None,
                                           "start_share": share}


def test_the_stage_writes_its_report_and_resumes_finished_seeds(tmp_path):
    config = experiments.ClassIncrementalConfig(data=experiments.DataConfig(dataset="digits"),
                                                output_dir=str(tmp_path / "split"), methods=("none", "buffer"),
                                                seeds=(0, 1), iterations=5, lam=0.1)
    result = experiments.run_class_incremental(config)
    out = tmp_path / "split"
    assert {"results.csv", "table.md", "metrics.json", "accuracy.png", "config.json"} <= {p.name for p in out.iterdir()}
    table = (out / "table.md").read_text()
    assert "| buffer |" in table and "code:" in table and "λ = 0.1, R = 10, b = 2, collecting clean states." in table
    assert list(result["table"]["method"]) == ["none", "buffer"]
    before = (out / ".partial" / "seed_1.json").read_text()
    results = (out / "results.csv").read_text()
    again = experiments.run_class_incremental(config)  # both seeds finished: read back, not rerun
    assert (out / ".partial" / "seed_1.json").read_text() == before
    assert (out / "results.csv").read_text() == results  # in the config's order of methods, not the JSON's
    assert again["summary"] == result["summary"]
    record = json.loads((out / "config.json").read_text())
    assert record["served"]["0/none"][2]["learner"]["classes"] == [4, 5]
    assert record["replay_start"] == "N(0, I)" and "replay chains from N(0, I) (recipe paper)" in table
    # A seed finished while the replay chains started elsewhere is not read back as this run's: the saved
    # fingerprint names the start.
    saved = json.loads(before)
    key = json.loads(saved["fingerprint"])
    assert key["replay_start"] == "N(0, I)"
    saved["fingerprint"] = json.dumps({**key, "replay_start": "the moments of all the classes seen"}, sort_keys=True)
    (out / ".partial" / "seed_1.json").write_text(json.dumps(saved))
    experiments.run_class_incremental(config)
    assert json.loads((out / ".partial" / "seed_1.json").read_text())["fingerprint"] == json.loads(before)["fingerprint"]


def test_bad_input_gets_one_line_errors(tmp_path):
    common = ["--dataset=digits", f"--output_dir={tmp_path / 'out'}", "--iterations=2"]
    for flag, message in [
        ("--tasks=3", "the 10 classes do not split into --tasks = 3 tasks of equal size"),
        ("--buffer_per_class=100000", "--buffer_per_class = 100000 exceeds the"),
        ("--methods=reinjection,dgr", "--methods must be distinct names among none, joint"),
        ("--lambdas=0.1,-1", "every λ in --lambdas must be a finite number >= 0, got [0.1, -1.0]"),
        ("--lambdas=0.1,big", "--lambdas must be numbers, got 0.1,big"),
        ("--collects=clean,dirty", "--collects must name some of noisy, clean, got ['clean', 'dirty']"),
        ("--start_directions=-1", "--start_directions must be an integer >= 0, got -1"),
        ("--recipe=recommended --start_directions=64",
         "--start_directions = 64 must stay below the 64 features of digits's examples"),
        ("--methods=none,moments_noise --start_directions=70",  # moments_noise draws along them under any recipe
         "--start_directions = 70 must stay below the 64 features of digits's examples"),
        ("--methods=reinjection --lam=0.1 --start_share=0.5 --start_directions=70",  # so do reinjection's starts
         "--start_directions = 70 must stay below the 64 features of digits's examples"),
        ("--start_share=1", "--start_share must be at least 0 and below 1 (1 would replay no generator sample), "
                            "got 1.0"),
        ("--methods=none,reinjection_moments", "reinjection_moments is now --methods reinjection with --start_share "
                                               "0.5 (the recommended recipe's): name reinjection instead"),
        ("--methods=vae_distill_moments", "vae_distill_moments draws --start_share of its replay where the chains "
                                          "start, and it is 0 here"),
    ]:
        assert_one_line_error(run_script("continual", *common, *flag.split(), check=False), message)
    assert not (tmp_path / "out").exists()  # nothing written before the inputs were checked


def test_make_split_mnist_runs_the_protocol_on_local_idx_files(tmp_path):
    """`make split_mnist DATA_DIR=...`: the protocol on mock MNIST files (28 x 28, 10 classes), two methods."""
    from support import FAST_PYTHON, make, write_idx_folder

    write_idx_folder(tmp_path / "mnist", n_train=80, n_test=20)
    (tmp_path / "stamp").touch()
    arguments = "--iterations=2 --lam=0.1 --buffer_per_class=2 --methods=reinjection_buffer,vae --tasks=2"
    make("split_mnist", f"DATA_DIR={tmp_path / 'mnist'}", f"RESULTS={tmp_path / 'results'}", f"SPLIT_ARGS={arguments}",
         f"PY={FAST_PYTHON}", f"STAMP={tmp_path / 'stamp'}")
    out = tmp_path / "results" / "split_mnist"
    table = (out / "table.md").read_text()
    assert "| reinjection_buffer |" in table and "2 tasks of classes 0/1/2/3/4, 5/6/7/8/9" in table
    backend = os.environ.get("KERAS_BACKEND")  # the Makefile names the backend where the environment sets one
    backend = f"KERAS_BACKEND={backend} " if backend else ""
    assert f"Made by: `{backend}make split_mnist DATA_DIR={tmp_path / 'mnist'} SPLIT_ARGS='{arguments}'`" in table
    assert (out / "replay_reinjection.png").is_file() and (out / "replay_vae.png").is_file()


class _Killed(Exception):
    """Stands for a kill: raised in place of one task's accuracy, before that task's checkpoint is written."""


def test_a_killed_run_resumes_at_the_task_it_was_in_to_the_same_results(digits, tmp_path, monkeypatch):
    """Two tasks, half of the generators' replay drawn at the starts; each method killed in its second: each rerun
    reads back the finished methods (with the generator sequence they trained), resumes the killed one after its
    first task (its buffer, its random-number generator, the generator in training and its copy), and ends where an
    uninterrupted run ends, bit for bit."""
    from aesampling.io.resume import TaskCheckpoint

    split = tasks.split_tasks(digits, 5)[:2]
    settings = protocol.Settings(iterations=3, batch_size=16, replay_batch=16, buffer_per_class=2, lam=0.1,
                                 start_share=0.5, autoencoder_units=(16,), autoencoder_activation="tanh")
    methods = ("reinjection", "reinjection_buffer", "vae_distill_moments", "moments_noise")

    def run(folder):
        one = protocol.Run(split, 10, settings, seed=3)
        return [one.run_method(m, TaskCheckpoint(folder / f"{m}.npz", m)) for m in methods], one

    whole, uninterrupted = run(tmp_path / "whole")
    measure = protocol.Run.accuracy
    for kill_at in (2, 3, 3, 3, None):  # the call of accuracy() (one per task) that a kill replaces
        calls = [0]

        def accuracy(self, learner, t, kill_at=kill_at, calls=calls):
            calls[0] += 1
            if calls[0] == kill_at:
                raise _Killed
            return measure(self, learner, t)

        monkeypatch.setattr(protocol.Run, "accuracy", accuracy)
        try:
            resumed, rerun = run(tmp_path / "killed")
        except _Killed:
            assert kill_at is not None
            continue
        assert kill_at is None and calls[0] == 1  # moments_noise' task 2: nothing before was redone
    timings = ("seconds", "generator_seconds")
    for a, b in zip(whole, resumed):
        assert {k: v for k, v in a.items() if k not in timings} == {k: v for k, v in b.items() if k not in timings}
    for kind in ("reinjection", "vae_moments"):  # the sequences read back: every copy, every grid
        whole_sequence, read_back = uninterrupted.generators[kind], rerun.generators[kind]
        assert len(read_back.copies) == len(read_back.grid) == len(whole_sequence.copies) == 2
        for copy, again in zip(whole_sequence.copies, read_back.copies):
            for w, w_again in zip(copy.get_weights(), again.get_weights(), strict=True):
                np.testing.assert_array_equal(w, w_again)
        for (x, labels), (x_again, labels_again) in zip(whole_sequence.grid, read_back.grid):
            np.testing.assert_array_equal(x, x_again)
            np.testing.assert_array_equal(labels, labels_again)
    # A checkpoint that no longer fits the model (other code wrote it) is discarded, and the method starts over.
    checkpoint = TaskCheckpoint(tmp_path / "killed" / "reinjection.npz", "reinjection")
    meta, arrays = checkpoint.load()
    checkpoint.save(meta, {name: value for name, value in arrays.items() if not name.startswith("copy1.")})
    again = protocol.Run(split, 10, settings, seed=3).run_method("reinjection", checkpoint)
    assert again["accuracies"] == whole[0]["accuracies"] and "result" in checkpoint.load()[0]
