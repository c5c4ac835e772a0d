"""Speed of the reinjection loop and of train-on-synthetic, measured side by side in one run.

    python scripts/benchmark.py                       # writes results/benchmarks/<machine kind>.{md,json}

For the MNIST deep autoencoder (784-600-400-100-400-600-784) and the shallow
one (784-32-784), with untrained weights (speed does not depend on them):
the compiled sampler at several chain counts, with and without XLA; the same
chain as a model.predict loop and as an eager loop; the machine's float32
matmul ceiling; the train-on-synthetic step fused in one tf.function against
separate calls; the peak memory of scripts/sample.py for growing N_s.
"""

import datetime
import re
import shlex
import sys
from pathlib import Path

import _common
from absl import flags, logging

from aesampling import benchmark, io, presets, training
from aesampling.errors import UserInputError
from aesampling.workflow import machine_description

flags.DEFINE_string("output_dir", "results/benchmarks", "Folder for <kind>.md and <kind>.json.")
flags.DEFINE_string("kind", None, "Name of the machine kind in the file names (default: derived from the hardware).")
flags.DEFINE_list("models", ["deep_ae", "shallow_ae"], "MNIST autoencoder presets to measure; the first one also "
                  "serves the memory measurement.")
flags.DEFINE_list("chains", ["50", "512", "4096"], "Chain counts B for the sampler.")
flags.DEFINE_list("baseline_chains", ["50", "512"], "Chain counts for the predict and eager loops (slow).")
flags.DEFINE_list("rss_samples", ["10000", "100000", "1000000"], "N_s values for the memory of sample.py.")
flags.DEFINE_integer("chunk_samples", 16384, "sample.py chunk size in the memory measurement.")
flags.DEFINE_integer("matmul_size", None, "Side of the roofline matmul (default: 2048 on CPU, 8192 on GPU).")
flags.DEFINE_float("min_seconds", 1.0, "Minimum duration of one timed repeat.")
flags.DEFINE_integer("train_chains", 50, "B in the train-on-synthetic comparison (paper: 50).")
flags.DEFINE_integer("extraction_images", 64, "Images for the ResNet50 extraction speed (0: skip).")
flags.DEFINE_integer("extraction_image_size", 224, "Side the images are resized to for the extraction speed (make's IMAGE_SIZE).")
FLAGS = flags.FLAGS

REPO = Path(__file__).resolve().parents[1]


def _ints(values):
    try:
        return [int(v) for v in values]
    except ValueError as e:
        raise _common.UserInputError(f"expected integers, got {values}") from e


def machine_kind(machine: dict) -> str:
    if machine["gpus"]:
        import tensorflow as tf

        details = tf.config.experimental.get_device_details(tf.config.list_physical_devices("GPU")[0])
        name = details.get("device_name", "gpu")
        return re.sub(r"[^a-z0-9]+", "-", f"gpu-{name}".lower()).strip("-")
    cpu = re.sub(r"[^a-z0-9]+", "-", machine["processor"].lower()).strip("-")
    return f"cpu-{machine['cpu_count']}core-{cpu}"


def main():
    chain_counts, baseline_counts = _ints(FLAGS.chains), _ints(FLAGS.baseline_chains)
    rss_counts = _ints(FLAGS.rss_samples)
    machine = machine_description()
    on_gpu = bool(machine["gpus"])
    mnist = presets.experiment_presets("mnist")
    names = FLAGS.models
    unknown = sorted(set(names) - set(mnist.autoencoders))
    if not names or unknown:
        raise UserInputError(f"--models must name MNIST autoencoder presets {sorted(mnist.autoencoders)}, got {names}")
    autoencoders = {name: training.build_autoencoder_from_preset(mnist.autoencoders[name], 784, seed=0, name=name)
                    for name in names}
    classifier = training.build_classifier_from_preset(mnist.classifier, 784, 10)
    seconds = FLAGS.min_seconds
    results = {"machine": machine, "command": shlex.join(["python", *sys.argv]),
               "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")}

    size = FLAGS.matmul_size or (8192 if on_gpu else 2048)
    results["roofline_gflops"] = benchmark.matmul_gflops(size, min_seconds=seconds)
    results["matmul_size"] = size
    logging.info("roofline: %.1f GFLOP/s", results["roofline_gflops"])

    results["sampler"] = []
    for name, model in autoencoders.items():
        for chains in chain_counts:
            for xla in (False, True):
                row = benchmark.compiled_sampler(model, chains, jit_compile=xla, min_seconds=seconds)
                results["sampler"].append({"model": name, "chains": chains, "xla": xla, **row})
                logging.info("sampler %s B=%d xla=%s: %.3g reinjections/s, %.1f GFLOP/s", name, chains, xla,
                             row["reinjections_per_s"], row["gflops"])
        for chains in baseline_counts:
            for label, fn in (("predict_loop", benchmark.predict_loop), ("eager_loop", benchmark.eager_loop)):
                row = fn(model, chains, min_seconds=seconds)
                results["sampler"].append({"model": name, "chains": chains, "xla": None, "variant": label, **row})
                logging.info("%s %s B=%d: %.3g reinjections/s", label, name, chains, row["reinjections_per_s"])

    results["train_step"] = []
    for name, model in autoencoders.items():
        for fused in (True, False):
            for xla in (False, True):
                row = benchmark.train_on_synthetic(model, classifier, FLAGS.train_chains, fused=fused,
                                                   jit_compile=xla, min_seconds=seconds)
                results["train_step"].append({"model": name, "fused": fused, "xla": xla, **row})
                logging.info("train step %s fused=%s xla=%s: %.1f steps/s", name, fused, xla, row["steps_per_s"])

    folder = benchmark.scratch_folder()
    path = benchmark.save_temporary(autoencoders[names[0]], folder, names[0])
    results["sample_memory"], results["sample_memory_model"] = [], names[0]
    for count in rss_counts:
        row = benchmark.sample_peak_rss(path, count, f"{folder}/samples.npz", chunk_samples=FLAGS.chunk_samples,
                                        repo=REPO)
        results["sample_memory"].append(row)
        logging.info("sample.py N_s=%d: peak RSS %.0f MB", count, row["peak_rss_bytes"] / 2**20)

    if FLAGS.extraction_images > 0:
        results["feature_extraction"] = benchmark.feature_extraction(FLAGS.extraction_images,
                                                                      image_size=FLAGS.extraction_image_size)
        logging.info("ResNet50 extraction: %.1f images/s", results["feature_extraction"]["images_per_s"])

    results["summary"] = benchmark.summarize(results)
    kind = FLAGS.kind or machine_kind(machine)
    out = Path(FLAGS.output_dir)
    io.write_json(out / f"{kind}.json", results)
    io.write_text(out / f"{kind}.md", benchmark.render_markdown(results, kind))
    print(benchmark.render_markdown(results, kind))


if __name__ == "__main__":
    _common.run(main)
