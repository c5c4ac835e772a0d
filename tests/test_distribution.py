"""--strategy=mirrored on two logical CPU devices, and mixed precision (in a fresh interpreter)."""

import json
import os
import subprocess
import sys

from support import REPO


def test_mirrored_strategy_and_mixed_precision(tmp_path):
    result = subprocess.run([sys.executable, str(REPO / "tests" / "distribution_check.py"), str(tmp_path)],
                            capture_output=True, text=True, timeout=600, cwd=REPO,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["logical_cpus"] == 2
    assert summary["mirrored_devices"] == 2 and summary["none_devices"] == 1
    assert summary["mirrored_train_loss"] > 0
    # Same noise, same chains: only float summation order differs between the two layouts.
    assert summary["max_difference_mirrored_vs_one_device"] < 1e-4
    assert summary["max_difference_class_starts_mirrored_vs_one_device"] < 1e-4
    assert summary["hidden_compute_dtype"] == "float16" and summary["output_compute_dtype"] == "float32"
    assert summary["mixed_samples_dtype"] == "float32" and summary["mixed_samples_finite"]
