"""One class-incremental run: a learner meets T tasks in turn and rehearses the past ones by a replay method.

Per task t = 1..T, the learner takes `iterations` Adam steps on batches of
`batch_size` examples of task t. From t = 2 on, each step adds
`replay_batch` replayed examples, and the loss weighs the current batch by
1/t and the replay by 1 - 1/t, so each past task counts as much as the
current one. After each task the learner's accuracy is measured on the test
images of every class seen so far, predicting among those classes (no task
identity).

The methods (`METHODS`):
- none: fine-tuning on the current task alone; joint: every task seen so far
  (their stored data: the upper reference);
- noise: N(0, I) inputs labelled by the previous learner (softly);
- moments_noise: inputs drawn where recommended reinjection chains start, at
  the moments and principal directions of each past class in turn, labelled
  softly: what replay gets from those numbers without the autoencoder;
- buffer: `buffer_per_class` stored real examples of each past class;
- reinjection: samples of an autoencoder drawn by reinjection (the chains of
  `Settings.chains`; λ given, or chosen at the end of each task by FD on that
  task's validation images among settings whose samples did not collapse over
  the classes seen so far), with `Settings.start_share` of them drawn where
  the chains start instead (as moments_noise draws; the recommended recipe's
  half), in the learner's replay and the autoencoder's own, all labelled softly
  by the previous learner; reinjection_buffer: half of that, half from the
  buffer;
- balanced_reinjection: as reinjection, but each restart of the chains fills
  equal quotas of the past classes as the previous learner labels them
  (`class_balance`), for the learner's replay and the autoencoder's own;
- vae: samples of a VAE labelled by the previous learner's argmax (generative
  replay); vae_distill: labelled softly; vae_distill_moments: as vae_distill,
  with `Settings.start_share` of its samples drawn where recommended chains
  start, as reinjection's are (its own VAE, rehearsing on that mixture): the
  VAE given the class statistics reinjection replay gets.

The generators learn continually too: on task t, the current batch plus as
many samples of their own copy from the end of task t - 1, weighted 1/t and
1 - 1/t. A generator sequence is trained once per run, alongside the first
method that uses it (whose learner chooses λ), and shared by the others.
No real image of a past task reaches a learner or a generator except
through `joint` and the buffer methods: every task's examples are handed out
only by its `TaskStream`, whose served classes each run records.
"""

from __future__ import annotations

import dataclasses
import math
import time

import keras
import numpy as np
from absl import logging

from aesampling import backend
from aesampling.continual import REPLAY_FD_LAMBDAS, REPLAY_START_DIRECTIONS, networks, replay
from aesampling.io.resume import TaskCheckpoint
from aesampling.continual.tasks import Task, TaskStream
from aesampling.models import shapes
from aesampling.sampling.class_balance import BalancedReinjectionSampler
from aesampling.sampling.reinjection import (MAX_SEED, MOMENTS_START, NORMAL_START, Balance, Chains,
                                             ReinjectionConfig, ReinjectionSampler, StartMoments, start_for)
from aesampling.selection.fd_choice import choose_lambda_by_fd

LEARNER_STREAM, GENERATOR_STREAM = 0, 1
START_DRAWS_STREAM = 11  # keys the start draws mixed into a generator's samples, apart from the chains' own
DRAW_CHUNK = 12_800
GRID_SAMPLES = 10
# Steps taken as one block: the previous learner labels a block's generated replay in one pass, and the learner
# and the generators train on a block's batches in one compiled call (backend.block_trainer).
STEP_BLOCK = 100


@dataclasses.dataclass(frozen=True)
class Method:
    """A replay method: its generator ("reinjection", "vae", "noise", "moments_noise" or None), whether the previous
    learner labels its samples softly, the share of the replay batch taken from the buffer, whether it trains on
    every task seen so far (joint), whether reinjection collects equal quotas of the past classes (balanced), and
    whether `Settings.start_share` of its generator's samples are drawn where recommended chains start instead
    (`start_draws`), in the learner's replay and the generator's own."""

    generator: str | None = None
    soft: bool = True
    buffer_share: float = 0.0
    joint: bool = False
    balanced: bool = False
    start_draws: bool = False

    @property
    def sequence(self) -> str | None:
        """The name of the generator sequence it replays from: balanced reinjection, and the VAE mixed with start
        draws, train their own generator (its own replay is balanced or mixed too), so they cannot share the plain
        one's."""
        if self.generator not in ("reinjection", "vae"):
            return None
        if self.balanced:
            return "balanced_reinjection"
        return "vae_moments" if self.generator == "vae" and self.start_draws else self.generator


METHODS = {
    "none": Method(),
    "joint": Method(joint=True),
    "noise": Method(generator="noise"),
    "moments_noise": Method(generator="moments_noise"),
    "buffer": Method(buffer_share=1.0),
    "reinjection": Method(generator="reinjection", start_draws=True),
    "reinjection_buffer": Method(generator="reinjection", buffer_share=0.5, start_draws=True),
    "balanced_reinjection": Method(generator="reinjection", balanced=True),
    "vae": Method(generator="vae", soft=False),
    "vae_distill": Method(generator="vae"),
    "vae_distill_moments": Method(generator="vae", start_draws=True),
}


# Where the replay chains start, by the chain settings' start: what a run's records and its checkpoints' fingerprint
# name, so that a run made while "moments" meant the moments of all the classes seen (before code 3d2a6c0) is not
# resumed as one from each class's.
REPLAY_STARTS = {NORMAL_START: "N(0, I)", MOMENTS_START: "the moments of each class seen so far, in turn"}


def replay_start(settings: "Settings") -> str:
    """Where the settings' replay chains start, in words (what records and fingerprints name)."""
    words = REPLAY_STARTS[settings.chains.start]
    if settings.chains.start == MOMENTS_START and settings.start_directions:
        return words.replace("the moments of", f"the moments and {settings.start_directions} principal directions of")
    return words


@dataclasses.dataclass(frozen=True)
class Settings:
    """The protocol's numbers (defaults: the standard split benchmarks' recipe)."""

    iterations: int = 2000
    batch_size: int = 128
    replay_batch: int = 128
    buffer_per_class: int = 10
    learning_rate: float = 1e-3
    lam: float | None = None  # None: chosen by FD at the end of each task, among `lambdas` (recipes.ReplayChains)
    lambdas: tuple[float, ...] = REPLAY_FD_LAMBDAS
    lambda_widenings: int = 2  # rounds of widening the grid beyond the edge the lowest FD sits on
    collects: tuple[str, ...] = ("clean",)  # the collected states the FD choice tries (the first, at a given λ)
    fd_samples: int = 2000
    # Replay chains (R, b, the collected state) from N(0, I), or (start "moments") from the moments of each class seen
    # so far in turn, with `start_directions` principal directions of each (StartMoments.by_class).
    chains: ReinjectionConfig = ReinjectionConfig(lam=0.0)
    start_directions: int = REPLAY_START_DIRECTIONS
    # The share of the generator's replay (the learner's and the generator's own) drawn where recommended chains
    # start, at the moments and principal directions of each class seen so far in turn, instead of from the
    # generator, for the methods with `Method.start_draws` (reinjection, reinjection_buffer, vae_distill_moments).
    start_share: float = 0.0
    autoencoder_units: tuple[int, ...] = (600, 400, 100, 400, 600)
    autoencoder_activation: str = "relu"
    autoencoder: keras.Model | None = None  # an architecture to clone instead of the units above
    learner_units: tuple[int, ...] = networks.LEARNER_UNITS
    learner_activation: str = "relu"


@dataclasses.dataclass
class GeneratorSequence:
    """A generator's copies from the end of each task (and the chain settings of each, for reinjection), the seconds
    its training took, a few samples of each copy labelled by the learner of that task, and the share of its
    samples replaced by start draws (`Settings.start_share`). `generator`: "reinjection" (an autoencoder sampled
    by reinjection) or "vae" (a VAE's decoder)."""

    generator: str = "reinjection"
    start_share: float = 0.0
    copies: list = dataclasses.field(default_factory=list)
    chains: list = dataclasses.field(default_factory=list)
    seconds: float = 0.0
    grid: list = dataclasses.field(default_factory=list)


def _seen(tasks: list[Task], t: int) -> tuple[int, ...]:
    return tuple(c for task in tasks[:t] for c in task.classes)


def _key(seed: int, stream: int) -> int:
    """The seed of one of a run's random streams, in the samplers' range [0, 2^31 - 1]."""
    return (int(seed) * 1000 + stream) % MAX_SEED


def past_class_probabilities(learner, classes: tuple[int, ...], input_dim: int) -> keras.Model:
    """C over the given classes: the softmax of the learner's logits of those classes alone, the classifier whose
    hard labels the quota sampler balances (its outputs index `classes`)."""
    select = keras.layers.Dense(len(classes), use_bias=False, trainable=False)
    inputs = keras.Input((input_dim,))
    model = keras.Model(inputs, keras.layers.Softmax()(select(learner(inputs))), name="learner_over_seen_classes")
    kernel = np.zeros((int(learner.output_shape[-1]), len(classes)), np.float32)
    kernel[np.asarray(classes), np.arange(len(classes))] = 1.0
    select.set_weights([kernel])
    return model


def _sampler_draws(sequence: GeneratorSequence, t: int, input_dim: int, seed: int,
                   moments: StartMoments | None = None, chunk: int = DRAW_CHUNK,
                   balance_by=None) -> replay.Draws:
    """Samples of the generator's copy from the end of task t (1-based); reinjection chains that start at the
    moments of tasks 1..t start at `moments`. `balance_by` (a classifier over the classes of tasks 1..t): the
    chains fill equal quotas of its hard labels (`class_balance`), restart after restart."""
    copy = sequence.copies[t - 1]
    if sequence.chains and balance_by is not None:
        chains = dataclasses.replace(sequence.chains[t - 1], balance=Balance())
        sampler = BalancedReinjectionSampler(copy, chains, balance_by, seed=seed, start=start_for(chains, moments))
        restarts_per_call = max(1, math.ceil(chunk / chains.samples_per_restart))
        next_restart = [0]

        def draw(count, _chunk):
            parts, drawn = [], 0
            while drawn < count:  # a fixed number of restarts per call: one compiled shape
                part = sampler.restarts(next_restart[0], restarts_per_call).reshape(-1, input_dim)
                next_restart[0] += restarts_per_call
                parts.append(part)
                drawn += len(part)
            return np.concatenate(parts)  # all of it: Draws serves every sample before it draws again
    elif sequence.chains:
        chains = sequence.chains[t - 1]
        sampler = ReinjectionSampler(copy, chains, seed=seed, start=start_for(chains, moments))
        per_restart = sampler.config.samples_per_restart

        def draw(count, chunk):
            restarts = math.ceil(count / per_restart)
            return sampler.restarts(chunk * restarts, restarts)[:count].reshape(-1, input_dim)
    else:
        rng = np.random.default_rng(seed)

        def draw(count, chunk):
            z = rng.standard_normal((count, networks.VAE_LATENT)).astype(np.float32)
            return np.asarray(copy.predict(z, batch_size=4096, verbose=0), np.float32)
    return replay.Draws(draw, chunk)


class Run:
    """One seed's run of the chosen methods over the tasks, sharing the generator sequences between methods."""

    def __init__(self, tasks: list[Task], num_classes: int, settings: Settings, seed: int):
        self.tasks, self.num_classes, self.settings, self.seed = tasks, num_classes, settings, int(seed)
        self.input_dim = int(tasks[0].x_train.shape[1])
        self.generators: dict[str, GeneratorSequence] = {}
        self._class_moments: list[StartMoments] = []  # of the classes of task 1, 2, ..., read once each

    def class_moments_through(self, t: int) -> StartMoments:
        """μ_c and σ_c of each class of tasks 1..t (C x n), with its `start_directions` principal directions V_c and
        their deviations s_c, each read from its own task's training images: (k + 2)·n + k numbers per class, not
        images, are all that is kept of past tasks."""
        while len(self._class_moments) < t:
            task = self.tasks[len(self._class_moments)]
            self._class_moments.append(StartMoments.by_class(task.x_train, task.y_train,
                                                             directions=self.settings.start_directions))
        parts = ("mean", "std", "directions", "spread") if self.settings.start_directions else ("mean", "std")
        return StartMoments(*(np.concatenate([getattr(m, part) for m in self._class_moments[:t]]) for part in parts))

    def start_moments(self, t: int) -> StartMoments | None:
        """Where the replay chains of the copy from the end of task t start: at the moments of each class of tasks
        1..t in turn when the chain settings start at the moments, else None (N(0, I)).

        Per class rather than those of all the classes together: 0.648 ± 0.021 against 0.620 ± 0.042 on split
        Fashion-MNIST over five seeds (results/split_fashion_mnist_class_moments_start); along 16 principal
        directions of each class, 0.676 ± 0.021 (results/split_fashion_mnist_class_directions_start)."""
        if self.settings.chains.start != MOMENTS_START:
            return None
        return self.class_moments_through(t)

    def _draws(self, kind: str, t: int, seed: int, learner, chunk: int = DRAW_CHUNK) -> replay.Draws | replay.Mixture:
        """Samples of the `kind` generator's copy from the end of task t, `chunk` at a time, with the sequence's
        `start_share` of each batch drawn at the start distribution of tasks 1..t instead; `learner`, the learner
        of the end of task t, balances them over its classes for balanced reinjection."""
        balance_by = (past_class_probabilities(learner, _seen(self.tasks, t), self.input_dim)
                      if kind == "balanced_reinjection" else None)
        sequence = self.generators[kind]
        moments = None if sequence.generator == "vae" else self.start_moments(t)
        draws = _sampler_draws(sequence, t, self.input_dim, seed, moments, chunk, balance_by)
        if not sequence.start_share:
            return draws
        at_start = self._moments_noise(t, np.random.default_rng((seed, START_DRAWS_STREAM)), chunk)
        return replay.Mixture(draws, at_start, sequence.start_share)

    def _moments_noise(self, t: int, rng: np.random.Generator, chunk: int) -> replay.Draws:
        """Inputs at the start distribution of recommended replay chains for the classes of tasks 1..t (row i of
        each chunk at the i-th class in turn), from the N(0, I) draws of `rng`, `chunk` at a time."""
        start = Chains(None, ReinjectionConfig(lam=0.0, start=MOMENTS_START), seed=0, input_dim=self.input_dim,
                       start=self.class_moments_through(t))

        def draw(count: int, _chunk: int) -> np.ndarray:
            z = rng.standard_normal((count, self.input_dim)).astype(np.float32)
            return np.asarray(keras.ops.convert_to_numpy(start.starting_point(z)), np.float32)

        return replay.Draws(draw, chunk)

    def _stream(self, t: int, purpose: int, joint: bool) -> TaskStream:
        if not joint:
            return self.tasks[t - 1].stream(self.seed, purpose)
        seen = self.tasks[:t]
        return TaskStream(np.concatenate([k.x_train for k in seen]), np.concatenate([k.y_train for k in seen]),
                          (self.seed, t, purpose, 1))

    def accuracy(self, learner, t: int) -> float:
        """Accuracy on the test images of the classes of tasks 1..t, predicting among them."""
        seen = np.asarray(_seen(self.tasks, t))
        x = np.concatenate([k.x_test for k in self.tasks[:t]])
        y = np.concatenate([k.y_test for k in self.tasks[:t]])
        logits = np.asarray(learner.predict(x, batch_size=4096, verbose=0))
        return float(np.mean(seen[np.argmax(logits[:, seen], axis=1)] == y))

    def _weights(self, t: int, current: int, replayed: int) -> np.ndarray | None:
        """Per-example loss weights whose batch mean (Keras divides the weighted sum by n + m) is
        (1/t)·mean of the n current losses + (1 - 1/t)·mean of the m replayed ones; None without replay."""
        if replayed == 0:
            return None
        total = current + replayed
        return np.concatenate([np.full(current, total / (current * t)),
                               np.full(replayed, total * (1.0 - 1.0 / t) / replayed)]).astype(np.float32)

    def _replay_steps(self, method: Method, t: int, draws, buffer, noise: np.random.Generator, teacher):
        """For each of task t's steps, the replayed inputs and their targets (two empty lists at t = 1 or without
        replay): round(buffer_share · m) buffer examples, then the rest generated and labelled by the previous
        learner, `STEP_BLOCK` steps at a time, so that it labels a block's inputs in one pass. Each source is
        drawn from in step order, so the inputs are those of labelling step by step."""
        settings = self.settings
        if t == 1 or not (method.generator or method.buffer_share):
            yield from (([], []) for _ in range(settings.iterations))
            return
        past = _seen(self.tasks, t - 1)
        from_buffer = int(round(settings.replay_batch * method.buffer_share))
        generated = settings.replay_batch - from_buffer
        for first in range(0, settings.iterations, STEP_BLOCK):
            steps = min(STEP_BLOCK, settings.iterations - first)
            kept = [buffer.batch(from_buffer, self.num_classes) for _ in range(steps)] if from_buffer else []
            if generated:
                x = np.concatenate([noise.standard_normal((generated, self.input_dim)).astype(np.float32)
                                    if method.generator == "noise" else draws.take(generated) for _ in range(steps)])
                labels = replay.teacher_targets(teacher, x, past, self.num_classes, soft=method.soft)
            for k in range(steps):
                parts = [kept[k]] if kept else []
                if generated:
                    rows = slice(k * generated, (k + 1) * generated)
                    parts.append((x[rows], labels[rows]))
                yield [inputs for inputs, _ in parts], [targets for _, targets in parts]

    def _train_generator(self, kind: str, model, train, t: int, served: dict, teacher) -> None:
        """Task t's steps of a generator (`train`: its block trainer): the current batch, plus its own copy's
        samples from task t - 1."""
        stream = self._stream(t, GENERATOR_STREAM, joint=False)
        own = self._draws(kind, t - 1, _key(self.seed, t), teacher) if t > 1 else None

        def steps():
            for _ in range(self.settings.iterations):
                x = stream.batch(self.settings.batch_size)[0]
                replayed = own.take(self.settings.replay_batch) if own is not None else x[:0]
                rows = np.concatenate([x, replayed])
                yield (shapes.fit_rows(rows, shapes.input_shape(model), "the task's images"),
                       shapes.fit_rows(rows, shapes.output_shape(model), "the task's images"),
                       self._weights(t, len(x), len(replayed)))

        _train_in_blocks(train, steps())
        served[f"{kind}_generator"] = {"examples": stream.served, "classes": sorted(stream.served_classes)}

    def _end_generator_task(self, kind: str, sampled, learner, t: int) -> None:
        """Keeps the generator's copy from the end of task t (the model samples are drawn from), with its chain
        settings for reinjection (λ given, or chosen by FD)."""
        sequence = self.generators[kind]
        copy = networks.frozen_copy(sampled)
        sequence.copies.append(copy)
        if sequence.generator == "reinjection":
            sequence.chains.append(self._chain_settings(copy, learner, t))
        x = self._draws(kind, t, _key(self.seed, 500 + t), learner, chunk=GRID_SAMPLES).take(GRID_SAMPLES)
        seen = np.asarray(_seen(self.tasks, t))
        labels = seen[np.argmax(np.asarray(learner.predict_on_batch(x))[:, seen], axis=1)]
        sequence.grid.append((x, labels))

    def _chain_settings(self, copy, learner, t: int) -> ReinjectionConfig:
        settings = self.settings
        if settings.lam is not None:  # λ given: the chains collect the first of the states the choice would try
            return dataclasses.replace(settings.chains, lam=settings.lam, collect=settings.collects[0])
        task = self.tasks[t - 1]
        probabilities = keras.Sequential([keras.Input((self.input_dim,)), learner, keras.layers.Softmax()])
        seen = np.asarray(_seen(self.tasks, t))
        chosen, _ = choose_lambda_by_fd(copy, probabilities, task.x_val, task.y_val, base=settings.chains,
                                        lambdas=settings.lambdas, collects=settings.collects,
                                        widenings=settings.lambda_widenings,
                                        samples=settings.fd_samples, seed=self.seed, class_labels=np.repeat(seen, 10),
                                        moments=self.start_moments(t))
        return chosen

    def _new_generator(self, generator: str) -> tuple:
        """(the model trained, the model sampled): the autoencoder twice (`generator` "reinjection"), or the VAE and
        its decoder ("vae")."""
        keras.utils.set_random_seed(_key(self.seed, 1))
        if generator == "reinjection":
            settings = self.settings
            if settings.autoencoder is not None:
                autoencoder = networks.fresh_autoencoder(settings.autoencoder, learning_rate=settings.learning_rate)
            else:
                autoencoder = networks.build_autoencoder(self.input_dim, settings.autoencoder_units,
                                                         settings.autoencoder_activation,
                                                         learning_rate=settings.learning_rate)
            return autoencoder, autoencoder
        return networks.build_vae(self.input_dim, seed=int(self.seed), learning_rate=self.settings.learning_rate)

    def run_method(self, name: str, checkpoint: TaskCheckpoint | None = None) -> dict:
        """The accuracies after each task, the seconds taken, and what each task's streams served.

        With a `checkpoint`, the method's state is saved at the end of every task, and a run killed in it
        resumes at the task it was in, to the same result; a method the checkpoint holds finished is read back
        (with the generator sequence it trained, which the later methods replay from).
        """
        method, settings = METHODS[name], self.settings
        started = time.perf_counter()
        keras.utils.set_random_seed(int(self.seed))
        learner = networks.build_learner(self.input_dim, self.num_classes, learning_rate=settings.learning_rate,
                                         units=settings.learner_units, activation=settings.learner_activation)
        kind = method.sequence
        trains_generator = kind is not None and kind not in self.generators
        generator = self._new_generator(method.generator) if trains_generator else None
        train_learner = backend.block_trainer(learner)
        train_generator = backend.block_trainer(generator[0]) if trains_generator else None
        if trains_generator:
            self.generators[kind] = GeneratorSequence(method.generator,
                                                      start_share=settings.start_share if method.start_draws else 0.0)
        buffer = replay.Buffer(settings.buffer_per_class, self.seed) if method.buffer_share else None
        noise = np.random.default_rng((self.seed, 3))
        teacher, accuracies, served, generator_seconds, earlier_seconds = None, [], [], 0.0, 0.0
        saved = checkpoint.load() if checkpoint is not None else None
        if saved is not None:
            meta, arrays = saved
            try:
                if trains_generator:
                    self._restore_sequence(kind, generator, meta, arrays)
                if "result" not in meta:
                    _restore(learner, "learner", arrays)
            except (KeyError, ValueError) as e:  # written by other code: start over
                checkpoint.discard(str(e))
                if trains_generator:
                    del self.generators[kind]
                return self.run_method(name, checkpoint)
            if "result" in meta:
                logging.info("%s: done by an earlier run, read back", name)
                return meta["result"]
            teacher = networks.frozen_copy(learner)
            if buffer is not None:
                buffer.restore(meta["buffer_rng"], arrays)
            noise.bit_generator.state = meta["noise_rng"]
            accuracies, served = list(meta["accuracies"]), list(meta["served"])
            generator_seconds, earlier_seconds = meta["generator_seconds"], meta["seconds"]
            logging.info("%s: resumed after task %d of %d", name, len(accuracies), len(self.tasks))
        for t in range(len(accuracies) + 1, len(self.tasks) + 1):
            task_served = {}
            if trains_generator:
                clock = time.perf_counter()
                self._train_generator(kind, generator[0], train_generator, t, task_served, teacher)
                generator_seconds += time.perf_counter() - clock
            stream = self._stream(t, LEARNER_STREAM, method.joint)
            draws = None
            if t > 1 and kind is not None:
                draws = self._draws(kind, t - 1, _key(self.seed, 100 + t), teacher)
            elif t > 1 and method.generator == "moments_noise":  # drawn from `noise`, whose state checkpoints keep
                draws = self._moments_noise(t - 1, noise, DRAW_CHUNK)

            def steps():
                for replayed_x, replayed_targets in self._replay_steps(method, t, draws, buffer, noise, teacher):
                    x, y = stream.batch(settings.batch_size)
                    parts = [x, *replayed_x]
                    targets = [replay.one_hot_targets(y, self.num_classes), *replayed_targets]
                    replayed = sum(len(p) for p in parts[1:])
                    yield np.concatenate(parts), np.concatenate(targets), self._weights(t, len(x), replayed)

            _train_in_blocks(train_learner, steps())
            accuracies.append(self.accuracy(learner, t))
            teacher = networks.frozen_copy(learner)
            if trains_generator:
                clock = time.perf_counter()
                self._end_generator_task(kind, generator[1], learner, t)
                generator_seconds += time.perf_counter() - clock
            if buffer is not None:
                buffer.keep(self.tasks[t - 1].x_train, self.tasks[t - 1].y_train)
            task_served["learner"] = {"examples": stream.served, "classes": sorted(stream.served_classes)}
            served.append(task_served)
            if checkpoint is not None and t < len(self.tasks):
                meta = {"accuracies": accuracies, "served": served, "generator_seconds": generator_seconds,
                        "seconds": earlier_seconds + time.perf_counter() - started,
                        "noise_rng": noise.bit_generator.state}
                arrays = _values(learner, "learner")
                if buffer is not None:
                    meta["buffer_rng"] = buffer.state(arrays)
                if trains_generator:
                    self._save_sequence(kind, generator, meta, arrays)
                checkpoint.save(meta, arrays)
        seconds = earlier_seconds + time.perf_counter() - started
        if kind is not None and not trains_generator:  # the shared generator's training counts for every user
            seconds += self.generators[kind].seconds
        elif trains_generator:
            self.generators[kind].seconds = generator_seconds
        result = {"method": name, "accuracies": accuracies, "final_accuracy": accuracies[-1], "seconds": seconds,
                  "generator_seconds": self.generators[kind].seconds if kind else 0.0, "served": served,
                  "buffer_examples": len(buffer) if buffer is not None else 0,
                  "chains": [dataclasses.asdict(c) for c in self.generators[kind].chains]
                  if method.generator == "reinjection" else None}
        if checkpoint is not None:
            meta, arrays = {"result": result}, {}
            if trains_generator:
                self._save_sequence(kind, generator, meta, arrays, trained=False)
            checkpoint.save(meta, arrays)
        return result

    def _save_sequence(self, kind: str, generator: tuple, meta: dict, arrays: dict, trained: bool = True) -> None:
        """Adds to a checkpoint the generator sequence so far: each kept copy, its chain settings and grid, and
        (`trained`) the generator in training with its optimizer."""
        sequence = self.generators[kind]
        meta["sequence"] = {"chains": [dataclasses.asdict(c) for c in sequence.chains], "seconds": sequence.seconds,
                            "copies": len(sequence.copies)}
        for k, copy in enumerate(sequence.copies):
            arrays.update(_values(copy, f"copy{k}", optimizer=False))
        for k, (x, labels) in enumerate(sequence.grid):
            arrays[f"grid{k}.x"], arrays[f"grid{k}.labels"] = x, labels
        if trained:
            arrays.update(_values(generator[0], "generator"))

    def _restore_sequence(self, kind: str, generator: tuple, meta: dict, arrays: dict) -> None:
        sequence, saved = self.generators[kind], meta["sequence"]
        for k in range(saved["copies"]):
            copy = networks.frozen_copy(generator[1])
            _restore(copy, f"copy{k}", arrays, optimizer=False)
            sequence.copies.append(copy)
            sequence.grid.append((arrays[f"grid{k}.x"], arrays[f"grid{k}.labels"]))
        sequence.chains = [_chain_settings_from(c) for c in saved["chains"]]
        sequence.seconds = saved["seconds"]
        if "result" not in meta:
            _restore(generator[0], "generator", arrays)


def _train_in_blocks(train, steps) -> None:
    """Hands `train` (a backend.block_trainer) the (inputs, targets, sample weights or None) of successive steps of
    one shape, stacked `STEP_BLOCK` steps at a time."""
    block = []
    for step in steps:
        block.append(step)
        if len(block) == STEP_BLOCK:
            _train_block(train, block)
            block = []
    if block:
        _train_block(train, block)


def _train_block(train, block: list) -> None:
    x, y, weights = zip(*block)
    train(np.stack(x), np.stack(y), None if weights[0] is None else np.stack(weights))


def _variables(model, optimizer: bool) -> list:
    """The model's variables (its random-number generators' states included), then its optimizer's, built first
    where the model has not trained yet."""
    if not optimizer:
        return list(model.variables)
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    return [*model.variables, *model.optimizer.variables]


def _values(model, prefix: str, optimizer: bool = True) -> dict[str, np.ndarray]:
    return {f"{prefix}.{i}": keras.ops.convert_to_numpy(v.value)
            for i, v in enumerate(_variables(model, optimizer))}


def _restore(model, prefix: str, arrays: dict, optimizer: bool = True) -> None:
    variables = _variables(model, optimizer)
    saved = sum(1 for name in arrays if name.rsplit(".", 1)[0] == prefix)
    if saved != len(variables):
        raise ValueError(f"the checkpoint holds {saved} variables of {prefix}, the model has {len(variables)}")
    for i, variable in enumerate(variables):
        variable.assign(arrays[f"{prefix}.{i}"])


def _chain_settings_from(saved: dict) -> ReinjectionConfig:
    balance = saved.get("balance")
    return ReinjectionConfig(**{**saved, "balance": Balance(**balance) if balance else None})
