"""Reinjection sampling (Algorithm 1 with the restart heuristic of Section IV-A).

Given an autoencoder r: R^n -> R^n, B chains run in parallel:

    x_0 ~ N(0, I)
    x_t = r(x_{t-1}) + sqrt(λ)·ε_t,     ε_t ~ N(0, I),   t = 1 .. R

Each run of R reinjections from fresh noise is a *restart*. The first b
states of a restart (the burn-in) are discarded; the remaining R - b are
collected, either the noisy state x_t (Algorithm 2 as written) or the clean
reconstruction r(x_{t-1}). One restart therefore yields B·(R - b) samples,
ordered step-major: all B chains at t = b+1, then at t = b+2, and so on.

Our reading of the heuristic (the paper's supplementary algorithm is not
public): chains are stopped after R reinjections and restarted from new
N(0, I) noise, which counters slow mixing between modes; "gathering after
the second jump" is the burn-in b. Every knob is a parameter.

Randomness is counter based: the noise of (restart, t) is drawn from a
stateless generator keyed by (seed, restart, t), t = 0 being the starting
point (`backend.standard_normal`). Samples therefore depend only on the
seed, the settings and the Keras backend, never on how many are drawn per
call, and restart k can be recomputed alone (see `chain_noise`).

The loop is written once in `keras.ops` and compiled whole by the backend
(`tf.function` or `jax.jit`); the autoencoder is called through
`stateless_call` with its weights as arguments of the compiled function.
Samplers of one autoencoder that differ only in λ and b share one compiled
loop, which takes sqrt(λ) and b as arguments (`SharedLoops`): a λ search or
an FD choice builds one sampler per setting, and would otherwise trace and
compile the loop again for each.
"""

from __future__ import annotations

import collections
import dataclasses
import math
from typing import Callable, Iterator, Protocol

import numpy as np
from keras import ops

from aesampling import backend
from aesampling.models import builders, shapes
from aesampling.errors import UserInputError

COLLECT_MODES = ("noisy", "clean")
NORMAL_START, MOMENTS_START = "normal", "moments"
START_MODES = (NORMAL_START, MOMENTS_START)
START_REFILL, CLONE_REFILL, CLASS_MOMENTS_REFILL = "start", "clone", "class_moments"
REFILL_MODES = (START_REFILL, CLONE_REFILL, CLASS_MOMENTS_REFILL)
BALANCE_PATIENCE = 2
BALANCE_POOL = 8
MAX_SEED = 2**31 - 1


def is_integer(value) -> bool:
    """An int or NumPy integer, not a bool: what every count and seed of a config must be."""
    return not isinstance(value, (bool, np.bool_)) and isinstance(value, (int, np.integer))


def at_least_one(**values) -> None:
    """Raises UserInputError naming the first of `values` (field name -> value) that is not an integer >= 1."""
    for name, value in values.items():
        if not is_integer(value) or value < 1:
            raise UserInputError(f"`{name}` must be an integer >= 1, got {value!r}")


def check_seed(seed: int) -> int:
    """Returns `seed` when it is an integer in [0, 2^31 - 1]."""
    if not is_integer(seed) or not 0 <= seed <= MAX_SEED:
        raise UserInputError(f"seed must be an integer in [0, {MAX_SEED}], got {seed!r}")
    return int(seed)


@dataclasses.dataclass(frozen=True)
class Balance:
    """Class-balanced collection (`aesampling.sampling.class_balance`): equal per-class quotas of the ground-truth
    classifier's hard labels, the chains stuck in a full class refilled.

    Attributes:
      refill: how a chain stuck in a full class goes on: "start" restarts it at
        the start (the paper's heuristic), "clone" first copies a chain that
        offers into a class with room, and "class_moments" clones too but
        restarts the other stuck chains at the moments of the classes with room.
      patience: P >= 1; a restart runs at most P·R steps to fill its quotas.
      pool: G >= 1; a restart runs G·B chains, so that the rarer classes' quotas
        fill within a burn-in or two (aesampling.sampling.class_balance).
    """

    refill: str = START_REFILL
    patience: int = BALANCE_PATIENCE
    pool: int = BALANCE_POOL

    def __post_init__(self):
        if self.refill not in REFILL_MODES:
            raise UserInputError(f"`refill` must be one of {REFILL_MODES}, got {self.refill!r}")
        if not is_integer(self.patience) or self.patience < 1:
            raise UserInputError(f"`patience` (P) must be an integer >= 1, got {self.patience!r}")
        if not is_integer(self.pool) or self.pool < 1:
            raise UserInputError(f"`pool` (G) must be an integer >= 1, got {self.pool!r}")


@dataclasses.dataclass(frozen=True)
class ReinjectionConfig:
    """Settings of the reinjection chains.

    Attributes:
      lam: λ >= 0, the variance of the reinjected noise.
      num_chains: B >= 1, chains run in parallel.
      reinjections: R >= 1, reinjections per restart.
      burn_in: b with 0 <= b < R, states per restart not collected.
      collect: "noisy" (x_t) or "clean" (r(x_{t-1})).
      start: where each restart starts: "normal", x_0 ~ N(0, I) as in the
        paper, or "moments", x_0 = μ + σ ⊙ z at the training data's
        per-feature moments (`StartMoments`, which the sampler then needs).
      balance: None collects every state after the burn-in; a `Balance`
        collects equal per-class quotas instead (needs the classifier).
    """

    lam: float
    num_chains: int = 50
    reinjections: int = 10
    burn_in: int = 2
    collect: str = "noisy"
    start: str = NORMAL_START
    balance: Balance | None = None

    def __post_init__(self):
        if not (isinstance(self.lam, (int, float)) and math.isfinite(self.lam) and self.lam >= 0):
            raise UserInputError(f"`lam` (λ) must be a finite number >= 0, got {self.lam}")
        if not is_integer(self.num_chains) or self.num_chains < 1:
            raise UserInputError(f"`num_chains` (B) must be an integer >= 1, got {self.num_chains!r}")
        if not is_integer(self.reinjections) or self.reinjections < 1:
            raise UserInputError(f"`reinjections` (R) must be an integer >= 1, got {self.reinjections!r}")
        if not is_integer(self.burn_in) or not 0 <= self.burn_in < self.reinjections:
            raise UserInputError(f"`burn_in` (b) must lie in [0, R), R = {self.reinjections}: got {self.burn_in!r}")
        if self.collect not in COLLECT_MODES:
            raise UserInputError(f"`collect` must be one of {COLLECT_MODES}, got {self.collect!r}")
        if self.start not in START_MODES:
            raise UserInputError(f"`start` must be one of {START_MODES}, got {self.start!r}")
        if self.balance is not None and not isinstance(self.balance, Balance):
            raise UserInputError(f"`balance` must be None or a Balance, got {self.balance!r}")

    @property
    def refill(self) -> str | None:
        """The refill of class-balanced collection, or None when every state is collected."""
        return None if self.balance is None else self.balance.refill

    def without_balance(self) -> "ReinjectionConfig":
        """The same chains collecting every state."""
        return dataclasses.replace(self, balance=None)

    @property
    def collected_per_restart(self) -> int:
        """R - b: states collected per chain and restart."""
        return self.reinjections - self.burn_in

    @property
    def samples_per_restart(self) -> int:
        """B·(R - b): samples one restart yields."""
        return self.num_chains * self.collected_per_restart


def resolve_chain_settings(defaults: ReinjectionConfig, *, chosen: dict | None = None,
                           **given) -> ReinjectionConfig:
    """The chain settings of a run, each field from the first of: `given`, `chosen`, `defaults`.

    This is the one place that decides their precedence:
    - `given`: values set explicitly (by a script's flags, say); None means unset;
    - `chosen`: a λ search's best setting (`lambda_search.read_best`:
      λ, collect, burn_in, reinjections, start), e.g. from a search result file;
    - `defaults`: the dataset's presets (`presets.ExperimentPresets.sampler`).
    """
    fields = [f.name for f in dataclasses.fields(ReinjectionConfig)]
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ValueError(f"unknown chain settings {unknown}; known: {sorted(fields)}")
    layers = (given, chosen or {}, {name: getattr(defaults, name) for name in fields})
    return ReinjectionConfig(**{name: next((layer[name] for layer in layers if layer.get(name) is not None), None)
                                for name in fields})


def chain_noise(seed, restart, step, shape):
    """N(0, I) draws of reinjection `step` in `restart`: x_0 for step 0, ε_step otherwise."""
    return backend.standard_normal(seed, restart, step, shape)


def available_memory_bytes() -> int | None:
    """MemAvailable of /proc/meminfo (Linux), or None where it cannot be read."""
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def check_fits_memory(count: int, per_item: int, *, fixed: int = 0, what: str, field: str) -> None:
    """Raises UserInputError, in one line naming the largest count that fits and the config `field` that sets
    it, when `count` items of `per_item` float32 values each, beside `fixed` values more, exceed the memory
    available. A size far beyond memory thus fails at once, not after minutes of allocation or a crash."""
    available = available_memory_bytes()
    needed = 4 * (int(count) * int(per_item) + int(fixed))
    if available is None or needed <= available:
        return
    largest = max(0, (available // 4 - int(fixed)) // max(int(per_item), 1))
    raise UserInputError(f"{count:,} {what} need {needed / 2**30:,.1f} GiB but {available / 2**30:,.1f} GiB of "
                         f"memory is available: set `{field}` to at most {largest:,}")


def check_memory(config: ReinjectionConfig, input_dim: int, *, widest: int = 0, pool: int = 1,
                 chunk_samples: int = 0, field: str = "num_chains") -> None:
    """Raises UserInputError (`check_fits_memory`) when the chains cannot fit in the memory available.

    Counted in float32 values: the restarts a chunk of samples computes at
    once (the B·(R - b) states of one restart, or the `chunk_samples` rows of
    a chunk, each of n values, twice: the backend's tensor and its NumPy copy),
    and each of the pool·B chains that run (`pool` > 1: the class-balanced
    sampler's pool): its state, its noise and its refill noise (3·n), and the
    models' widest layer, its input and output (2·`widest`, shapes.widest_layer).
    `field` names the setting that sets B.
    """
    per_chain = 2 * input_dim * config.collected_per_restart + pool * (3 * input_dim + 2 * widest)
    check_fits_memory(config.num_chains, per_chain, fixed=2 * input_dim * chunk_samples, field=field,
                      what=f"chains of n = {input_dim}" + (f" (a pool of {pool} per chain)" if pool > 1 else "")
                      + (f", through layers of up to {widest:,} values" if widest else ""))


def class_rows(x, y, labels=None) -> tuple[np.ndarray, list[np.ndarray]]:
    """(labels, the float64 rows of x with each label): those given, or every label y holds in increasing order;
    x must be rows of features and y one label per row (else a UserInputError)."""
    x, y = np.asarray(x, np.float64), np.asarray(y)
    if x.ndim != 2 or y.shape != (len(x),):
        raise UserInputError(f"class moments need rows of features and one label per row, got shapes "
                             f"{x.shape} and {y.shape}")
    labels = np.unique(y) if labels is None else np.asarray(labels)
    return labels, [x[y == c] for c in labels]


def stacked_moments(rows: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """μ_c and σ_c of each group of rows, as two float32 C x n arrays."""
    return (np.stack([r.mean(axis=0) for r in rows]).astype(np.float32),
            np.stack([r.std(axis=0) for r in rows]).astype(np.float32))


@dataclasses.dataclass(frozen=True)
class StartMoments:
    """Chains that start at x_0 = μ + σ ⊙ z, z ~ N(0, I), instead of at z itself.

    μ and σ are the per-feature mean and standard deviation of the training
    data: 2·n numbers. The paper starts from N(0, I) "because it is a good
    prior when no information is available" (Section IV-B); on [0, 1] pixels
    that start lies far from the data, and deep ReLU autoencoders map it onto a
    few attractors. z is the same counter-based draw as the N(0, I) start's.

    Per class (`by_class`), μ and σ are C x n arrays, μ_c and σ_c: chain i of
    every restart starts at x_0 = μ_c + σ_c ⊙ z with c = i mod C, so the
    starts take the classes in turn.

    With k principal directions per class (`by_class(..., directions=k)`),
    the start also has the class's strongest correlations between features:
    V_c holds the top k principal directions of class c (orthonormal rows,
    C x k x n), s_c their standard deviations (C x k), and σ_c becomes the
    per-feature deviation left outside them. Then
    x_0 = μ_c + V_cᵀ (s_c ⊙ V_c z) + σ_c ⊙ (z - V_cᵀ V_c z): the part of z
    along the directions, V_c z ~ N(0, I_k), is scaled by s_c, and the rest
    by σ_c; both parts are independent, and no draw is added. The variance
    along the directions is the class's, s_c²; feature j's variance outside
    them is σ_cj² (1 - ‖V_c[:, j]‖²), a little under the class's σ_cj² where
    the directions weigh on feature j (the studies in results/ were made so).
    Independent per-feature noise alone is smoothed away by r, which maps
    μ_c + σ_c ⊙ z close to one image per class; the directions let the starts
    vary in shape as the class does.
    """

    mean: np.ndarray
    std: np.ndarray
    directions: np.ndarray | None = None
    spread: np.ndarray | None = None

    @classmethod
    def of(cls, x) -> "StartMoments":
        """μ and σ of the rows of x (n features)."""
        x = np.asarray(x, np.float64)
        if x.ndim != 2 or len(x) < 2:
            raise UserInputError(f"starting moments need 2 or more rows of features, got shape {x.shape}")
        return cls(x.mean(axis=0).astype(np.float32), x.std(axis=0).astype(np.float32))

    @classmethod
    def by_class(cls, x, y, directions: int = 0) -> "StartMoments":
        """μ_c and σ_c of the rows of x (n features) with each label of y, in increasing label order (C x n); with
        `directions` = k > 0, also each class's top k principal directions V_c and their deviations s_c, σ_c
        then being the deviation left outside them."""
        if not is_integer(directions) or not 0 <= directions < (np.shape(x)[-1] if np.ndim(x) == 2 else 1):
            raise UserInputError(f"the principal directions per class must be an integer in [0, n) for n features, "
                                 f"got {directions!r}")
        labels, rows = class_rows(x, y)
        needed = max(2, directions + 1)
        short = {int(c): len(r) for c, r in zip(labels, rows) if len(r) < needed}
        if not rows or short:
            raise UserInputError(f"starting moments per class need {needed} or more rows of every class; got "
                                 f"{', '.join(f'{n} of class {c}' for c, n in short.items()) or 'no rows'}")
        mean, std = stacked_moments(rows)
        if not directions:
            return cls(mean, std)
        kept, spread, residual = [], [], []
        for r in rows:
            centred = r - r.mean(axis=0)
            _, singular, vt = np.linalg.svd(centred, full_matrices=False)
            s = singular[:directions] / math.sqrt(len(r))  # the deviations along the directions, as σ's are
            kept.append(vt[:directions])
            spread.append(s)
            residual.append(np.sqrt(np.clip(centred.var(axis=0) - (s[:, None] ** 2 * vt[:directions] ** 2).sum(0),
                                            0.0, None)))
        return cls(mean, np.stack(residual).astype(np.float32), np.stack(kept).astype(np.float32),
                   np.stack(spread).astype(np.float32))

    @property
    def classes(self) -> int | None:
        """C for moments per class, None for the data's moments."""
        return int(self.mean.shape[0]) if np.ndim(self.mean) == 2 else None

    def tensors(self):
        """(μ, σ) as float32 tensors, the arguments of a compiled function that draws at the moments."""
        return ops.convert_to_tensor(self.mean, "float32"), ops.convert_to_tensor(self.std, "float32")

    def direction_tensors(self):
        """(V, s) as float32 tensors, or None without principal directions."""
        if self.directions is None:
            return None
        return ops.convert_to_tensor(self.directions, "float32"), ops.convert_to_tensor(self.spread, "float32")

    @property
    def direction_count(self) -> int:
        """k, the principal directions kept per class (0 without)."""
        return 0 if self.directions is None else int(np.shape(self.directions)[-2])

    def to_record(self) -> dict:
        """{"mean": [...], "std": [...]}: the 2·n numbers as JSON lists, one list per class for moments per class
        (float32 values, exact on reading back); "directions" and "spread" too where kept."""
        record = {"mean": np.asarray(self.mean, np.float32).tolist(), "std": np.asarray(self.std, np.float32).tolist()}
        if self.directions is not None:
            record["directions"] = np.asarray(self.directions, np.float32).tolist()
            record["spread"] = np.asarray(self.spread, np.float32).tolist()
        return record

    @classmethod
    def from_record(cls, record, where: str) -> "StartMoments":
        """The moments `to_record` wrote; `where` names their file in the error for anything else."""
        try:
            mean, std = (np.asarray(record[key], np.float32) for key in ("mean", "std"))
        except (KeyError, TypeError, ValueError) as e:
            raise UserInputError(f"{where} holds no starting moments (lists 'mean' and 'std')") from e
        if mean.ndim not in (1, 2) or mean.shape != std.shape or not (np.all(np.isfinite(mean)) and np.all(std >= 0)):
            raise UserInputError(f"{where}: the starting moments must be two equally long lists (or lists of lists, "
                                 "one per class), finite, std >= 0")
        if "directions" not in record:
            return cls(mean, std)
        try:
            directions, spread = (np.asarray(record[key], np.float32) for key in ("directions", "spread"))
        except (KeyError, TypeError, ValueError) as e:
            raise UserInputError(f"{where}: principal directions need 'directions' (C x k x n) and 'spread' "
                                 "(C x k) lists") from e
        moments = cls(mean, std, directions, spread)
        moments.check_directions(where)
        return moments

    def check_directions(self, what: str) -> None:
        """Raises a one-line UserInputError where principal directions are kept but do not fit the moments: C x k x
        n directions and C x k finite deviations >= 0, beside C x n moments per class."""
        if self.directions is None and self.spread is None:
            return
        mean_shape = np.shape(self.mean)
        if (len(mean_shape) != 2 or self.directions is None or self.spread is None
                or np.ndim(self.directions) != 3 or np.shape(self.directions)[::2] != mean_shape
                or np.shape(self.spread) != np.shape(self.directions)[:2]
                or not (np.all(np.isfinite(self.directions)) and np.all(np.isfinite(self.spread))
                        and np.all(np.asarray(self.spread) >= 0))):
            raise UserInputError(f"{what}: principal directions go with moments per class (C x n), as C x k x n "
                                 f"directions and C x k finite deviations >= 0; got shapes {mean_shape}, "
                                 f"{np.shape(self.directions)} and {np.shape(self.spread)}")


def start_for(config: ReinjectionConfig, moments: StartMoments | None) -> StartMoments | None:
    """A sampler's `start` argument under `config`: the data's moments for config.start "moments", else None."""
    if config.start != MOMENTS_START:
        return None
    if moments is None:
        raise UserInputError("chains that start at the data's moments (start 'moments') need those moments")
    return moments


class Sampler(Protocol):
    """What the rest of the package asks of a sampler, plain (`ReinjectionSampler`) or class-balanced
    (`class_balance.BalancedReinjectionSampler`)."""

    config: ReinjectionConfig
    input_dim: int  # n = ∏ s
    sample_shape: tuple[int, ...]  # s, r's input shape

    def weights(self): ...

    def restart_batch(self, weights, restart): ...

    def restarts(self, first: int, count: int) -> np.ndarray: ...

    def iter_samples(self, num_samples: int, chunk_samples: int = 16384) -> Iterator[np.ndarray]: ...

    def sample(self, num_samples: int) -> np.ndarray: ...


class Chains:
    """The state update every sampler shares: x_0 from its N(0, I) draw z, and x_t = r(x_{t-1}) + sqrt(λ)·ε_t.

    Traceable pieces, composed by `ReinjectionSampler` (plain collection) and
    `class_balance.BalancedReinjectionSampler` (per-class quotas). The state
    holds the n values of each chain's sample; r sees them in its own input
    shape s (`shapes`), so a convolutional autoencoder runs as it is.

    Args:
      autoencoder: the model r.
      config: the chain settings (λ and the start are read here).
      seed: integer seed in [0, 2^31 - 1]; the noise of (restart, t) is keyed by (seed, restart, t).
      input_dim: n, for an r without a defined input shape (a plain callable on (batch, n)); read from the
        model when None.
      start: the data's StartMoments, exactly when config.start is "moments".
    """

    def __init__(self, autoencoder, config: ReinjectionConfig, *, seed: int, input_dim: int | None = None,
                 start: StartMoments | None = None):
        self.autoencoder = autoencoder
        self.seed = check_seed(seed)
        self.sample_shape = shapes.autoencoder_shape(autoencoder) if input_dim is None else (int(input_dim),)
        self.input_dim = shapes.size(self.sample_shape)
        if (start is not None) != (config.start == MOMENTS_START):
            raise UserInputError(f"the chain settings start at {config.start!r} but starting moments were "
                                 f"{'given' if start is not None else 'not given'}: moments go with start 'moments'")
        self._start_moments = None  # (μ, σ) as tensors, or None for the N(0, I) start
        self._start_classes = None  # C when the chains start at the moments of C classes in turn
        self._start_directions = None  # (V, s): k principal directions of each class and their deviations
        if start is not None:
            given = {np.shape(start.mean), np.shape(start.std)}
            if given != {(self.input_dim,) if start.classes is None else (start.classes, self.input_dim)}:
                raise UserInputError(f"starting moments of shape {sorted(given)} for an autoencoder of n = "
                                     f"{self.input_dim}: they must be ({self.input_dim},), or (C, {self.input_dim}) "
                                     "per class")
            start.check_directions("the starting moments")
            self._start_moments = start.tensors()
            self._start_classes = start.classes
            self._start_directions = start.direction_tensors()
        self._sqrt_lam = math.sqrt(config.lam)

    def noise(self, restart, t, count: int):
        """z (t = 0) or ε_t of `count` chains in `restart`, shape (count, n)."""
        return chain_noise(self.seed, restart, t, (count, self.input_dim))

    def starting_point(self, z):
        """x_0 from its N(0, I) draw z: z itself, or μ + σ ⊙ z (`StartMoments`), row i at class i mod C's moments
        when they are per class; with principal directions, μ_c + V_cᵀ (s_c ⊙ V_c z) + σ_c ⊙ (z - V_cᵀ V_c z)."""
        if self._start_moments is None:
            return z
        mean, std = self._start_moments
        if self._start_classes is None:
            return mean + std * z
        rows, count = int(z.shape[0]), self._start_classes
        classes = np.arange(rows) % count
        mean, std = ops.take(mean, classes, axis=0), ops.take(std, classes, axis=0)
        if self._start_directions is None:
            return mean + std * z
        # Every class's k directions at once, (C·k) x n: V_c z is row i's block c of z Vᵀ, the other blocks masked to
        # zero, so the sums over the directions are matrix products, with no copy of V_c per row.
        directions, spread = self._start_directions
        k = int(directions.shape[1])
        stacked = ops.reshape(directions, (count * k, -1))
        own_class = np.zeros((rows, count, 1), np.float32)
        own_class[np.arange(rows), classes] = 1.0
        along = ops.reshape(ops.matmul(z, ops.transpose(stacked)), (rows, count, k)) * own_class  # V_c z ~ N(0, I_k)
        scaled = ops.reshape(along * spread[None], (rows, count * k))  # s_c ⊙ V_c z
        return (mean + ops.matmul(scaled, stacked)
                + std * (z - ops.matmul(ops.reshape(along, (rows, count * k)), stacked)))

    @property
    def sqrt_lam(self) -> float:
        """sqrt(λ), the scale of the reinjected noise."""
        return self._sqrt_lam

    def reinject(self, weights, x, noise, sqrt_lam=None):
        """(r(x), r(x) + sqrt(λ)·noise): the clean reconstruction and the next state (n values per chain); `sqrt_lam`
        (a tensor inside a compiled loop shared by several λ) replaces the chains' own sqrt(λ)."""
        clean = shapes.to_flat(builders.apply(self.autoencoder, weights, shapes.to_model(x, self.sample_shape)))
        return clean, clean + (self._sqrt_lam if sqrt_lam is None else sqrt_lam) * noise


class SharedLoops:
    """Compiled chain loops, each shared by the samplers of one autoencoder whose settings differ only in λ and b.

    The key holds everything else the loop's graph depends on (the sampler's class, the autoencoder, the seed, B,
    R - b, the collected state, the start and its moments, the sample shape): the loop is the first such sampler's
    method, and may read nothing of its config but these. Each entry keeps the autoencoder and the moments alive
    (and that first sampler), so their ids stay theirs. At most `kept` loops are kept, the least recently used
    dropped first: so at most `kept` autoencoders stay in memory for their sake after their last sampler is gone.
    """

    def __init__(self, kept: int = 8):
        self.kept = kept
        self._loops: collections.OrderedDict = collections.OrderedDict()

    def get(self, key: tuple, keep_alive: tuple, build: Callable[[], Callable]) -> Callable:
        """The loop of `key`, built by `build()` the first time."""
        if key in self._loops:
            self._loops.move_to_end(key)
            return self._loops[key][1]
        loop = build()
        self._loops[key] = (keep_alive, loop)
        while len(self._loops) > self.kept:
            self._loops.popitem(last=False)
        return loop

    def __len__(self) -> int:
        return len(self._loops)


SHARED_LOOPS = SharedLoops()


def stream_samples(restarts, expected_yield, num_samples: int, samples_per_restart: int,
                   chunk_samples: int = 16384) -> Iterator[np.ndarray]:
    """The first `num_samples` samples of successive restarts, in chunks of about `chunk_samples` rows.

    `restarts(first, count)` returns the samples of restarts first .. first +
    count - 1; `expected_yield()` how many one restart is expected to give.
    Memory stays bounded by the chunk size whatever `num_samples` is.
    """
    if num_samples < 0:
        raise UserInputError(f"the number of samples must be >= 0, got {num_samples}")
    restarts_per_chunk = max(1, chunk_samples // samples_per_restart)
    remaining, restart = int(num_samples), 0
    while remaining > 0:
        count = min(restarts_per_chunk, max(1, math.ceil(remaining / max(expected_yield(), 1.0))))
        chunk = restarts(restart, count)[:remaining]
        if len(chunk) == 0:
            raise UserInputError(f"restarts {restart}..{restart + count - 1} of the chains yielded no sample")
        restart += count
        remaining -= len(chunk)
        yield chunk


def concatenated(chunks: Iterator[np.ndarray], sample_shape: tuple[int, ...]) -> np.ndarray:
    """The chunks of `stream_samples` as one (num_samples, *s) float32 array."""
    chunks = list(chunks)
    return np.concatenate(chunks) if chunks else np.zeros((0, *sample_shape), np.float32)


class ReinjectionSampler:
    """Draws synthetic samples from an autoencoder by reinjection.

    Works with any Keras model mapping samples of shape s to samples of n = ∏ s
    values ((batch, n) -> (batch, n), (batch, H, W, C) -> (batch, H, W, C), ...),
    or a callable on (batch, n) given `input_dim`, including one trained
    elsewhere, on either Keras backend. Samples come out in r's input shape. The chain loop
    is one compiled function. The state x, the noise and the outputs are
    float32 whatever the model's compute dtype (e.g. under mixed precision).

    Args:
      autoencoder: the model r.
      config: the chain settings.
      seed: integer seed in [0, 2^31 - 1]; same seed, same samples.
      input_dim: n, for a callable r without an input shape; read from the model when None.
      jit_compile: compile the loop with XLA (always so on JAX).
      strategy: TensorFlow only: a tf.distribute strategy whose replicas each
        run an equal share of the B chains (the model must have been built or
        loaded in its scope); None runs everything on the default device.
        The samples are the same either way: the noise of every chain is
        drawn as on one device and each replica keeps its rows.
      start: the data's StartMoments, exactly when config.start is "moments"
        (`start_for`); None starts the chains at N(0, I), as the paper does.
    """

    def __init__(self, autoencoder, config: ReinjectionConfig, *, seed: int, input_dim: int | None = None,
                 jit_compile: bool = False, strategy=None, start: StartMoments | None = None):
        self.chains = Chains(autoencoder, config, seed=seed, input_dim=input_dim, start=start)
        self.autoencoder = autoencoder
        self.config = config
        self.seed = self.chains.seed
        self.input_dim = self.chains.input_dim
        self.sample_shape = self.chains.sample_shape
        self.widest = shapes.widest_layer(autoencoder)
        check_memory(config, self.input_dim, widest=self.widest)
        self.strategy = strategy
        if strategy is None:
            key = (type(self), id(autoencoder), backend.name(), jit_compile, self.seed, self.sample_shape,
                   config.num_chains, config.collect, config.collected_per_restart, config.start, id(start))
            self._restarts = SHARED_LOOPS.get(key, (autoencoder, start), lambda: backend.compile(
                self._restarts_impl, jit_compile=jit_compile, static_argnames=("count",)))
        else:
            from aesampling.sampling import devices

            self._restarts = devices.sharded_restarts(strategy, self._restart_block, self.weights,
                                                      config.num_chains)

    def weights(self):
        """The autoencoder's current weights, the first argument of the traceable methods."""
        return builders.frozen_weights(self.autoencoder)

    def _noise(self, restart, t, rows):
        noise = self.chains.noise(restart, t, self.config.num_chains)
        return noise if rows is None else noise[rows[0]:rows[0] + rows[1]]

    def _restart_block(self, weights, restart, rows=None, sqrt_lam=None, burn_in=None):
        """Collected states of one restart, shape (R - b, chains, n); `rows` = (first chain, count) or all.
        `sqrt_lam` and `burn_in` (tensors, in a loop shared by several settings) replace the config's sqrt(λ) and b."""
        cfg = self.config
        burn_in = cfg.burn_in if burn_in is None else burn_in

        def reinject(t, x):
            return self.chains.reinject(weights, x, self._noise(restart, t, rows), sqrt_lam)[1]

        # x_0 of all B chains, then this block's rows: a chain's start (its class, per class) does not depend on
        # how the chains are shared between devices.
        x_0 = self.chains.starting_point(self._noise(restart, 0, None))
        x = ops.fori_loop(1, burn_in + 1, reinject, x_0 if rows is None else x_0[rows[0]:rows[0] + rows[1]])

        def collect(x, t):
            clean, x = self.chains.reinject(weights, x, self._noise(restart, t, rows), sqrt_lam)
            return x, (x if cfg.collect == "noisy" else clean)

        return backend.scan(collect, x, burn_in + 1, cfg.collected_per_restart)[1]

    def restart_states(self, weights, restart, sqrt_lam=None, burn_in=None):
        """The B·(R - b) collected states of one restart, shape (B·(R - b), n).

        Traceable: the train-on-synthetic loop calls it inside its compiled epoch.
        """
        block = self._restart_block(weights, restart, sqrt_lam=sqrt_lam, burn_in=burn_in)
        return ops.reshape(block, (self.config.samples_per_restart, self.input_dim))

    def restart_batch(self, weights, restart):
        """(the samples of one restart, None): a learning step's batch, every sample weighing the same.

        Traceable; `class_balance.BalancedReinjectionSampler.restart_batch` gives weighted batches.
        """
        return self.restart_states(weights, restart), None

    def _restarts_impl(self, weights, first, count, sqrt_lam, burn_in):
        """Restarts first .. first + count - 1. sqrt(λ) and b are arguments, so that samplers which differ only in
        them share this loop (`SHARED_LOOPS`)."""
        def next_restart(carry, restart):
            return carry, self.restart_states(weights, restart, sqrt_lam, burn_in)

        return ops.reshape(backend.scan(next_restart, first, first, count)[1], (-1, self.input_dim))

    def device_restarts(self, first: int, count: int):
        """Samples of restarts first .. first + count - 1, flat (count·B·(R - b), n), as a backend tensor left where
        the compiled call ran (an accelerator's memory): for a caller that uses them there, without the copy to the
        host that `restarts` makes. The backend may still be computing it (JAX dispatches asynchronously)."""
        first = ops.convert_to_tensor(first, "int32")
        if self.strategy is not None:
            return self._restarts(self.weights(), first, int(count))
        return self._restarts(self.weights(), first, int(count), ops.convert_to_tensor(self.chains.sqrt_lam, "float32"),
                              ops.convert_to_tensor(self.config.burn_in, "int32"))

    def restarts(self, first: int, count: int) -> np.ndarray:
        """Samples of restarts first .. first + count - 1 in r's input shape, one compiled call, copied to the host."""
        return ops.convert_to_numpy(self.device_restarts(first, count)).reshape((-1, *self.sample_shape))

    def iter_samples(self, num_samples: int, chunk_samples: int = 16384) -> Iterator[np.ndarray]:
        """Yields the first `num_samples` samples in chunks of about `chunk_samples` rows (`stream_samples`)."""
        check_memory(self.config, self.input_dim, widest=self.widest, chunk_samples=min(chunk_samples, num_samples))
        return stream_samples(self.restarts, lambda: float(self.config.samples_per_restart), num_samples,
                              self.config.samples_per_restart, chunk_samples)

    def sample(self, num_samples: int) -> np.ndarray:
        """The first `num_samples` samples as one (num_samples, *s) float32 array."""
        return concatenated(self.iter_samples(num_samples), self.sample_shape)
