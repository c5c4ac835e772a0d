"""What a learner rehearses past tasks on: replayed inputs and their targets [p_1 .. p_C, T].

Targets of real examples (the current task, a buffer) are one-hot with
T = 1. Replayed inputs are labelled by the learner's copy from the end of the
previous task, over the classes it had seen: softly, softmax(z / T) with
T = 2 (distillation, the paper's soft labels), or by its argmax with T = 1
(the hard labels of generative replay as first published).
"""

from __future__ import annotations

import numpy as np

from aesampling.continual.networks import DISTILLATION_TEMPERATURE


def one_hot_targets(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """[one-hot of each label, T = 1]."""
    targets = np.zeros((len(labels), num_classes + 1), np.float32)
    targets[np.arange(len(labels)), labels] = 1.0
    targets[:, -1] = 1.0
    return targets


def teacher_targets(teacher, x: np.ndarray, past_classes: tuple[int, ...], num_classes: int, *,
                    soft: bool) -> np.ndarray:
    """The previous learner's targets for replayed x: softmax(z / T) over the past classes with T = 2 (`soft`), else
    the one-hot of its argmax over them with T = 1."""
    logits = np.asarray(teacher.predict_on_batch(x), np.float64)
    past = np.asarray(past_classes)
    if not soft:
        return one_hot_targets(past[np.argmax(logits[:, past], axis=1)], num_classes)
    scaled = logits[:, past] / DISTILLATION_TEMPERATURE
    scaled -= scaled.max(axis=1, keepdims=True)
    p = np.exp(scaled)
    targets = np.zeros((len(x), num_classes + 1), np.float32)
    targets[:, past] = p / p.sum(axis=1, keepdims=True)
    targets[:, -1] = DISTILLATION_TEMPERATURE
    return targets


class Draws:
    """Serves `size` inputs at a time from chunks drawn at once by `draw(count, chunk_index)`: `count` = `chunk`
    inputs or more (a class-balanced draw returns whatever its restarts collected), each served before the next
    draw."""

    def __init__(self, draw, chunk: int):
        self.draw, self.chunk = draw, chunk
        self._buffer, self._position, self._chunks = None, 0, 0

    def take(self, size: int) -> np.ndarray:
        parts = []
        while size > 0:
            if self._buffer is None or self._position == len(self._buffer):
                self._buffer, self._position = self.draw(self.chunk, self._chunks), 0
                self._chunks += 1
            part = self._buffer[self._position:self._position + size]
            self._position += len(part)
            size -= len(part)
            parts.append(part)
        return np.concatenate(parts)


class Mixture:
    """Serves each batch of `size` inputs as size - round(`share`·size) of `first`, then round(`share`·size) of
    `second`."""

    def __init__(self, first: Draws, second: Draws, share: float):
        self.first, self.second, self.share = first, second, share

    def take(self, size: int) -> np.ndarray:
        from_second = int(round(size * self.share))
        parts = [(self.first, size - from_second), (self.second, from_second)]
        return np.concatenate([draws.take(count) for draws, count in parts if count > 0])


class Buffer:
    """Up to `per_class` real training examples of each past class, kept as each task ends (exact replay)."""

    def __init__(self, per_class: int, seed: int):
        self.per_class = per_class
        self.x, self.y = [], []
        self._rng = np.random.default_rng((seed, 7))

    def keep(self, x: np.ndarray, y: np.ndarray) -> None:
        for c in np.unique(y):
            rows = np.flatnonzero(y == c)
            chosen = self._rng.choice(rows, size=min(self.per_class, len(rows)), replace=False)
            self.x.append(x[chosen])
            self.y.append(y[chosen])

    def __len__(self) -> int:
        return sum(len(y) for y in self.y)

    def state(self, arrays: dict) -> dict:
        """Adds the kept examples to `arrays` (a checkpoint's); returns the random-number generator's state."""
        for k, (x, y) in enumerate(zip(self.x, self.y)):
            arrays[f"buffer{k}.x"], arrays[f"buffer{k}.y"] = x, y
        return self._rng.bit_generator.state

    def restore(self, rng_state: dict, arrays: dict) -> None:
        """The buffer `state` saved: its kept examples from `arrays`, its generator at `rng_state`."""
        count = sum(1 for name in arrays if name.startswith("buffer") and name.endswith(".x"))
        self.x = [arrays[f"buffer{k}.x"] for k in range(count)]
        self.y = [arrays[f"buffer{k}.y"] for k in range(count)]
        self._rng.bit_generator.state = rng_state

    def batch(self, size: int, num_classes: int) -> tuple[np.ndarray, np.ndarray]:
        x, y = np.concatenate(self.x), np.concatenate(self.y)
        rows = self._rng.integers(0, len(y), size)
        return x[rows], one_hot_targets(y[rows], num_classes)
