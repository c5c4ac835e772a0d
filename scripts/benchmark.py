"""Speed of the reinjection loop and of train-on-synthetic, measured side by side in one run.

    python scripts/benchmark.py                       # writes results/benchmarks/<machine kind>.{md,json}

For the MNIST deep autoencoder (784-600-400-100-400-600-784) and the shallow
one (784-32-784), with untrained weights (speed does not depend on them), on
the Keras backend in use (KERAS_BACKEND): the compiled sampler at several
chain counts and dtypes, with and without XLA (JAX: always XLA), its samples
copied to the host or left on the device; the same chain as a model.predict
loop, as an eager loop and, on JAX, hand-written in JAX without Keras
(delivered both ways); the machine's matmul ceiling per dtype; the
train-on-synthetic step fused in one compiled call against separate calls;
autoencoder training with `fit`; the peak memory of scripts/sample.py for
growing N_s.
"""

import datetime
import os
import re
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import _bench_markdown
import _common
from absl import flags, logging

import keras

from aesampling import backend
from aesampling import benchmark
from aesampling.io import storage
from aesampling.models import presets
from aesampling.models import fitting
from aesampling.errors import UserInputError
from aesampling.experiments import machine_description, records

flags.DEFINE_string("output_dir", "results/benchmarks", "Folder for <kind>.md and <kind>.json.")
flags.DEFINE_string("kind", None, "Name of the machine kind in the file names (default: derived from the hardware).")
flags.DEFINE_list("models", ["deep_ae", "shallow_ae"], "MNIST autoencoder presets to measure; the first one also "
                  "serves the memory measurement; the replay cost takes shallow_ae where it is measured (the replay "
                  "autoencoder of aesampling.continual), else the first.")
flags.DEFINE_list("chains", ["50", "512", "4096"], "Chain counts B for the sampler.")
flags.DEFINE_list("baseline_chains", ["50", "512"], "Chain counts for the predict and eager loops (slow).")
flags.DEFINE_list("rss_samples", ["10000", "100000", "1000000"], "N_s values for the memory of sample.py.")
flags.DEFINE_integer("chunk_samples", 16384, "sample.py chunk size in the memory measurement.")
flags.DEFINE_integer("matmul_size", None, "Side of the roofline matmul (default: 2048 on CPU, 8192 on GPU).")
flags.DEFINE_float("min_seconds", 1.0, "Minimum duration of one timed repeat.")
flags.DEFINE_integer("train_chains", 50, "B in the train-on-synthetic comparison (paper: 50).")
flags.DEFINE_integer("extraction_images", 64, "Images for the ResNet50 extraction speed (0: skip).")
flags.DEFINE_integer("extraction_image_size", 224, "Side the images are resized to for the extraction speed (make's IMAGE_SIZE).")
flags.DEFINE_list("dtypes", ["float32"], "Compute dtypes of the sampler: float32, bfloat16 (mixed_bfloat16 layers, "
                  "float32 chain state).")
flags.DEFINE_integer("train_examples", 6400, "Random examples per epoch in the autoencoder training speed (0: skip).")
FLAGS = flags.FLAGS

SCRIPTS = Path(__file__).resolve().parent  # sample.py lies beside this script, in a checkout or installed


def machine_kind(machine: dict) -> str:
    model = backend.accelerator_model() if machine["gpus"] else None
    if model:
        return re.sub(r"[^a-z0-9]+", "-", f"gpu-{model}".lower()).strip("-")
    cpu = re.sub(r"[^a-z0-9]+", "-", machine["processor"].lower()).strip("-")
    return f"cpu-{machine['cpu_count']}core-{cpu}"


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
                    scripts: Path) -> dict:
    """Peak resident memory (bytes) and seconds of sample.py (in the folder `scripts`) writing `num_samples`
    samples."""
    command = [sys.executable, "-c", _RSS_PROBE.format(scripts=str(scripts)), str(scripts / "sample.py"),
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
    """Saves `model` as <folder>/<name>.keras for a script to load; returns the path."""
    path = os.path.join(folder, f"{name}.keras")
    storage.save_model(model, path)
    return path


DTYPE_POLICIES = {"float32": "float32", "bfloat16": "mixed_bfloat16"}


def build_autoencoders(names, dtype: str) -> dict:
    """The MNIST presets' autoencoders, computing in `dtype` (float32 variables and output)."""
    mnist = presets.experiment_presets("mnist")
    keras.config.set_dtype_policy(DTYPE_POLICIES[dtype])
    try:
        return {name: fitting.build_autoencoder_from_preset(mnist.autoencoders[name], 784, seed=0, name=name)
                for name in names}
    finally:
        keras.config.set_dtype_policy("float32")


def main():
    chain_counts = _common.integers("chains", FLAGS.chains)
    baseline_counts = _common.integers("baseline_chains", FLAGS.baseline_chains)
    rss_counts = _common.integers("rss_samples", FLAGS.rss_samples)
    dtypes = FLAGS.dtypes
    if not dtypes or set(dtypes) - set(DTYPE_POLICIES):
        raise UserInputError(f"--dtypes must name some of {sorted(DTYPE_POLICIES)}, got {dtypes}")
    machine = machine_description()
    on_gpu = bool(machine["gpus"])
    on_jax = backend.is_jax()
    mnist = presets.experiment_presets("mnist")
    names = FLAGS.models
    unknown = sorted(set(names) - set(mnist.autoencoders))
    if not names or unknown:
        raise UserInputError(f"--models must name MNIST autoencoder presets {sorted(mnist.autoencoders)}, got {names}")
    autoencoders = {dtype: build_autoencoders(names, dtype) for dtype in dtypes}
    classifier = fitting.build_classifier_from_preset(mnist.classifier, 784, 10)
    seconds = FLAGS.min_seconds
    xla_choices = (True,) if on_jax else (False, True)  # jax.jit always compiles with XLA
    results = {"machine": machine, "command": shlex.join(["python", *sys.argv]), "code": records.code_version(),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}

    size = FLAGS.matmul_size or (8192 if on_gpu else 2048)
    results["roofline_gflops"] = {dtype: benchmark.matmul_gflops(size, dtype=dtype, min_seconds=seconds)
                                  for dtype in dtypes}
    results["matmul_size"] = size
    logging.info("roofline: %s GFLOP/s", results["roofline_gflops"])

    results["sampler"] = []

    def measure(name, dtype, chains, fn, **row):
        rate = fn()
        results["sampler"].append({"model": name, "dtype": dtype, "chains": chains, **row, **rate})
        logging.info("sampler %s %s B=%d %s: %.3g reinjections/s, %.1f GFLOP/s", name, dtype, chains, row,
                     rate["reinjections_per_s"], rate["gflops"])

    for dtype in dtypes:
        for name, model in autoencoders[dtype].items():
            for chains in chain_counts:
                for delivery in benchmark.DELIVERIES:
                    for xla in xla_choices:
                        measure(name, dtype, chains, lambda: benchmark.compiled_sampler(
                            model, chains, jit_compile=xla, delivery=delivery, min_seconds=seconds), xla=xla,
                            delivery=delivery)
                    if on_jax:
                        measure(name, dtype, chains, lambda: benchmark.hand_written_jax_loop(
                            model, chains, dtype=dtype, delivery=delivery, min_seconds=seconds), xla=True,
                            variant="hand_written_jax", delivery=delivery)
            for chains in baseline_counts:
                for label, fn in (("predict_loop", benchmark.predict_loop), ("eager_loop", benchmark.eager_loop)):
                    measure(name, dtype, chains, lambda: fn(model, chains, min_seconds=seconds), xla=None,
                            variant=label, delivery="host")

    float32_models = autoencoders[dtypes[0]] if dtypes[0] == "float32" else build_autoencoders(names, "float32")
    results["train_step"] = []
    for name, model in float32_models.items():
        for fused in (True, False):
            for xla in xla_choices:
                row = benchmark.train_on_synthetic(model, classifier, FLAGS.train_chains, fused=fused,
                                                   jit_compile=xla, min_seconds=seconds)
                results["train_step"].append({"model": name, "fused": fused, "xla": xla, **row})
                logging.info("train step %s fused=%s xla=%s: %.1f steps/s", name, fused, xla, row["steps_per_s"])

    results["autoencoder_training"] = []
    if FLAGS.train_examples > 0:
        for name, model in build_autoencoders(names, "float32").items():
            row = benchmark.autoencoder_training(model, FLAGS.train_examples)
            results["autoencoder_training"].append({"model": name, **row})
            logging.info("training %s: %.0f examples/s", name, row["examples_per_s"])

    from aesampling.continual import networks

    vae, decoder = networks.build_vae(784, seed=0)
    learner = networks.build_learner(784, 10)
    # the replay autoencoder of aesampling.continual: the dataset's shallow AE preset by default
    results["replay_model"] = "shallow_ae" if "shallow_ae" in float32_models else names[0]
    results["replay"] = benchmark.replay_cost(float32_models[results["replay_model"]], vae, decoder, learner,
                                              min_seconds=seconds)
    results["learner_steps"] = benchmark.learner_steps(learner, min_seconds=seconds)
    for row in results["learner_steps"]:
        logging.info("learner, %d steps a call: %.2f ms per step", row["steps_per_call"],
                     1000 * row["seconds_per_step"])
    for row in results["replay"]:
        logging.info("replay %s (%s): %.2f ms per learning step", row["generator"], row["recipe"] or "-",
                     1000 * row["seconds_per_step"])

    results["sample_memory"], results["sample_memory_model"] = [], names[0]
    # The memory measurement's model and samples live in a scratch folder, removed afterwards.
    with tempfile.TemporaryDirectory(prefix="aesampling-bench-") as folder:
        path = save_temporary(float32_models[names[0]], folder, names[0])
        for count in rss_counts:
            row = sample_peak_rss(path, count, f"{folder}/samples.npz", chunk_samples=FLAGS.chunk_samples,
                                  scripts=SCRIPTS)
            results["sample_memory"].append(row)
            logging.info("sample.py N_s=%d: peak RSS %.0f MB", count, row["peak_rss_bytes"] / 2**20)

    if FLAGS.extraction_images > 0:
        results["feature_extraction"] = benchmark.feature_extraction(FLAGS.extraction_images,
                                                                      image_size=FLAGS.extraction_image_size)
        logging.info("ResNet50 extraction: %.1f images/s", results["feature_extraction"]["images_per_s"])

    results["summary"] = benchmark.summarize(results)
    kind = FLAGS.kind or machine_kind(machine)
    out = Path(FLAGS.output_dir)
    storage.write_json(out / f"{kind}.json", results)
    storage.write_text(out / f"{kind}.md", _bench_markdown.render_markdown(results, kind))
    print(_bench_markdown.render_markdown(results, kind))


if __name__ == "__main__":
    _common.run(main)
