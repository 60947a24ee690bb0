"""A progress bar for long writes, drawn on a terminal only and at most ten times a second.

A writer calls :meth:`ProgressBar.update` as often as it likes (pycdlib
calls once per file and per block); the bar is redrawn only when
:data:`REDRAW_INTERVAL` seconds have passed since the last drawing, and
once more at the end. On anything but a terminal (a pipe, a log file)
nothing is drawn at all. The clock is a parameter, so that tests count
redraws without waiting.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TextIO

#: Least time between two drawings, in seconds.
REDRAW_INTERVAL = 0.1
_WIDTH = 30
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def human_bytes(count: float) -> str:
    """``count`` bytes in binary units: ``"512 B"``, ``"1.5 MiB"``."""
    unit = 0
    while count >= 1024 and unit < len(_UNITS) - 1:
        count /= 1024
        unit += 1
    return f"{count:.0f} {_UNITS[unit]}" if unit == 0 else f"{count:.1f} {_UNITS[unit]}"


class ProgressBar:
    """``[#####.....]  45%  135.0 MiB / 300.0 MiB  56.2 MiB/s`` on ``stream``, if a terminal."""

    def __init__(
        self,
        stream: TextIO,
        *,
        clock: Callable[[], float] = time.monotonic,
        interval: float = REDRAW_INTERVAL,
    ) -> None:
        self.stream = stream
        self.clock = clock
        self.interval = interval
        self.enabled = stream.isatty()
        self.started = clock()
        self.last_drawn: float | None = None
        self.redraws = 0
        self.finished = False

    def update(self, done: int, total: int) -> None:
        """``done`` of ``total`` bytes written; redraw if it is time (or the end)."""
        if not self.enabled or self.finished:
            return
        now = self.clock()
        end = done >= total
        if not end and self.last_drawn is not None and now - self.last_drawn < self.interval:
            return
        self.last_drawn = now
        self.redraws += 1
        # \r back to the start of the line, the bar, ESC [ K to clear what a longer bar left.
        self.stream.write(f"\r{self.line(done, total, now - self.started)}\x1b[K")
        if end:
            self.stream.write("\n")
            self.finished = True
        self.stream.flush()

    @staticmethod
    def line(done: int, total: int, elapsed: float) -> str:
        """The bar's text for ``done`` of ``total`` bytes after ``elapsed`` seconds."""
        total = max(total, 1)
        done = min(done, total)
        filled = _WIDTH * done // total
        rate = f"{human_bytes(done / elapsed)}/s" if elapsed > 0 else "-"
        return (
            f"[{'#' * filled}{'.' * (_WIDTH - filled)}] {100 * done // total:3d}%  "
            f"{human_bytes(done)} / {human_bytes(total)}  {rate}"
        )
