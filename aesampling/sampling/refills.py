"""How a chain stuck in a full class goes on under class-balanced collection: small pure functions on the pool.

The pool holds G·B chains: their states x (chains x n) and ages (steps since
each chain's own start). At a step, `stuck` marks the chains past their
burn-in whose class is full, `donors` those past their burn-in whose class
still has room. A refill returns the new (x, age):

- "start" (`restart`): every stuck chain starts again at the start
  distribution, x_0 from a fresh draw z, age 0 (the paper's heuristic);
- "clone" (`clone` then `restart`): the k-th stuck chain (pool order) copies
  the state of the k-th donor while there are donors, each donor copied at
  most once per step, so a class's chains at most double per step; the
  other stuck chains restart at the start;
- "class_moments": as "clone", but the stuck chains beyond the donors
  restart at x_0 = μ_c + σ_c ⊙ z, spread over the classes with room in
  proportion to their open slots (`class_moments_start`).

`refill_for` picks the composition once, when a sampler is built. Everything
here is written in `keras.ops` and traceable.
"""

from __future__ import annotations

from typing import Callable

from keras import ops

from aesampling.sampling.reinjection import CLASS_MOMENTS_REFILL, CLONE_REFILL, START_REFILL


def rank(mask):
    """For each row, how many rows before it are True (its 0-based rank among the True rows when it is True),
    column by column for a 2-D mask."""
    as_int = ops.cast(mask, "int32")
    return ops.cumsum(as_int, axis=0) - as_int


def pair_clones(stuck, donors):
    """(cloned, parent): the stuck chains that copy a donor, and for each chain the pool index of the donor its
    rank among the stuck chains pairs it with (meaningful where `cloned`)."""
    chains = ops.shape(stuck)[0]
    donor_count = ops.sum(ops.cast(donors, "int32"))
    donor_by_rank = ops.scatter_update(ops.zeros((chains + 1,), "int32"),
                                       ops.expand_dims(ops.where(donors, rank(donors), chains), -1),
                                       ops.arange(chains, dtype="int32"))
    stuck_rank = rank(stuck)
    return ops.logical_and(stuck, stuck_rank < donor_count), ops.take(donor_by_rank, stuck_rank)


def restart(x, age, restarting, fresh):
    """The restarting chains at their new starting points `fresh`, age 0; the others unchanged."""
    return (ops.where(ops.expand_dims(restarting, -1), fresh, x),
            ops.where(restarting, ops.zeros_like(age), age))


def clone(x_before, x, age, cloned, parent, clone_age: int):
    """The cloned chains at their donors' states (taken from `x_before`), of age `clone_age`."""
    return (ops.where(ops.expand_dims(cloned, -1), ops.take(x_before, parent, axis=0), x),
            ops.where(cloned, ops.full_like(age, clone_age), age))


def class_moments_start(z, restarting, open_slots, mean, std):
    """x_0 = μ_c + σ_c ⊙ z for the restarting chains, spread over the classes as their open slots are.

    The k-th of m restarting chains (in pool order) takes the class c whose
    open slots [s_c, s_c + q_c - n_c) on the line of all S open slots hold the
    point (k + 1/2)·S/m. `mean` and `std` are the C x n class moments.
    """
    num_classes = ops.shape(mean)[0]
    rank_of_chain = ops.cast(rank(restarting), "float32")
    count = ops.maximum(ops.sum(ops.cast(restarting, "float32")), 1.0)
    point = (rank_of_chain + 0.5) * ops.cast(ops.sum(open_slots), "float32") / count
    ends = ops.cast(ops.cumsum(open_slots), "float32")
    classes = ops.sum(ops.cast(ops.expand_dims(ends, 0) <= ops.expand_dims(point, -1), "int32"), axis=1)
    classes = ops.minimum(classes, num_classes - 1)
    return ops.take(mean, classes, axis=0) + ops.take(std, classes, axis=0) * z


Refill = Callable  # (x, age, stuck, donors, open_slots, z) -> (x, age)


def refill_for(mode: str, *, starting_point, clone_age: int, class_moments=None) -> Refill:
    """The refill of `mode` ("start", "clone" or "class_moments") as one function of the pool's step.

    Args:
      starting_point: z -> x_0 at the start distribution (N(0, I) or the data's moments).
      clone_age: the age a clone takes: b when collecting noisy states (its next
        state differs from its donor's by the noise), b - 1 when collecting clean
        ones (r of the same state would repeat the donor's).
      class_moments: (μ, σ) as C x n tensors, for "class_moments" only.
    """
    if mode == START_REFILL:
        def refill(x, age, stuck, donors, open_slots, z):
            return restart(x, age, stuck, starting_point(z))
    elif mode in (CLONE_REFILL, CLASS_MOMENTS_REFILL):
        if mode == CLASS_MOMENTS_REFILL:
            mean, std = class_moments

            def fresh_start(z, restarting, open_slots):
                return class_moments_start(z, restarting, open_slots, mean, std)
        else:
            def fresh_start(z, restarting, open_slots):
                return starting_point(z)

        def refill(x, age, stuck, donors, open_slots, z):
            cloned, parent = pair_clones(stuck, donors)
            restarting = ops.logical_and(stuck, ops.logical_not(cloned))
            new_x, new_age = restart(x, age, restarting, fresh_start(z, restarting, open_slots))
            return clone(x, new_x, new_age, cloned, parent, clone_age)
    else:
        raise ValueError(f"unknown refill {mode!r}")
    return refill
