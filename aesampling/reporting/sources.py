"""A curve's source as a value: what a report's source name (a curve's file name) says it was made from.

The names are `<base>[_fd][_balanced]`: `base` a bound (`learning_curves.BOUNDS`) or an autoencoder's name; `_fd`
where λ was the lowest FD's choice instead of the student's; `_balanced` where the chains collected equal
per-class quotas. This module is the one place that reads them.
"""

from __future__ import annotations

import dataclasses

from aesampling.evaluation import learning_curves

STUDENT_CHOICE, FD_CHOICE = "student", "fd"
_FD_SUFFIX, _BALANCED_SUFFIX = "_fd", "_balanced"


@dataclasses.dataclass(frozen=True)
class Source:
    """A bound, or an autoencoder with the criterion that chose its λ ("student" or "fd") and whether its samples
    were class-balanced."""

    base: str
    choice: str = STUDENT_CHOICE
    balanced: bool = False

    @classmethod
    def parse(cls, name: str) -> "Source":
        """The source a report's name stands for (a bound's name is its base, whatever it ends with)."""
        if name in learning_curves.BOUNDS:
            return cls(name)
        balanced = name.endswith(_BALANCED_SUFFIX)
        base = name.removesuffix(_BALANCED_SUFFIX)
        chosen_by_fd = base.endswith(_FD_SUFFIX)
        return cls(base.removesuffix(_FD_SUFFIX), FD_CHOICE if chosen_by_fd else STUDENT_CHOICE, balanced)

    @property
    def name(self) -> str:
        return (self.base + (_FD_SUFFIX if self.choice == FD_CHOICE else "")
                + (_BALANCED_SUFFIX if self.balanced else ""))

    @property
    def is_bound(self) -> bool:
        return self.base in learning_curves.BOUNDS

    def with_base(self, base: str) -> "Source":
        """The same λ choice and collection for another autoencoder."""
        return dataclasses.replace(self, base=base)

    def unbalanced(self) -> "Source":
        return dataclasses.replace(self, balanced=False)
