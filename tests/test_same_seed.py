"""scripts/same_seed.py: two runs of one command with one seed compared bit for bit."""

import json
import shutil

import numpy as np
from support import assert_one_line_error, run_script

from aesampling.experiments import same_seed


def make_run(folder, digits_models, seed, seconds):
    """A run folder as the protocol leaves one: samples drawn by sample.py, a model, a curve with its wall time."""
    (folder / "models").mkdir(parents=True)
    shutil.copy(digits_models / "ae.keras", folder / "models" / "ae.keras")
    run_script("sample", f"--autoencoder={digits_models / 'ae.keras'}", "--lam=0.1", "--num_samples=300",
               f"--seed={seed}", f"--output={folder / 'samples' / 'ae.npz'}")
    (folder / "curve.csv").write_text(f"source,epoch,accuracy,stage_seconds\nae,1,0.5,{seconds}\n")
    (folder / "curve.json").write_text(json.dumps({"wall_seconds": seconds}))  # not compared: a rerun's own


def test_same_command_and_seed_in_two_processes_is_identical_and_another_seed_is_not(digits_models, tmp_path):
    for name, seed, seconds in (("a", 3, 1.5), ("b", 3, 2.5), ("c", 4, 1.5)):
        make_run(tmp_path / name, digits_models, seed, seconds)
    result = run_script("same_seed", f"--first={tmp_path / 'a'}", f"--second={tmp_path / 'b'}",
                        f"--output_dir={tmp_path / 'same'}", "--runs_command=python scripts/sample.py --seed=3")
    record = json.loads((tmp_path / "same" / "same_seed.json").read_text())
    assert record["identical"] and record["runs_command"] == "python scripts/sample.py --seed=3"
    assert {row["path"] for row in record["files"]} == {"curve.csv", "models/ae.keras", "samples/ae.npz"}
    assert all(row["identical"] for row in record["files"])
    verdict = "# Same seed, same result: **identical**"
    assert (tmp_path / "same" / "same_seed.md").read_text().startswith(verdict) and verdict in result.stdout

    other = run_script("same_seed", f"--first={tmp_path / 'a'}", f"--second={tmp_path / 'c'}",
                       f"--output_dir={tmp_path / 'other'}", check=False)
    assert other.returncode == 3  # told apart from a failure to compare (1)
    assert other.stderr.strip().splitlines()[-1].startswith("error: the two runs differ in 1 file (see ")
    rows = {row["path"]: row for row in json.loads((tmp_path / "other" / "same_seed.json").read_text())["files"]}
    assert not rows["samples/ae.npz"]["identical"] and "x" in rows["samples/ae.npz"]["differing"]
    assert rows["samples/ae.npz"]["largest_difference"] > 0
    assert rows["models/ae.keras"]["identical"] and rows["curve.csv"]["identical"]
    page = (tmp_path / "other" / "same_seed.md").read_text()
    assert page.startswith("# Same seed, same result: **1 of 3 files differ**")
    assert "| samples/ae.npz | 3 | no: chain_progress, preview_clean, x |" in page


def test_a_changed_weight_a_changed_curve_a_missing_file_and_a_signed_zero_are_differences(tmp_path):
    import keras

    from aesampling.io import storage

    first, second = tmp_path / "first", tmp_path / "second"
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="code")])
    for folder in (first, second):
        folder.mkdir()
        storage.save_model(model, folder / "same.keras")
    storage.save_model(model, first / "changed.keras")
    kernel = model.get_layer("code").kernel
    kernel.assign(kernel.value + 1e-6)
    storage.save_model(model, second / "changed.keras")
    np.savez(first / "x.npz", x=np.zeros(3, np.float32), n=np.arange(3))
    np.savez(second / "x.npz", x=-np.zeros(3, np.float32), n=np.arange(3))
    np.savez(first / "only_here.npz", x=np.ones(2))
    (first / "curve.csv").write_text("source,noise,accuracy,wall_seconds\nae,sp,0.5,1.0\nae,,0.25,2.0\n")
    (second / "curve.csv").write_text("source,noise,accuracy,wall_seconds\nae,sp,0.5,9.0\nae,,0.125,9.5\n")
    np.savez(first / "record.npz", tag=np.array("same"), grid=np.array([["a", "b"]]))  # text arrays of any shape
    np.savez(second / "record.npz", tag=np.array("same"), grid=np.array([["a", "c"]]))
    rows = {row["path"]: row for row in same_seed.compare_runs(first, second)}
    assert rows["same.keras"]["identical"] and rows["same.keras"]["arrays"] >= 2
    assert not rows["changed.keras"]["identical"] and 0 < rows["changed.keras"]["largest_difference"] < 1e-5
    assert [name.endswith("/vars/0") for name in rows["changed.keras"]["differing"]] == [True]  # the kernel only
    assert rows["x.npz"]["differing"] == ["x"] and rows["x.npz"]["largest_difference"] == 0.0
    assert rows["only_here.npz"] == {"path": "only_here.npz", "identical": False, "missing": "second"}
    # a column of text and empty cells is equal to itself; the wall times are not compared; the accuracies are
    assert rows["curve.csv"]["differing"] == ["accuracy"] and rows["curve.csv"]["largest_difference"] == 0.125
    assert rows["curve.csv"]["arrays"] == 3
    assert rows["record.npz"]["differing"] == ["grid"]


def test_bad_folders_get_one_line_errors(digits_models, tmp_path):
    make_run(tmp_path / "a", digits_models, 0, 1.0)
    for flags, message in (
            ((f"--first={tmp_path / 'nowhere'}", f"--second={tmp_path / 'a'}"), "is not a folder"),
            ((f"--first={tmp_path / 'a'}", f"--second={tmp_path / 'a'}"), "name the same folder")):
        assert_one_line_error(run_script("same_seed", *flags, f"--output_dir={tmp_path / 'out'}", check=False),
                              message)
    (tmp_path / "b").mkdir()
    inside = run_script("same_seed", f"--first={tmp_path / 'a'}", f"--second={tmp_path / 'b'}",
                        f"--output_dir={tmp_path / 'a' / 'report'}", check=False)
    assert_one_line_error(inside, "lies inside a compared run")
    assert not (tmp_path / "a" / "report").exists()
    (tmp_path / "c").mkdir()
    empty = run_script("same_seed", f"--first={tmp_path / 'b'}", f"--second={tmp_path / 'c'}",
                       f"--output_dir={tmp_path / 'out'}", check=False)
    assert_one_line_error(empty, "no .npz, .csv or .keras file in")
