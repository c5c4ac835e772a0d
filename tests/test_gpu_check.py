"""scripts/gpu_check.sh refuses what would fail on the GPU machine before any device time is spent."""

import os
import shutil
import subprocess

import pytest

from support import REPO


def gpu_check(tmp_path, *args, make_version=None):
    """Runs the script with wheels present and a PATH holding only the tools it needs, and `make` if asked."""
    wheels = tmp_path / "wheels"
    wheels.mkdir(exist_ok=True)
    (wheels / "keras-0-py3-none-any.whl").touch()
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    for tool in ("dirname", "sed", "sort"):
        (tools / tool).symlink_to(shutil.which(tool))
    if make_version is not None:
        fake = tools / "make"
        fake.write_text(f"#!/bin/sh\necho 'GNU Make {make_version}'\n")
        fake.chmod(0o755)
    env = {"PATH": str(tools), "WHEELS": str(wheels), "HOME": str(tmp_path)}
    return subprocess.run([shutil.which("bash"), str(REPO / "scripts" / "gpu_check.sh"), *args], env=env,
                          capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize("make_version, message", [
    (None, "error: GNU make is not installed; every stage runs make"),
    ("4.2.1", "error: GNU make 4.2.1 is too old; the Makefile needs 4.3 or newer"),
])
def test_a_missing_or_old_make_is_refused_first(tmp_path, make_version, message):
    result = gpu_check(tmp_path, "bench", make_version=make_version)
    assert result.returncode == 2 and result.stderr.strip() == message


def test_a_recent_make_passes_the_check(tmp_path):
    """With GNU make 4.4 the script goes on to install the wheels (here, with no pip on PATH, that step fails)."""
    result = gpu_check(tmp_path, "bench", make_version="4.4.1")
    assert "GNU make" not in result.stderr and result.returncode != 0


def test_an_unknown_stage_or_no_wheels_is_refused(tmp_path):
    result = gpu_check(tmp_path, "everything", make_version="4.3")
    assert result.returncode == 2 and "unknown stage 'everything'" in result.stderr
    env_without_wheels = {**os.environ, "WHEELS": str(tmp_path / "none")}
    result = subprocess.run(["bash", str(REPO / "scripts" / "gpu_check.sh"), "bench"], env=env_without_wheels,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and f"no wheels in {tmp_path / 'none'}" in result.stderr
