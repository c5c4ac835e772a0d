"""aesampling: labelled synthetic data from any trained autoencoder.

Implements the reinjection sampler of Solinas et al. (2020), "Generalization
of iterative sampling in autoencoders": B chains x_{t+1} = r(x_t) + sqrt(λ)·ε_t
started from N(0, I) (or the data's moments), restarted every R steps, with a
burn-in of b steps dropped; each collected state x is labelled by a ground-truth
classifier C as y = C(x) (Algorithm 2), and a fresh classifier trained on the
pairs (x, y) alone is compared with one trained on the real data (Section IV).

The public API, for use from Python or a notebook:

    Sampling (Algorithm 1)        ReinjectionConfig, ReinjectionSampler, StartMoments,
                                  Balance, BalancedReinjectionSampler, ClassMoments, make_sampler
    Labels (Algorithm 2)          Labeler, LabelledBatches (a keras.utils.PyDataset of (x, C(x)) for fit)
    Recipes                       RECIPES, recipe: the paper's (N(0, I) start, every state kept) and the
                                  recommended one (the data's moments, equal class quotas), each a start,
                                  a λ criterion and a collection; recipe(name).chains(lam=...) is its
                                  ReinjectionConfig
    Choosing λ                    choose_lambda_by_fd (FD on held-out data, collapsed settings avoided),
                                  search_lambda (validation split: student or FD criterion),
                                  estimate_lambda (Eq. 5, from r alone)
    Sample quality                measure_samples (FD, precision, recall, coverage, class histogram
                                  and the collapse verdict of any samples), FeatureSpace, Reference,
                                  sample_quality, frechet_distance, precision_recall_density_coverage,
                                  class_total_variation, assess_collapse
    Data and models               load_dataset, Dataset, DATASETS, experiment_presets,
                                  load_model, save_model
    The workflow's stages         experiments (run_train, run_lambda_search, run_sample, ...)
    Errors                        UserInputError, DataUnavailableError

Models of any input shape work as they are: dense or convolutional
autoencoders and classifiers, nested models included; samples come out in
the autoencoder's input shape. docs/notebook.md walks through it.

Subpackages, one job each: `sampling` (chains, class-balanced collection,
labels), `selection` (λ), `quality` (sample quality and mixing), `data`
(datasets and features), `models` (builders, presets, fitting), `evaluation`
(train-on-synthetic curves), `experiments` (the stages behind the scripts),
`reporting` (tables and figures), `io` (files and resumption); `backend` holds
everything that differs between Keras backends.

The Keras backend is Keras's own choice (KERAS_BACKEND, else ~/.keras/keras.json,
else TensorFlow). Where KERAS_BACKEND is unset and the backend Keras would
take is TensorFlow but only JAX is installed (`pip install aesampling[jax]`),
JAX is used.
"""

import importlib.util as _importlib_util
import json as _json
import os as _os
import sys as _sys


def _choose_backend() -> None:
    """JAX when nothing but Keras's default or ~/.keras/keras.json names the backend and the named one is not
    installed while JAX is (Keras would otherwise fail on importing TensorFlow)."""
    if "KERAS_BACKEND" in _os.environ or "keras" in _sys.modules:
        return
    keras_home = _os.environ.get("KERAS_HOME", _os.path.join(_os.path.expanduser("~"), ".keras"))
    configured = "tensorflow"
    try:
        with open(_os.path.join(keras_home, "keras.json")) as file:
            configured = _json.load(file).get("backend", configured)
    except (OSError, ValueError, AttributeError):
        pass
    if configured in ("tensorflow", "jax") and _importlib_util.find_spec(configured) is None \
            and _importlib_util.find_spec("jax") is not None:
        _os.environ["KERAS_BACKEND"] = "jax"


_choose_backend()

from aesampling import experiments  # noqa: E402
from aesampling.data.datasets import DATASETS, Dataset, load_dataset  # noqa: E402
from aesampling.errors import DataUnavailableError, UserInputError  # noqa: E402
from aesampling.io.storage import load_model, save_model  # noqa: E402
from aesampling.models.presets import experiment_presets  # noqa: E402
from aesampling.quality.collapse import assess as assess_collapse  # noqa: E402
from aesampling.experiments.recipes import RECIPES, recipe  # noqa: E402
from aesampling.quality.diagnostics import FeatureSpace, Reference, measure_samples  # noqa: E402
from aesampling.quality.measures import (class_total_variation, frechet_distance,  # noqa: E402
                                         precision_recall_density_coverage, sample_quality)
from aesampling.sampling.class_balance import BalancedReinjectionSampler, ClassMoments, make_sampler  # noqa: E402
from aesampling.sampling.reinjection import Balance, ReinjectionConfig, ReinjectionSampler, StartMoments  # noqa: E402
from aesampling.sampling.labelled_batches import LabelledBatches  # noqa: E402
from aesampling.sampling.teacher import Labeler  # noqa: E402
from aesampling.selection.fd_choice import choose_lambda_by_fd  # noqa: E402
from aesampling.selection.lambda_estimate import estimate_lambda  # noqa: E402
from aesampling.selection.lambda_search import search as search_lambda  # noqa: E402

__version__ = "0.1.0"

__all__ = [
    "Balance", "BalancedReinjectionSampler", "ClassMoments", "DATASETS", "DataUnavailableError", "Dataset", "FeatureSpace",
    "LabelledBatches", "Labeler", "RECIPES", "Reference", "ReinjectionConfig", "ReinjectionSampler", "StartMoments", "UserInputError",
    "assess_collapse", "choose_lambda_by_fd", "class_total_variation", "estimate_lambda", "experiment_presets", "experiments", "frechet_distance",
    "load_dataset", "load_model", "make_sampler", "measure_samples", "precision_recall_density_coverage", "recipe",
    "sample_quality",
    "save_model", "search_lambda",
]
