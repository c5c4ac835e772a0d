"""Flags, the error wrapper and the log format shared by the scripts (flags live only in scripts/)."""

from __future__ import annotations

import logging
import os
import re
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of user output
import _quiet  # noqa: E402

_quiet.filter_backend_chatter()  # before the backend is imported: its C++ logs start at import

from absl import app, flags  # noqa: E402
from absl import logging as absl_logging  # noqa: E402

from aesampling.experiments import recipes  # noqa: E402
from aesampling.io import interruption  # noqa: E402
from aesampling.models import presets  # noqa: E402
from aesampling.sampling.devices import STRATEGIES  # noqa: E402
from aesampling.errors import UserInputError  # noqa: E402
from aesampling.sampling.reinjection import (BALANCE_POOL, COLLECT_MODES, REFILL_MODES, START_MODES, Balance,  # noqa: E402
                                             ReinjectionConfig)
from aesampling.selection.lambda_search import read_best  # noqa: E402
from aesampling.experiments import DataConfig, records  # noqa: E402

FLAGS = flags.FLAGS
TRACEBACK_ENV = "AESAMPLING_TRACEBACK"


def define_data_flags() -> None:
    """--dataset (required: it sets the data, the presets and the feature size) and where its files come from."""
    flags.DEFINE_string("dataset", None, "Dataset: digits, shifted_digits, mnist, fashion_mnist, cifar10 or "
                        "cifar100.", required=True)
    define_data_source_flags()


def define_data_source_flags() -> None:
    """Where the files of --dataset come from, and its validation split."""
    flags.DEFINE_string("data_dir", None, "Local folder with the dataset's standard files (IDX .gz files "
                        "for MNIST-like data, python batches for CIFAR). Default: tensorflow-datasets.")
    flags.DEFINE_string("tfds_data_dir", None, "tensorflow-datasets data folder (default: its own).")
    flags.DEFINE_string("cache_dir", None, "ResNet50 feature cache folder (CIFAR).")
    flags.DEFINE_string("resnet_weights", "imagenet", "ResNet50 weights: imagenet, none, or a .h5 file path.")
    flags.DEFINE_integer("image_size", 224, "Side CIFAR images are resized to before ResNet50.")
    flags.DEFINE_integer("extraction_batch_size", 128, "Images per ResNet50 batch.")
    flags.DEFINE_float("validation_fraction", None, "Share of the training data held out to choose λ "
                       "(default: the dataset preset's, 0.1). Use the same value in every stage.")


def integers(flag: str, values) -> list[int]:
    """The values of a list flag as integers; a one-line error naming --`flag` otherwise."""
    try:
        return [int(v) for v in values]
    except ValueError as e:
        raise UserInputError(f"--{flag} must be integers, got {','.join(values)}") from e


def floats(flag: str, values) -> tuple[float, ...]:
    """The values of a list flag as numbers; a one-line error naming --`flag` otherwise."""
    try:
        return tuple(float(v) for v in values)
    except ValueError as e:
        raise UserInputError(f"--{flag} must be numbers, got {','.join(values)}") from e


def define_feature_layer_flag() -> None:
    """--feature_layer: the classifier's layer whose output is the space samples are measured in."""
    flags.DEFINE_string("feature_layer", None, "The classifier's layer (by name) whose output is the feature space "
                        "of FD, precision, recall and coverage (default: its penultimate representation, the input "
                        "of its output layer, found through nested models).")


def define_strategy_flag() -> None:
    flags.DEFINE_enum("strategy", "none", list(STRATEGIES), "none: one device; mirrored: every visible device "
                      "(tf.distribute.MirroredStrategy).")


def data_config() -> DataConfig:
    return DataConfig(
        dataset=FLAGS.dataset, data_dir=FLAGS.data_dir, tfds_data_dir=FLAGS.tfds_data_dir,
        cache_dir=FLAGS.cache_dir, resnet_weights=FLAGS.resnet_weights, image_size=FLAGS.image_size,
        extraction_batch_size=FLAGS.extraction_batch_size, validation_fraction=FLAGS.validation_fraction,
    )


def define_chain_shape_flags() -> None:
    """B, R and b of the reinjection chains; unset ones come from the dataset's presets."""
    flags.DEFINE_integer("chains", None, "B, chains run in parallel (default: preset, 50).")
    flags.DEFINE_integer("reinjections", None, "R, reinjections per restart (default: preset, 10).")
    flags.DEFINE_integer("burn_in", None, "b, states per restart not collected (default: preset, 2).")


def define_start_flag() -> None:
    """Where the chains start: N(0, I) or the training data's moments."""
    flags.DEFINE_enum("start", None, list(START_MODES), "Where each restart's chains start: normal, x_0 ~ N(0, I) "
                      "(the paper), or moments, x_0 = μ + σ ⊙ z at the training data's per-feature mean and std, "
                      "2·n numbers that a search result then stores (default: --chains_file's, else normal).")


def define_recipe_flag(default: str = recipes.RECOMMENDED, help_text: str | None = None) -> None:
    """The named recipe (aesampling.experiments.recipes): where the chains start and how λ is chosen."""
    flags.DEFINE_enum("recipe", default, list(recipes.RECIPES), help_text or "; ".join(
        f"{r.name}: {r.summary}" for r in recipes.RECIPES.values()) + ".")


def define_chain_flags() -> None:
    """All reinjection chain settings: B, R, b, λ, the collected state, the start, class balance, XLA."""
    define_chain_shape_flags()
    define_start_flag()
    define_lambda_flags()
    define_balance_flags()
    flags.DEFINE_boolean("jit_compile", False, "Compile the chains with XLA.")


def define_lambda_flags() -> None:
    """λ and the collected state, given or read from a λ search's result."""
    flags.DEFINE_float("lam", None, "λ, variance of the reinjected noise (default: --chains_file, else the preset's).")
    flags.DEFINE_string("chains_file", None, "A search result (search_lambda.py): its best λ, collect, R and "
                        "burn-in are the defaults.")
    flags.DEFINE_enum("chains_choice", "best", ["best", "student", "fd"], "Which choice of --chains_file to take: "
                      "its criterion's (best), the student's or the lowest FD's.")
    flags.DEFINE_enum("collect", None, list(COLLECT_MODES), "Collect noisy states x_t or clean r(x_{t-1}).")


def define_balance_flags() -> None:
    """Class-balanced collection and how its stuck chains are refilled."""
    flags.DEFINE_boolean("balance_classes", None, "Collect equal per-class quotas of the ground-truth "
                         "classifier's hard labels, restarting chains stuck in a full class (needs --classifier).")
    flags.DEFINE_enum("refill", None, list(REFILL_MODES), "With --balance_classes, how a chain stuck in a full class "
                      "goes on: start, restarted at the start (the paper's heuristic, default); clone, a copy of a "
                      "chain that offers into a class with room while there are such chains, else restarted; or "
                      "class_moments, cloned likewise, else restarted at the training data's per-class mean and "
                      "std, spread over the classes with room (needs the training data).")
    flags.DEFINE_integer("balance_patience", None, "With --balance_classes, P: a restart runs at most P·R steps to "
                         "fill its class quotas (default 2); a larger P fills rare classes' slots at up to P/2 "
                         "times the cost.")
    flags.DEFINE_integer("balance_pool", None, "With --balance_classes, G: a restart runs G·B chains, each step "
                         "costing G times a plain one, so that rare classes fill within a burn-in or two "
                         f"(default {BALANCE_POOL}).")


CHAIN_FLAGS = {"lam": "lam", "num_chains": "chains", "reinjections": "reinjections", "burn_in": "burn_in",
               "collect": "collect", "start": "start"}  # ReinjectionConfig field -> flag
# Balance field -> flag
BALANCE_FLAGS = {"refill": "refill", "patience": "balance_patience", "pool": "balance_pool"}
# Library errors name a config's fields in backticks (`num_chains`); a script's user reads them as its flags.
FIELD_FLAGS = {**CHAIN_FLAGS, **BALANCE_FLAGS, "balance": "balance_classes"}


MAKE_VARIABLES = {"data_dir": "DATA_DIR", "resnet_weights": "RESNET_WEIGHTS"}  # flags the Makefile sets so


def as_flags(message: str) -> str:
    """`message` with every backticked field that is one of this script's flags written as that flag (with the
    Makefile's variable where it has one)."""
    def flag(match: re.Match) -> str:
        name = FIELD_FLAGS.get(match[1], match[1])
        if name not in FLAGS:
            return match[0]
        return f"--{name}" + (f" (make: {MAKE_VARIABLES[name]}=...)" if name in MAKE_VARIABLES else "")

    return re.sub(r"`(\w+)`", flag, message)


def _balance_from_flags() -> Balance | None:
    """The flags' class balance: a Balance under --balance_classes; its own flags need that flag."""
    if "balance_classes" not in FLAGS:
        return None
    given = {field: FLAGS[flag].value for field, flag in BALANCE_FLAGS.items() if FLAGS[flag].value is not None}
    if not FLAGS.balance_classes:
        if given:
            raise UserInputError(f"{', '.join('--' + BALANCE_FLAGS[f] for f in given)} "
                                 f"appl{'y' if len(given) > 1 else 'ies'} to class-balanced collection only: "
                                 "add --balance_classes")
        return None
    return Balance(**given)


def chain_config(dataset: str | None, *, lam: float | None = None) -> ReinjectionConfig:
    """The run's ReinjectionConfig: the chain flags, then --chains_file, then the dataset's presets, whose λ `lam`
    replaces (presets.chain_settings)."""
    given = {field: FLAGS[flag].value for field, flag in CHAIN_FLAGS.items() if flag in FLAGS}
    given["balance"] = _balance_from_flags()
    chosen = None
    if "chains_file" in FLAGS and FLAGS.chains_file:
        chosen = read_best(FLAGS.chains_file, FLAGS.chains_choice)
    return presets.chain_settings(dataset, chosen=chosen, default_lam=lam, **given)


flags.DEFINE_boolean("verbose", False, "Log with absl's prefixes (level, time, process, file:line) and show the "
                     f"Python traceback of an unexpected error (the traceback also: {TRACEBACK_ENV}=1).")


class _PlainLines(logging.Formatter):
    """A log record as its message alone; a warning or error says so first (`warning: ...`)."""

    def format(self, record: logging.LogRecord) -> str:
        level = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return level + record.getMessage()


class _OncePerRun(logging.Filter):
    """Lets each distinct warning (or error) message through once; information lines pass unchanged."""

    def __init__(self):
        super().__init__()
        self.seen = set()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        key = (record.levelno, record.getMessage())
        if key in self.seen:
            return False
        self.seen.add(key)
        return True


def configure_logging(verbose: bool) -> None:
    """The run's log lines: plain messages, or absl's prefixed lines with --verbose; each warning once either way."""
    handler = absl_logging.get_absl_handler()
    if not verbose:
        handler.setFormatter(_PlainLines())
    if not any(isinstance(f, _OncePerRun) for f in handler.filters):
        handler.addFilter(_OncePerRun())


STOPS = (signal.SIGTERM, signal.SIGINT)  # a scheduler's stop and Ctrl-C end a run alike
_main_returned = False  # set once the run's work is done and its outputs written


def _terminated(signum, frame) -> None:
    """SIGTERM and SIGINT unwind like an exception, so the outputs' temporary files are removed on the way out; once
    the outputs are written, the stop still ends the run non-zero, saying so."""
    if _main_returned:
        raise interruption.Interrupted(signum, after_outputs=True)
    interruption.request(signum)


def _report_unraisable(unraisable) -> None:
    """An `Interrupted` dropped inside a finalizer is raised again at the next chunk or epoch: no traceback."""
    if not isinstance(unraisable.exc_value, interruption.Interrupted):
        sys.__unraisablehook__(unraisable)


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def run(main) -> None:
    """app.run(main), turning any failure into a one-line `error: ...` and exit status 1.

    A user mistake (UserInputError) and the environment (OSError: disk full,
    permissions) say what is wrong; anything else names its type, and
    --verbose (or AESAMPLING_TRACEBACK=1) shows its traceback.
    """

    def guarded(argv):
        if len(argv) > 1:
            print(f"error: unexpected arguments: {' '.join(argv[1:])} (flags are written --name=value)",
                  file=sys.stderr)
            sys.exit(1)
        for stop in STOPS:
            signal.signal(stop, _terminated)
        sys.unraisablehook = _report_unraisable
        configure_logging(FLAGS.verbose)
        records.code_version()  # the commit that runs now goes into the record, however long the run
        try:
            try:
                main()
            except Exception as e:
                if interruption.requested() is not None:  # the stop broke a library's state as it unwound
                    raise interruption.Interrupted(interruption.requested()) from e
                raise
            global _main_returned
            _main_returned = True
            if interruption.requested() is not None:  # a stop whose exception a finalizer dropped at the very end
                raise interruption.Interrupted(interruption.requested(), after_outputs=True)
        except UserInputError as e:
            print(f"error: {as_flags(str(e))}", file=sys.stderr)
            sys.exit(1)
        except OSError as e:  # disk full, file too large, permissions: the environment, not a bug
            where = f" ({e.filename})" if e.filename else ""
            print(f"error: cannot complete the output: {e.strerror or e}{where}", file=sys.stderr)
            sys.exit(1)
        except Exception as e:
            if FLAGS.verbose or os.environ.get(TRACEBACK_ENV, "") not in ("", "0"):
                raise
            print(f"error: {type(e).__name__}: {_first_line(e)} (--verbose shows the traceback)", file=sys.stderr)
            sys.exit(1)

    try:
        app.run(guarded, flags_parser=_parse_flags)
    finally:
        # The run's status is decided. In the interpreter's teardown that follows (seconds with TensorFlow), Python
        # puts back the default action of a signal that has a Python handler, and a stop would kill the process
        # without a word (exit 143): from here on, stops are ignored instead.
        for stop in STOPS:
            signal.signal(stop, signal.SIG_IGN)


def _parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing, with a bad or unknown flag reported as one `error: ...` line."""
    try:
        return FLAGS(argv)
    except flags.Error as e:
        problems = "; ".join(line.strip() for line in str(e).splitlines() if line.strip())
        print(f"error: {problems} (--helpfull lists the flags)", file=sys.stderr)
        sys.exit(1)
