"""Class-balanced collection (Section IV: Algorithm 2 "equally samples from the different modes").

Plain reinjection collects every state after the burn-in, so the classes
the chains fall into most often are over-sampled. Here the ground-truth
classifier C labels each candidate state (its hard label argmax C(x)), and
each restart of the B chains has a quota per class:

    q_c = ⌊K / C⌋, plus one for the first K mod C classes,   K = B·(R - b)

so a restart still yields at most K samples. A balanced restart runs a pool
of G·B chains (G = 8 by default). At each step t = 1, 2, .. every chain
whose age (steps since its own start) exceeds b offers its candidate (x_t,
or r(x_{t-1}) when collecting clean states); it is accepted while its class
has room, chains earlier in the pool first. A chain whose class is full is
*stuck* there: it restarts at once from fresh N(0, I) noise (the
counter-based draw keyed by (seed, restart, P·R + t)) and burns in again
before it may offer a state. The restart ends when every quota is filled,
or after P·R steps (the patience P, `ReinjectionConfig.balance_patience`,
2 by default).

A chain restarted from the start finds a rare class only as often as the
start leads there. With refill "clone" (`ReinjectionConfig.refill`), a stuck
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
G = 8 rather than 4: on a Fashion-MNIST shallow AE at its FD choice of λ
(`sample.py --balance_classes`, 10,000 samples, 2-core AMD EPYC), G = 4
filled 90% of the slots and G = 8 98%. Every record gives the share of
slots filled (`accepted_share`).

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
from keras import ops

from aesampling import backend
from aesampling.models import builders
from aesampling.errors import UserInputError
from aesampling.sampling.teacher import check_classifier
from aesampling.sampling.reinjection import (CLASS_MOMENTS_REFILL, START_REFILL, ReinjectionConfig, ReinjectionSampler,
                                 StartMoments, chain_noise, start_for)


POOL = 8
NEEDS_CLASSIFIER = ("class-balanced collection labels the chains' states with the ground-truth classifier: "
                    "give --classifier")


@dataclasses.dataclass(frozen=True)
class ClassMoments:
    """μ_c and σ_c, the per-feature mean and standard deviation of each class c of the training data: two C x n
    arrays, where refill "class_moments" restarts a stuck chain (x_0 = μ_c + σ_c ⊙ z)."""

    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def of(cls, x, y, num_classes: int) -> "ClassMoments":
        """The moments of the rows of x (n features) per label y in 0 .. num_classes - 1."""
        x, y = np.asarray(x, np.float64), np.asarray(y)
        if x.ndim != 2 or y.shape != (len(x),):
            raise UserInputError(f"class moments need rows of features and one label per row, got shapes "
                                 f"{x.shape} and {y.shape}")
        rows = [x[y == c] for c in range(num_classes)]
        short = [c for c, of_class in enumerate(rows) if len(of_class) < 2]
        if short:
            raise UserInputError(f"class moments need 2 or more training examples of every class; class(es) "
                                 f"{short} have fewer")
        return cls(np.stack([r.mean(axis=0) for r in rows]).astype(np.float32),
                   np.stack([r.std(axis=0) for r in rows]).astype(np.float32))


def class_quotas(samples_per_restart: int, num_classes: int) -> np.ndarray:
    """q_c for c = 0 .. C-1: K split as evenly as integers allow (they sum to K)."""
    quotas = np.full(num_classes, samples_per_restart // num_classes, np.int32)
    quotas[: samples_per_restart % num_classes] += 1
    return quotas


class BalancedReinjectionSampler(ReinjectionSampler):
    """Reinjection chains whose collected states fill equal per-class quotas of C's hard labels.

    Args:
      autoencoder: the model r.
      config: the chain settings (`config.balance` is implied; `config.refill`
        says how a stuck chain goes on: "start" restarts it from the start
        distribution, the paper's heuristic; "clone" first copies a chain that
        offers into a class with room, `_refill`; `config.balance_patience`
        is P, the restart's length in units of R).
      classifier: the ground-truth classifier C, with sigmoid (or softmax) outputs.
      seed, input_dim, jit_compile, start: as for ReinjectionSampler (one device only); a chain
        restarted from a full class starts again at the same distribution (or see class_start).
      class_start: the training data's ClassMoments, exactly when `config.refill`
        is "class_moments": stuck chains that clone no donor restart there.
      pool: G, the restart runs G·B chains.
    """

    def __init__(self, autoencoder, config: ReinjectionConfig, classifier, *, seed: int,
                 input_dim: int | None = None, jit_compile: bool = False,
                 pool: int = POOL, start: StartMoments | None = None, class_start: ClassMoments | None = None):
        self.classifier = classifier
        self.steps = config.balance_patience * config.reinjections
        self.chains = pool * config.num_chains
        super().__init__(autoencoder, config, seed=seed, input_dim=input_dim, jit_compile=jit_compile, start=start)
        self.num_classes = check_classifier(classifier, self.input_dim)
        self.quotas = class_quotas(config.samples_per_restart, self.num_classes)
        self._class_moments = self._check_class_start(class_start)
        self.slots_seen = 0
        self.accepted = 0

    def _check_class_start(self, class_start: ClassMoments | None):
        """(μ_c, σ_c) as C x n tensors when the refill needs them, else None."""
        wanted = self.config.refill == CLASS_MOMENTS_REFILL
        if (class_start is not None) != wanted:
            raise UserInputError(f"refill {self.config.refill!r} with class moments "
                                 f"{'given' if class_start is not None else 'not given'}: class moments go with "
                                 f"refill {CLASS_MOMENTS_REFILL!r}")
        if class_start is None:
            return None
        expected = (self.num_classes, self.input_dim)
        if np.shape(class_start.mean) != expected or np.shape(class_start.std) != expected:
            raise UserInputError(f"class moments of shape {np.shape(class_start.mean)} for {self.num_classes} classes "
                                 f"of n = {self.input_dim}: they must be {expected}")
        return ops.convert_to_tensor(class_start.mean, "float32"), ops.convert_to_tensor(class_start.std, "float32")

    def _chain_noise(self, restart, step):
        return chain_noise(self.seed, restart, step, (self.chains, self.input_dim))

    def weights(self):
        """(r's weights, C's weights), the first argument of the traceable methods."""
        return builders.frozen_weights(self.autoencoder), builders.frozen_weights(self.classifier)

    def _restart_block(self, weights, restart, rows=None):
        """One restart's K class slots, shape (K, n + 1): the states, then 1 where the slot was filled.

        Slots [o_c, o_c + q_c) hold class c (o_c = q_0 + .. + q_{c-1}); the
        loop ends when every slot is filled or after P·R steps.
        """
        cfg = self.config
        autoencoder_weights, classifier_weights = weights
        quotas = ops.convert_to_tensor(self.quotas, "int32")
        offsets = ops.convert_to_tensor(np.cumsum(self.quotas) - self.quotas, "int32")
        slots = cfg.samples_per_restart  # K; row K of the buffer takes the states nobody keeps

        def unfinished(t, x, age, counts, buffer):
            return ops.logical_and(t <= self.steps, ops.any(counts < quotas))

        def step(t, x, age, counts, buffer):
            clean = builders.apply(self.autoencoder, autoencoder_weights, x)
            x = clean + self._sqrt_lam * self._chain_noise(restart, t)
            candidate = x if cfg.collect == "noisy" else clean
            age = age + 1
            labels = ops.argmax(builders.apply(self.classifier, classifier_weights, candidate), axis=-1)
            label_hot = ops.one_hot(labels, self.num_classes, dtype="int32")
            offered = label_hot * ops.expand_dims(ops.cast(age > cfg.burn_in, "int32"), -1)
            earlier = _rank(offered)  # offers of the same class by chains before this one
            taken = offered * ops.cast(earlier < ops.expand_dims(quotas - counts, 0), "int32")
            slot = ops.sum(label_hot * (ops.expand_dims(offsets + counts, 0) + earlier), axis=1)
            slot = ops.where(ops.sum(taken, axis=1) > 0, slot, slots)
            buffer = ops.scatter_update(buffer, ops.expand_dims(slot, -1), candidate)
            counts = counts + ops.sum(taken, axis=0)
            past_burn_in = age > cfg.burn_in
            room = ops.take(counts < quotas, labels)
            stuck = ops.logical_and(past_burn_in, ops.logical_not(room))
            x, age = self._refill(restart, t, x, age, stuck, ops.logical_and(past_burn_in, room), quotas - counts)
            return t + 1, x, age, counts, buffer

        start = (ops.convert_to_tensor(1, "int32"), self._starting_point(self._chain_noise(restart, 0)),
                 ops.zeros((self.chains,), "int32"), ops.zeros((self.num_classes,), "int32"),
                 ops.zeros((slots + 1, self.input_dim), "float32"))
        _, _, _, counts, buffer = ops.while_loop(unfinished, step, start)
        slot_class = ops.convert_to_tensor(np.repeat(np.arange(self.num_classes), self.quotas), "int32")
        filled = ops.arange(slots, dtype="int32") - ops.take(offsets, slot_class) < ops.take(counts, slot_class)
        return ops.concatenate([buffer[:slots], ops.expand_dims(ops.cast(filled, "float32"), -1)], axis=-1)

    def _refill(self, restart, t, x, age, stuck, donors, open_slots):
        """The states and ages after the stuck chains restart: every one from the start, or a clone first.

        With refill "clone", the k-th stuck chain (in pool order) copies the
        state of the k-th donor, a chain past its burn-in whose class still
        has room, while there are donors; each donor is copied at most once
        per step, so a class's chains at most double per step. A clone offers
        its next state that differs from its donor's: the next one when
        collecting noisy states (they differ by the noise), the one after
        when collecting clean ones (r of the same state would repeat the
        donor's). The other stuck chains restart from the start, or with
        "class_moments" at the moments of a class with room (`_class_start`;
        `open_slots` is q_c - n_c per class).
        """
        cfg = self.config
        z = self._chain_noise(restart, self.steps + t)
        cloned = None
        restarting = stuck
        if cfg.refill != START_REFILL:
            donor_count = ops.sum(ops.cast(donors, "int32"))
            donor_rank = _rank(donors)
            donor_by_rank = ops.scatter_update(ops.zeros((self.chains + 1,), "int32"),
                                               ops.expand_dims(ops.where(donors, donor_rank, self.chains), -1),
                                               ops.arange(self.chains, dtype="int32"))
            stuck_rank = _rank(stuck)
            cloned = ops.logical_and(stuck, stuck_rank < donor_count)
            parent = ops.take(donor_by_rank, stuck_rank)
            restarting = ops.logical_and(stuck, ops.logical_not(cloned))
        fresh = (self._class_start(z, restarting, open_slots) if cfg.refill == CLASS_MOMENTS_REFILL
                 else self._starting_point(z))
        refilled_x = ops.where(ops.expand_dims(restarting, -1), fresh, x)
        refilled_age = ops.where(restarting, ops.zeros_like(age), age)
        if cloned is None:
            return refilled_x, refilled_age
        clone_age = cfg.burn_in if cfg.collect == "noisy" else cfg.burn_in - 1
        refilled_x = ops.where(ops.expand_dims(cloned, -1), ops.take(x, parent, axis=0), refilled_x)
        refilled_age = ops.where(cloned, ops.full_like(age, clone_age), refilled_age)
        return refilled_x, refilled_age

    def _class_start(self, z, restarting, open_slots):
        """x_0 = μ_c + σ_c ⊙ z for the restarting chains, spread over the classes as their open slots are.

        The k-th of m restarting chains (in pool order) takes the class c whose
        open slots [s_c, s_c + q_c - n_c) on the line of all S open slots hold
        the point (k + 1/2)·S/m.
        """
        rank = ops.cast(_rank(restarting), "float32")
        count = ops.maximum(ops.sum(ops.cast(restarting, "float32")), 1.0)
        point = (rank + 0.5) * ops.cast(ops.sum(open_slots), "float32") / count
        ends = ops.cast(ops.cumsum(open_slots), "float32")
        classes = ops.sum(ops.cast(ops.expand_dims(ends, 0) <= ops.expand_dims(point, -1), "int32"), axis=1)
        classes = ops.minimum(classes, self.num_classes - 1)
        mean, std = self._class_moments
        return ops.take(mean, classes, axis=0) + ops.take(std, classes, axis=0) * z

    def restart_batch(self, weights, restart):
        """(the K class slots of one restart, their weights): filled slots weigh K / filled, empty ones 0.

        Traceable. With Keras's mean-over-batch loss reduction these weights
        make the loss the mean over the accepted samples.
        """
        block = self._restart_block(weights, restart)
        mask = block[:, -1]
        return block[:, :-1], mask * (float(self.config.samples_per_restart) / ops.maximum(ops.sum(mask), 1.0))

    def restart_states(self, weights, restart):
        raise NotImplementedError("a balanced restart has a variable number of samples: use restart_batch")

    def _restarts_impl(self, weights, first, count):
        def next_restart(carry, restart):
            return carry, self._restart_block(weights, restart)

        return ops.reshape(backend.scan(next_restart, first, first, count)[1], (-1, self.input_dim + 1))

    def restarts(self, first: int, count: int) -> np.ndarray:
        """The accepted samples of restarts first .. first + count - 1 (at most K each), one compiled call."""
        block = ops.convert_to_numpy(self._restarts(self.weights(), ops.convert_to_tensor(first, "int32"),
                                                    int(count)))
        accepted = block[:, -1] > 0.5
        self.slots_seen += int(count) * self.config.samples_per_restart
        self.accepted += int(accepted.sum())
        return np.ascontiguousarray(block[accepted, :-1])

    @property
    def accepted_share(self) -> float | None:
        """Samples kept per K = B·(R - b) states a plain restart would collect, over the restarts run so far."""
        return self.accepted / self.slots_seen if self.slots_seen else None

    def _expected_yield(self) -> float:
        """Samples one restart is expected to yield: K times the share of slots filled so far."""
        return self.config.samples_per_restart * (self.accepted_share or 1.0)


def _rank(mask):
    """For each row, how many rows before it are True (its 0-based rank among the True rows when it is True),
    column by column for a 2-D mask."""
    as_int = ops.cast(mask, "int32")
    return ops.cumsum(as_int, axis=0) - as_int


def make_sampler(autoencoder, config: ReinjectionConfig, *, seed: int, classifier=None,
                 jit_compile: bool = False, strategy=None, moments: StartMoments | None = None,
                 class_moments: ClassMoments | None = None) -> ReinjectionSampler:
    """The sampler `config` asks for: class-balanced (`config.balance`, needs C) or plain, starting at N(0, I)
    or, for config.start "moments", at the data's `moments`; refill "class_moments" needs `class_moments`."""
    start = start_for(config, moments)
    if not config.balance:
        return ReinjectionSampler(autoencoder, config, seed=seed, jit_compile=jit_compile, strategy=strategy,
                                  start=start)
    if classifier is None:
        raise UserInputError(NEEDS_CLASSIFIER)
    if strategy is not None:
        raise UserInputError("class-balanced collection runs on one device: use --strategy=none")
    return BalancedReinjectionSampler(autoencoder, config, classifier, seed=seed, jit_compile=jit_compile,
                                      start=start, class_start=class_moments)
