"""scripts/benchmark.py at a tiny size: every measurement it makes runs, lands in its JSON and Markdown, and the
ratios it reports are there, on the backend in use (its own file, so that the two pytest workers share the slow
script tests evenly)."""

import json

from support import run_script


def test_benchmark_script_at_tiny_size(tmp_path):
    from aesampling import backend
    from aesampling.experiments import records

    # The memory probe (a fresh interpreter) and ResNet50 are backend-neutral: the TensorFlow leg covers them,
    # and make test's JAX leg skips them to stay within its time.
    full = not backend.is_jax()
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    untouched = scratch.stat().st_mtime_ns
    run_script("benchmark", f"--output_dir={tmp_path}", "--kind=test", "--models=shallow_ae", "--chains=8",
               "--baseline_chains=8", f"--rss_samples={100 if full else ''}", "--min_seconds=0.01",
               "--matmul_size=64", "--train_chains=5", f"--extraction_images={2 if full else 0}",
               "--extraction_image_size=32", "--dtypes=float32,bfloat16", "--train_examples=256",
               env={"TMPDIR": str(scratch)})
    assert scratch.stat().st_mtime_ns != untouched, "the memory probe's scratch folder was not made in TMPDIR"
    assert not any(scratch.glob("aesampling-bench-*")), "the memory probe's scratch folder was left behind"
    figures = json.loads((tmp_path / "test.json").read_text())
    assert set(figures["roofline_gflops"]) == {"float32", "bfloat16"}
    assert all(v > 0 for v in figures["roofline_gflops"].values())
    assert figures["machine"]["backend"] == backend.name() and figures["code"] == records.code_version()
    variants = {(r["model"], r["dtype"], r["chains"], r.get("variant"), r["xla"], r["delivery"])
                for r in figures["sampler"]}
    for dtype in ("float32", "bfloat16"):
        for delivery in ("host", "device"):
            assert ("shallow_ae", dtype, 8, None, True, delivery) in variants
            assert (("shallow_ae", dtype, 8, "hand_written_jax", True, delivery) in variants) == backend.is_jax()
        assert ("shallow_ae", dtype, 8, "predict_loop", None, "host") in variants
    assert {r["model"] for r in figures["sampler"]} == {"shallow_ae"}
    xla = {True} if backend.is_jax() else {True, False}
    assert {(r["fused"], r["xla"]) for r in figures["train_step"]} == {(f, x) for f in (True, False) for x in xla}
    assert figures["autoencoder_training"][0]["examples_per_s"] > 0
    assert [(r["generator"], r["recipe"]) for r in figures["replay"]] == [
        ("reinjection", "paper"), ("reinjection", "recommended"), ("vae", None)]
    kept = {r["recipe"]: r["kept_bytes"] for r in figures["replay"]}
    # the recommended chains also keep 10 classes' moments and 16 principal directions: (16 + 2)·784 + 16 numbers each
    assert kept["recommended"] - kept["paper"] == 4 * 10 * (18 * 784 + 16)
    assert kept["paper"] == 4 * 2 * (784 * 32 + 32 + 32 * 784 + 784)  # the shallow AE twice: in training, and its copy
    assert all(r["seconds_per_step"] > r["label_seconds_per_step"] > 0 and r["label_each_step_seconds"] > 0
               for r in figures["replay"])
    assert "| reinjection |" in (tmp_path / "test.md").read_text()
    assert [r["steps_per_call"] for r in figures["learner_steps"]] == [1, 100]
    assert all(r["seconds_per_step"] > 0 for r in figures["learner_steps"])
    assert [r["num_samples"] for r in figures["sample_memory"]] == ([100] if full else [])
    if full:
        assert figures["feature_extraction"]["images_per_s"] > 0
        assert figures["feature_extraction"]["image_size"] == 32
    ratios = figures["summary"]["shallow_ae"]["bfloat16_chains_8_host"]
    assert ratios["over_predict_loop"] > 0 and ("over_hand_written_jax" in ratios) == backend.is_jax()
    assert ratios["over_float32"] > 0
    on_device = figures["summary"]["shallow_ae"]["float32_chains_8_device"]
    # a predict loop returns numpy arrays: only samples delivered to the host are compared with it
    assert "over_predict_loop" not in on_device and ("over_hand_written_jax" in on_device) == backend.is_jax()
    page = (tmp_path / "test.md").read_text()
    assert "Roofline" in page and "fused" in page and ("(shallow_ae, streamed to disk)" in page) == full
    assert "| shallow_ae | bfloat16 | 8 |" in page and "| left on the device |" in page
