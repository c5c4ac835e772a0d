"""The configs of the workflow's stages: one immutable dataclass per `run_*` entry point.

A config is where a value enters the library from a script or a user's code,
so each config checks its own values once, in `__post_init__`; the stages
trust them afterwards. Configs whose defaults depend on the dataset are built
by `from_preset(data, **overrides)`: the dataset's presets
(`aesampling.models.presets`), then every override that is not None.
"""

from __future__ import annotations

import dataclasses
import math

from aesampling.continual import REPLAY_START_DIRECTIONS
from aesampling.experiments import recipes
from aesampling.errors import UserInputError
from aesampling.models import presets
from aesampling.sampling import class_balance
from aesampling.quality import diagnostics
from aesampling.selection import lambda_search
from aesampling.sampling.reinjection import (CLASS_MOMENTS_REFILL, COLLECT_MODES, MOMENTS_START, ReinjectionConfig,
                                             at_least_one, check_seed, is_integer)


def _given(overrides: dict) -> dict:
    """The overrides that set something (None: the preset's value)."""
    return {name: value for name, value in overrides.items() if value is not None}


def _zero_or_at_least_two(name: str, value, zero_means: str) -> None:
    """A count of samples to measure on: 0 (`zero_means`) or at least 2 (a covariance needs two)."""
    if not is_integer(value) or not (value == 0 or value >= 2):
        raise UserInputError(f"`{name}` must be 0 ({zero_means}) or >= 2, got {value!r}")


def _student_schedule(seed, epochs, steps_per_epoch) -> None:
    """The seed and schedule of a student trained on samples: epochs and steps per epoch >= 1."""
    check_seed(seed)
    at_least_one(epochs=epochs, steps_per_epoch=steps_per_epoch)




def _non_negative(name: str, values) -> None:
    for value in values:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
            raise UserInputError(f"every {name} must be a finite number >= 0, got {list(values)}")


@dataclasses.dataclass(frozen=True)
class DataConfig:
    """Where a dataset comes from.

    Attributes:
      dataset: a name in data.DATASETS.
      data_dir: local folder with the standard files; None uses tfds.
      tfds_data_dir: tfds's own data folder (None: its default).
      cache_dir: ResNet50 feature cache (datasets that use features).
      resnet_weights: "imagenet", "none" or a weights file path.
      image_size: side images are resized to before ResNet50.
      extraction_batch_size: images per ResNet50 batch.
      validation_fraction: share of the training data held out for choosing
        λ (None: the dataset preset's, 0.1).
    """

    dataset: str
    data_dir: str | None = None
    tfds_data_dir: str | None = None
    cache_dir: str | None = None
    resnet_weights: str | None = "imagenet"
    image_size: int = 224
    extraction_batch_size: int = 128
    validation_fraction: float | None = None

    def __post_init__(self):
        at_least_one(extraction_batch_size=self.extraction_batch_size)


@dataclasses.dataclass(frozen=True)
class ExtractConfig:
    """Extract and cache ResNet50 features of a CIFAR dataset."""

    data: DataConfig


@dataclasses.dataclass(frozen=True)
class TrainConfig:
    """Train one preset (an autoencoder or 'classifier') and save it as .keras."""

    data: DataConfig
    model: str
    output: str
    seed: int = 0
    epochs: int | None = None
    batch_size: int | None = None
    strategy: str = "none"
    mixed_precision: bool = False
    gaussian_noise_std: float | None = None
    salt_pepper_rate: float | None = None

    def __post_init__(self):
        check_seed(self.seed)
        at_least_one(**{k: v for k, v in (("epochs", self.epochs), ("batch_size", self.batch_size)) if v is not None})
        for name in ("gaussian_noise_std", "salt_pepper_rate"):
            if (value := getattr(self, name)) is not None:
                _non_negative(name, [value])
        if self.salt_pepper_rate is not None and self.salt_pepper_rate > 1:
            raise UserInputError(f"the salt-and-pepper rate must be in [0, 1], got {self.salt_pepper_rate}")


@dataclasses.dataclass(frozen=True)
class SampleConfig:
    """Draw `num_samples` synthetic samples from a saved autoencoder into an .npz.

    `classifier`, the ground-truth classifier, is needed when
    `reinjection.balance` asks for class-balanced collection; given, it also
    counts every sample's class, logged against the data's (`data`, when
    given) with the collapse verdict. `chains_file`, a
    λ search result made with start "moments", holds the training data's
    moments; it is needed (and only read) when `reinjection.start` is "moments".
    `data`, the training data, is needed when stuck chains restart at its
    class moments (`reinjection.refill` "class_moments"); given, its labels'
    class shares are what the samples' are compared with.
    """

    autoencoder: str
    output: str
    num_samples: int
    reinjection: ReinjectionConfig
    seed: int = 0
    chunk_samples: int = 16384
    jit_compile: bool = False
    strategy: str = "none"
    classifier: str | None = None
    chains_file: str | None = None
    data: DataConfig | None = None

    def __post_init__(self):
        check_seed(self.seed)
        if not is_integer(self.num_samples) or self.num_samples < 0:
            raise UserInputError(f"the number of samples must be an integer >= 0, got {self.num_samples!r}")
        at_least_one(chunk_samples=self.chunk_samples)
        if self.reinjection.balance is not None and self.classifier is None:
            raise UserInputError(class_balance.NEEDS_CLASSIFIER)
        if self.reinjection.start == MOMENTS_START and self.chains_file is None:
            raise UserInputError("chains that start at the data's moments read them from a search result: "
                                 "give `chains_file` (a search whose chains started there: recipe recommended)")
        if self.reinjection.refill == CLASS_MOMENTS_REFILL and self.data is None:
            raise UserInputError(f"refill {CLASS_MOMENTS_REFILL!r} restarts stuck chains at the moments of the "
                                 "training data's classes: give `dataset`, and `data_dir` where its files are")


@dataclasses.dataclass(frozen=True)
class LabelConfig:
    """Add the ground-truth classifier's soft and hard labels y = C(x) to a samples file (Algorithm 2).

    `chunk_rows` rows are labelled at a time, so a file of any length fits in memory.
    """

    samples: str
    classifier: str
    output: str
    chunk_rows: int = 16384

    def __post_init__(self):
        at_least_one(chunk_rows=self.chunk_rows)


@dataclasses.dataclass(frozen=True)
class EvaluateConfig:
    """One learning curve: a fresh classifier trained only on one source.

    `source` is "upper_bound", "lower_bound" (N(0, I) noise), "moments_bound"
    (N(μ, diag σ²) noise at the training split's moments), "class_moments_bound"
    (N(μ_c, diag σ_c²) noise, each class c alike) or a name for the
    autoencoder at `autoencoder`. The record also holds the quality of the source's first
    `quality_samples` samples against the validation images (0: none) and,
    for an autoencoder, its chains' mixing (aesampling.quality.diagnostics), in the feature space of C's
    penultimate representation or of its layer `feature_layer`. For the bounds, only the batch size B·(R - b)
    of `reinjection` is used, so every source sees the same number of samples per step. `chains_file`, the
    search result the chain settings were read from (if any), is an input no output may land on.
    """

    data: DataConfig
    source: str
    classifier: str
    output: str
    reinjection: ReinjectionConfig
    autoencoder: str | None = None
    epochs: int = 50
    steps_per_epoch: int = 100
    seed: int = 0
    jit_compile: bool = False
    quality_samples: int = 10000
    mixing_chains: int = 1000
    feature_layer: str | None = None
    chains_file: str | None = None

    @classmethod
    def from_preset(cls, data: DataConfig, **overrides) -> "EvaluateConfig":
        """The curve of `data`'s dataset: its preset's schedule (epochs, steps_per_epoch), then the overrides."""
        schedule = presets.experiment_presets(data.dataset).evaluation
        return cls(data=data, **{"epochs": schedule.epochs, "steps_per_epoch": schedule.steps_per_epoch,
                                 **_given(overrides)})

    def __post_init__(self):
        _student_schedule(self.seed, self.epochs, self.steps_per_epoch)
        _zero_or_at_least_two("quality_samples", self.quality_samples, "no quality metrics")
        at_least_one(mixing_chains=self.mixing_chains)


@dataclasses.dataclass(frozen=True)
class QualityConfig:
    """The quality of the first `num_samples` samples (0: all) of an .npz (array `x`, any shape per sample) against
    the dataset's validation split, in C's feature space: φ is C's penultimate representation or its layer named
    `feature_layer`. `output` is the JSON report; the sample grid (.png) is written beside it. `seed` draws the
    N(0, I) noise whose FD the samples' is compared with."""

    samples: str
    classifier: str
    data: DataConfig
    output: str
    num_samples: int = diagnostics.QUALITY_SAMPLES
    feature_layer: str | None = None
    seed: int = 0

    def __post_init__(self):
        check_seed(self.seed)
        if not is_integer(self.num_samples) or self.num_samples < 0:
            raise UserInputError(f"`num_samples` must be an integer >= 0 (0: every sample), got {self.num_samples!r}")


@dataclasses.dataclass(frozen=True)
class StationarityConfig:
    """Long chains from N(0, I) and from the training data's moments, measured as they go (diagnostics.start_dependence).

    The chains take λ and the collected state of `reinjection`, `chains` of
    them per start, measured at the reinjection steps `steps`. `output` is
    the CSV; the figure (.png) and the JSON record are written beside it.
    `chains_file`, the search result λ and the collected state were read
    from (if any), is an input no output may land on. The states are measured
    in C's penultimate representation, or its layer `feature_layer`.
    """

    data: DataConfig
    autoencoder: str
    classifier: str
    output: str
    reinjection: ReinjectionConfig
    steps: tuple[int, ...] = diagnostics.STATIONARITY_STEPS
    chains: int = diagnostics.STATIONARITY_CHAINS
    seed: int = 0
    chains_file: str | None = None
    feature_layer: str | None = None

    def __post_init__(self):
        check_seed(self.seed)
        if not self.steps or not all(is_integer(t) and t >= 1 for t in self.steps):
            raise UserInputError(f"the reinjection steps must be integers >= 1, got {list(self.steps)}")
        if not is_integer(self.chains) or self.chains < 4:
            raise UserInputError(f"`chains` must be an integer >= 4 (two halves per start), got {self.chains!r}")


@dataclasses.dataclass(frozen=True)
class LambdaSearchConfig:
    """Choose λ, the collected state and the burn-in of one autoencoder on the validation split.

    Every setting's samples get their FD to the validation images
    (`fd_samples` of them; 0: none); a burn-in "mixing" is read from
    `mixing_chains` chains' FD against t; `criterion` picks the best setting: the
    student's mean validation accuracy ("student") or the lowest FD ("fd",
    which trains no student). A student search with FD samples then widens
    each collected state's λ line where its lowest FD sits on an edge, up to
    `fd_widenings` rounds, measured by FD alone (the FD choice it records).
    FD is measured in C's penultimate representation, or its layer `feature_layer`.
    """

    data: DataConfig
    autoencoder: str
    classifier: str
    output: str
    reinjection: ReinjectionConfig
    lambdas: tuple[float, ...]
    collects: tuple[str, ...]
    burn_ins: tuple[int | str, ...]
    epochs: int
    steps_per_epoch: int
    seed: int = 0
    widenings: int = 0
    criterion: str = lambda_search.STUDENT
    fd_samples: int = 5000
    mixing_chains: int = 1000
    fd_widenings: int = 0
    feature_layer: str | None = None

    @classmethod
    def from_preset(cls, data: DataConfig, **overrides) -> "LambdaSearchConfig":
        """The search of `data`'s dataset: its preset's grid and student budget, then the overrides. Unless given,
        `widenings` are the preset's rounds for the criterion, and `fd_widenings` its FD rounds where they apply (a
        student search that measures FD), else 0."""
        grid = presets.experiment_presets(data.dataset).lambda_search
        given = _given(overrides)
        criterion = given.get("criterion", lambda_search.STUDENT)
        measures_fd = given.get("fd_samples", cls.fd_samples) != 0
        defaults = {"lambdas": grid.lambdas, "collects": grid.collects, "burn_ins": grid.burn_ins,
                    "epochs": grid.epochs, "steps_per_epoch": grid.steps_per_epoch,
                    "widenings": grid.widenings_for(criterion),
                    "fd_widenings": grid.fd_widenings if lambda_search.fd_rounds_apply(criterion, measures_fd) else 0}
        return cls(data=data, **{**defaults, **given})

    def __post_init__(self):
        _student_schedule(self.seed, self.epochs, self.steps_per_epoch)
        _zero_or_at_least_two("fd_samples", self.fd_samples, "no FD")
        lambda_search.check_settings(self.lambdas, self.collects, self.burn_ins, self.widenings, self.fd_widenings,
                                     self.criterion, measures_fd=self.fd_samples != 0)
        at_least_one(mixing_chains=self.mixing_chains)


@dataclasses.dataclass(frozen=True)
class NoiseChoiceConfig:
    """Choose a DAE's noise levels: of its candidates, the one whose λ search scored best on validation.

    Attributes:
      searches: λ search results (run_lambda_search), one per candidate DAE, each
        naming its autoencoder; the first is preferred on a tie.
      model_output: where the chosen autoencoder (and its training record) is copied.
      search_output: where the chosen search result is copied, with the choice added.
    """

    searches: tuple[str, ...]
    model_output: str
    search_output: str

    def __post_init__(self):
        if not self.searches:
            raise UserInputError("choosing a DAE's noise needs at least one candidate search result")


@dataclasses.dataclass(frozen=True)
class ReportConfig:
    """Merge learning curves and samples into the table and figures of one dataset.

    Attributes:
      classifier_record: the ground-truth classifier's training record (train.py); without it, the curves' records
        give its test accuracy.
    """

    dataset: str
    curves: tuple[str, ...]
    samples: tuple[str, ...]
    output_dir: str
    classifier_record: str | None = None
    reproduce_command: str | None = None
    lambda_searches: tuple[str, ...] = ()

    def __post_init__(self):
        if not self.curves:
            raise UserInputError("the report needs at least one learning-curve CSV")


@dataclasses.dataclass(frozen=True)
class SeedSpreadConfig:
    """Summarise one dataset's protocol run with several seeds as mean ± spread per source.

    Attributes:
      runs: report folders (report.py's output_dir), one per seed, each with metrics.json and config.json.
      output_dir: where table.md, metrics.json, config.json and seeds.png go.
      reproduce_command: the command that reproduces every run, quoted in the table.
    """

    runs: tuple[str, ...]
    output_dir: str
    reproduce_command: str | None = None

    def __post_init__(self):
        if len(self.runs) < 2:
            raise UserInputError(f"a seed spread needs the reports of two seeds or more, got {len(self.runs)}")


LEARNERS = ("mlp", "classifier")  # the continual learner: the protocol's MLP, or the ground-truth classifier preset's


@dataclasses.dataclass(frozen=True)
class ClassIncrementalConfig:
    """Class-incremental learning by replay (aesampling.continual.protocol): the dataset's classes in `tasks` tasks
    in label order, each of `methods` run over each of `seeds`; `lam`, `lambdas`, `collects` and `start_share` (see
    below) set the replay chains' λ and collected state, and the share of replay drawn where they start;
    `autoencoder`, a .keras file whose architecture (not its weights) the replay autoencoder takes (None: the
    dataset's `autoencoder_preset`, an AE preset without noise: shallow_ae or deep_ae); `recipe` sets the replay
    chains (`recipes.ReplayChains`: for "recommended", short noisy chains from the moments of each class seen so far
    in turn, along its `start_directions` principal directions); `learner` is the
    protocol's MLP 400-400 ("mlp") or the dataset's ground-truth classifier preset's hidden layers ("classifier"),
    each with a logits head."""

    data: DataConfig
    output_dir: str
    # Every method but balanced_reinjection, which costs about four times reinjection on a CPU, and
    # vae_distill_moments, a control for reinjection's start draws: asked for by name.
    methods: tuple[str, ...] = ("none", "joint", "noise", "moments_noise", "buffer", "reinjection", "reinjection_buffer",
                                "vae", "vae_distill")
    seeds: tuple[int, ...] = (0,)
    tasks: int = 5
    iterations: int = 2000
    batch_size: int = 128
    replay_batch: int = 128
    buffer_per_class: int = 10
    # λ of the replay chains: `lam` fixes it; else `lambdas` given, FD chooses it after each task among them
    # (widened beyond an edge where the lowest FD sits on it); neither, the recipe's (`recipes.ReplayChains`: FD
    # among aesampling.continual.REPLAY_FD_LAMBDAS for paper, 0.03 for recommended). `collects`: the collected
    # states (None: the recipe's), the first of them where λ is fixed. `start_share`: the share of the generated replay
    # of reinjection, reinjection_buffer and vae_distill_moments drawn at the moments and principal directions of each
    # class seen, where recommended chains start (None: the recipe's, 0 for paper and 0.5 for recommended).
    lam: float | None = None
    lambdas: tuple[float, ...] | None = None
    collects: tuple[str, ...] | None = None
    start_share: float | None = None
    autoencoder: str | None = None
    autoencoder_preset: str = "shallow_ae"
    recipe: str = recipes.PAPER
    # Principal directions of each class the recommended recipe's replay chains start along (StartMoments.by_class).
    start_directions: int = REPLAY_START_DIRECTIONS
    learner: str = "mlp"
    reproduce_command: str | None = None

    @classmethod
    def from_preset(cls, data: DataConfig, **overrides) -> "ClassIncrementalConfig":
        """The protocol on `data`'s dataset: its preset's iterations per task, then the overrides."""
        return cls(data=data, **{"iterations": presets.experiment_presets(data.dataset).continual.iterations,
                                 **_given(overrides)})

    def __post_init__(self):
        from aesampling.continual.protocol import METHODS

        unknown = [m for m in self.methods if m not in METHODS]
        if "reinjection_moments" in unknown:
            raise UserInputError("reinjection_moments is now `methods` reinjection with `start_share` 0.5 (the "
                                 "recommended recipe's): name reinjection instead")
        if unknown or not self.methods or len(set(self.methods)) != len(self.methods):
            raise UserInputError(f"`methods` must be distinct names among {', '.join(METHODS)}; got "
                                 f"{', '.join(self.methods) or 'none'}")
        if not self.seeds or len(set(self.seeds)) != len(self.seeds):
            raise UserInputError(f"`seeds` must be one or more distinct seeds, got {list(self.seeds)}")
        for seed in self.seeds:
            check_seed(seed)
        at_least_one(iterations=self.iterations, batch_size=self.batch_size, replay_batch=self.replay_batch,
                     buffer_per_class=self.buffer_per_class)
        if self.lam is not None:
            _non_negative("λ", [self.lam])
        if self.lambdas is not None and not self.lambdas:
            raise UserInputError("`lambdas` must hold one λ or more")
        _non_negative("λ in `lambdas`", self.lambdas or ())
        if self.collects is not None and (not self.collects or set(self.collects) - set(COLLECT_MODES)):
            raise UserInputError(f"`collects` must name some of {', '.join(COLLECT_MODES)}, got {list(self.collects)}")
        recipes.recipe(self.recipe)
        if self.start_share is not None and not 0 <= self.start_share < 1:
            raise UserInputError(f"`start_share` must be at least 0 and below 1 (1 would replay no generator "
                                 f"sample), got {self.start_share!r}")
        if not is_integer(self.start_directions) or self.start_directions < 0:
            raise UserInputError(f"`start_directions` must be an integer >= 0, got {self.start_directions!r}")
        if self.learner not in LEARNERS:
            raise UserInputError(f"`learner` must be one of {', '.join(LEARNERS)}, got {self.learner!r}")
        if self.autoencoder_preset not in ("shallow_ae", "deep_ae"):
            raise UserInputError(f"`autoencoder_preset` must be shallow_ae or deep_ae, got {self.autoencoder_preset!r}")
