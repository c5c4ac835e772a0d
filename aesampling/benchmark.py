"""Speed measurements, side by side in one process (machines here are shared and noisy).

Everything is compared with the same machine's ceiling: the GFLOP/s of a
large float32 matrix product in TensorFlow. A reinjection of one chain
through a dense autoencoder costs 2·Σ(fan_in·fan_out) FLOPs (the matrix
products; biases and activations are not counted), so

    GFLOP/s = chains · reinjections · 2·Σ(fan_in·fan_out) / seconds.

Each timing is the best of a few repeats of a call that runs for at least
`min_seconds`, after a warm-up call that compiles it.
"""

from __future__ import annotations

import math
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import tensorflow as tf

from aesampling import evaluation, io
from aesampling.labeling import Labeler
from aesampling.sampling import ReinjectionConfig, ReinjectionSampler


def dense_flops(model: keras.Model) -> int:
    """FLOPs of one example through the model's Dense layers: 2·Σ(fan_in·fan_out)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Dense):
            fan_in, fan_out = layer.kernel.shape
            total += 2 * int(fan_in) * int(fan_out)
    return total


def best_seconds(call: Callable[[], object], *, min_seconds: float = 1.0, repeats: int = 3) -> float:
    """Seconds per call: warm up once, then the best of `repeats` averages over >= min_seconds."""
    call()
    best = math.inf
    for _ in range(repeats):
        count, start = 0, time.perf_counter()
        while True:
            call()
            count += 1
            elapsed = time.perf_counter() - start
            if elapsed >= min_seconds:
                break
        best = min(best, elapsed / count)
    return best


def matmul_gflops(size: int, *, min_seconds: float = 1.0) -> float:
    """GFLOP/s of a size x size float32 matrix product (the roofline of dense layers)."""
    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda: tf.reduce_sum(tf.matmul(a, b)))
    seconds = best_seconds(lambda: product().numpy(), min_seconds=min_seconds)
    return 2 * size**3 / seconds / 1e9


def _chain_rate(seconds: float, chains: int, reinjections: int, flops_per_chain_step: int) -> dict:
    steps = chains * reinjections
    return {"seconds": seconds, "reinjections_per_s": steps / seconds,
            "gflops": steps * flops_per_chain_step / seconds / 1e9}


def compiled_sampler(autoencoder, chains: int, *, reinjections: int = 10, restarts: int = 4, jit_compile: bool,
                     min_seconds: float = 1.0) -> dict:
    """aesampling's sampler: `restarts` restarts of R reinjections of B chains in one compiled call."""
    config = ReinjectionConfig(lam=0.05, num_chains=chains, reinjections=reinjections, burn_in=0)
    sampler = ReinjectionSampler(autoencoder, config, seed=0, jit_compile=jit_compile)
    seconds = best_seconds(lambda: sampler.restarts(0, restarts), min_seconds=min_seconds)
    return _chain_rate(seconds, chains, reinjections * restarts, dense_flops(autoencoder))


def predict_loop(autoencoder, chains: int, *, reinjections: int = 10, min_seconds: float = 1.0) -> dict:
    """What a user writes without the package: model.predict in a Python loop, numpy noise."""
    rng = np.random.default_rng(0)
    dim = autoencoder.inputs[0].shape[1]
    scale = math.sqrt(0.05)

    def chain():
        x = rng.standard_normal((chains, dim), dtype=np.float32)
        for _ in range(reinjections):
            x = autoencoder.predict(x, batch_size=chains, verbose=0) + scale * rng.standard_normal(x.shape, dtype=np.float32)
        return x

    return _chain_rate(best_seconds(chain, min_seconds=min_seconds, repeats=2), chains, reinjections,
                       dense_flops(autoencoder))


def eager_loop(autoencoder, chains: int, *, reinjections: int = 10, min_seconds: float = 1.0) -> dict:
    """The same chain as eager TensorFlow calls in a Python loop."""
    dim = autoencoder.inputs[0].shape[1]
    scale = math.sqrt(0.05)

    def chain():
        x = tf.random.normal((chains, dim))
        for _ in range(reinjections):
            x = autoencoder(x, training=False) + scale * tf.random.normal((chains, dim))
        return x.numpy()

    return _chain_rate(best_seconds(chain, min_seconds=min_seconds, repeats=2), chains, reinjections,
                       dense_flops(autoencoder))


def train_on_synthetic(autoencoder, classifier, chains: int, *, fused: bool, jit_compile: bool = False,
                       steps: int = 20, min_seconds: float = 1.0) -> dict:
    """Learning steps per second of train-on-synthetic: sample one restart, label it, one Adam step.

    fused: the `steps` steps run in one tf.function (evaluation.epoch_fn).
    Unfused: per step, three compiled calls with the batch copied to the
    host in between (sampler, labeller, training step), as a user would
    chain the pieces.
    """
    config = ReinjectionConfig(lam=0.05, num_chains=chains)
    sampler = ReinjectionSampler(autoencoder, config, seed=0, jit_compile=jit_compile)
    labeler = Labeler(classifier)
    student = keras.models.clone_model(classifier)
    step = evaluation.train_step_fn(student, keras.optimizers.Adam(1e-3))
    if fused:
        source, _ = evaluation.autoencoder_source(sampler)
        run = evaluation.epoch_fn(source, labeler, step, steps, jit_compile=jit_compile)
        call = lambda: float(run(tf.constant(0, tf.int32)))  # noqa: E731
    else:
        compiled_step = tf.function(step, jit_compile=jit_compile)

        def call():
            for k in range(steps):
                x = sampler.restarts(k, 1)
                soft, _ = labeler(x)
                compiled_step(tf.constant(x), tf.constant(soft))

    seconds = best_seconds(call, min_seconds=min_seconds) / steps
    batch = config.samples_per_restart
    flops = chains * config.reinjections * dense_flops(autoencoder) + 4 * batch * dense_flops(classifier)
    return {"seconds_per_step": seconds, "steps_per_s": 1 / seconds, "samples_per_s": batch / seconds,
            "gflops": flops / seconds / 1e9}


def feature_extraction(images: int, *, image_size: int = 224, batch_size: int = 32) -> dict:
    """ResNet50 (weights=None: same speed as ImageNet weights) on random 32x32 images resized to image_size."""
    from aesampling import features

    pixels = np.random.default_rng(0).integers(0, 256, (images, 32, 32, 3)).astype(np.uint8)
    extractor = features.build_extractor(None, image_size)
    run = lambda: features.extract_features(pixels, image_size=image_size, batch_size=batch_size,  # noqa: E731
                                            extractor=extractor, verbose=False)
    seconds = best_seconds(run, min_seconds=0.0, repeats=2)
    return {"images": images, "image_size": image_size, "images_per_s": images / seconds,
            "cifar_60000_hours": 60000 / (images / seconds) / 3600}


_RSS_PROBE = """
import resource, runpy, sys
sys.argv = sys.argv[1:]
sys.path.insert(0, {scripts!r})
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
finally:
    print("PEAK_RSS_KB", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
"""


def sample_peak_rss(autoencoder_path: str, num_samples: int, output: str, *, chunk_samples: int,
                    repo: Path) -> dict:
    """Peak resident memory (bytes) and seconds of scripts/sample.py writing `num_samples` samples."""
    scripts = str(repo / "scripts")
    command = [sys.executable, "-c", _RSS_PROBE.format(scripts=scripts), str(repo / "scripts" / "sample.py"),
               f"--autoencoder={autoencoder_path}", "--lam=0.05", f"--num_samples={num_samples}",
               f"--chunk_samples={chunk_samples}", f"--output={output}"]
    start = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    seconds = time.perf_counter() - start
    peak = [line for line in result.stderr.splitlines() if line.startswith("PEAK_RSS_KB")]
    if result.returncode != 0 or not peak:
        raise RuntimeError(f"sample.py failed:\n{result.stderr[-2000:]}")
    size = Path(output).stat().st_size
    Path(output).unlink()
    return {"num_samples": num_samples, "peak_rss_bytes": int(peak[-1].split()[1]) * 1024,
            "seconds": seconds, "file_bytes": size}


def save_temporary(model, folder: str, name: str) -> str:
    path = os.path.join(folder, f"{name}.keras")
    io.save_model(model, path)
    return path


def scratch_folder(parent: str | None = None) -> str:
    return tempfile.mkdtemp(prefix="aesampling-bench-", dir=parent)


def self_peak_rss() -> int:
    """Peak resident memory of this process, bytes."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def _rows(results: dict, key: str, **match) -> list[dict]:
    return [r for r in results[key] if all(r.get(k) == v for k, v in match.items())]


def summarize(results: dict) -> dict:
    """The ratios the targets are stated in, per autoencoder."""
    roofline = results["roofline_gflops"]
    summary = {}
    for model in sorted({r["model"] for r in results["sampler"]}):
        compiled = [r for r in _rows(results, "sampler", model=model) if "variant" not in r]
        entry = {}
        for chains in sorted({r["chains"] for r in compiled}):
            plain = _rows(results, "sampler", model=model, chains=chains, xla=False)
            xla = _rows(results, "sampler", model=model, chains=chains, xla=True)
            plain = [r for r in plain if "variant" not in r][0]
            xla = [r for r in xla if "variant" not in r][0]
            best = max(plain, xla, key=lambda r: r["reinjections_per_s"])
            row = {"best_is_xla": best is xla, "xla_over_plain": xla["reinjections_per_s"] / plain["reinjections_per_s"],
                   "roofline_fraction": best["gflops"] / roofline, "gflops": best["gflops"]}
            for variant in ("predict_loop", "eager_loop"):
                baseline = _rows(results, "sampler", model=model, chains=chains, variant=variant)
                if baseline:
                    row[f"speedup_over_{variant}"] = best["reinjections_per_s"] / baseline[0]["reinjections_per_s"]
            entry[f"chains_{chains}"] = row
        steps = {(r["fused"], r["xla"]): r for r in _rows(results, "train_step", model=model)}
        if steps:
            fused = max((steps[(True, False)], steps[(True, True)]), key=lambda r: r["steps_per_s"])
            unfused = max((steps[(False, False)], steps[(False, True)]), key=lambda r: r["steps_per_s"])
            entry["train_step"] = {
                "fused_over_unfused": fused["steps_per_s"] / unfused["steps_per_s"],
                "fused_over_unfused_plain": steps[(True, False)]["steps_per_s"] / steps[(False, False)]["steps_per_s"],
                "fused_best_is_xla": fused is steps[(True, True)],
                "fused_roofline_fraction": fused["gflops"] / roofline,
            }
        summary[model] = entry
    memory = results.get("sample_memory") or []
    if len(memory) >= 2:
        summary["sample_memory_ratio"] = memory[-1]["peak_rss_bytes"] / memory[0]["peak_rss_bytes"]
    return summary


def render_markdown(results: dict, kind: str) -> str:
    """The benchmark as a Markdown page: figures, ratios and the command that made them."""
    machine = results["machine"]
    gpus = ", ".join(machine["gpus"]) or "none"
    roofline = results["roofline_gflops"]
    lines = [
        f"# Benchmark: {kind}",
        "",
        f"Made by `{results['command']}` on {results['date']}.",
        f"Machine: {machine['processor']}, {machine['cpu_count']} CPUs, GPUs: {gpus}; "
        f"TensorFlow {machine['tensorflow']}, Keras {machine['keras']}.",
        "",
        f"Roofline: float32 matmul {results['matmul_size']}x{results['matmul_size']}: **{roofline:.1f} GFLOP/s**.",
        "",
        "## Reinjection chains (R = 10 per restart, MNIST autoencoders, untrained weights)",
        "",
        "| model | B chains | implementation | reinjections/s | GFLOP/s | % of roofline |",
        "|---|---|---|---|---|---|",
    ]
    for r in results["sampler"]:
        variant = r.get("variant") or ("aesampling, XLA" if r["xla"] else "aesampling, tf.function")
        lines.append(f"| {r['model']} | {r['chains']} | {variant} | {r['reinjections_per_s']:,.0f} | "
                     f"{r['gflops']:.1f} | {100 * r['gflops'] / roofline:.0f}% |")
    lines += ["", "## Train-on-synthetic step (sample one restart, label, one Adam step)", "",
              "| model | fused in one tf.function | XLA | steps/s | samples/s | GFLOP/s | % of roofline |",
              "|---|---|---|---|---|---|---|"]
    for r in results["train_step"]:
        lines.append(f"| {r['model']} | {'yes' if r['fused'] else 'no'} | {'yes' if r['xla'] else 'no'} | "
                     f"{r['steps_per_s']:.1f} | {r['samples_per_s']:,.0f} | {r['gflops']:.1f} | "
                     f"{100 * r['gflops'] / roofline:.0f}% |")
    memory_model = results.get("sample_memory_model", "deep_ae")
    lines += ["", f"## Peak memory of `scripts/sample.py` ({memory_model}, streamed to disk)", "",
              "| N_s | peak RSS | file size | seconds |", "|---|---|---|---|"]
    for r in results.get("sample_memory") or []:
        lines.append(f"| {r['num_samples']:,} | {r['peak_rss_bytes'] / 2**20:,.0f} MiB | "
                     f"{r['file_bytes'] / 2**20:,.0f} MiB | {r['seconds']:.1f} |")
    extraction = results.get("feature_extraction")
    if extraction:
        lines += ["", "## ResNet50 feature extraction (CIFAR)", "",
                  f"{extraction['images_per_s']:.1f} images/s at {extraction['image_size']}x{extraction['image_size']} "
                  f"(batch 32): the 60,000 CIFAR images would take about "
                  f"{extraction['cifar_60000_hours']:.2f} h on this machine."]
    lines += ["", "## Ratios", ""]
    summary = results["summary"]
    for model, entry in summary.items():
        if not isinstance(entry, dict):
            continue
        for key, row in entry.items():
            if key.startswith("chains_"):
                parts = [f"best {'XLA' if row['best_is_xla'] else 'tf.function'} "
                         f"({row['xla_over_plain']:.2f}x XLA/plain)", f"{100 * row['roofline_fraction']:.0f}% of roofline"]
                parts += [f"{row[k]:.0f}x {k.removeprefix('speedup_over_').replace('_', ' ')}"
                          for k in row if k.startswith("speedup_over_")]
                lines.append(f"- {model}, B = {key.removeprefix('chains_')}: " + ", ".join(parts))
        if "train_step" in entry:
            t = entry["train_step"]
            lines.append(f"- {model}, train-on-synthetic: fused {t['fused_over_unfused']:.2f}x unfused "
                         f"(best of XLA/plain each; {t['fused_over_unfused_plain']:.2f}x without XLA), "
                         f"fused at {100 * t['fused_roofline_fraction']:.0f}% of roofline")
    if "sample_memory_ratio" in summary:
        lines.append(f"- sample.py peak RSS, largest N_s over smallest: {summary['sample_memory_ratio']:.2f}x")
    lines.append("")
    return "\n".join(lines)
