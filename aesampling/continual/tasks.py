"""The split scenario: a dataset's classes in label order, T tasks of C/T classes each.

Each task's data are handed out only through a `TaskStream`, which counts
the examples and the classes it served: what a run saw of each task is a
fact of its record, and a test checks that replay methods never see a past
task's images.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from aesampling.errors import UserInputError


def split_classes(num_classes: int, tasks: int) -> list[tuple[int, ...]]:
    """Classes 0..C-1 in label order, in `tasks` tasks of C/T classes each."""
    if not isinstance(tasks, int) or isinstance(tasks, bool) or tasks < 2 or num_classes % tasks:
        raise UserInputError(f"the {num_classes} classes do not split into `tasks` = {tasks!r} tasks of equal "
                             f"size: choose a divisor of {num_classes} of 2 or more")
    size = num_classes // tasks
    return [tuple(range(t * size, (t + 1) * size)) for t in range(tasks)]


@dataclasses.dataclass
class TaskStream:
    """Batches of one task's training examples, drawn uniformly with replacement from a seeded generator; counts
    what it served (`served`, and `served_classes`)."""

    x: np.ndarray
    y: np.ndarray
    seed: tuple[int, ...]
    served: int = 0
    served_classes: set = dataclasses.field(default_factory=set)

    def __post_init__(self):
        self._rng = np.random.default_rng(self.seed)

    def batch(self, size: int) -> tuple[np.ndarray, np.ndarray]:
        rows = self._rng.integers(0, len(self.x), size)
        self.served += size
        self.served_classes.update(int(c) for c in np.unique(self.y[rows]))
        return self.x[rows], self.y[rows]


@dataclasses.dataclass(frozen=True)
class Task:
    """Task t (from 1): its classes, its training and validation examples, and its test examples."""

    index: int
    classes: tuple[int, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    def stream(self, seed: int, purpose: int) -> TaskStream:
        """A fresh stream of this task's training examples, keyed by (seed, task, purpose)."""
        return TaskStream(self.x_train, self.y_train, (seed, self.index, purpose))


def split_tasks(dataset, tasks: int) -> list[Task]:
    """The dataset (with its validation split) as T tasks of classes in label order."""
    def of(x, y, classes):
        keep = np.isin(y, classes)
        return x[keep], y[keep]

    result = []
    for t, classes in enumerate(split_classes(dataset.num_classes, tasks), start=1):
        x_val = dataset.x_val if dataset.x_val is not None else dataset.x_train[:0]
        y_val = dataset.y_val if dataset.y_val is not None else dataset.y_train[:0]
        result.append(Task(t, classes, *of(dataset.x_train, dataset.y_train, classes), *of(x_val, y_val, classes),
                           *of(dataset.x_test, dataset.y_test, classes)))
    return result
