"""Progress lines (aesampling.reporting.progress): done/total, rate and time left; redrawn on a terminal, at most
every LOG_INTERVAL seconds in a log, and off with AESAMPLING_PROGRESS=0."""

import io

from aesampling.reporting import progress


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_log_gets_a_line_at_most_every_interval_and_one_at_the_end(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    log = io.StringIO()
    bar = progress.Progress("sampling", 4000, "samples", stream=log)
    clock.now += 10
    bar.advance(1000)  # 10 s after the start: too soon for a log
    assert log.getvalue() == ""
    clock.now += 30
    bar.advance(1000, "40.0% of class slots filled")
    assert log.getvalue() == ("sampling: 2,000/4,000 samples (50%), 50 samples/s, 40 s left; "
                              "40.0% of class slots filled\n")
    clock.now += 20
    bar.advance(3000)  # capped at the total
    bar.close()
    assert log.getvalue().splitlines()[-1] == "sampling: 4,000/4,000 samples (100%) in 1 min 00 s"


def test_a_terminal_line_is_redrawn_in_place(monkeypatch):
    clock = Clock()
    monkeypatch.setattr(progress.time, "perf_counter", clock)
    terminal = Terminal()
    bar = progress.Progress("λ search", 3, "settings", stream=terminal)
    clock.now += 1
    bar.advance(1)
    assert terminal.getvalue() == "\r\033[Kλ search: 1/3 settings (33%), 1 settings/s, 2 s left"
    assert bar.time_left() == "2 s left"
    clock.now += 7200
    bar.advance(1)
    assert bar.time_left() == "1 h 00 min left"
    bar.advance(1)
    bar.close()
    assert terminal.getvalue().endswith("\r\033[Kλ search: 3/3 settings (100%) in 2 h 00 min\n")


def test_progress_can_be_turned_off(monkeypatch):
    monkeypatch.setenv(progress.ENV, "0")
    log = io.StringIO()
    bar = progress.Progress("labelling", 10, "samples", stream=log)
    bar.advance(10)
    bar.close()
    assert log.getvalue() == "" and bar.done == 10
