"""The λ search: choosing λ, the collected state and the burn-in on a validation split (never the test set).

The paper leaves λ open (Section III-A: "one can infer a value of λ by
optimizing it") and calls λ and R hyper-parameters of the sampler
(Section V-b). We pick, per autoencoder, the (λ, collect, burn-in) setting
whose synthetic samples teach a fresh classifier best. Each setting of a
grid gets a short train-on-synthetic run, scored by its mean validation
accuracy over the run's epochs (the area under the learning curve, which
rewards both the level reached and the speed). The validation split is
carved from the training data before any model is trained.

The number of collected states per chain and restart, R - b, stays fixed
(8 by default), so every setting yields the same B·(R - b) samples per
learning step: a longer burn-in b means R = b + 8 reinjections per restart.
Deep autoencoders started from N(0, I) need tens of reinjections to reach
the data manifold, which is why b is part of the search.

The burn-in grid may hold MIXING ("mixing", the presets' default): each
(λ, collect) then gets the burn-in its own chains' mixing curve suggests
(diagnostics.burn_in_from_mixing: the first step t whose FD to the
validation images has gone 90% of the way from the curve's worst to its
best), rather than a guessed value.

A best setting on the edge of the grid says the optimum may lie outside
it. The search then widens the grid, up to `widenings` times: λ one grid
ratio beyond the edge it sits on (λ_max·λ_max/λ_prev, or λ_min·λ_min/λ_next),
b doubled when it sits on the largest burn-in, each new value scored with
the best setting's other coordinates. An axis given a single value is held
fixed, and b is never widened downwards (a shorter burn-in than the
smallest one tried changes little).

A student search that also measures FD records the FD choice beside its
own. Its rounds widen around the student's best only, so the lowest FD it
has seen may sit on the edge of what it tried. Up to `fd_widenings` more
rounds then widen each collected state's line (its settings of every λ)
where that line's lowest FD sits on an edge, by the same rules. These
settings are measured by FD alone (score None: no student is trained), so
they cost seconds and leave the student's choice as it was.

A setting whose samples collapsed (aesampling.quality.collapse: class TV,
starved classes, recall where measured) is never the best, nor what a
widening follows, while a setting that neither collapsed nor diverged was
tried; when none was, the usual best is chosen and `collapse_warning` says so.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from aesampling.evaluation import learning_curves
from aesampling.io import interruption
from aesampling.io import storage
from aesampling.errors import UserInputError
from aesampling.quality import collapse
from aesampling.sampling.reinjection import (COLLECT_MODES, START_MODES, ReinjectionConfig, ReinjectionSampler,
                                             StartMoments, start_for)

SEARCHED_FIELDS = ("lam", "collect", "burn_in", "reinjections")
STUDENT, FD = "student", "fd"
CRITERIA = (STUDENT, FD)
MIXING = "mixing"  # a burn-in read from each setting's mixing curve


def check_grid(lambdas, collects, burn_ins, widenings: int, fd_widenings: int = 0) -> None:
    """Raises UserInputError unless the grid has finite λ >= 0, known collect modes, integer b >= 0, and both
    widenings and fd_widenings are integers >= 0."""
    empty = [name for name, values in (("lambdas", lambdas), ("collects", collects), ("burn_ins", burn_ins))
             if not values]
    if empty:
        raise UserInputError(f"`{empty[0]}` is empty: the search needs at least one λ, one collect mode and one "
                             "burn-in")
    if not all(isinstance(lam, (int, float)) and math.isfinite(lam) and lam >= 0 for lam in lambdas):
        raise UserInputError(f"every λ of the search must be a finite number >= 0, got {list(lambdas)}")
    unknown = [c for c in collects if c not in COLLECT_MODES]
    if unknown:
        raise UserInputError(f"unknown collect modes {unknown}; choose from {COLLECT_MODES}")
    if not all(b == MIXING or (isinstance(b, int) and not isinstance(b, bool) and b >= 0) for b in burn_ins):
        raise UserInputError(f"every burn-in of the search must be an integer >= 0 or {MIXING!r}, "
                             f"got {list(burn_ins)}")
    for name, rounds in (("widenings", widenings), ("fd_widenings", fd_widenings)):
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise UserInputError(f"`{name}` must be an integer >= 0, got {rounds!r}")


def fd_rounds_apply(criterion: str, measures_fd: bool) -> bool:
    """Whether a search runs the FD-only rounds: under STUDENT, when it measures FD (the FD criterion's own
    widenings already follow the lowest FD)."""
    return criterion == STUDENT and measures_fd


def check_settings(lambdas, collects, burn_ins, widenings: int, fd_widenings: int, criterion: str, *,
                   measures_fd: bool, reads_mixing: bool | None = None) -> None:
    """The one check of a search's settings, for the search itself and for a stage's config before any work:
    the grid (`check_grid`), a known criterion, and FD measured wherever a setting needs it (the FD criterion,
    a burn-in read from the mixing curve, the FD-only rounds). `reads_mixing` (default: `measures_fd`) says
    whether mixing curves can be read."""
    check_grid(lambdas, collects, burn_ins, widenings, fd_widenings)
    if criterion not in CRITERIA:
        raise UserInputError(f"`criterion` must be one of {CRITERIA}, got {criterion!r}")
    if criterion == FD and not measures_fd:
        raise UserInputError("the FD criterion measures FD: it needs FD samples (`fd_samples` > 0)")
    if MIXING in burn_ins and not (measures_fd if reads_mixing is None else reads_mixing):
        raise UserInputError("a burn-in read from the mixing curve measures FD: it needs FD samples (`fd_samples` > 0)")
    if fd_widenings and not fd_rounds_apply(criterion, measures_fd):
        raise UserInputError("`fd_widenings` belong to the student criterion with FD measured "
                             "(the FD criterion widens by its `widenings`)")


def search(
    autoencoder,
    ground_truth,
    x_val: np.ndarray,
    y_val: np.ndarray,
    *,
    base: ReinjectionConfig,
    lambdas: tuple[float, ...],
    collects: tuple[str, ...],
    burn_ins: tuple[int, ...],
    epochs: int,
    steps_per_epoch: int,
    seed: int,
    widenings: int = 0,
    on_result=None,
    criterion: str = STUDENT,
    fidelity=None,
    mixing_burn_in=None,
    moments: StartMoments | None = None,
    fd_widenings: int = 0,
) -> list[dict]:
    """Scores every (λ, collect, burn-in) of the grid, then widens it at its edges; one row per setting.

    Rows come in grid order, then in the order the widening scored them.
    Each row holds lam, collect, burn_in, reinjections (= burn_in + the
    collected states of `base`), score (mean validation accuracy over epochs
    1..epochs), final_accuracy, fd, class_tv, class_counts, collapsed,
    widened (False for the grid's own settings) and diverged (the chains
    produced NaN or inf: score 0). B comes from `base`.

    `fidelity(sampler)`, when given, measures a setting's samples against the
    validation images: {"fd", "class_tv", "class_counts", "collapsed"}
    (diagnostics.fidelity; without it all are None, and collapsed is read
    from class TV and recall where only they are given,
    collapse.is_collapsed); `criterion` says which setting
    is best: STUDENT (highest score) or FD (lowest fd, no student trained:
    score and final_accuracy are None). `mixing_burn_in(config)` gives the
    burn-in of a MIXING entry of `burn_ins` (diagnostics.mixing_burn_in);
    its rows say burn_in_from "mixing", the others "grid". Every chain starts
    as `base.start` says: at N(0, I), or at the data's `moments`.
    `fd_widenings`: rounds of the FD choice's own widening after a STUDENT
    search with `fidelity` (module docstring); its rows have score None.
    """
    check_settings(lambdas, collects, burn_ins, widenings, fd_widenings, criterion, measures_fd=fidelity is not None,
                   reads_mixing=mixing_burn_in is not None)
    if x_val is None or len(x_val) == 0:
        raise UserInputError("the search needs a validation split (validation fraction > 0)")
    rows = []

    def score(lam: float, collect: str, burn_in, widened: bool, student: bool = criterion == STUDENT) -> None:
        burn_in_from = "grid"
        if burn_in == MIXING:
            burn_in, burn_in_from = mixing_burn_in(dataclasses.replace(base, lam=float(lam), collect=collect)), MIXING
            if any((row["lam"], row["collect"], row["burn_in"]) == (float(lam), collect, burn_in) for row in rows):
                return  # the grid already scored the burn-in the mixing curve suggests
        config = dataclasses.replace(
            base, lam=float(lam), collect=collect, burn_in=int(burn_in),
            reinjections=int(burn_in) + base.collected_per_restart,
        )
        interruption.raise_if_requested()
        sampler = ReinjectionSampler(autoencoder, config, seed=seed, start=start_for(config, moments))
        measured = fidelity(sampler) if fidelity is not None else {}
        fd = measured.get("fd")
        diverged = fd is not None and not math.isfinite(fd)
        accuracies = None
        if student:
            source, per_step = learning_curves.autoencoder_source(sampler)
            try:
                curve = learning_curves.learning_curve(
                    source, per_step, ground_truth, x_val, y_val,
                    epochs=epochs, steps_per_epoch=steps_per_epoch, seed=seed,
                )
                accuracies = [p.accuracy for p in curve[1:]]
            except learning_curves.DivergedError:
                accuracies, diverged = [0.0], True  # chains that blow up teach nothing: the worst score
        row = {"lam": config.lam, "collect": collect, "burn_in": config.burn_in,
               "reinjections": config.reinjections, "score": float(np.mean(accuracies)) if accuracies else None,
               "final_accuracy": accuracies[-1] if accuracies else None, "fd": fd,
               "class_tv": measured.get("class_tv"), "class_counts": measured.get("class_counts"),
               "collapsed": collapse.is_collapsed(measured), "widened": widened,
               "diverged": diverged, "burn_in_from": burn_in_from}
        rows.append(row)
        if on_result:
            on_result(row)

    for burn_in in burn_ins:
        for lam in lambdas:
            for collect in collects:
                score(lam, collect, burn_in, widened=False)
    for _ in range(widenings):
        new_settings = _beyond_edges(rows, best_setting(rows, criterion))
        if not new_settings:
            break
        for setting in new_settings:
            score(*setting, widened=True)
    for _ in range(fd_widenings if fd_rounds_apply(criterion, fidelity is not None) else 0):
        lines = [[row for row in rows if row["collect"] == collect] for collect in collects]
        new_settings = [setting for line in lines if line for setting in _beyond_edges(line, best_setting(line, FD))]
        if not new_settings:
            break
        for setting in new_settings:
            score(*setting, widened=True, student=False)
    if all(row["diverged"] for row in rows):
        raise UserInputError("every setting of the λ search made the chains produce NaN or inf: "
                             "the autoencoder is unstable under reinjection; try smaller λ values")
    return rows


def _beyond_edges(rows: list[dict], best: dict) -> list[tuple]:
    """The (λ, collect, burn-in) settings one widening adds around `best`, the best of `rows`: λ beyond the edge
    it sits on, then b beyond the largest burn-in, each with best's other coordinates."""
    best_burn_in = MIXING if best.get("burn_in_from") == MIXING else best["burn_in"]
    new_settings = [(lam, best["collect"], best_burn_in) for lam in _lambdas_beyond_edge(rows, best)]
    return new_settings + [(best["lam"], best["collect"], b) for b in _burn_ins_beyond_edge(rows, best)]


def _lambdas_beyond_edge(rows: list[dict], best: dict) -> list[float]:
    """The next λ outside the values tried when the best λ is the largest or smallest of them (≥ 2 values)."""
    tried = sorted({row["lam"] for row in rows})
    if len(tried) < 2:
        return []
    if best["lam"] == tried[-1]:
        return [_three_digits(tried[-1] * tried[-1] / tried[-2])] if tried[-2] > 0 else []
    if best["lam"] == tried[0] and tried[0] > 0:
        return [_three_digits(tried[0] * tried[0] / tried[1])]
    return []


def _three_digits(value: float) -> float:
    return float(f"{value:.3g}")


def _burn_ins_beyond_edge(rows: list[dict], best: dict) -> list[int]:
    """Twice the largest burn-in of the grid tried when the best b is that largest one (≥ 2 values tried).

    A burn-in read from the mixing curve is not widened: the curve already chose it.
    """
    tried = sorted({row["burn_in"] for row in rows if row.get("burn_in_from", "grid") == "grid"})
    if best.get("burn_in_from", "grid") != "grid" or len(tried) < 2 or best["burn_in"] != tried[-1]:
        return []
    return [2 * tried[-1]]


def best_setting(rows: list[dict], criterion: str = STUDENT) -> dict:
    """The best row: the highest score (STUDENT, of the rows a student scored) or the lowest finite fd (FD), among
    the rows that neither collapsed nor diverged when there are any, else among all; ties go to the earlier row."""
    def fd(row: dict) -> float:
        return row["fd"] if row["fd"] is not None and math.isfinite(row["fd"]) else math.inf

    candidates = rows if criterion == FD else [row for row in rows if row["score"] is not None]
    usable = [row for row in candidates if not row.get("collapsed") and not row.get("diverged")]
    if criterion == FD:
        return min(usable or candidates, key=fd)
    return max(usable or candidates, key=lambda row: row["score"])


def collapse_warning(rows: list[dict], criterion: str = STUDENT) -> str | None:
    """One line when the `criterion` choice of `rows` collapsed, i.e. every setting it could choose collapsed or
    diverged; None otherwise."""
    best = best_setting(rows, criterion)
    if not best.get("collapsed"):
        return None
    class_tv = "" if best.get("class_tv") is None else f" (class TV {best['class_tv']:.3f})"
    return (f"every setting of the λ search collapsed or diverged: its {criterion} choice, λ={best['lam']:g} "
            f"({best['collect']}, burn-in {best['burn_in']}), collapsed too{class_tv}")


def criterion_value(record: dict) -> float:
    """A search result's best value under its own criterion, larger is better (the FD criterion's is -FD)."""
    criterion = record.get("criterion", STUDENT)
    best = best_setting(record["grid"], criterion)
    return -float(best["fd"]) if criterion == FD else float(best["score"])


def best_candidate(best_scores: list[float], collapsed: list[bool] | None = None) -> int:
    """Index of the candidate (a DAE noise setting) whose search found the highest score, among those whose choice
    did not collapse (`collapsed`, per candidate) when there are any; ties go to the first."""
    indices = range(len(best_scores))
    usable = [i for i in indices if not (collapsed and collapsed[i])]
    return max(usable or indices, key=lambda i: best_scores[i])


def read_best(path: str, choice: str = "best") -> dict:
    """The chosen {lam, collect, burn_in, reinjections, start} of a search result file (experiments.run_lambda_search).

    `start` is None in searches made before the chains' start was a setting (they started at N(0, I)).
    `choice`: "best" (the search's own criterion), STUDENT or FD.
    """
    return best_of(storage.read_json(path), path, choice)


def best_of(record: dict, path: str, choice: str = "best") -> dict:
    """The chosen {lam, collect, burn_in, reinjections, start} of a search result already read from `path`."""
    key = "best" if choice == "best" else f"best_{choice}"
    if isinstance(record, dict) and "best" in record and key not in record:
        raise UserInputError(f"{path} holds no {choice} choice (searches made before the FD criterion, or with "
                             "no FD samples, have only the student's)")
    try:
        best = record[key]
        chosen = {name: best[name] for name in ("lam", "collect", "burn_in", "reinjections")}
        chosen["start"] = best.get("start")
    except (KeyError, TypeError, AttributeError) as e:
        raise UserInputError(f"{path} is not a search result (no 'best' λ, collect, burn_in, reinjections)") from e
    for name, (usable, wanted) in _CHOSEN_VALUES.items():
        if not usable(chosen[name], chosen):
            raise UserInputError(f"{path} is not a usable search result: {key}.{name} must be {wanted}, "
                                 f"got {chosen[name]!r}")
    return {**chosen, "lam": float(chosen["lam"])}


def _whole(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# What each value of a search result's choice must be (checked with the whole choice), and how an error says so.
_CHOSEN_VALUES = {
    "lam": (lambda v, c: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v >= 0,
            "a finite number >= 0"),
    "collect": (lambda v, c: v in COLLECT_MODES, f"one of {list(COLLECT_MODES)}"),
    "reinjections": (lambda v, c: _whole(v) and v >= 1, "an integer >= 1"),
    "burn_in": (lambda v, c: _whole(v) and 0 <= v < (c["reinjections"] if _whole(c["reinjections"]) else v + 1),
                "an integer in [0, reinjections)"),
    "start": (lambda v, c: v is None or v in START_MODES, f"one of {list(START_MODES)} (or absent)"),
}


def read_start_moments(path: str) -> StartMoments:
    """The training data's moments a search with start "moments" stored (`start_moments`), for sample.py."""
    record = storage.read_json(path)
    if not isinstance(record, dict) or "start_moments" not in record:
        raise UserInputError(f"{path} holds no starting moments: chains that start at the data's moments need "
                             "a search result whose chains started there (search_lambda.py's recipe recommended)")
    return StartMoments.from_record(record["start_moments"], path)
