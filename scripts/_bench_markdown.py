"""The benchmark's results as a Markdown page (scripts/benchmark.py writes it beside the JSON)."""


def _implementation(row: dict) -> str:
    if row.get("variant"):
        return row["variant"].replace("_", " ")
    return "aesampling, XLA" if row["xla"] else "aesampling, compiled (no XLA)"


def _delivery(row: dict) -> str:
    return "left on the device" if row.get("delivery") == "device" else "to the host"


def render_markdown(results: dict, kind: str) -> str:
    """The benchmark as a Markdown page: figures, ratios and the command that made them."""
    machine = results["machine"]
    gpus = ", ".join(machine["gpus"]) or "none"
    rooflines = results["roofline_gflops"]
    lines = [
        f"# Benchmark: {kind}",
        "",
        f"Made by `{results['command']}` at code {results.get('code') or 'not a git checkout'} on {results['date']}.",
        f"Machine: {machine['processor']}, {machine['cpu_count']} CPUs, GPUs: {gpus}; "
        f"Keras {machine['keras']} on {machine['backend']} {machine['backend_version']}.",
        "",
        "Roofline, a " + f"{results['matmul_size']}x{results['matmul_size']} matmul: "
        + ", ".join(f"**{v:,.1f} GFLOP/s** in {dtype}" for dtype, v in rooflines.items()) + ".",
        "",
        "## Reinjection chains (R = 10 per restart, MNIST autoencoders, untrained weights)",
        "",
        "Samples delivered to the host (a numpy array, as `sample()` and a `predict` loop return them) or left on "
        "the device where they were computed (as the fused train-on-synthetic loop uses them); each sampler is "
        "compared only with baselines that deliver the same way.",
        "",
        "| model | dtype | B chains | implementation | samples | reinjections/s | GFLOP/s | % of roofline |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in results["sampler"]:
        dtype = r.get("dtype", "float32")
        roofline = rooflines.get(dtype) or rooflines["float32"]
        lines.append(f"| {r['model']} | {dtype} | {r['chains']} | {_implementation(r)} | {_delivery(r)} | "
                     f"{r['reinjections_per_s']:,.0f} | {r['gflops']:,.1f} | {100 * r['gflops'] / roofline:.0f}% |")
    lines += ["", "## Train-on-synthetic step (sample one restart, label, one Adam step)", "",
              "| model | fused in one compiled call | XLA | steps/s | samples/s | GFLOP/s | % of roofline |",
              "|---|---|---|---|---|---|---|"]
    for r in results["train_step"]:
        lines.append(f"| {r['model']} | {'yes' if r['fused'] else 'no'} | {'yes' if r['xla'] else 'no'} | "
                     f"{r['steps_per_s']:.1f} | {r['samples_per_s']:,.0f} | {r['gflops']:.1f} | "
                     f"{100 * r['gflops'] / rooflines['float32']:.0f}% |")
    training = results.get("autoencoder_training") or []
    if training:
        lines += ["", "## Autoencoder training (`fit`, random data, after a warm-up epoch)", "",
                  "| model | examples | batch | examples/s | 54,000 images × 200 epochs would take |",
                  "|---|---|---|---|---|"]
        for r in training:
            lines.append(f"| {r['model']} | {r['examples']:,} | {r['batch_size']} | {r['examples_per_s']:,.0f} | "
                         f"{54000 * 200 / r['examples_per_s'] / 60:,.1f} min |")
    replay = results.get("replay") or []
    if replay:
        vae = next(r["seconds_per_step"] for r in replay if r["generator"] == "vae")
        block = replay[0].get("label_block", 1)
        lines += ["", f"## Replay cost per class-incremental step (128 samples drawn and labelled; "
                      f"{results.get('replay_model', 'deep_ae')} by reinjection against a 400-400 VAE decoder)", "",
                  f"| generator | recipe's chains | share drawn at the starts | draw ms/step | "
                  f"label ms/step ({block} steps a pass) | total ms/step | ratio to the VAE | "
                  "label ms/step, each step apart | kept between tasks |", "|---|---|---|---|---|---|---|---|---|"]
        for r in replay:
            each = r.get("label_each_step_seconds")
            chains = f"{r['recipe']}: {r['chains']}" if r.get("chains") else "-"
            kept = f"{r['kept_bytes'] / 2**20:.2f} MiB" if "kept_bytes" in r else "-"
            lines.append(f"| {r['generator']} | {chains} | {r.get('start_share', 0.0):.0%} | "
                         f"{1000 * r['draw_seconds_per_step']:.2f} | "
                         f"{1000 * r['label_seconds_per_step']:.2f} | {1000 * r['seconds_per_step']:.2f} | "
                         f"{r['seconds_per_step'] / vae:.2f}x | {'-' if each is None else f'{1000 * each:.2f}'} | "
                         f"{kept} |")
        lines += ["", "Kept between tasks, besides the previous learner (float32): the generator in training (the "
                      "autoencoder; the whole VAE) and the copy replay is drawn from (the autoencoder; the VAE's "
                      "decoder), and for chains that start at the class moments the statistics of "
                      f"{replay[0].get('classes', 10)} classes they start from; Adam's state of the generator in "
                      "training (twice its weights) left out."]
    steps = results.get("learner_steps") or []
    if steps:
        one = next(r["seconds_per_step"] for r in steps if r["steps_per_call"] == 1)
        lines += ["", f"## Class-incremental learner step (aesampling.continual's learner, Adam, {steps[0]['rows']} "
                      "examples a step)", "",
                  "| steps per compiled call | ms/step | speed-up over one call per step |", "|---|---|---|"]
        for r in steps:
            lines.append(f"| {r['steps_per_call']} | {1000 * r['seconds_per_step']:.2f} | "
                         f"{one / r['seconds_per_step']:.2f}x |")
    memory_model = results.get("sample_memory_model", "deep_ae")
    if results.get("sample_memory"):
        lines += ["", f"## Peak memory of `scripts/sample.py` ({memory_model}, streamed to disk)", "",
                  "| N_s | peak RSS | file size | seconds |", "|---|---|---|---|"]
        for r in results["sample_memory"]:
            lines.append(f"| {r['num_samples']:,} | {r['peak_rss_bytes'] / 2**20:,.0f} MiB | "
                         f"{r['file_bytes'] / 2**20:,.0f} MiB | {r['seconds']:.1f} |")
    extraction = results.get("feature_extraction")
    if extraction:
        lines += ["", "## ResNet50 feature extraction (CIFAR)", "",
                  f"{extraction['images_per_s']:.1f} images/s at {extraction['image_size']}x{extraction['image_size']} "
                  f"(batch 32): the 60,000 CIFAR images would take about "
                  f"{extraction['cifar_60000_hours']:.2f} h on this machine."]
    lines += ["", "## Ratios (aesampling's best compiled sampler against each baseline, same run)", ""]
    summary = results["summary"]
    for model, entry in summary.items():
        if not isinstance(entry, dict):
            continue
        for key, row in entry.items():
            if "_chains_" in key:
                dtype, rest = key.split("_chains_")
                chains, _, delivery = rest.partition("_")  # no delivery in reports made before it was recorded
                parts = [f"best {'XLA' if row['best_is_xla'] else 'compiled without XLA'}"]
                if "xla_over_plain" in row:
                    parts[0] += f" ({row['xla_over_plain']:.2f}x XLA/plain)"
                parts.append(f"{100 * row['roofline_fraction']:.0f}% of roofline")
                parts += [f"{row[k]:.2f}x {k.removeprefix('over_').replace('_', ' ')}"
                          for k in row if k.startswith("over_") and k != "over_float32"]
                if "over_float32" in row:
                    parts.append(f"{row['over_float32']:.2f}x its float32 speed")
                lines.append(f"- {model}, {dtype}, B = {chains}, samples {_delivery({'delivery': delivery})}: "
                             + ", ".join(parts))
        if "train_step" in entry:
            t = entry["train_step"]
            lines.append(f"- {model}, train-on-synthetic: fused {t['fused_over_unfused']:.2f}x unfused "
                         f"(best of each), fused at {100 * t['fused_roofline_fraction']:.0f}% of roofline")
    if "sample_memory_ratio" in summary:
        lines.append(f"- sample.py peak RSS, largest N_s over smallest: {summary['sample_memory_ratio']:.2f}x")
    lines.append("")
    return "\n".join(lines)
