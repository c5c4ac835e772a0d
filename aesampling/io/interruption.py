"""A stop asked for by a signal (a job scheduler's SIGTERM), honoured even where its exception was lost.

The scripts' SIGTERM and SIGINT handler calls `request`, which raises
`Interrupted` at once (or, inside a `hold`, at its `release`), so the
outputs' temporary files are removed on the way out. Python
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
_holds = 0  # how many `hold`s are in force


class Interrupted(SystemExit):
    """The run was stopped by a signal before its outputs were complete (`after_outputs`: once they were)."""

    def __init__(self, signum: int, after_outputs: bool = False):
        super().__init__(f"error: interrupted by signal {signum}"
                         + (" after its outputs were written: check them, or run it again" if after_outputs
                            else "; no output was completed"))
        self.signum = signum


def request(signum: int) -> None:
    """Records a stop asked for by signal `signum` and raises `Interrupted` (at `release` while held)."""
    global _requested_signal
    _requested_signal = signum
    if not _holds:
        raise Interrupted(signum)


def requested() -> int | None:
    """The signal of the stop asked for in this process, or None."""
    return _requested_signal


def hold() -> None:
    """Holds a stop's exception back until `release`: a file that must be removed on a stop is created and put
    under its cleanup's guard in between, so no stop falls between the two. Holds nest.

    The signal itself cannot be held (a process-directed signal reaches whichever of the backend's threads does
    not block it); its handler, which Python runs in the main thread, only records it while held."""
    global _holds
    _holds += 1


def release() -> None:
    """Ends one `hold`; when none is left, a stop asked for in this process (meanwhile, or earlier and dropped) is
    raised here, at once."""
    global _holds
    _holds = max(0, _holds - 1)
    if not _holds:
        raise_if_requested()


def raise_if_requested() -> None:
    """Raises `Interrupted` when a stop was asked for (its first exception may have been dropped)."""
    if _requested_signal is not None:
        raise Interrupted(_requested_signal)
