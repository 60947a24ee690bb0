"""The progress bar: drawn on a terminal only, at most once per interval, with bytes and rate."""

from __future__ import annotations

import io

import pytest

from devemu.progress import REDRAW_INTERVAL, ProgressBar, human_bytes


class FakeTty(io.StringIO):
    def isatty(self) -> bool:
        return True


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _write_300_mb(bar: ProgressBar, clock: FakeClock, *, files: int, seconds: float) -> None:
    """What pycdlib does for a 300 MB tree of ``files`` files written in ``seconds``."""
    total = 300 * 1024 * 1024
    for i in range(1, files + 1):
        clock.now += seconds / files
        bar.update(total * i // files, total)


def test_redraws_are_throttled_by_time_on_a_terminal() -> None:
    stream, clock = FakeTty(), FakeClock()
    bar = ProgressBar(stream, clock=clock)
    _write_300_mb(bar, clock, files=9621, seconds=3.0)
    drawn = stream.getvalue()
    # one drawing per 0.1 s of the 3 s, the first at once and the last at the end
    assert bar.redraws == drawn.count("\r")
    assert 3.0 / REDRAW_INTERVAL - 1 <= bar.redraws <= 3.0 / REDRAW_INTERVAL + 2
    last = drawn.rsplit("\r", 1)[1]
    assert last.endswith("\x1b[K\n") and drawn.count("\n") == 1
    assert "100%" in last and "300.0 MiB / 300.0 MiB" in last and "100.0 MiB/s" in last
    # nothing more after the end
    bar.update(1, 1)
    assert stream.getvalue() == drawn


def test_a_slow_write_redraws_each_time_the_interval_has_passed() -> None:
    stream, clock = FakeTty(), FakeClock()
    bar = ProgressBar(stream, clock=clock)
    _write_300_mb(bar, clock, files=20, seconds=20.0)
    assert bar.redraws == 20


def test_nothing_is_drawn_when_stderr_is_not_a_terminal() -> None:
    stream, clock = io.StringIO(), FakeClock()
    bar = ProgressBar(stream, clock=clock)
    assert not bar.enabled
    _write_300_mb(bar, clock, files=9621, seconds=3.0)
    assert bar.redraws == 0 and stream.getvalue() == ""


@pytest.mark.parametrize(
    ("done", "total", "elapsed", "text"),
    [
        (0, 2048, 0.0, "[..............................]   0%  0 B / 2.0 KiB  -"),
        (1024, 2048, 2.0, "[###############...............]  50%  1.0 KiB / 2.0 KiB  512 B/s"),
        (5 << 30, 5 << 30, 10.0, f"[{'#' * 30}] 100%  5.0 GiB / 5.0 GiB  512.0 MiB/s"),
    ],
)
def test_bar_text(done: int, total: int, elapsed: float, text: str) -> None:
    assert ProgressBar.line(done, total, elapsed) == text


def test_human_bytes() -> None:
    assert [human_bytes(n) for n in (0, 1023, 1024, 1536 << 20)] == [
        "0 B",
        "1023 B",
        "1.0 KiB",
        "1.5 GiB",
    ]
