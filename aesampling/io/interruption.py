"""A stop asked for by a signal (a job scheduler's SIGTERM), honoured even where its exception was lost.

The scripts' SIGTERM handler calls `request`, which raises `Interrupted` at
once, so the outputs' temporary files are removed on the way out. Python
runs a signal handler wherever the main thread happens to be, and an
exception raised inside a garbage-collection callback or a finalizer is
printed and dropped ("Exception ignored in ..."), after which the run would
go on to the end. Long loops therefore call `raise_if_requested` at each
chunk or epoch, which raises the same exception again. The exception can
also break a library's state on its way out (TensorFlow's stack-trace
context asserts "Concurrent access?"); the scripts report any failure that
follows a stop as the stop (`requested`).
"""

from __future__ import annotations

_requested_signal: int | None = None


class Interrupted(SystemExit):
    """The run was stopped by a signal before its outputs were complete."""

    def __init__(self, signum: int):
        super().__init__(f"error: interrupted by signal {signum}; no output was completed")
        self.signum = signum


def request(signum: int) -> None:
    """Records a stop asked for by signal `signum` and raises `Interrupted`."""
    global _requested_signal
    _requested_signal = signum
    raise Interrupted(signum)


def requested() -> int | None:
    """The signal of the stop asked for in this process, or None."""
    return _requested_signal


def raise_if_requested() -> None:
    """Raises `Interrupted` when a stop was asked for (its first exception may have been dropped)."""
    if _requested_signal is not None:
        raise Interrupted(_requested_signal)
