"""The scripts as a user meets them: installed as aesampling-x commands, plain log lines with each warning once,
and --dataset required wherever it changes the outcome."""

import configparser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

from aesampling.io import storage
from support import REPO, SCRIPTS, assert_one_line_error, run_script

INTERNAL = {"readme_results"}  # the repository's own upkeep, not a user's command


def _setup_cfg() -> configparser.ConfigParser:
    config = configparser.ConfigParser()
    config.read(REPO / "setup.cfg")
    return config


def _entry_points() -> dict[str, str]:
    """console_scripts of setup.cfg: command -> entry point."""
    lines = _setup_cfg()["options.entry_points"]["console_scripts"].strip().splitlines()
    return dict(tuple(part.strip() for part in line.split("=")) for line in lines)


def test_every_public_script_is_a_command_and_every_command_a_script():
    public = sorted(p.stem for p in SCRIPTS.glob("*.py") if not p.stem.startswith("_") and p.stem not in INTERNAL)
    assert {"train", "sample", "report", "quality"} <= set(public)
    expected = {f"aesampling-{name.replace('_', '-')}": f"aesampling_scripts:{name}" for name in public}
    assert _entry_points() == expected


def test_the_installed_packages_are_the_library_s_folders_and_the_scripts():
    options = _setup_cfg()["options"]
    listed = options["packages"].split()
    folders = sorted(".".join(p.parent.relative_to(REPO).parts) for p in (REPO / "aesampling").rglob("__init__.py"))
    assert sorted(listed) == sorted([*folders, "aesampling_scripts"])
    assert options["package_dir"].split() == ["aesampling_scripts", "=", "scripts"]


def test_an_entry_point_refuses_what_is_not_a_public_script():
    spec = importlib.util.spec_from_file_location("aesampling_scripts", SCRIPTS / "__init__.py")
    scripts = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(scripts)
    assert callable(scripts.sample)
    for name in ("_common", "nonexistent"):
        with pytest.raises(AttributeError):
            getattr(scripts, name)


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """`pip install .` of a copy of the sources into a folder (no dependencies: this interpreter has them)."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    source.mkdir()
    for name in ("setup.py", "setup.cfg", "README.md"):
        shutil.copy(REPO / name, source / name)
    for folder in ("aesampling", "scripts"):
        shutil.copytree(REPO / folder, source / folder, ignore=shutil.ignore_patterns("__pycache__"))
    target = root / "target"
    subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
                    "--no-compile", "--target", str(target), str(source)],
                   check=True, capture_output=True, text=True, timeout=300)
    return target


def _command(installed, name, *args, cwd):
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("AESAMPLING_FORKSHIM", None)
    return subprocess.run([str(installed / "bin" / name), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


def test_pip_install_gives_each_command(installed):
    assert sorted(p.name for p in (installed / "bin").iterdir()) == sorted(_entry_points())
    assert (installed / "aesampling_scripts" / "_common.py").is_file()


def test_an_installed_command_runs_its_script(installed, tmp_path):
    metrics = {"ground_truth_accuracy": 0.9, "table": [{"source": "upper_bound", "final_accuracy": 0.9,
                                                        "last_epochs_mean_accuracy": 0.9}]}
    (tmp_path / "run.json").write_text(json.dumps(metrics))
    result = _command(installed, "aesampling-compare", "--reference=ref.json", "--run=run.json", "--output=c.md",
                      cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "c.md").read_text().startswith(
        "Made by `aesampling-compare --reference=ref.json --run=run.json --output=c.md`.")
    bad = _command(installed, "aesampling-train", "--model=deep_ae", "--output=x.keras", cwd=tmp_path)
    assert_one_line_error(bad, "Flag --dataset must have a value other than None")
    assert len(bad.stderr.strip().splitlines()) == 1
    usage = _command(installed, "aesampling-sample", "--help", cwd=tmp_path)
    assert usage.stdout.startswith("Draw N_s synthetic samples") and "--autoencoder" in usage.stdout


# ---------------------------------------------------------------- log lines

LOGGING_SCRIPT = """
import _common
from absl import logging

def main():
    logging.info("one step done")
    for _ in range(3):
        logging.warning("the same warning")
    logging.warning("another warning")

_common.run(main)
"""


def test_logs_are_plain_lines_each_warning_once_and_verbose_keeps_absl_s_prefixes(tmp_path):
    script = tmp_path / "logs.py"
    script.write_text(LOGGING_SCRIPT)
    env = {**os.environ, "PYTHONPATH": f"{SCRIPTS}:{REPO}"}
    plain = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=300)
    assert plain.returncode == 0, plain.stderr
    assert plain.stderr.splitlines() == ["one step done", "warning: the same warning", "warning: another warning"]
    verbose = subprocess.run([sys.executable, str(script), "--verbose"], env=env, capture_output=True, text=True,
                             timeout=300)
    lines = verbose.stderr.splitlines()
    assert len(lines) == 3 and re.match(r"I\d{4} [\d:.]+ +\d+ logs\.py:\d+\] one step done$", lines[0]), lines
    assert re.match(r"W\d{4} .*\] the same warning$", lines[1]), lines


def test_a_library_warning_is_one_plain_line(tmp_path):
    """The softmax classifier's warning, from the real script."""
    inputs = keras.Input((4,))
    storage.save_model(keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="out")(inputs),
                                   name="soft"), tmp_path / "softmax.keras")
    np.savez(tmp_path / "s.npz", x=np.zeros((5, 4), np.float32))
    result = run_script("label", f"--samples={tmp_path / 's.npz'}", f"--classifier={tmp_path / 'softmax.keras'}",
                        f"--output={tmp_path / 'l.npz'}")
    warnings = [line for line in result.stderr.splitlines() if "softmax outputs" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: classifier 'soft' has softmax outputs"), warnings


# ---------------------------------------------------------------- no silent dataset


@pytest.mark.parametrize("script, flags", [
    ("train", ["--model=deep_ae", "--output=/tmp/x.keras"]),
    ("evaluate", ["--source=upper_bound", "--classifier=c.keras", "--output=/tmp/c.csv"]),
    ("search_lambda", ["--autoencoder=a.keras", "--classifier=c.keras", "--output=/tmp/l.json"]),
    ("stationarity", ["--autoencoder=a.keras", "--classifier=c.keras", "--output=/tmp/s.csv"]),
    ("extract_features", ["--cache_dir=/tmp/cache"]),
    ("report", ["--curves=c.csv", "--output_dir=/tmp/report"]),
])
def test_a_missing_dataset_is_a_one_line_error(script, flags):
    result = run_script(script, *flags, check=False)
    assert_one_line_error(result, "Flag --dataset must have a value other than None")
    assert len(result.stderr.strip().splitlines()) == 1
