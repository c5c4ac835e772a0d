"""Class-balanced collection (Section IV: Algorithm 2 "equally samples from the different modes").

Plain reinjection collects every state after the burn-in, so the classes
the chains fall into most often are over-sampled. Here the ground-truth
classifier C labels each candidate state (its hard label argmax C(x)), and
each restart of the B chains has a quota per class:

    q_c = ⌊K / C⌋, plus one for the first K mod C classes,   K = B·(R - b)

so a restart still yields at most K samples. A balanced restart runs a pool
of G·B chains (G = `Balance.pool`). At each step t = 1, 2, .. every chain
whose age (steps since its own start) exceeds b offers its candidate (x_t,
or r(x_{t-1}) when collecting clean states); it is accepted while its class
has room, chains earlier in the pool first. A chain whose class is full is
*stuck* there: it restarts at once from fresh N(0, I) noise (the
counter-based draw keyed by (seed, restart, P·R + t)) and burns in again
before it may offer a state. The restart ends when every quota is filled,
or after P·R steps (the patience P, `Balance.patience`, 2 by default).

A chain restarted from the start finds a rare class only as often as the
start leads there. With refill "clone" (`Balance.refill`, `refills`), a stuck
chain first becomes a copy of a *donor*, a chain past its burn-in whose class
still has room, and goes on from the donor's state with its own noise: once a
chain reaches a rare class, the chains there can double every step, as in
"go with the winners" population schemes. Each donor is copied at most once
per step, and the stuck chains beyond the donors restart from the start. A
clone's states are as correlated with its donor's as two successive states of
one chain, which plain collection keeps anyway.

Cloning needs one chain to reach a class first. Where the start never leads
to a class, refill "class_moments" restarts the stuck chains beyond the donors
at x_0 = μ_c + σ_c ⊙ z instead, μ_c and σ_c the per-feature moments of the
training data's class c (`ClassMoments`, 2·C·n numbers). The restarting
chains spread over the classes in proportion to their open slots q_c - n_c,
and burn in again from there, so every sample is still a chain state
after b reinjections.

The larger pool fills the rarer classes' quotas within one or two burn-ins,
where chains restarted one at a time would each need a burn-in more: with
the same number of chain steps, a pool of 4B over 2R steps fills more slots
than B chains over 4R steps, and the wide steps cost little more than
narrow ones where the per-step overhead dominates (small models on CPU).
G = 8 (`Balance.pool`) rather than 4: on a Fashion-MNIST shallow AE at its
FD choice of λ (`sample.py --balance_classes`, 10,000 samples, 2-core AMD
EPYC), G = 4 filled 90% of the slots and G = 8 98%. Where G >= R - b, the
pool's first step past the burn-in offers G·B >= K states, one per chain, so
most slots take a state of a chain of their own. Refill "clone" costs less
from the data's moments (about half from G = 4; from G = 8, 0.6-0.85 times
the restarts' cost for a deep AE), but its students' final accuracy was
lower in five of six (autoencoder, seed) pairs either way
(results/fashion_mnist_balanced_cloning), most where the chains mix slowly,
where clones likely stay close to their donors. Every record gives the
share of slots filled (`accepted_share`).

Everything runs inside the compiled restart, as the plain loop does, with
fixed shapes: accepted states go to K slots, those of class c at
[q_0 + .. + q_{c-1}, q_0 + .. + q_c), so a restart's samples come sorted by
class. `restarts` and `iter_samples` keep the filled slots; the
train-on-synthetic loop takes all K slots as its batch and weighs the empty
ones 0 (`restart_batch`), so a student learns from exactly the accepted
samples.
"""

from __future__ import annotations

import dataclasses

import numpy as np
from absl import logging
from keras import ops

from aesampling import backend
from aesampling.errors import UserInputError
from aesampling.models import builders, shapes
from aesampling.sampling import refills
from aesampling.sampling.reinjection import (CLASS_MOMENTS_REFILL, Chains, ReinjectionConfig, ReinjectionSampler,
                                             StartMoments, check_memory, class_rows, concatenated, stacked_moments,
                                             start_for, stream_samples)
from aesampling.sampling.teacher import check_classifier

NEEDS_CLASSIFIER = ("class-balanced collection labels the chains' states with the ground-truth classifier: "
                    "give `classifier`")


@dataclasses.dataclass(frozen=True)
class ClassMoments:
    """μ_c and σ_c, the per-feature mean and standard deviation of each class c of the training data: two C x n
    arrays, where refill "class_moments" restarts a stuck chain (x_0 = μ_c + σ_c ⊙ z)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, x, y, num_classes: int) -> "ClassMoments":
        """The moments of the rows of x (n features) per label y in 0 .. num_classes - 1."""
        _, rows = class_rows(x, y, range(num_classes))
        short = [c for c, of_class in enumerate(rows) if len(of_class) < 2]
        if short:
            raise UserInputError(f"class moments need 2 or more training examples of every class; class(es) "
                                 f"{short} have fewer")
        return cls(*stacked_moments(rows))


def class_quotas(samples_per_restart: int, num_classes: int) -> np.ndarray:
    """q_c for c = 0 .. C-1: K split as evenly as integers allow (they sum to K)."""
    quotas = np.full(num_classes, samples_per_restart // num_classes, np.int32)
    quotas[: samples_per_restart % num_classes] += 1
    return quotas


class QuotaSlots:
    """K = B·(R - b) sample slots of one restart, q_c of them for class c at [o_c, o_c + q_c),
    o_c = q_0 + .. + q_{c-1}; chains offer states into them, earlier chains of the pool first. Traceable."""

    def __init__(self, samples_per_restart: int, num_classes: int):
        self.size = samples_per_restart
        self.num_classes = num_classes
        self.quotas_array = class_quotas(samples_per_restart, num_classes)
        self.slot_class = np.repeat(np.arange(num_classes), self.quotas_array)

    def tensors(self):
        """(q_c, o_c) as int32 tensors, built where the compiled restart uses them."""
        return (ops.convert_to_tensor(self.quotas_array, "int32"),
                ops.convert_to_tensor(np.cumsum(self.quotas_array) - self.quotas_array, "int32"))

    def empty(self, input_dim: int):
        """(counts n_c = 0, a buffer of K + 1 rows: row K takes the states nobody keeps)."""
        return ops.zeros((self.num_classes,), "int32"), ops.zeros((self.size + 1, input_dim), "float32")

    def offer(self, buffer, counts, candidate, labels, eligible, quotas, offsets):
        """Each eligible chain offers `candidate` into its class `labels`; taken while the class has room.

        Returns the new (buffer, counts)."""
        label_hot = ops.one_hot(labels, self.num_classes, dtype="int32")
        offered = label_hot * ops.expand_dims(ops.cast(eligible, "int32"), -1)
        earlier = refills.rank(offered)  # offers of the same class by chains before this one
        taken = offered * ops.cast(earlier < ops.expand_dims(quotas - counts, 0), "int32")
        slot = ops.sum(label_hot * (ops.expand_dims(offsets + counts, 0) + earlier), axis=1)
        slot = ops.where(ops.sum(taken, axis=1) > 0, slot, self.size)
        buffer = ops.scatter_update(buffer, ops.expand_dims(slot, -1), candidate)
        return buffer, counts + ops.sum(taken, axis=0)

    def filled(self, buffer, counts, offsets):
        """The K slots, shape (K, n + 1): the states, then 1 where the slot was filled."""
        slot_class = ops.convert_to_tensor(self.slot_class, "int32")
        filled = ops.arange(self.size, dtype="int32") - ops.take(offsets, slot_class) < ops.take(counts, slot_class)
        return ops.concatenate([buffer[:self.size], ops.expand_dims(ops.cast(filled, "float32"), -1)], axis=-1)


class BalancedReinjectionSampler:
    """Reinjection chains whose collected states fill equal per-class quotas of C's hard labels.

    Composed of the shared state update (`reinjection.Chains`, run on a pool of
    G·B chains), the class slots (`QuotaSlots`) and the refill of
    `config.balance.refill` (`refills.refill_for`), chosen once here.

    Args:
      autoencoder: the model r.
      config: the chain settings; `config.balance` (a `Balance`) must be set.
      classifier: the ground-truth classifier C, with sigmoid (or softmax) outputs.
      seed, input_dim, jit_compile, start: as for ReinjectionSampler (one device only); a chain
        restarted from a full class starts again at the same distribution (or see class_start).
      class_start: the training data's ClassMoments, exactly when the refill is
        "class_moments": stuck chains that clone no donor restart there.
    """

    def __init__(self, autoencoder, config: ReinjectionConfig, classifier, *, seed: int,
                 input_dim: int | None = None, jit_compile: bool = False,
                 start: StartMoments | None = None, class_start: ClassMoments | None = None):
        if config.balance is None:
            raise UserInputError("a class-balanced sampler needs chain settings with a `balance`")
        self.chains = Chains(autoencoder, config, seed=seed, input_dim=input_dim, start=start)
        self.autoencoder = autoencoder
        self.classifier = classifier
        self.config = config
        self.seed = self.chains.seed
        self.input_dim = self.chains.input_dim
        self.sample_shape = self.chains.sample_shape
        self.pool_size = config.balance.pool * config.num_chains
        self.steps = config.balance.patience * config.reinjections
        self.widest = max(shapes.widest_layer(autoencoder), shapes.widest_layer(classifier))
        check_memory(config, self.input_dim, widest=self.widest, pool=config.balance.pool)
        self.num_classes = check_classifier(classifier, self.input_dim)
        self._classifier_shape = shapes.input_shape(classifier)
        self.slots = QuotaSlots(config.samples_per_restart, self.num_classes)
        self._refill = refills.refill_for(
            config.balance.refill, starting_point=self.chains.starting_point,
            clone_age=config.burn_in if config.collect == "noisy" else config.burn_in - 1,
            class_moments=self._class_moments(class_start))
        self._restarts = backend.compile(self._restarts_impl, jit_compile=jit_compile, static_argnames=("count",))
        self.slots_seen = 0
        self.accepted = 0
        self.accepted_by_class = np.zeros(self.num_classes, np.int64)
        self._warned_of_unreached = False

    def _class_moments(self, class_start: ClassMoments | None):
        """(μ_c, σ_c) as C x n tensors when the refill needs them, else None."""
        refill = self.config.balance.refill
        if (class_start is not None) != (refill == CLASS_MOMENTS_REFILL):
            raise UserInputError(f"refill {refill!r} with class moments "
                                 f"{'given' if class_start is not None else 'not given'}: class moments go with "
                                 f"refill {CLASS_MOMENTS_REFILL!r}")
        if class_start is None:
            return None
        expected = (self.num_classes, self.input_dim)
        if np.shape(class_start.mean) != expected or np.shape(class_start.std) != expected:
            raise UserInputError(f"class moments of shape {np.shape(class_start.mean)} for {self.num_classes} classes "
                                 f"of n = {self.input_dim}: they must be {expected}")
        return ops.convert_to_tensor(class_start.mean, "float32"), ops.convert_to_tensor(class_start.std, "float32")

    def _classify(self, weights, x):
        """C(x) of flat states x (pool, n), fitted to C's input shape."""
        return builders.apply(self.classifier, weights, shapes.to_model(x, self._classifier_shape))

    def weights(self):
        """(r's weights, C's weights), the first argument of the traceable methods."""
        return builders.frozen_weights(self.autoencoder), builders.frozen_weights(self.classifier)

    def _restart_block(self, weights, restart):
        """One restart's K class slots, shape (K, n + 1) (`QuotaSlots.filled`).

        The loop ends when every slot is filled or after P·R steps. Step t
        draws ε_t for the pool, and the refill's fresh starts from the draw
        keyed P·R + t. In steps 1 .. b every chain is still burning in, so
        none offers a state or refills: those steps only reinject, with no
        call of C and no refill draw, and give the same states as the full
        step would.
        """
        cfg = self.config
        autoencoder_weights, classifier_weights = weights
        quotas, offsets = self.slots.tensors()

        def unfinished(t, x, age, counts, buffer):
            return ops.logical_and(t <= self.steps, ops.any(counts < quotas))

        def step(t, x, age, counts, buffer):
            clean, x = self.chains.reinject(autoencoder_weights, x, self.chains.noise(restart, t, self.pool_size))
            candidate = x if cfg.collect == "noisy" else clean
            age = age + 1
            labels = ops.argmax(self._classify(classifier_weights, candidate), axis=-1)
            past_burn_in = age > cfg.burn_in
            buffer, counts = self.slots.offer(buffer, counts, candidate, labels, past_burn_in, quotas, offsets)
            room = ops.take(counts < quotas, labels)
            stuck = ops.logical_and(past_burn_in, ops.logical_not(room))
            x, age = self._refill(x, age, stuck, ops.logical_and(past_burn_in, room), quotas - counts,
                                  self.chains.noise(restart, self.steps + t, self.pool_size))
            return t + 1, x, age, counts, buffer

        def burn_in_step(t, x):
            return self.chains.reinject(autoencoder_weights, x, self.chains.noise(restart, t, self.pool_size))[1]

        counts, buffer = self.slots.empty(self.input_dim)
        x_0 = self.chains.starting_point(self.chains.noise(restart, 0, self.pool_size))
        start = (ops.convert_to_tensor(cfg.burn_in + 1, "int32"), ops.fori_loop(1, cfg.burn_in + 1, burn_in_step, x_0),
                 ops.full((self.pool_size,), cfg.burn_in, "int32"), counts, buffer)
        _, _, _, counts, buffer = ops.while_loop(unfinished, step, start)
        return self.slots.filled(buffer, counts, offsets)

    def restart_batch(self, weights, restart):
        """(the K class slots of one restart (K, n), their weights): filled slots weigh K / filled, empty ones 0.

        Traceable. With Keras's mean-over-batch loss reduction these weights
        make the loss the mean over the accepted samples.
        """
        block = self._restart_block(weights, restart)
        mask = block[:, -1]
        return block[:, :-1], mask * (float(self.config.samples_per_restart) / ops.maximum(ops.sum(mask), 1.0))

    def _restarts_impl(self, weights, first, count):
        def next_restart(carry, restart):
            return carry, self._restart_block(weights, restart)

        return ops.reshape(backend.scan(next_restart, first, first, count)[1], (-1, self.input_dim + 1))

    def restarts(self, first: int, count: int) -> np.ndarray:
        """The accepted samples of restarts first .. first + count - 1 (at most K each, in `shuffled_slots` order)
        in r's input shape, one compiled call."""
        block = ops.convert_to_numpy(self._restarts(self.weights(), ops.convert_to_tensor(first, "int32"),
                                                    int(count)))
        filled = block[:, -1] > 0.5  # in slot order: the slots of class 0, 1, ... of each restart
        self.accepted_by_class += np.bincount(np.tile(self.slots.slot_class, int(count))[filled],
                                              minlength=self.num_classes)
        self._warn_of_unreached_classes(first + int(count))
        block = block[self.shuffled_slots(first, count)]
        accepted = block[:, -1] > 0.5
        self.slots_seen += int(count) * self.config.samples_per_restart
        self.accepted += int(accepted.sum())
        return np.ascontiguousarray(block[accepted, :-1]).reshape((-1, *self.sample_shape))

    def _warn_of_unreached_classes(self, restarts: int) -> None:
        """Says, once, which classes no chain has reached in the restarts run so far: their slots stay empty, so
        every restart runs its whole P·R steps and the run takes far longer than its share of filled slots
        suggests."""
        never = np.flatnonzero(self.accepted_by_class == 0)
        if len(never) and not self._warned_of_unreached:
            self._warned_of_unreached = True
            logging.warning(
                "in %d restart%s the chains never reached class%s %s: %s slots stay empty, every restart runs its "
                "full P·R = %d steps, and while they stay out of reach at most %.0f%% of the slots fill (lower `patience`, or collect "
                "without `balance`)", restarts, "" if restarts == 1 else "s", "" if len(never) == 1 else "es",
                ", ".join(str(int(c)) for c in never), "its" if len(never) == 1 else "their", self.steps,
                100 * (1 - self.slots.quotas_array[never].sum() / self.config.samples_per_restart))

    def shuffled_slots(self, first: int, count: int) -> np.ndarray:
        """The order the slots of restarts first .. first + count - 1 leave in: each restart's K slots, which
        `QuotaSlots` holds class by class, permuted by a permutation keyed by (seed, restart), so samples come out
        with their classes mixed, the same whatever the chunk size."""
        size = self.config.samples_per_restart
        return np.concatenate([k * size + np.random.default_rng((self.seed, first + k)).permutation(size)
                               for k in range(int(count))])

    @property
    def accepted_share(self) -> float | None:
        """Samples kept per K = B·(R - b) states a plain restart would collect, over the restarts run so far."""
        return self.accepted / self.slots_seen if self.slots_seen else None

    def _expected_yield(self) -> float:
        """Samples one restart is expected to yield: K times the share of slots filled so far."""
        return self.config.samples_per_restart * (self.accepted_share or 1.0)

    def iter_samples(self, num_samples: int, chunk_samples: int = 16384):
        """Yields the first `num_samples` accepted samples in chunks of about `chunk_samples` rows."""
        check_memory(self.config, self.input_dim, widest=self.widest, pool=self.config.balance.pool,
                     chunk_samples=min(chunk_samples, num_samples))
        return stream_samples(self.restarts, self._expected_yield, num_samples, self.config.samples_per_restart,
                              chunk_samples)

    def sample(self, num_samples: int) -> np.ndarray:
        """The first `num_samples` accepted samples as one (num_samples, *s) float32 array."""
        return concatenated(self.iter_samples(num_samples), self.sample_shape)


def make_sampler(autoencoder, config: ReinjectionConfig, *, seed: int, classifier=None,
                 jit_compile: bool = False, strategy=None, moments: StartMoments | None = None,
                 class_moments: ClassMoments | None = None):
    """The sampler `config` asks for: class-balanced (`config.balance`, needs C) or plain, starting at N(0, I)
    or, for config.start "moments", at the data's `moments`; refill "class_moments" needs `class_moments`."""
    start = start_for(config, moments)
    if config.balance is None:
        return ReinjectionSampler(autoencoder, config, seed=seed, jit_compile=jit_compile, strategy=strategy,
                                  start=start)
    if classifier is None:
        raise UserInputError(NEEDS_CLASSIFIER)
    if strategy is not None:
        raise UserInputError("class-balanced collection runs on one device: set `strategy` to none")
    return BalancedReinjectionSampler(autoencoder, config, classifier, seed=seed, jit_compile=jit_compile,
                                      start=start, class_start=class_moments)
