"""Speed measurements, side by side in one process (machines here are shared and noisy).

Everything is compared with the same machine's ceiling: the GFLOP/s of a
large matrix product on the Keras backend in use, in the same dtype. A reinjection of one chain
through a dense autoencoder costs 2·Σ(fan_in·fan_out) FLOPs (the matrix
products; biases and activations are not counted), so

    GFLOP/s = chains · reinjections · 2·Σ(fan_in·fan_out) / seconds.

Each timing is the best of a few repeats of a call that runs for at least
`min_seconds`, after a warm-up call that compiles it, and every call waits
for the backend to finish (JAX and GPUs compute asynchronously).

The chains' samples are delivered one of two ways (`DELIVERIES`), and a
sampler is only compared with a baseline that delivers them the same way:
"host", copied into a numpy array, as `ReinjectionSampler.sample` and a
`predict` loop return them; "device", left where they were computed, as the
fused train-on-synthetic loop uses them. On a GPU the copy can cost more
than the chains.
"""

from __future__ import annotations

import math
import time
from typing import Callable

import keras
import numpy as np
from keras import ops

from aesampling import backend
from aesampling.evaluation import learning_curves
from aesampling.sampling.teacher import Labeler
from aesampling.sampling.reinjection import ReinjectionConfig, ReinjectionSampler


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


DELIVERIES = ("host", "device")


def matmul_gflops(size: int, *, dtype: str = "float32", min_seconds: float = 1.0) -> float:
    """GFLOP/s of a size x size matrix product in `dtype` (the roofline of dense layers), at the backend's default
    matmul precision, the one the models run at (TF32 on recent NVIDIA GPUs under JAX)."""
    rng = np.random.default_rng(0)
    a, b = (ops.convert_to_tensor(rng.standard_normal((size, size), dtype=np.float32), dtype) for _ in range(2))
    product = backend.compile(ops.matmul)  # the whole product is kept: nothing for the compiler to leave out
    seconds = best_seconds(lambda: backend.wait(product(a, b)), min_seconds=min_seconds)
    return 2 * size**3 / seconds / 1e9


def _chain_rate(seconds: float, chains: int, reinjections: int, flops_per_chain_step: int) -> dict:
    steps = chains * reinjections
    return {"seconds": seconds, "reinjections_per_s": steps / seconds,
            "gflops": steps * flops_per_chain_step / seconds / 1e9}


def check_delivery(delivery: str) -> None:
    if delivery not in DELIVERIES:
        raise ValueError(f"delivery must be one of {DELIVERIES}, got {delivery!r}")


def compiled_sampler(autoencoder, chains: int, *, reinjections: int = 10, restarts: int = 4, jit_compile: bool,
                     delivery: str = "host", min_seconds: float = 1.0) -> dict:
    """aesampling's sampler: `restarts` restarts of R reinjections of B chains in one compiled call, every state
    collected; their samples delivered to the host (`restarts`) or left on the device (`device_restarts`)."""
    check_delivery(delivery)
    config = ReinjectionConfig(lam=0.05, num_chains=chains, reinjections=reinjections, burn_in=0)
    sampler = ReinjectionSampler(autoencoder, config, seed=0, jit_compile=jit_compile)
    if delivery == "host":
        call = lambda: sampler.restarts(0, restarts)  # noqa: E731
    else:
        call = lambda: backend.wait(sampler.device_restarts(0, restarts))  # noqa: E731
    seconds = best_seconds(call, min_seconds=min_seconds)
    return _chain_rate(seconds, chains, reinjections * restarts, dense_flops(autoencoder))


def predict_loop(autoencoder, chains: int, *, reinjections: int = 10, min_seconds: float = 1.0) -> dict:
    """What a user writes without the package: model.predict in a Python loop, numpy noise, every state kept (on
    the host, where predict returns it)."""
    rng = np.random.default_rng(0)
    dim = autoencoder.inputs[0].shape[1]
    scale = math.sqrt(0.05)

    def chain():
        x, states = rng.standard_normal((chains, dim), dtype=np.float32), []
        for _ in range(reinjections):
            noise = scale * rng.standard_normal(x.shape, dtype=np.float32)
            x = autoencoder.predict(x, batch_size=chains, verbose=0) + noise
            states.append(x)
        return np.stack(states)

    return _chain_rate(best_seconds(chain, min_seconds=min_seconds, repeats=2), chains, reinjections,
                       dense_flops(autoencoder))


def eager_loop(autoencoder, chains: int, *, reinjections: int = 10, min_seconds: float = 1.0) -> dict:
    """The same chain as eager backend calls in a Python loop, every state copied to the host as it is made."""
    dim = autoencoder.inputs[0].shape[1]
    scale = math.sqrt(0.05)
    seed = keras.random.SeedGenerator(0)

    def chain():
        x, states = keras.random.normal((chains, dim), seed=seed), []
        for _ in range(reinjections):
            x = autoencoder(x, training=False) + scale * keras.random.normal((chains, dim), seed=seed)
            states.append(ops.convert_to_numpy(x))
        return np.stack(states)

    return _chain_rate(best_seconds(chain, min_seconds=min_seconds, repeats=2), chains, reinjections,
                       dense_flops(autoencoder))


def dense_layers(model: keras.Model) -> list[tuple[np.ndarray, np.ndarray, str]]:
    """(kernel, bias, activation name) of each Dense layer of an MLP, in order."""
    layers = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    return [(ops.convert_to_numpy(layer.kernel), ops.convert_to_numpy(layer.bias), layer.activation.__name__)
            for layer in layers]


def hand_written_jax_loop(autoencoder, chains: int, *, dtype: str = "float32", reinjections: int = 10,
                          restarts: int = 4, delivery: str = "host", min_seconds: float = 1.0) -> dict:
    """The chain written directly in JAX (no Keras): what the compiled sampler's overhead is measured against.

    The MLP's Dense layers are applied by hand in `dtype` with float32 state
    and noise, R reinjections per restart in a lax.scan that collects every
    state, `restarts` restarts per call: the same samples' worth of work as
    `compiled_sampler`, delivered the same way.
    """
    import jax
    import jax.numpy as jnp

    activations = {"relu": jax.nn.relu, "sigmoid": jax.nn.sigmoid, "tanh": jnp.tanh, "linear": lambda h: h}
    layers = dense_layers(autoencoder)
    params = [(jnp.asarray(w, dtype), jnp.asarray(b, dtype)) for w, b, _ in layers]
    names = [name for _, _, name in layers]
    dim = params[0][0].shape[0]
    scale = math.sqrt(0.05)

    def reconstruct(params, x):
        h = x.astype(dtype)
        for (w, b), name in zip(params, names):
            h = activations[name](h @ w + b)
        return h.astype("float32")

    check_delivery(delivery)

    @jax.jit
    def run(params, key):
        def restart(carry, k):
            keys = jax.random.split(jax.random.fold_in(key, k), reinjections + 1)

            def reinject(x, t):
                x = reconstruct(params, x) + scale * jax.random.normal(keys[t], (chains, dim))
                return x, x

            x_0 = jax.random.normal(keys[0], (chains, dim))
            return carry, jax.lax.scan(reinject, x_0, jnp.arange(1, reinjections + 1))[1]

        return jax.lax.scan(restart, None, jnp.arange(restarts))[1].reshape(-1, dim)

    key = jax.random.key(0)
    if delivery == "host":
        call = lambda: np.asarray(run(params, key))  # noqa: E731
    else:
        call = lambda: backend.wait(run(params, key))  # noqa: E731
    seconds = best_seconds(call, min_seconds=min_seconds)
    return _chain_rate(seconds, chains, reinjections * restarts, dense_flops(autoencoder))


def train_on_synthetic(autoencoder, classifier, chains: int, *, fused: bool, jit_compile: bool = False,
                       steps: int = 20, min_seconds: float = 1.0) -> dict:
    """Learning steps per second of train-on-synthetic: sample one restart, label it, one Adam step.

    fused: the `steps` steps run in one compiled call (learning_curves.epoch_fn).
    Unfused: per step, three compiled calls with the batch copied to the
    host in between (sampler, labeller, training step), as a user would
    chain the pieces.
    """
    config = ReinjectionConfig(lam=0.05, num_chains=chains)
    sampler = ReinjectionSampler(autoencoder, config, seed=0, jit_compile=jit_compile)
    labeler = Labeler(classifier)
    student = keras.models.clone_model(classifier)
    trainer = learning_curves.student_trainer(student, keras.optimizers.Adam(1e-3))
    state = [trainer.initial_state()]
    if fused:
        source, _ = learning_curves.autoencoder_source(sampler)
        run = learning_curves.epoch_fn(source, labeler, trainer, steps, jit_compile=jit_compile)

        def call():
            state[0], loss = run(state[0], 0)
            float(loss)
    else:
        compiled_step = backend.compile(trainer.step, jit_compile=jit_compile)

        def call():
            for k in range(steps):
                x = sampler.restarts(k, 1)
                soft, _ = labeler(x)
                state[0], loss = compiled_step(state[0], ops.convert_to_tensor(x), ops.convert_to_tensor(soft))
            float(loss)

    seconds = best_seconds(call, min_seconds=min_seconds) / steps
    batch = config.samples_per_restart
    flops = chains * config.reinjections * dense_flops(autoencoder) + 4 * batch * dense_flops(classifier)
    return {"seconds_per_step": seconds, "steps_per_s": 1 / seconds, "samples_per_s": batch / seconds,
            "gflops": flops / seconds / 1e9}


def replay_cost(autoencoder, vae, decoder, teacher, *, batch: int = 128, chunk: int = 12_800, classes: int = 10,
                min_seconds: float = 1.0) -> list[dict]:
    """Seconds per class-incremental learning step to draw `batch` replayed samples and label them with the previous
    learner, as aesampling.continual does, side by side: reinjection of `autoencoder` with each recipe's replay
    chains (recipes.ReplayChains; the paper's from N(0, I), the recommended ones from `classes` classes' moments and
    principal directions, with their share of draws at those starts) against the VAE `decoder` of generative
    replay (`vae` the VAE it belongs to). `chunk` samples are drawn at a time, from N(0, I) draws of numpy made in
    the timed call as the harness makes them, and `protocol.STEP_BLOCK` steps' samples labelled in one pass (the
    seconds of labelling each step's apart beside them). Each row also gives the numbers the replay keeps between
    tasks besides the learner, as float32 bytes: the generator in training (the autoencoder; the whole VAE) and
    the copy replay is drawn from (the autoencoder; the decoder), and the class statistics the draws start from
    (`Adam`'s state of the generator in training, twice its weights, left out)."""
    from aesampling.continual import REPLAY_START_DIRECTIONS
    from aesampling.continual.protocol import STEP_BLOCK
    from aesampling.experiments import recipes
    from aesampling.sampling.reinjection import MOMENTS_START, Chains, StartMoments, start_for

    n = int(teacher.inputs[0].shape[-1])
    rng = np.random.default_rng(0)
    moments = StartMoments.by_class(rng.random((classes * 40, n), dtype=np.float32), np.repeat(np.arange(classes), 40),
                                    directions=REPLAY_START_DIRECTIONS)
    statistics = sum(np.asarray(part).size for part in (moments.mean, moments.std, moments.directions, moments.spread)
                     if part is not None)
    starts = Chains(None, ReinjectionConfig(lam=0.0, start=MOMENTS_START), seed=0, input_dim=n, start=moments)
    latent = int(decoder.inputs[0].shape[-1])
    x = np.zeros((batch * STEP_BLOCK, n), np.float32)
    label = best_seconds(lambda: teacher.predict_on_batch(x), min_seconds=min_seconds) / STEP_BLOCK
    label_each_step = best_seconds(lambda: teacher.predict_on_batch(x[:batch]), min_seconds=min_seconds)

    def start_draws():  # as protocol.Run._moments_noise draws them
        z = rng.standard_normal((chunk, n)).astype(np.float32)
        return np.asarray(ops.convert_to_numpy(starts.starting_point(z)), np.float32)

    def vae_draws():  # as protocol._sampler_draws draws a VAE's
        z = rng.standard_normal((chunk, latent)).astype(np.float32)
        return np.asarray(decoder.predict(z, batch_size=4096, verbose=0), np.float32)

    start_draw = best_seconds(start_draws, min_seconds=min_seconds) / chunk
    rows = []

    def row(generator, recipe, chains_config, share, per_sample, kept_numbers):
        per_step = batch * ((1 - share) * per_sample + share * start_draw)
        rows.append({"generator": generator, "recipe": recipe, "chains": chains_config, "start_share": share,
                     "draw_seconds_per_step": per_step, "label_seconds_per_step": label,
                     "seconds_per_step": per_step + label, "label_each_step_seconds": label_each_step,
                     "label_block": STEP_BLOCK, "kept_bytes": 4 * kept_numbers, "classes": classes})

    for recipe in (recipes.RECIPES[recipes.PAPER], recipes.RECIPES[recipes.RECOMMENDED]):
        replay = recipe.replay  # λ does not change the cost: the paper's, chosen by FD in a run, is timed at 0.1
        config = ReinjectionConfig(lam=replay.lam or 0.1, reinjections=replay.reinjections, burn_in=replay.burn_in,
                                   collect=replay.collect, start=recipe.start)
        sampler = ReinjectionSampler(autoencoder, config, seed=0, start=start_for(config, moments))
        restarts = math.ceil(chunk / sampler.config.samples_per_restart)
        drawn = restarts * sampler.config.samples_per_restart
        per_sample = best_seconds(lambda: sampler.restarts(0, restarts), min_seconds=min_seconds) / drawn
        origin = "class moments" if config.start == MOMENTS_START else "N(0, I)"
        chains_config = (f"R = {config.reinjections}, b = {config.burn_in}, {config.collect}, "
                         f"λ = {config.lam:g}, from {origin}")
        row("reinjection", recipe.name, chains_config, replay.start_share, per_sample,
            2 * autoencoder.count_params() + (statistics if config.start == MOMENTS_START else 0))
    row("vae", None, None, 0.0, best_seconds(vae_draws, min_seconds=min_seconds) / chunk,
        vae.count_params() + decoder.count_params())
    return rows


def learner_steps(learner, *, rows: int = 256, min_seconds: float = 1.0) -> list[dict]:
    """Seconds per Adam step of the class-incremental learner on `rows` examples (128 current + 128 replayed), as
    aesampling.continual trains it (`protocol.STEP_BLOCK` steps in one compiled call, backend.block_trainer) beside
    one `train_on_batch` call per step, on random inputs and one-hot targets [p_1 .. p_C, T = 1]."""
    from aesampling.continual.protocol import STEP_BLOCK

    rng = np.random.default_rng(0)
    classes = int(learner.output_shape[-1])
    x = rng.random((STEP_BLOCK, rows, int(learner.inputs[0].shape[-1])), dtype=np.float32)
    y = np.zeros((STEP_BLOCK, rows, classes + 1), np.float32)
    y[:, np.arange(rows), rng.integers(0, classes, rows)] = 1.0
    y[..., -1] = 1.0
    weights = np.ones((STEP_BLOCK, rows), np.float32)
    train = backend.block_trainer(learner)

    def block():
        train(x, y, weights)
        ops.convert_to_numpy(learner.trainable_variables[0].value)  # waits for the call to finish

    each = best_seconds(lambda: learner.train_on_batch(x[0], y[0], sample_weight=weights[0]), min_seconds=min_seconds)
    blocked = best_seconds(block, min_seconds=min_seconds) / STEP_BLOCK
    return [{"steps_per_call": 1, "rows": rows, "seconds_per_step": each},
            {"steps_per_call": STEP_BLOCK, "rows": rows, "seconds_per_step": blocked}]


def autoencoder_training(autoencoder, examples: int, *, batch_size: int = 128, epochs: int = 1) -> dict:
    """Examples per second of `fit` on random [0, 1] data, after one warm-up epoch that compiles the step."""
    x = np.random.default_rng(0).random((examples, autoencoder.inputs[0].shape[1]), dtype=np.float32)
    autoencoder.fit(x, x, epochs=1, batch_size=batch_size, verbose=0)
    start = time.perf_counter()
    autoencoder.fit(x, x, epochs=epochs, batch_size=batch_size, verbose=0)
    seconds = time.perf_counter() - start
    return {"examples": examples, "epochs": epochs, "batch_size": batch_size, "seconds": seconds,
            "examples_per_s": examples * epochs / seconds}


def feature_extraction(images: int, *, image_size: int = 224, batch_size: int = 32) -> dict:
    """ResNet50 (weights=None: same speed as ImageNet weights) on random 32x32 images resized to image_size."""
    from aesampling.data import resnet50

    pixels = np.random.default_rng(0).integers(0, 256, (images, 32, 32, 3)).astype(np.uint8)
    extractor = resnet50.build_extractor(None, image_size)
    run = lambda: resnet50.extract_features(pixels, image_size=image_size, batch_size=batch_size,  # noqa: E731
                                            extractor=extractor, verbose=False)
    seconds = best_seconds(run, min_seconds=0.0, repeats=2)
    return {"images": images, "image_size": image_size, "images_per_s": images / seconds,
            "cifar_60000_hours": 60000 / (images / seconds) / 3600}


def _rows(results: dict, key: str, **match) -> list[dict]:
    return [r for r in results.get(key, []) if all(r.get(k) == v for k, v in match.items())]


# The baselines each delivery is compared with: a predict or eager loop returns numpy arrays.
BASELINES = {"host": ("predict_loop", "eager_loop", "hand_written_jax"), "device": ("hand_written_jax",)}


def summarize(results: dict) -> dict:
    """The ratios the targets are stated in, per autoencoder, dtype, chain count and delivery (key
    `<dtype>_chains_<B>_<delivery>`): the best compiled sampler over each baseline that delivers its samples the
    same way, and bfloat16 over float32."""
    summary = {}
    for model in sorted({r["model"] for r in results["sampler"]}):
        entry = {}
        dtypes = sorted({r["dtype"] for r in _rows(results, "sampler", model=model)})
        for dtype, delivery in ((d, w) for d in dtypes for w in DELIVERIES):
            roofline = results["roofline_gflops"].get(dtype) or results["roofline_gflops"]["float32"]
            compiled = [r for r in _rows(results, "sampler", model=model, dtype=dtype, delivery=delivery)
                        if not r.get("variant")]
            for chains in sorted({r["chains"] for r in compiled}):
                ours = [r for r in compiled if r["chains"] == chains]
                best = max(ours, key=lambda r: r["reinjections_per_s"])
                row = {"best_is_xla": bool(best["xla"]), "roofline_fraction": best["gflops"] / roofline,
                       "gflops": best["gflops"], "reinjections_per_s": best["reinjections_per_s"]}
                by_xla = {r["xla"]: r for r in ours}
                if True in by_xla and False in by_xla:
                    row["xla_over_plain"] = by_xla[True]["reinjections_per_s"] / by_xla[False]["reinjections_per_s"]
                for variant in BASELINES[delivery]:
                    baseline = _rows(results, "sampler", model=model, chains=chains, dtype=dtype, variant=variant,
                                     delivery=delivery)
                    if baseline:
                        row[f"over_{variant}"] = best["reinjections_per_s"] / baseline[0]["reinjections_per_s"]
                if dtype != "float32":
                    single = [r for r in _rows(results, "sampler", model=model, chains=chains, delivery=delivery,
                                               dtype="float32") if not r.get("variant")]
                    if single:
                        row["over_float32"] = (best["reinjections_per_s"]
                                               / max(r["reinjections_per_s"] for r in single))
                entry[f"{dtype}_chains_{chains}_{delivery}"] = row
        steps = {(r["fused"], r["xla"]): r for r in _rows(results, "train_step", model=model)}
        fused = [r for (f, _), r in steps.items() if f]
        unfused = [r for (f, _), r in steps.items() if not f]
        if fused and unfused:
            best_fused = max(fused, key=lambda r: r["steps_per_s"])
            entry["train_step"] = {
                "fused_over_unfused": best_fused["steps_per_s"] / max(r["steps_per_s"] for r in unfused),
                "fused_best_is_xla": bool(best_fused["xla"]),
                "fused_roofline_fraction": best_fused["gflops"] / results["roofline_gflops"]["float32"],
            }
        summary[model] = entry
    memory = results.get("sample_memory") or []
    if len(memory) >= 2:
        summary["sample_memory_ratio"] = memory[-1]["peak_rss_bytes"] / memory[0]["peak_rss_bytes"]
    return summary
