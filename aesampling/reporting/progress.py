"""Progress of long work: done/total, rate and time left, on stderr.

On a terminal the line is redrawn in place; elsewhere (a log file, make's
output) a plain line is written at most every LOG_INTERVAL seconds, and once
at the end, so a log shows that work goes on without one line per step.
AESAMPLING_PROGRESS=0 turns it off.
"""

from __future__ import annotations

import os
import sys
import time

LOG_INTERVAL = 30.0
TERMINAL_INTERVAL = 0.2
ENV = "AESAMPLING_PROGRESS"


def duration(seconds: float) -> str:
    """'42 s', '3 min 05 s', '1 h 02 min'."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds} s"
    if seconds < 3600:
        return f"{seconds // 60} min {seconds % 60:02d} s"
    return f"{seconds // 3600} h {seconds % 3600 // 60:02d} min"


class Progress:
    """Work of `total` units (samples, epochs, settings), reported as it advances.

    Args:
      what: what the work is, e.g. "sampling".
      total: units to do.
      unit: their name, e.g. "samples".
      stream: where to write (default: stderr).
    """

    def __init__(self, what: str, total: int, unit: str, stream=None):
        self.what, self.total, self.unit = what, int(total), unit
        self.stream = sys.stderr if stream is None else stream
        self.enabled = os.environ.get(ENV, "1") != "0" and self.total > 0
        self.terminal = bool(getattr(self.stream, "isatty", lambda: False)())
        self.done = 0
        self.started = time.perf_counter()
        self._last_shown = self.started

    def time_left(self) -> str:
        """'1 min 08 s left' at the rate so far; '' before the first unit or after the last."""
        elapsed = time.perf_counter() - self.started
        if not 0 < self.done < self.total or elapsed <= 0:
            return ""
        return f"{duration((self.total - self.done) * elapsed / self.done)} left"

    def line(self, note: str = "") -> str:
        """'sampling: 12,000/40,000 samples (30%), 410 samples/s, 1 min 08 s left[; note]'."""
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        text = f"{self.what}: {self.done:,}/{self.total:,} {self.unit} ({self.done / self.total:.0%})"
        if 0 < self.done < self.total and rate > 0:
            text += f", {rate:,.3g} {self.unit}/s, {self.time_left()}"
        elif self.done >= self.total:
            text += f" in {duration(elapsed)}"
        return text + (f"; {note}" if note else "")

    def advance(self, units: int, note: str = "") -> None:
        """`units` more done; shows the line when enough time has passed since the last one."""
        self.done = min(self.total, self.done + int(units))
        now = time.perf_counter()
        if not self.enabled or now - self._last_shown < (TERMINAL_INTERVAL if self.terminal else LOG_INTERVAL):
            return
        self._last_shown = now
        self._write(self.line(note), final=False)

    def close(self, note: str = "") -> None:
        """The last line (on a terminal, the redrawn one ends)."""
        if self.enabled:
            self._write(self.line(note), final=True)

    def _write(self, text: str, *, final: bool) -> None:
        if self.terminal:
            self.stream.write("\r\033[K" + text + ("\n" if final else ""))
        else:
            self.stream.write(text + "\n")
        self.stream.flush()
