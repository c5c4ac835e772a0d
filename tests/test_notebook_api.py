"""The notebook API: docs/notebook.md runs as written (on digits), LabelledBatches feeds model.fit with new,
reproducible batches, and measure_samples tells healthy samples from collapsed ones."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

import aesampling
from aesampling.errors import UserInputError
from support import REPO


def test_the_notebook_page_runs_on_digits():
    page = (REPO / "docs" / "notebook.md").read_text()
    code = re.search(r"```python\n(.*?)```", page, re.DOTALL).group(1)
    fashion = 'DATASET, DATA_DIR, EPOCHS = "fashion_mnist", "/usr/share/datasets/fashion-mnist", 3'
    held_out = "images[:-5000], labels[:-5000], images[-5000:], labels[-5000:]"
    assert fashion in code and held_out in code
    code = code.replace(fashion, 'DATASET, DATA_DIR, EPOCHS = "digits", None, 1')
    code = code.replace(held_out, "images[:-300], labels[:-300], images[-300:], labels[-300:]")
    namespace = {}
    exec(compile(code, "docs/notebook.md", "exec"), namespace)
    assert namespace["samples"].shape == (10_000, 8, 8, 1)
    assert set(namespace["quality"]) >= {"fd", "recall", "coverage", "class_tv", "collapse"}
    assert 0 <= namespace["synthetic"] <= 1 and namespace["config"].lam in {row["lam"] for row in namespace["rows"]}


def _linear(dim, scale):
    inputs = keras.Input((dim,))
    layer = keras.layers.Dense(dim)
    model = keras.Model(inputs, layer(inputs))
    layer.kernel.assign(np.eye(dim, dtype=np.float32) * scale)
    layer.bias.assign(np.zeros(dim, np.float32))
    return model


def _classifier(dim):
    keras.utils.set_random_seed(0)
    inputs = keras.Input((dim,))
    hidden = keras.layers.Dense(4, activation="tanh")(inputs)
    return keras.Model(inputs, keras.layers.Dense(3, activation="sigmoid")(hidden))


def test_labelled_batches_are_new_every_epoch_and_the_same_for_the_same_seed():
    config = aesampling.ReinjectionConfig(lam=0.2, num_chains=4, reinjections=3, burn_in=1)
    classifier = _classifier(5)

    def batches(**kwargs):
        return aesampling.LabelledBatches(aesampling.ReinjectionSampler(_linear(5, 0.5), config, seed=7), classifier,
                                          batches_per_epoch=3, restarts_per_batch=2, **kwargs)

    a, b = batches(), batches()
    x, y = a[2]
    assert len(a) == 3 and x.shape == (16, 5) and y.shape == (16, 3)
    np.testing.assert_array_equal(x, a.sampler.restarts(4, 2))  # batch 2 of epoch 0: restarts 4 and 5
    np.testing.assert_allclose(y, aesampling.Labeler(classifier)(x)[0])
    np.testing.assert_array_equal(b[2][0], x)  # asked for in another order, the same batch
    a.on_epoch_end()
    np.testing.assert_array_equal(a[0][0], a.sampler.restarts(6, 2))  # epoch 1 goes on with new restarts
    hard = batches(hard_labels=True)[0][1]
    assert hard.dtype.kind == "i" and hard.shape == (16,)
    with pytest.raises(IndexError):
        a[3]
    with pytest.raises(UserInputError, match="`batches_per_epoch` must be an integer >= 1"):
        aesampling.LabelledBatches(a.sampler, classifier, batches_per_epoch=0)
    student = keras.models.clone_model(classifier)
    student.compile("adam", "binary_crossentropy")
    history = student.fit(batches(), epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2 and np.all(np.isfinite(history.history["loss"]))


def test_measure_samples_flags_collapsed_samples_only(digits):
    from aesampling.models import fitting
    from aesampling.models.presets import ClassifierPreset

    classifier = fitting.build_classifier_from_preset(ClassifierPreset((16,), "relu", 1, 64), 64, 10)
    fitting.fit_classifier(classifier, digits, epochs=40, batch_size=64, verbose=0)
    x_real, y_real = digits.x_test[:200], digits.y_test[:200]
    healthy = aesampling.measure_samples(digits.x_train[:300], classifier, x_real, y_real)
    assert not healthy["collapsed"] and healthy["collapse"]["warning"] is None
    one_kind = digits.x_train[digits.y_train == 3][:100]
    collapsed = aesampling.measure_samples(one_kind.reshape(-1, 8, 8, 1), classifier, x_real, y_real)
    assert collapsed["collapsed"] and collapsed["class_tv"] > 0.6
    assert collapsed["collapse"]["warning"].startswith("the samples collapsed (class TV")
