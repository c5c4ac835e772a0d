"""Flags and the error wrapper shared by the scripts (flags live only in scripts/)."""

from __future__ import annotations

import dataclasses
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # keep TensorFlow's start-up chatter out of user output
import _quiet  # noqa: E402

_quiet.filter_backend_chatter()  # before the backend is imported: its C++ logs start at import

from absl import app, flags  # noqa: E402

from aesampling import presets  # noqa: E402
from aesampling.distribution import STRATEGIES  # noqa: E402
from aesampling.errors import UserInputError  # noqa: E402
from aesampling.sampling import COLLECT_MODES, ReinjectionConfig  # noqa: E402
from aesampling.selection import read_selection  # noqa: E402
from aesampling.workflow import DataConfig  # noqa: E402

FLAGS = flags.FLAGS


def define_data_flags() -> None:
    """--dataset and where its files come from."""
    flags.DEFINE_string("dataset", "digits", "Dataset: digits, mnist, fashion_mnist, cifar10 or cifar100.")
    flags.DEFINE_string("data_dir", None, "Local folder with the dataset's standard files (IDX .gz files "
                        "for MNIST-like data, python batches for CIFAR). Default: tensorflow-datasets.")
    flags.DEFINE_string("tfds_data_dir", None, "tensorflow-datasets data folder (default: its own).")
    flags.DEFINE_string("cache_dir", None, "ResNet50 feature cache folder (CIFAR).")
    flags.DEFINE_string("resnet_weights", "imagenet", "ResNet50 weights: imagenet, none, or a .h5 file path.")
    flags.DEFINE_integer("image_size", 224, "Side CIFAR images are resized to before ResNet50.")
    flags.DEFINE_integer("extraction_batch_size", 128, "Images per ResNet50 batch.")
    flags.DEFINE_float("validation_fraction", None, "Share of the training data held out to choose λ "
                       "(default: the dataset preset's, 0.1). Use the same value in every stage.")


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


def define_chain_flags() -> None:
    """All reinjection chain settings: B, R, b, λ, the collected state, XLA."""
    define_chain_shape_flags()
    flags.DEFINE_float("lam", None, "λ, variance of the reinjected noise (default: --chains_file, else the preset's).")
    flags.DEFINE_string("chains_file", None, "A search result (select_lambda.py): its best λ, collect, R and "
                        "burn-in are the defaults.")
    flags.DEFINE_enum("collect", None, list(COLLECT_MODES), "Collect noisy states x_t or clean r(x_{t-1}).")
    flags.DEFINE_boolean("jit_compile", False, "Compile the chains with XLA.")


def chain_shape(dataset: str | None, lam: float = 0.0) -> ReinjectionConfig:
    """ReinjectionConfig with B, R, b from the flags or the dataset's presets, and the given λ."""
    defaults = presets.experiment_presets(dataset).sampler if dataset else presets.SamplerSettings()
    return ReinjectionConfig(
        lam=lam,
        num_chains=defaults.num_chains if FLAGS.chains is None else FLAGS.chains,
        reinjections=defaults.reinjections if FLAGS.reinjections is None else FLAGS.reinjections,
        burn_in=defaults.burn_in if FLAGS.burn_in is None else FLAGS.burn_in,
        collect=defaults.collect,
    )


def chain_config(dataset: str | None, autoencoder_preset: str | None, lam_default: float | None = None) -> ReinjectionConfig:
    """ReinjectionConfig from the flags, falling back on a search result, then on the presets.

    Each of λ, collect, R and b comes from its flag when given, else from the
    --chains_file's best setting, else (λ) from `lam_default` or the
    autoencoder preset, else from the dataset's presets.
    """
    selected = read_selection(FLAGS.chains_file) if FLAGS.chains_file else {}
    lam = next((v for v in (FLAGS.lam, selected.get("lam"), lam_default) if v is not None), None)
    if lam is None:
        known = presets.experiment_presets(dataset).autoencoders if dataset else {}
        if autoencoder_preset not in known:
            raise UserInputError(
                f"give --lam or --chains_file: there is no autoencoder preset {autoencoder_preset!r} "
                f"for dataset {dataset!r} to take λ from"
            )
        lam = known[autoencoder_preset].sampling_lambda
    shape = chain_shape(dataset, lam)

    def pick(flag, field):
        return next(v for v in (flag, selected.get(field), getattr(shape, field)) if v is not None)

    return dataclasses.replace(
        shape, collect=pick(FLAGS.collect, "collect"), burn_in=pick(FLAGS.burn_in, "burn_in"),
        reinjections=pick(FLAGS.reinjections, "reinjections"),
    )


def run(main) -> None:
    """app.run(main), turning a user mistake into a one-line error and exit status 1."""

    def guarded(argv):
        if len(argv) > 1:
            raise app.UsageError(f"unexpected arguments: {' '.join(argv[1:])}")
        try:
            main()
        except UserInputError as e:
            print(f"error: {e}", file=sys.stderr)
            sys.exit(1)
        except OSError as e:  # disk full, file too large, permissions: the environment, not a bug
            where = f" ({e.filename})" if e.filename else ""
            print(f"error: cannot complete the output: {e.strerror or e}{where}", file=sys.stderr)
            sys.exit(1)

    app.run(guarded)
