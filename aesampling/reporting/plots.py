"""Figures: learning curves on a logit-scale accuracy axis (Figures 3-5), sample grids, chains and their mixing."""

from __future__ import annotations

import numpy as np
import pandas as pd

from aesampling.io import storage
from aesampling.reporting.sources import FD_CHOICE, STUDENT_CHOICE, Source

# Bounds first, then autoencoders in a fixed order, each with a stable style.
_STYLES = {
    "upper_bound": {"color": "black", "linestyle": "--", "label": "upper bound (real data)"},
    "moments_bound": {"color": "grey", "linestyle": "-.", "label": "noise at the data's moments (N(μ, σ²))"},
    "class_moments_bound": {"color": "silver", "linestyle": "-.",
                            "label": "noise at each class's moments (N(μ_c, σ_c²))"},
    "lower_bound": {"color": "grey", "linestyle": ":", "label": "lower bound (N(0, I) noise)"},
}


# An autoencoder keeps its colour across its curves; the λ choice and the class balance set the line.
_AUTOENCODER_COLORS = {"shallow_ae": "tab:blue", "deep_ae": "tab:orange", "shallow_dae": "tab:green",
                       "deep_dae": "tab:purple"}
_LINES = {(STUDENT_CHOICE, False): "-", (FD_CHOICE, False): (0, (5, 2)), (FD_CHOICE, True): (0, (1, 1)),
          (STUDENT_CHOICE, True): (0, (3, 1, 1, 1))}  # (λ choice, balanced) -> linestyle


def _source_style(name: str) -> dict:
    """Plot style of a curve: the bounds' own, an autoencoder's colour with its λ choice's and balance's line, or
    the default."""
    if name in _STYLES:
        return dict(_STYLES[name])
    source = Source.parse(name)
    if source.base in _AUTOENCODER_COLORS:
        return {"color": _AUTOENCODER_COLORS[source.base], "linestyle": _LINES[source.choice, source.balanced],
                "label": name}
    return {"label": name}


_LOGIT_TICKS = (0.1, 0.2, 0.5, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999)


def _null_formatter():
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def _log_locator(subs: tuple[float, ...]):
    from matplotlib.ticker import LogLocator

    return LogLocator(subs=subs)


def _plain_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda value, _: f"{value:g}")


def _matplotlib():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def plot_learning_curves(curves: pd.DataFrame, path, *, title: str, ground_truth_accuracy: float | None,
                         verdict: dict | None = None) -> None:
    """One line per source: test accuracy against training epochs, logit-scale y axis.

    Args:
      curves: rows (source, epoch, samples_seen, accuracy).
      path: the PNG to write (atomically).
      title: figure title.
      ground_truth_accuracy: drawn as a horizontal reference when given.
      verdict: the best autoencoder source against labelled noise (`tables.autoencoders_against_noise`), stated
        under the title when given.
    """
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(8.4, 4.2), dpi=100)
    for source, rows in curves.groupby("source", sort=False):
        rows = rows[rows["epoch"] > 0].sort_values("epoch")
        style = _source_style(source)
        # The bounds drawn thicker: each autoencoder's curve is read against them.
        ax.plot(rows["epoch"], rows["accuracy"].clip(1e-3, 1 - 1e-3), linewidth=2.5 if source in _STYLES else 1.5,
                **style)
    if ground_truth_accuracy is not None:
        ax.axhline(ground_truth_accuracy, color="tab:red", linewidth=0.8, alpha=0.6,
                   label=f"ground-truth classifier ({ground_truth_accuracy:.3f})")
    ax.set_yscale("logit")
    shown = curves.loc[curves["epoch"] > 0, "accuracy"].clip(1e-3, 1 - 1e-3)
    low, high = float(shown.min()) * 0.95, 1 - (1 - max(float(shown.max()), ground_truth_accuracy or 0)) / 2.5
    ax.set_yticks([t for t in _LOGIT_TICKS if low <= t <= high] or [low, high])
    ax.yaxis.set_major_formatter(_plain_formatter())
    ax.yaxis.set_minor_formatter(_null_formatter())
    ax.set_ylim(low, high)
    ax.set_xlabel("epoch (samples per epoch: see table)")
    ax.set_ylabel("test accuracy (logit scale)")
    if verdict is not None:
        ahead = verdict["points_ahead"]
        title += (f"\nbest autoencoder ({verdict['autoencoder']}): {verdict['autoencoder_ratio']:.3f} of the ground "
                  f"truth, labelled noise: {verdict['noise_ratio']:.3f} ({ahead:+.1f} points)")
    if verdict is None:
        ax.set_title(title)
    else:  # two long lines: centred on the figure, not on the axes the legend leaves narrower
        fig.suptitle(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)  # never over a curve
    _save(fig, path)


def _mosaic(images: np.ndarray, rows: int, columns: int, image_shape: tuple[int, ...], *, row_gap: int,
            column_gap: int) -> np.ndarray:
    """Tiles `images` (flattened, values in [0, 1]) row by row into one white-padded picture.

    One imshow of the mosaic draws a grid far faster than one matplotlib axes per image.
    """
    height, width = image_shape[0], image_shape[1]
    channels = image_shape[2] if len(image_shape) == 3 else 1
    canvas = np.ones((rows * (height + row_gap) - row_gap, columns * (width + column_gap) - column_gap, channels),
                     dtype=np.float32)
    for i, image in enumerate(images[: rows * columns]):
        r, c = divmod(i, columns)
        top, left = r * (height + row_gap), c * (width + column_gap)
        canvas[top: top + height, left: left + width] = np.clip(image.reshape(height, width, channels), 0.0, 1.0)
    return canvas[..., 0] if channels == 1 else canvas


def _save(fig, path) -> None:
    plt = _matplotlib()
    fig.tight_layout()
    with storage.atomic_path(path) as tmp:
        fig.savefig(tmp, format="png")
    plt.close(fig)


def _class_text(label: int, class_names: tuple[str, ...] | None) -> str:
    """A sample's title: its class name (at most 9 characters) or number."""
    return str(label) if class_names is None else class_names[label].split("/")[0][:9]


def plot_sample_grid(
    samples: np.ndarray, labels: np.ndarray | None, path, *, image_shape: tuple[int, ...] | None,
    title: str, columns: int = 10, rows: int = 6, clean: np.ndarray | None = None,
    class_names: tuple[str, ...] | None = None,
) -> None:
    """A grid of synthetic samples, each titled with its hard label (its class name, given `class_names`).

    Image data are drawn as images; with `clean` (r(x) of the first samples)
    each sample is drawn beside its reconstruction, the pair under one label.
    Other data (e.g. ResNet50 features) are drawn as a heat map of the first
    samples' feature vectors.
    """
    plt = _matplotlib()
    count = min(len(samples), columns * rows)
    is_image = image_shape is not None and int(np.prod(image_shape)) == samples.shape[1]
    if is_image and clean is not None and len(clean):
        pairs = min(len(clean), count // 2)
        samples = np.stack([samples[:pairs], clean[:pairs]], axis=1).reshape(2 * pairs, -1)
        labels = None if labels is None else np.stack([labels[:pairs], np.full(pairs, -1)], axis=1).reshape(-1)
        count = 2 * pairs
    if is_image:
        height, width, column_gap = image_shape[0], image_shape[1], 2
        row_gap = max(2, height // 3) if labels is not None else 2
        rows = -(-count // columns)
        fig, ax = plt.subplots(figsize=(columns * 0.8, rows * 0.9 + 0.4 + 0.2 * title.count("\n")), dpi=80)
        ax.imshow(_mosaic(samples[:count], rows, columns, image_shape, row_gap=row_gap, column_gap=column_gap),
                  cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.axis("off")
        if labels is not None:
            for i in range(count):
                if labels[i] < 0:  # the reconstruction of a pair: its sample carries the label
                    continue
                r, c = divmod(i, columns)
                ax.text(c * (width + column_gap) + width / 2, r * (height + row_gap) - 0.6,
                        _class_text(int(labels[i]), class_names), ha="center", va="bottom",
                        fontsize=8 if class_names is None else 6)
    else:
        fig, ax = plt.subplots(figsize=(8, 4), dpi=80)
        shown = samples[:count, : min(samples.shape[1], 256)]
        ax.imshow(shown, aspect="auto", cmap="viridis", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xlabel("feature")
        ax.set_ylabel("sample")
        if labels is not None:
            ax.set_yticks(range(count), [_class_text(int(v), class_names) for v in labels[:count]], fontsize=5)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_chain_progress(states: np.ndarray, steps: list[int], path, *, image_shape: tuple[int, ...], title: str) -> None:
    """Rows of images: the same chains after each reinjection count in `steps`.

    Args:
      states: (len(steps), chains, n) states to draw.
      steps: the reinjection count of each row.
    """
    plt = _matplotlib()
    rows, columns = states.shape[0], states.shape[1]
    height, gap = image_shape[0], 2
    fig, ax = plt.subplots(figsize=(columns * 0.8, rows * 0.8 + 0.4 + 0.2 * title.count("\n")), dpi=80)
    ax.imshow(_mosaic(states.reshape(rows * columns, -1), rows, columns, image_shape, row_gap=gap, column_gap=gap),
              cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([r * (height + gap) + height / 2 for r in range(rows)], [f"t={t}" for t in steps], fontsize=8)
    for spine in ax.spines.values():
        spine.set_visible(False)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_mixing(mixing: dict[str, list[dict]], bounds: dict[str, dict], path, *, title: str,
                start: str = "N(0, I)") -> None:
    """FD and class TV of fresh chains against the reinjection step t, one line per autoencoder.

    Args:
      mixing: per autoencoder, rows {t, fd, class_tv} (diagnostics.mixing's "steps").
      bounds: per bound source (upper_bound, moments_bound, lower_bound), its quality {fd, class_tv}:
        horizontal references.
      path: the PNG to write.
      start: where the chains started, for the t axis's label.
    """
    plt = _matplotlib()
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8), dpi=100)
    for ax, key, label in ((axes[0], "fd", "FD to the validation images (log)"),
                           (axes[1], "class_tv", "class TV to the real class frequencies")):
        for name, rows in mixing.items():
            style = _source_style(name)
            ax.plot([r["t"] for r in rows], [r[key] for r in rows], marker="o", markersize=3, label=name,
                    color=style.get("color"), linestyle=style.get("linestyle", "-"))
        for name, quality in bounds.items():
            style = _STYLES[name]
            ax.axhline(quality[key], color=style["color"], linestyle=style["linestyle"], label=style["label"])
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_plain_formatter())
        ax.set_xlabel(f"reinjection step t from {start}")
        ax.set_ylabel(label)
        if key == "fd":
            ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
    axes[1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_stationarity(frame: pd.DataFrame, path, *, starts: dict[str, str], title: str) -> None:
    """Chains from two starts against the reinjection step t (experiments.stationarity's table).

    Panels: each start's FD to the validation images; its class TV to the
    real class frequencies; the class TV between the two starts' states
    beside the class TV within each start (its two halves), the sampling
    noise a forgotten start leaves; the share of chains whose two copies
    (one per start, the same noise) have the same label, and have met.
    """
    plt = _matplotlib()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.8), dpi=100)
    for ax, metric, label in ((axes[0], "fd", "FD to the validation images (log)"),
                              (axes[1], "class_tv", "class TV to the real class frequencies")):
        for start, name in starts.items():
            ax.plot(frame["t"], frame[f"{metric}_{start}"], marker="o", markersize=3, label=f"from {name}")
        ax.set_ylabel(label)
    axes[0].set_yscale("log")
    axes[0].yaxis.set_major_locator(_log_locator((1.0, 2.0, 5.0)))
    axes[0].yaxis.set_major_formatter(_plain_formatter())
    axes[0].yaxis.set_minor_formatter(_null_formatter())
    axes[2].plot(frame["t"], frame["class_tv_between"], marker="o", markersize=3, color="black",
                 label="between the starts")
    axes[2].plot(frame["t"], frame["class_tv_within"], marker="o", markersize=3, color="grey", linestyle=":",
                 label="within a start (halves)")
    axes[2].set_ylabel("class TV between sets of states")
    axes[3].plot(frame["t"], frame["same_label_share"], marker="o", markersize=3, label="same label")
    axes[3].plot(frame["t"], frame["coupled_share"], marker="o", markersize=3, label="met (one state)")
    axes[3].set_ylim(-0.03, 1.03)
    axes[3].set_ylabel("share of chains, copies from both starts")
    for ax in axes:
        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(_plain_formatter())
        ax.set_xlabel("reinjection step t")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def _search_series(row: dict) -> tuple[str, str]:
    """A λ search row's line: its collected state and its burn-in, or "b from mixing" when its chains chose it."""
    burn_in = "b from mixing" if row.get("burn_in_from") == "mixing" else f"b = {row['burn_in']}"
    return row["collect"], burn_in


def plot_lambda_search(grid: list[dict], choices: dict[str, dict], path, *, title: str,
                       eq5: dict[str, float | None] | None = None) -> None:
    """The λ search's trade-off: validation student accuracy, FD and class TV against λ (log axis; each panel
    when measured: the FD criterion trains no student), the choices marked.

    Args:
      grid: the search's rows (lam, collect, burn_in, score, fd, class_tv, burn_in_from).
      choices: by criterion name ("student", "fd"), the chosen row's lam, collect and burn_in.
      eq5: λ read through Eq. 5 at each noise level s (lambda_estimate.estimates), drawn as vertical lines.
    """
    plt = _matplotlib()
    panels = [("score", "student: mean validation accuracy"), ("fd", "FD to the validation images (log)"),
              ("class_tv", "class TV to the real class frequencies")]
    panels = [(key, label) for key, label in panels if any(row.get(key) is not None for row in grid)]
    fig, axes = plt.subplots(1, len(panels), figsize=(5 * len(panels), 3.6), dpi=100, squeeze=False)
    axes = axes[0]
    settings = sorted({_search_series(row) for row in grid})
    estimates = [(s, value) for s, value in (eq5 or {}).items() if value is not None and value > 0]
    for ax, (key, label) in zip(axes, panels):
        for collect, burn_in in settings:
            rows = sorted((r for r in grid if _search_series(r) == (collect, burn_in)
                           and r.get(key) is not None and np.isfinite(r[key])), key=lambda r: r["lam"])
            if rows:
                ax.plot([max(r["lam"], 1e-6) for r in rows], [r[key] for r in rows], marker="o", markersize=3,
                        label=f"{collect}, {burn_in}")
        for i, (s, value) in enumerate(estimates):
            ax.axvline(value, color="grey", linestyle=(0, (2, 2)), alpha=0.4 + 0.6 * i / max(len(estimates), 1),
                       linewidth=1, label=f"Eq. 5 estimate, s = {s}")
        for name, marker in (("student", "*"), ("fd", "D")):
            chosen = [r for r in grid if name in choices and r.get(key) is not None
                      and all(r[k] == choices[name][k] for k in ("lam", "collect", "burn_in"))]
            if chosen:
                ax.plot([max(chosen[0]["lam"], 1e-6)], [chosen[0][key]], marker=marker, markersize=11,
                        color="black", fillstyle="none", linestyle="none", label=f"chosen by {name}")
        ax.set_xscale("log")
        if key == "fd":
            ax.set_yscale("log")
        ax.set_xlabel("λ (log)")
        ax.set_ylabel(label)
        ax.grid(True, which="both", alpha=0.3)
    axes[-1].legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_seed_spread(frame: pd.DataFrame, sources: list[str], path, *, title: str) -> None:
    """Each source's accuracy relative to the ground truth and FD share of the noise's, one dot per seed.

    Args:
      frame: rows (seed, source, metric, value) (seed_spread.per_seed).
      sources: the sources to show, in order.
      path: the PNG to write.
    """
    plt = _matplotlib()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=100)
    for ax, metric, label in ((axes[0], "relative_to_ground_truth", "final accuracy / ground truth's"),
                              (axes[1], "fd_share_of_noise", "FD, share of the N(0, I) noise's (log)")):
        shown = [s for s in sources if ((frame["source"] == s) & (frame["metric"] == metric)).any()]
        for i, source in enumerate(shown):
            values = frame[(frame["source"] == source) & (frame["metric"] == metric)]["value"].to_numpy()
            color = _source_style(source).get("color", "tab:red")
            ax.plot(np.full(len(values), i), values, "o", color=color, alpha=0.7, markersize=5)
            ax.plot([i - 0.3, i + 0.3], [values.mean()] * 2, color=color, linewidth=2)
        ax.set_xticks(range(len(shown)), shown, rotation=60, ha="right", fontsize=8)
        ax.set_ylabel(label)
        if metric == "fd_share_of_noise" and shown:
            ax.set_yscale("log")
        ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    _save(fig, path)


def plot_task_accuracies(results: pd.DataFrame, path, *, title: str) -> None:
    """Class-incremental accuracy after each task, one line per method: the mean over seeds, the band its min..max.

    Args:
      results: rows (seed, method, task, accuracy).
    """
    plt = _matplotlib()
    fig, ax = plt.subplots(figsize=(8.4, 4.2), dpi=100)
    for method, rows in results.groupby("method", sort=False):
        by_task = rows.groupby("task")["accuracy"]
        mean = by_task.mean()
        line, = ax.plot(mean.index, mean.values, marker="o", linewidth=1.5, label=method)
        if rows["seed"].nunique() > 1:
            ax.fill_between(mean.index, by_task.min().values, by_task.max().values, color=line.get_color(), alpha=0.15)
    ax.set_xticks(sorted(results["task"].unique()))
    ax.set_xlabel("tasks learnt")
    ax.set_ylabel("test accuracy on every class seen so far")
    ax.set_ylim(0, 1.0)
    ax.set_title(title)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0)
    _save(fig, path)
