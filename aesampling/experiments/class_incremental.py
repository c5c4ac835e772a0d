"""Stage: class-incremental learning by replay (aesampling.continual), every method over every seed, with its report.

Writes into `output_dir`: results.csv (seed, method, task, accuracy, seconds),
table.md and metrics.json (each method's final accuracy as mean ± sd over the
seeds, its gap to joint, its accuracy after each task and its seconds),
accuracy.png (accuracy after each task), replay_<generator>.png (samples of
each generator's copy after each task, labelled by that task's learner) and
config.json (the run's record). A killed run resumes at the task it was in:
`.partial/` holds the finished seeds' results, and each method's state at the end
of its last completed task in the seed at hand (`io.resume.TaskCheckpoint`). The replay
autoencoder is the dataset's `autoencoder_preset` (its shallow AE by default),
or the architecture of `autoencoder` (a user's .keras, of any input shape),
trained afresh task by task.
"""

from __future__ import annotations

import dataclasses
import shutil
import time
from pathlib import Path

import numpy as np
import pandas as pd
from absl import logging

from aesampling.experiments import recipes
from aesampling.continual import REPLAY_FD_LAMBDAS, protocol
from aesampling.continual.tasks import split_classes, split_tasks
from aesampling.data import datasets
from aesampling.errors import UserInputError
from aesampling.experiments import outputs
from aesampling.experiments.configs import ClassIncrementalConfig
from aesampling.experiments.inputs import check_fits, load_data
from aesampling.experiments.records import fingerprint, run_record
from aesampling.io import storage
from aesampling.io.resume import TaskCheckpoint
from aesampling.models import presets, shapes
from aesampling.reporting import plots, tables
from aesampling.reporting.progress import duration
from aesampling.sampling.reinjection import MOMENTS_START, ReinjectionConfig

OUTPUTS = ("results.csv", "table.md", "metrics.json", "accuracy.png", "config.json")
GENERATORS = ("reinjection", "balanced_reinjection", "vae", "vae_moments")


def _check_settings_fit(config: ClassIncrementalConfig, dataset: datasets.Dataset) -> None:
    """A buffer no larger than any class's training examples; validation examples of every class where λ is chosen
    by FD; an autoencoder of the data's size."""
    methods = [protocol.METHODS[name] for name in config.methods]
    smallest = int(np.bincount(dataset.y_train, minlength=dataset.num_classes).min())
    if any(m.buffer_share for m in methods) and config.buffer_per_class > smallest:
        raise UserInputError(f"`buffer_per_class` = {config.buffer_per_class} exceeds the {smallest} training "
                             f"examples of {dataset.name}'s smallest class: keep at most {smallest} per class")
    replay = replay_settings(config)
    draws_at_moments = any(m.generator == "moments_noise" or (m.start_draws and replay.start_share) for m in methods)
    if "vae_distill_moments" in config.methods and not replay.start_share:
        raise UserInputError("vae_distill_moments draws `start_share` of its replay where the chains start, and "
                             "it is 0 here: set `start_share` above 0, or use the recommended recipe")
    reads_directions = config.start_directions and (replay.chains.start == MOMENTS_START or draws_at_moments)
    if reads_directions and config.start_directions >= dataset.x_train.shape[1]:
        raise UserInputError(f"`start_directions` = {config.start_directions} must stay below the "
                             f"{dataset.x_train.shape[1]} features of {dataset.name}'s examples")
    if reads_directions and config.start_directions >= smallest:
        raise UserInputError(f"`start_directions` = {config.start_directions} needs more training examples of every "
                             f"class than that; {dataset.name}'s smallest class has {smallest}")
    chooses_lambda = replay.lam is None and any(m.generator == "reinjection" for m in methods)
    if chooses_lambda and (dataset.x_val is None
                               or min(np.sum(dataset.y_val == c) for c in range(dataset.num_classes)) < 2):
        raise UserInputError("choosing λ by FD needs a validation split with 2 examples of every class: set "
                             "`validation_fraction` above 0, or give `lam`")


@dataclasses.dataclass(frozen=True)
class ReplaySettings:
    """A run's reinjection replay: the chains' settings but λ, λ (None: chosen by FD after each task), the grid FD
    chooses from, the collected states it tries, and the share of the replay drawn where recommended chains start
    (`protocol.Settings.start_share`)."""

    chains: ReinjectionConfig
    lam: float | None
    lambdas: tuple[float, ...]
    collects: tuple[str, ...]
    start_share: float


def replay_settings(config: ClassIncrementalConfig) -> ReplaySettings:
    """`config`'s replay where it gives it (`lam`, `lambdas`, `collects`, `start_share`), else its recipe's
    (`recipes.ReplayChains`)."""
    recipe = recipes.recipe(config.recipe)
    collects = config.collects or (recipe.replay.collect,)
    lam = config.lam if config.lam is not None else None if config.lambdas is not None else recipe.replay.lam
    chains = ReinjectionConfig(lam=0.0, reinjections=recipe.replay.reinjections, burn_in=recipe.replay.burn_in,
                               collect=collects[0], start=recipe.start)
    start_share = recipe.replay.start_share if config.start_share is None else config.start_share
    return ReplaySettings(chains, lam, config.lambdas or REPLAY_FD_LAMBDAS, collects, start_share)


def _settings(config: ClassIncrementalConfig, dataset: datasets.Dataset, template) -> protocol.Settings:
    preset = presets.experiment_presets(dataset.name).autoencoders[config.autoencoder_preset]
    replay = replay_settings(config)
    learner = {}
    if config.learner == "classifier":
        classifier = presets.experiment_presets(dataset.name).classifier
        learner = {"learner_units": classifier.hidden_units, "learner_activation": classifier.activation}
    return protocol.Settings(iterations=config.iterations, batch_size=config.batch_size, **learner,
                             replay_batch=config.replay_batch, buffer_per_class=config.buffer_per_class,
                             lam=replay.lam, lambdas=replay.lambdas, collects=replay.collects, chains=replay.chains,
                             start_share=replay.start_share, start_directions=config.start_directions,
                             autoencoder_units=preset.hidden_units,
                             autoencoder_activation=preset.activation, autoencoder=template)


def _seed_results(config, dataset, tasks, seed: int, partial: Path, key: str, template) -> dict:
    """The seed's methods, from `.partial/` when a run with the same settings finished them."""
    path, tasks_done = partial / f"seed_{seed}.json", partial / f"seed_{seed}"
    if path.is_file():
        saved = storage.read_json(path)
        if isinstance(saved, dict) and saved.get("fingerprint") == key:
            logging.info("seed %d: every method done by an earlier run, read from %s", seed, path)
            shutil.rmtree(tasks_done, ignore_errors=True)
            return saved
    run = protocol.Run(tasks, dataset.num_classes, _settings(config, dataset, template), seed)
    methods = {}
    for name in config.methods:  # in the config's order, which every output keeps
        checkpoint = TaskCheckpoint(tasks_done / f"{name}.npz", f"{key}/{name}")
        result = run.run_method(name, checkpoint)
        logging.info("seed %d, %s: accuracy after each task %s (%s)", seed, name,
                     ", ".join(f"{a:.3f}" for a in result["accuracies"]), duration(result["seconds"]))
        methods[name] = result
    grids = {kind: [(x.tolist(), labels.tolist()) for x, labels in sequence.grid]
             for kind, sequence in run.generators.items()}
    saved = {"fingerprint": key, "methods": methods, "grids": grids}
    storage.write_json(path, saved)
    shutil.rmtree(tasks_done, ignore_errors=True)  # the seed's task checkpoints: its JSON now holds it all
    return saved


def _summary(frame: pd.DataFrame, methods: tuple[str, ...], tasks: int) -> pd.DataFrame:
    final = frame[frame["task"] == tasks]
    rows = []
    joint = final.loc[final["method"] == "joint", "accuracy"].mean() if "joint" in methods else None
    for name in methods:
        of = final[final["method"] == name]
        after = frame[frame["method"] == name].groupby("task")["accuracy"].mean()
        sd = of["accuracy"].std(ddof=1)
        rows.append({"method": name, "final_mean": of["accuracy"].mean(), "final_sd": None if np.isnan(sd) else sd,
                     "final_min": of["accuracy"].min(), "final_max": of["accuracy"].max(),
                     "gap_to_joint": None if joint is None else joint - of["accuracy"].mean(),
                     "after_each_task": [round(float(a), 4) for a in after.values],
                     "seconds": of["seconds"].mean()})
    return pd.DataFrame(rows)


def _learner_text(config: ClassIncrementalConfig, dataset: str) -> str:
    if config.learner == "mlp":
        return "MLP 400-400"
    classifier = presets.experiment_presets(dataset).classifier
    return f"the ground-truth classifier preset's MLP {'-'.join(str(u) for u in classifier.hidden_units)}"


def _replay_record(config: ClassIncrementalConfig) -> dict:
    """The replay as a run records it: R, b, the collected states, λ or the grid FD chooses it from, and the share
    drawn where the chains start."""
    replay = replay_settings(config)
    return {"reinjections": replay.chains.reinjections, "burn_in": replay.chains.burn_in,
            "collects": list(replay.collects), "lam": replay.lam if replay.lam is not None else "chosen by FD",
            "lambdas": None if replay.lam is not None else list(replay.lambdas), "start_share": replay.start_share}


def _replay_text(replay: dict) -> str:
    steps = f"R = {replay['reinjections']}, b = {replay['burn_in']}"
    if replay["lambdas"] is None:
        text = f"= {replay['lam']:g}, {steps}, collecting {replay['collects'][0]} states"
    else:
        grid = ", ".join(f"{value:g}" for value in replay["lambdas"])
        text = (f"chosen by FD after each task among {grid} (widened beyond an edge), {steps}, collecting "
                f"{' or '.join(replay['collects'])} states")
    if replay["start_share"]:
        text += f"; {replay['start_share']:.0%} of reinjection replay drawn where the chains start"
    return text


def _table(summary: pd.DataFrame, config: ClassIncrementalConfig, dataset: str, tasks, record: dict) -> str:
    seeds = len(config.seeds)
    lines = [f"# Class-incremental split {dataset}: {len(tasks)} tasks of classes "
             f"{', '.join('/'.join(str(c) for c in t) for t in tasks)}", "",
             f"Learner {_learner_text(config, dataset)}, {config.iterations} Adam steps per task, batch "
             f"{config.batch_size} + {config.replay_batch} replayed; {seeds} seed{'s' if seeds > 1 else ''} "
             f"({', '.join(str(s) for s in config.seeds)}); buffer {config.buffer_per_class} per class; replay "
             f"chains from {record['replay_start']} (recipe {config.recipe}), λ "
             f"{_replay_text(record['replay_chains'])}. "
             f"Accuracy on the test images of all {sum(len(t) for t in tasks)} classes after the last task (mean ± sd "
             "over seeds, [min, max]).",
             "", "| method | final accuracy | gap to joint | after each task (mean) | seconds per seed |",
             "|---|---|---|---|---|"]
    for row in summary.itertuples():
        sd = "" if row.final_sd is None or np.isnan(row.final_sd) else f" ± {row.final_sd:.4f}"
        gap = "-" if row.gap_to_joint is None else f"{row.gap_to_joint:+.4f}"
        lines.append(f"| {row.method} | {row.final_mean:.4f}{sd} [{row.final_min:.4f}, {row.final_max:.4f}] | "
                     f"{gap} | {', '.join(f'{a:.3f}' for a in row.after_each_task)} | {row.seconds:.0f} |")
    lines += ["", "Seconds per seed: each method's own, a shared generator's training counted in every method that "
                  f"uses it. Machine: {tables.describe_machine(record)} ({record['machine'].get('backend_version')}); "
                  f"code: {record['code'] or 'not a git checkout'}."]
    if config.reproduce_command:
        lines += ["", f"Made by: `{config.reproduce_command}`"]
    return "\n".join(lines) + "\n"


def _start_share(kind: str, methods: tuple[str, ...], record: dict) -> float:
    """The share of start draws in the `kind` generator sequence's replay: the run's, where its methods draw them."""
    draws = any(protocol.METHODS[m].start_draws and protocol.METHODS[m].sequence == kind for m in methods)
    return record["replay_chains"]["start_share"] if draws else 0.0


def _grid_title(kind: str, share: float) -> str:
    if share:
        starts = int(round(protocol.GRID_SAMPLES * share))
        return (f"{kind} replay after each task (row t: {protocol.GRID_SAMPLES - starts} samples of task t's copy, "
                f"then {starts} start draws)")
    return f"{kind} replay after each task (row t: the copy from the end of task t)"


@outputs.stage
def run_class_incremental(config: ClassIncrementalConfig) -> dict:
    """Runs every method of `config.methods` over `config.seeds`; writes the results, table, figures and record."""
    started = time.perf_counter()
    spec = datasets.dataset_spec(config.data.dataset)
    task_classes = split_classes(spec.num_classes, config.tasks)
    out = Path(config.output_dir)
    grids = [f"replay_{kind}.png" for kind in GENERATORS
             if any(protocol.METHODS[m].sequence == kind for m in config.methods)]
    dataset = load_data(config.data)
    _check_settings_fit(config, dataset)
    template = None
    if config.autoencoder is not None:
        template = storage.load_model(config.autoencoder)
        check_fits(shapes.autoencoder_shape(template), dataset)
    outputs.claim({f"the report's {name}": out / name for name in (*OUTPUTS, *grids)}, config=config)
    tasks = split_tasks(dataset, config.tasks)
    replay_start = protocol.replay_start(_settings(config, dataset, template))
    key = fingerprint(dataclasses.replace(config, seeds=(0,), output_dir=None, reproduce_command=None),
                      replay_start=replay_start, replay=repr(replay_settings(config)))
    partial = out / ".partial"
    partial.mkdir(parents=True, exist_ok=True)
    rows, served, per_seed = [], {}, {}
    for seed in config.seeds:
        saved = _seed_results(config, dataset, tasks, seed, partial, key, template)
        per_seed[seed] = saved
        for name in config.methods:  # the config's order, also for seeds read back (their JSON sorts its keys)
            result = saved["methods"][name]
            served[f"{seed}/{name}"] = result["served"]
            for t, accuracy in enumerate(result["accuracies"], start=1):
                rows.append({"seed": seed, "method": name, "task": t, "accuracy": accuracy,
                             "seconds": result["seconds"]})
    frame = pd.DataFrame(rows)
    summary = _summary(frame, config.methods, config.tasks)
    with storage.atomic_path(out / "results.csv") as tmp:
        frame.to_csv(tmp, index=False)
    record = run_record(config, started, tasks=[list(c) for c in task_classes], replay_start=replay_start,
                        replay_chains=_replay_record(config),
                        summary=summary.to_dict(orient="records"), served=served,
                        chains={f"{s}": {name: m["chains"] for name, m in r["methods"].items() if m.get("chains")}
                                for s, r in per_seed.items()})
    storage.write_json(out / "metrics.json", {"summary": record["summary"], "tasks": record["tasks"]})
    storage.write_text(out / "table.md", _table(summary, config, dataset.name, task_classes, record))
    plots.plot_task_accuracies(frame, out / "accuracy.png",
                               title=f"split {dataset.name}, class-incremental: accuracy on every class seen so far")
    names = datasets.class_names(dataset.name)
    first = per_seed[config.seeds[0]]
    for kind, grid in first["grids"].items():
        x = np.concatenate([np.asarray(g[0], np.float32) for g in grid])
        labels = np.concatenate([np.asarray(g[1]) for g in grid])
        plots.plot_sample_grid(x, labels, out / f"replay_{kind}.png",
                               image_shape=None if spec.uses_features else spec.image_shape, class_names=names,
                               columns=protocol.GRID_SAMPLES, rows=len(grid),
                               title=_grid_title(kind, _start_share(kind, config.methods, record)))
    storage.write_json(out / "config.json", record)
    return {**record, "table": summary}
