"""The collapse verdict on samples' class histograms, on the committed results' cases, and the stages that give it."""

import logging

import numpy as np
import pytest

from aesampling.data import datasets
from aesampling.errors import UserInputError
from aesampling.quality import collapse

FASHION = datasets.class_names("fashion_mnist")
UNIFORM = np.full(10, 6600)  # Fashion-MNIST's 66,000 training and validation labels, 6,600 per class
CONV_AE = np.array([107, 0, 2, 0, 0, 498, 31, 0, 9362, 0])  # a user's conv AE at λ = 0.05: 94% bags


def test_a_conv_ae_piling_into_one_class_collapses_with_the_classes_named():
    verdict = collapse.assess(CONV_AE, UNIFORM, recall=0.0, coverage=0.001, class_names=FASHION,
                              what="the conv AE's samples")
    assert verdict.collapsed and verdict.class_tv == pytest.approx(0.8362, abs=1e-12)
    assert verdict.starved == (1, 2, 3, 4, 6, 7, 9) and verdict.dominant == 8
    assert verdict.warning == (
        "the conv AE's samples collapsed (class TV 0.836 > 0.6; recall 0.000 < 0.05; 7 of 10 classes below 0.1× "
        "their data share): 94% are Bag (data 10%); starved: Trouser, Pullover, Dress, Coat, Shirt, Sneaker, "
        "Ankle boot")
    assert verdict.histogram_text().splitlines() == [
        "class histogram of the conv AE's samples against the data's (10,000 samples, 66,000 data labels):",
        "  class          samples     data",
        "  0 T-shirt/top     1.1%    10.0%",
        "  1 Trouser         0.0%    10.0%  empty",
        "  2 Pullover        0.0%    10.0%  starved",
        "  3 Dress           0.0%    10.0%  empty",
        "  4 Coat            0.0%    10.0%  empty",
        "  5 Sandal          5.0%    10.0%",
        "  6 Shirt           0.3%    10.0%  starved",
        "  7 Sneaker         0.0%    10.0%  empty",
        "  8 Bag            93.6%    10.0%  most over",
        "  9 Ankle boot      0.0%    10.0%  empty"]
    record = verdict.record()
    assert record == {
        "collapsed": True, "warning": verdict.warning,
        "reasons": ["class TV 0.836 > 0.6", "recall 0.000 < 0.05", "7 of 10 classes below 0.1× their data share"],
        "class_tv": verdict.class_tv, "recall": 0.0, "coverage": 0.001, "dominant_class": 8,
        "starved_classes": [1, 2, 3, 4, 6, 7, 9], "samples": 10000, "data_labels": 66000,
        "class_histogram": [0.0107, 0.0, 0.0002, 0.0, 0.0, 0.0498, 0.0031, 0.0, 0.9362, 0.0],
        "data_histogram": [0.1] * 10, "class_names": list(FASHION),
        "thresholds": {"max_class_tv": 0.6, "starved_share": 0.1, "max_starved_fraction": 0.5, "min_recall": 0.05}}


def test_healthy_samples_pass_however_low_their_coverage():
    # Fashion-MNIST's deep DAE at λ = 1.11 (student 0.83 against 0.89): the largest class TV of a healthy source,
    # two classes starved, coverage 0.001.
    deep_dae = np.array([252, 54, 102, 38, 158, 5366, 581, 1536, 1378, 535])
    verdict = collapse.assess(deep_dae, UNIFORM, recall=0.997, coverage=0.001, class_names=FASHION)
    assert not verdict.collapsed and verdict.warning is None and verdict.reasons == ()
    assert verdict.class_tv == pytest.approx(0.528, abs=1e-12) and verdict.starved == (1, 3)
    assert verdict.record()["collapsed"] is False and verdict.record()["warning"] is None


def test_half_the_classes_starved_collapse_below_the_class_tv_threshold():
    # The class-balanced deep DAE whose student stops at 0.62: four classes hold 97% of its samples.
    balanced = np.array([59, 23, 13, 2173, 5, 2520, 87, 2509, 2459, 152])
    verdict = collapse.assess(balanced, UNIFORM, class_names=FASHION)
    assert verdict.class_tv == pytest.approx(0.5661, abs=1e-12) and verdict.starved == (0, 1, 2, 4, 6)
    assert verdict.warning == ("the samples collapsed (5 of 10 classes below 0.1× their data share): 25% are Sandal "
                               "(data 10%); starved: T-shirt/top, Trouser, Pullover, Coat, Shirt")
    # A class at exactly a tenth of its data share is not starved: four starved classes are no collapse.
    four = collapse.assess(np.array([59, 23, 13, 2173, 5, 2520, 100, 2509, 2459, 139]), UNIFORM)
    assert four.starved == (0, 1, 2, 4) and not four.collapsed


def test_recall_alone_and_class_tv_alone_cross_their_thresholds():
    even = np.full(10, 100)
    assert collapse.assess(even, UNIFORM, recall=0.049).reasons == ("recall 0.049 < 0.05",)
    assert not collapse.assess(even, UNIFORM, recall=0.05).collapsed
    # 71% in one class of two: class TV 0.21; 80% in one of ten equal classes: 0.7.
    assert not collapse.assess(np.array([71, 29]), np.array([50, 50])).collapsed
    one = collapse.assess(np.array([80, 10, 10, 0, 0, 0, 0, 0, 0, 0]), UNIFORM)
    assert one.reasons == ("class TV 0.700 > 0.6", "7 of 10 classes below 0.1× their data share")
    assert one.warning.endswith("80% are class 0 (data 10%); starved: class 3, class 4, class 5, class 6, class 7, "
                                "class 8, class 9")


def test_classes_absent_from_the_data_are_never_starved():
    verdict = collapse.assess(np.array([5, 5, 0]), np.array([1, 1, 0]))
    assert verdict.starved == () and not verdict.collapsed and verdict.class_tv == 0.0


def test_hard_labels_and_frequencies_give_the_same_verdict():
    by_labels = collapse.assess_labels(np.array([0, 0, 0, 1]), np.array([0, 1, 2, 0, 1, 2]), 3)
    by_shares = collapse.assess(np.array([0.75, 0.25, 0.0]), np.array([1 / 3] * 3))
    assert by_labels.class_tv == pytest.approx(by_shares.class_tv, abs=1e-12) == pytest.approx(5 / 12, abs=1e-12)
    assert by_labels.starved == by_shares.starved == (2,) and not by_labels.collapsed
    assert (by_labels.sample_count, by_labels.data_count) == (4, 6) and by_shares.sample_count is None
    assert by_shares.histogram_text().splitlines() == [
        "class histogram of the samples against the data's:",
        "  class  samples     data",
        "  0        75.0%    33.3%  most over",
        "  1        25.0%    33.3%",
        "  2         0.0%    33.3%  empty"]


def test_digit_names_read_as_class_numbers():
    digits = datasets.class_names("digits")
    assert digits == tuple("0123456789") and collapse.class_label(3, digits) == "class 3"
    assert collapse.class_label(3, FASHION) == "Dress" and collapse.class_label(3, None) == "class 3"
    assert datasets.class_names("cifar10")[0] == "airplane" and datasets.class_names("cifar100") is None
    assert all(len(spec.class_names or ()) in (0, spec.num_classes) for spec in datasets.DATASETS.values())


def test_many_classes_show_the_ones_furthest_from_the_data():
    counts = np.full(25, 40)
    counts[:3] = (0, 400, 120)  # classes 0, 1 and 2 far off; the others 40 each, 2.9% against their data's 4%
    text = collapse.assess(counts, np.full(25, 1)).histogram_text().splitlines()
    assert len(text) == 2 + collapse.HISTOGRAM_ROWS + 1 and text[-1] == "  (5 classes closer to their data share not shown)"
    assert text[0] == "class histogram of the samples against the data's (1,400 samples, 25 data labels):"
    assert text[2:6] == ["  0         0.0%     4.0%  empty", "  1        28.6%     4.0%  most over",
                         "  2         8.6%     4.0%", "  3         2.9%     4.0%"]
    assert text[-2] == "  19        2.9%     4.0%"  # ties: the first classes


def test_is_collapsed_reads_a_verdict_else_class_tv_and_recall():
    assert collapse.is_collapsed({"collapsed": False, "class_tv": 0.9}) is False  # the verdict saw the histogram
    assert collapse.is_collapsed({"class_tv": 0.61}) is True and collapse.is_collapsed({"class_tv": 0.6}) is False
    assert collapse.is_collapsed({"class_tv": 0.2, "recall": 0.01}) is True
    assert collapse.is_collapsed({"fd": 3.0, "class_tv": None}) is None


@pytest.mark.parametrize("samples, data, names, message", [
    (np.array([1, 2]), np.array([1, 2, 3]), None, "the class histogram of the samples has 2 classes, the data's 3"),
    (np.array([1, 2]), np.array([1, 2]), ("a",), "has 2 classes, the data's 2 and the class names 1"),
    (np.array([0, 0]), np.array([1, 2]), None, "the class histogram of the samples must be a class histogram"),
    (np.array([1, 2]), np.array([-1, 2]), None, "the data's class histogram must be a class histogram"),
    (np.array([[1, 2]]), np.array([1, 2]), None, "one count or share >= 0 per class, not all 0"),
])
def test_bad_histograms_give_one_line_errors(samples, data, names, message):
    with pytest.raises(UserInputError, match=message.replace("(", r"\(").replace(")", r"\)")) as error:
        collapse.assess(samples, data, class_names=names)
    assert "\n" not in str(error.value)


def test_labels_outside_the_classes_are_refused():
    with pytest.raises(UserInputError, match=r"hard labels must be integers in 0\.\.2"):
        collapse.assess_labels(np.array([0, 3]), np.array([0, 1, 2]), 3)
    with pytest.raises(UserInputError, match=r"hard labels must be integers in 0\.\.2"):
        collapse.class_counts(np.array([0.5]), 3)


def test_the_log_shows_the_histogram_and_warns_in_one_line(caplog):
    with caplog.at_level(logging.INFO):
        collapse.log(collapse.assess(CONV_AE, UNIFORM, class_names=FASHION))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "\n" not in warnings[0] and warnings[0].startswith("the samples collapsed (")
    assert any("  8 Bag            93.6%    10.0%  most over" in r.getMessage() for r in caplog.records)


@pytest.fixture
def constant_autoencoder(tmp_path):
    """An autoencoder that maps everything to one image: its clean states all get one label."""
    import keras

    from aesampling.io import storage

    inputs = keras.Input((64,))
    layer = keras.layers.Dense(64)
    constant = keras.Model(inputs, layer(inputs))
    layer.kernel.assign(np.zeros((64, 64), np.float32))
    layer.bias.assign(np.full(64, 0.5, np.float32))
    storage.save_model(constant, tmp_path / "constant.keras")
    return tmp_path / "constant.keras"


def test_evaluate_records_and_warns_when_a_source_collapses(digits_models, constant_autoencoder, tmp_path, caplog):
    from aesampling import experiments
    from aesampling.sampling.reinjection import ReinjectionConfig

    with caplog.at_level(logging.INFO):
        record = experiments.run_evaluate(experiments.EvaluateConfig(
            data=experiments.DataConfig(dataset="digits"), source="constant",
            classifier=str(digits_models / "classifier.keras"), autoencoder=str(constant_autoencoder),
            output=str(tmp_path / "constant.csv"), epochs=1, steps_per_epoch=2, quality_samples=300,
            mixing_chains=10,
            reinjection=ReinjectionConfig(lam=0.01, num_chains=10, reinjections=4, burn_in=1, collect="clean")))
    verdict = record["quality"]["collapse"]
    assert record["quality"]["collapsed"] is True and verdict["collapsed"] is True
    assert verdict["class_histogram"].count(1.0) == 1 and verdict["samples"] == 300
    assert verdict["class_tv"] > 0.85 and len(verdict["starved_classes"]) == 9
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "collapsed" in r.getMessage()]
    assert warnings == [verdict["warning"]] and warnings[0].startswith("constant's samples collapsed (class TV 0.")
    assert any(r.getMessage().startswith("class histogram of constant's samples against the data's (300 samples")
               for r in caplog.records)


def test_a_search_where_every_setting_collapsed_chooses_and_says_so(digits_models, constant_autoencoder, tmp_path,
                                                                    caplog):
    from aesampling import experiments
    from aesampling.sampling.reinjection import ReinjectionConfig

    with caplog.at_level(logging.INFO):
        record = experiments.run_lambda_search(experiments.LambdaSearchConfig(
            data=experiments.DataConfig(dataset="digits"), autoencoder=str(constant_autoencoder),
            classifier=str(digits_models / "classifier.keras"), output=str(tmp_path / "search.json"),
            reinjection=ReinjectionConfig(lam=0.0, num_chains=10), lambdas=(0.01, 0.1), collects=("clean",),
            burn_ins=(1,), epochs=1, steps_per_epoch=1, criterion="fd", fd_samples=200))
    assert all(row["collapsed"] and sum(row["class_counts"]) == 200 for row in record["grid"])
    assert record["best"]["collapsed"] is True and record["best_fd"]["lam"] == record["best"]["lam"]
    assert list(record["collapse_warnings"]) == ["fd"]
    assert record["collapse_warnings"]["fd"].startswith(
        f"every setting of the λ search collapsed or diverged: its fd choice, λ={record['best']['lam']:g} (clean, "
        "burn-in 1), collapsed too (class TV 0.")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "collapse" in r.getMessage()]
    assert warnings == [record["collapse_warnings"]["fd"]]
    assert any(r.getMessage().startswith("class histogram of the fd choice's samples (λ=") for r in caplog.records)
