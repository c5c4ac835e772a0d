"""The real scripts against hostile and careless inputs: no input overwritten, no partial file left, every
failure one line, every interrupted training resumable."""

import json
import os
import signal
import subprocess
import sys

import numpy as np
import pytest

from aesampling.io import interruption
from aesampling.io import storage
from aesampling.io import npz
from aesampling.io import resume
from support import SCRIPTS, assert_no_outputs, assert_one_line_error, run_script, start_script, wait_for


def snapshot(*paths):
    return {path: path.read_bytes() for path in paths}


# ---------------------------------------------------------------- outputs on inputs


@pytest.mark.parametrize("script, flags, message", [
    ("sample", ["--autoencoder={models}/ae.keras", "--lam=0.1", "--output={models}/ae.keras"],
     "the samples must be a .npz"),
    ("sample", ["--autoencoder={models}/ae.keras", "--lam=0.1", "--output={models}/ae.npz"],
     "the record of the samples would overwrite the record of the autoencoder"),
    ("sample", ["--autoencoder={models}/ae.keras", "--lam=0.1", "--output={tmp}/x.json"], "the samples must be a .npz"),
    ("evaluate", ["--dataset=digits", "--source=lower_bound", "--classifier={models}/classifier.keras",
                  "--output={models}/classifier.keras"], "the learning curve must be a .csv"),
    ("evaluate", ["--dataset=digits", "--source=lower_bound", "--classifier={models}/classifier.keras",
                  "--output={models}/classifier.csv"], "would overwrite the record of the classifier"),
    ("label", ["--samples={tmp}/s.npz", "--classifier={models}/classifier.keras", "--output={tmp}/s.npz"],
     "the labelled samples would overwrite the samples"),
    ("search_lambda", ["--dataset=digits", "--autoencoder={models}/ae.keras", "--classifier={models}/classifier.keras",
                       "--output={models}/ae.json"], "would overwrite the record of the autoencoder"),
    ("train", ["--dataset=digits", "--model=shallow_ae", "--output={tmp}/x.h5"], "the model must be a .keras"),
    ("train", ["--dataset=digits", "--model=shallow_ae", "--output=/proc/aesampling/x.keras"], "cannot write to"),
])
def test_no_output_lands_on_an_input_and_bad_outputs_fail_before_any_work(digits_models, tmp_path, script, flags,
                                                                          message):
    np.savez(tmp_path / "s.npz", x=np.zeros((4, 64), np.float32))
    inputs = snapshot(*digits_models.iterdir(), tmp_path / "s.npz")
    result = run_script(script, *(f.format(models=digits_models, tmp=tmp_path) for f in flags), check=False)
    assert_one_line_error(result, message)
    assert "Epoch 1/" not in result.stdout + result.stderr  # refused before training
    assert snapshot(*inputs) == inputs
    assert sorted(digits_models.iterdir()) == sorted(p for p in inputs if p.parent == digits_models)


# ---------------------------------------------------------------- training backups


def _kill_after_epochs(output, flags, epochs=3):
    run = start_script("train", *flags)
    wait_for(lambda: resume.backed_up_epoch(output) >= epochs, run)
    run.kill()
    return resume.backed_up_epoch(output)


def test_a_backup_from_other_settings_is_refused_and_the_same_settings_resume_it(tmp_path):
    output = tmp_path / "ae.keras"
    flags = ["--dataset=digits", "--model=shallow_ae", "--epochs=30", "--batch_size=32", f"--output={output}"]
    interrupted_at = _kill_after_epochs(output, flags)
    for other, named in (("--seed=1", "config.seed: 0 then, 1 now"), ("--epochs=31", "config.epochs: 30 then, 31 now"),
                         ("--model=deep_ae", "config.model: 'shallow_ae' then, 'deep_ae' now")):
        changed = [f for f in flags if f.split("=")[0] != other.split("=")[0]] + [other]
        result = run_script("train", *changed, check=False)
        assert_one_line_error(result, f"holds an interrupted training with other settings ({named})")
    assert resume.backed_up_epoch(output) == interrupted_at  # the backup is kept as it was
    run_script("train", *flags)
    record = json.loads(output.with_suffix(".json").read_text())
    assert record["resumed_from_epoch"] == interrupted_at and len(record["history"]["loss"]) == 30 - interrupted_at


@pytest.mark.parametrize("damage", ["last state", "weights without their record", "both states"])
def test_a_state_damaged_by_a_kill_mid_write_resumes_from_the_last_good_one(tmp_path, damage):
    output = tmp_path / "ae.keras"
    flags = ["--dataset=digits", "--model=shallow_ae", "--epochs=200", "--batch_size=32", f"--output={output}"]
    _kill_after_epochs(output, flags)
    backup = tmp_path / "ae.keras.backup"
    previous = json.loads((backup / "training_metadata.json.bkp").read_text())["epoch"]
    if damage == "weights without their record":  # SIGKILL after the weights' write, before the record's
        weights = (backup / "latest.weights.h5").stat().st_mtime_ns
        os.utime(backup / "training_metadata.json", ns=(weights - 10**9, weights - 10**9))
    else:
        (backup / "training_metadata.json").write_text('{"epoch": ')  # SIGKILL in the middle of the write
    if damage == "both states":
        (backup / "latest.weights.h5.bkp").write_bytes(b"\x89HDF\r\n")
    run = start_script("train", *flags)
    if damage != "both states":
        wait_for(lambda: "resuming from the epoch before" in run.folder.joinpath("stderr").read_text(), run)
        wait_for(lambda: resume.backed_up_epoch(output) > previous, run)
    else:
        wait_for(lambda: "starting the training over" in run.folder.joinpath("stderr").read_text()
                 and resume.backed_up_epoch(output) >= 1, run)
    run.kill()


# ---------------------------------------------------------------- silently wrong results


def test_exploding_chains_fail_the_curve_with_one_line(digits_models, tmp_path):
    result = run_script("evaluate", "--dataset=digits", "--source=ae", f"--autoencoder={digits_models / 'ae.keras'}",
                        "--lam=1e300", f"--classifier={digits_models / 'classifier.keras'}", "--epochs=2",
                        "--steps_per_epoch=2",
                        f"--output={tmp_path / 'c.csv'}", check=False)
    assert_one_line_error(result, "NaN or inf")
    assert_no_outputs(tmp_path, "c.csv", "c.json", "c.csv.partial.npz")


def test_a_chain_count_beyond_memory_fails_at_once(digits_models, tmp_path):
    result = run_script("sample", f"--autoencoder={digits_models / 'ae.keras'}", "--lam=0.1", "--chains=100000000",
                        f"--output={tmp_path / 's.npz'}", check=False)
    assert_one_line_error(result, "set --chains to at most")


# ---------------------------------------------------------------- leftovers


def _temporaries(folder):
    return [p.name for p in folder.iterdir() if ".tmp" in p.name]


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL])
def test_a_killed_sample_run_leaves_no_temporary_for_long(digits_models, tmp_path, signum):
    flags = [f"--autoencoder={digits_models / 'ae.keras'}", "--lam=0.1", "--chunk_samples=2000",
             f"--output={tmp_path / 's.npz'}"]
    run = start_script("sample", *flags, "--num_samples=5000000")
    wait_for(lambda: bool(_temporaries(tmp_path)), run)
    run.kill(signum)
    if signum != signal.SIGKILL:
        assert run.client.returncode == 1
        stderr = run.folder.joinpath("stderr").read_text()
        assert f"interrupted by signal {int(signum)}" in stderr and "Traceback" not in stderr
        assert _temporaries(tmp_path) == []
    else:
        assert _temporaries(tmp_path)  # a SIGKILL cannot clean up: the next writer of the output does
        run_script("sample", *flags, "--num_samples=10")
        assert _temporaries(tmp_path) == [] and np.load(tmp_path / "s.npz")["x"].shape == (10, 64)


def test_a_stop_request_dropped_by_a_finalizer_still_ends_the_stream_at_the_next_chunk(tmp_path, monkeypatch):
    # A SIGTERM handled inside a garbage-collection callback loses its exception ("Exception ignored in ..."):
    # seen in CI, where the sample run then went on to write all its samples and exit 0.
    monkeypatch.setattr(interruption, "_requested_signal", None)
    with pytest.raises(interruption.Interrupted, match="interrupted by signal 15"):
        with npz.NpzStreamWriter(tmp_path / "s.npz", {"x": ((2,), np.float32)}, 6) as writer:
            writer.append(x=np.zeros((2, 2), np.float32))
            try:
                interruption.request(signal.SIGTERM)
            except SystemExit:
                pass  # dropped, as Python drops an exception raised in a gc callback
            writer.append(x=np.zeros((2, 2), np.float32))
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("after_the_stop, message", [
    # The stop's exception can break a library's state as it unwinds: in CI, TensorFlow's stack-trace context
    # then asserted "Concurrent access?", and the run ended with that error instead of the interruption.
    ("raise AssertionError('Concurrent access?')", "interrupted by signal 15; no output was completed"),
    # A stop whose exception a finalizer dropped after the last check: the run must not end as a finished one.
    ("pass", "interrupted by signal 15 after its outputs were written: check them, or run it again"),
])
def test_a_failure_that_follows_a_stop_is_reported_as_the_stop(tmp_path, after_the_stop, message):
    program = tmp_path / "stopped.py"
    program.write_text(
        "import signal, sys\n"
        f"sys.path.insert(0, {str(SCRIPTS)!r})\n"
        "import _common\n"
        "from aesampling.io import interruption\n"
        "def main():\n"
        "    try:\n"
        "        interruption.request(signal.SIGTERM)\n"
        "    except SystemExit:\n"
        f"        {after_the_stop}\n"
        "_common.run(main)\n")
    result = subprocess.run([sys.executable, str(program)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {message}"
    assert "Concurrent access" not in result.stderr


def test_a_damaged_curve_checkpoint_starts_the_curve_over(digits_models, tmp_path):
    flags = ["--dataset=digits", "--source=upper_bound", f"--classifier={digits_models / 'classifier.keras'}",
             "--epochs=2", "--quality_samples=0", "--steps_per_epoch=3"]
    run_script("evaluate", *flags, f"--output={tmp_path / 'fresh.csv'}")
    (tmp_path / "c.csv.partial.npz").write_bytes(b"PK\x03\x04 damaged")
    result = run_script("evaluate", *flags, f"--output={tmp_path / 'c.csv'}")
    assert "is damaged" in result.stderr
    assert (tmp_path / "c.csv").read_bytes() == (tmp_path / "fresh.csv").read_bytes()
    assert not (tmp_path / "c.csv.partial.npz").exists()


# ---------------------------------------------------------------- one line for anything else


def test_an_unexpected_failure_is_one_line_and_verbose_shows_the_traceback(digits_models, tmp_path):
    # An autoencoder's curve whose record lacks the chain settings: no check foresees it.
    (tmp_path / "c.csv").write_text("source,epoch,samples_seen,accuracy\nae,0,0,0.5\n")
    storage.write_json(tmp_path / "c.json", {"config": {"steps_per_epoch": 1}, "samples_per_step": 1})
    storage.write_json(tmp_path / "classifier.json", {"test_accuracy": 0.9, "config": {"data": {}}, "machine": {}})
    flags = ["--dataset=digits", f"--curves={tmp_path / 'c.csv'}", f"--classifier_record={tmp_path / 'classifier.json'}",
             f"--output_dir={tmp_path / 'report'}"]
    result = run_script("report", *flags, check=False)
    assert_one_line_error(result, "error: KeyError: ")
    assert "--verbose shows the traceback" in result.stderr
    verbose = run_script("report", *flags, "--verbose", check=False)
    assert verbose.returncode != 0 and "Traceback" in verbose.stderr


@pytest.mark.parametrize("curve, record, classifier, message", [
    ("", None, {"test_accuracy": 0.9}, "is not a learning-curve CSV"),
    ("source,epoch,samples_seen,accuracy\nx,0,0,high\n", None, {}, "must be numbers"),
    ("source,epoch,samples_seen,accuracy\nx,0,0,0.5\n", {"config": {}}, {}, "it has no 'config.steps_per_epoch'"),
    ("source,epoch,samples_seen,accuracy\nx,0,0,0.5\n", {"config": {"steps_per_epoch": 1}, "samples_per_step": 1},
     {"test_accuracy": "high", "config": {"data": {}}, "machine": {}}, "test_accuracy must be a number"),
])
def test_malformed_report_inputs_are_named(tmp_path, curve, record, classifier, message):
    (tmp_path / "c.csv").write_text(curve)
    if record is not None:
        storage.write_json(tmp_path / "c.json", record)
    storage.write_json(tmp_path / "classifier.json", classifier)
    result = run_script("report", "--dataset=digits", f"--curves={tmp_path / 'c.csv'}",
                        f"--classifier_record={tmp_path / 'classifier.json'}", f"--output_dir={tmp_path / 'r'}",
                        check=False)
    assert_one_line_error(result, message)
    assert not (tmp_path / "r" / "table.md").exists()


def test_samples_that_are_not_real_numbers_are_refused(digits_models, tmp_path):
    np.savez(tmp_path / "s.npz", x=np.zeros((3, 64), np.complex64))
    result = run_script("label", f"--samples={tmp_path / 's.npz'}",
                        f"--classifier={digits_models / 'classifier.keras'}",
                        f"--output={tmp_path / 'l.npz'}", check=False)
    assert_one_line_error(result, "must hold real numbers, not complex64")
    assert_no_outputs(tmp_path, "l.npz", "l.json")


@pytest.mark.parametrize("flags, message", [
    (["--chains=abc"], "error: flag --chains=abc: invalid literal"),
    (["--bogus"], "error: Unknown command line flag 'bogus'"),
    (["extra", "--lam=0.1", "--autoencoder=a.keras", "--output=s.npz"], "error: unexpected arguments: extra"),
    (["--lam=0.1"], "Flag --autoencoder must have a value other than None.; flag --output=None"),
])
def test_bad_flags_are_one_line(flags, message):
    result = run_script("sample", *flags, check=False)
    assert_one_line_error(result, message)
