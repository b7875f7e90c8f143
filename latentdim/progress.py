"""Progress of a long command: a bar on a terminal, a line every ~10 % elsewhere.

A command whose stderr is a file or a pipe (a batch job, ``nohup``, CI) gets one line
per tenth of the work — how far, how fast, how long is left, and what the caller adds
(the main loss, the last cell's FID) — instead of a bar that redraws into the log, or
nothing for a quarter of an hour.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

import click


def duration(seconds: float) -> str:
    """``1 h 02 min``, ``3 min 05 s`` or ``42 s``."""
    seconds = max(0, round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


class ProgressLines:
    """``update(done)`` prints ``label: done/total unit (p %), rate unit/s, T left`` when
    ``done`` passes the next tenth of ``total`` (and at the end); ``detail`` is appended."""

    def __init__(self, label: str, total: int, unit: str, stream: TextIO | None = None, parts: int = 10):
        self.label, self.total, self.unit, self.parts = label, max(1, total), unit, parts
        self.stream = stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.next_part = 1

    def update(self, done: int, detail: str = "") -> None:
        if done * self.parts < self.next_part * self.total:
            return
        while self.next_part * self.total <= done * self.parts:
            self.next_part += 1
        elapsed = time.monotonic() - self.start
        rate = done / elapsed if elapsed > 0 else float("inf")
        left = (self.total - done) / rate if done and rate > 0 else float("nan")
        if rate >= 100:
            speed = f"{rate:.0f} {self.unit}/s"
        elif rate >= 0.1:
            speed = f"{rate:.2f} {self.unit}/s"
        else:  # a slow unit (a stack of cells): how long one takes
            speed = f"{duration(1 / rate)} each"
        when = f"{duration(left)} left" if done < self.total else f"done in {duration(elapsed)}"
        extra = f", {detail}" if detail else ""
        line = f"{self.label}: {done}/{self.total} {self.unit} ({100 * done // self.total} %), "
        print(f"{line}{speed}, {when}{extra}", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class ProgressBar:
    """click's bar on a terminal, with the same ``update(done, detail)`` and ``close()``."""

    def __init__(self, label: str, total: int):
        self.bar = click.progressbar(length=total, label=label, file=sys.stderr, show_eta=True)
        self.bar.__enter__()

    def update(self, done: int, detail: str = "") -> None:
        self.bar.update(done - self.bar.pos)

    def close(self) -> None:
        self.bar.__exit__(None, None, None)


def show_progress(
    label: str, total: int, unit: str, quiet: bool = False
) -> ProgressBar | ProgressLines | None:
    """The progress display for ``total`` units of work: a bar when stderr is a terminal,
    lines every ~10 % when it is not, none when ``quiet``."""
    if quiet or total < 1:
        return None
    return ProgressBar(label, total) if sys.stderr.isatty() else ProgressLines(label, total, unit)
