"""The kernel log as devemu reads it for broken rings (a FIFO stands in for /dev/kmsg)."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.tcmu.kmsg import RingWatch


@pytest.fixture
def kmsg(tmp_path: Path) -> Iterator[tuple[RingWatch, int]]:
    path = tmp_path / "kmsg"
    os.mkfifo(path)
    watch = RingWatch(path)
    writer = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    yield watch, writer
    os.close(writer)
    watch.close()


_SEQ = itertools.count(1)


def _log(fd: int, message: str) -> None:
    """One /dev/kmsg record: priority, sequence, microseconds, flags; message."""
    seq = next(_SEQ)
    os.write(fd, f"3,{seq},{seq * 1000},-;{message}\n".encode())


class Bell:
    """A doorbell whose kernel answers the first ``broken_for`` writes as a broken ring."""

    def __init__(self, fd: int, broken_for: int) -> None:
        self.fd = fd
        self.broken_for = broken_for
        self.rung = 0

    def notify(self) -> None:
        self.rung += 1
        if self.rung <= self.broken_for:
            _log(self.fd, "ring broken, not handling completions")


def test_only_a_broken_ring_message_alarms(kmsg: tuple[RingWatch, int]) -> None:
    watch, fd = kmsg
    assert not watch.alarmed()
    _log(fd, "sd 0:0:0:0: [sda] Attached SCSI disk")
    os.write(fd, b" SUBSYSTEM=scsi\n")
    assert not watch.alarmed()
    _log(fd, "cmd_id 8 not found, ring is broken")
    assert watch.alarmed()
    assert not watch.alarmed()  # read once


def test_the_doorbell_tells_which_ring_is_broken(kmsg: tuple[RingWatch, int]) -> None:
    watch, fd = kmsg
    _log(fd, "ring broken, not handling completions")  # old news: drained first
    healthy, broken = Bell(fd, 0), Bell(fd, 99)
    assert not watch.is_broken(healthy) and healthy.rung == 1
    assert watch.is_broken(broken) and broken.rung == 2


def test_one_answer_that_may_be_another_rings_is_not_enough(kmsg: tuple[RingWatch, int]) -> None:
    watch, fd = kmsg
    assert not watch.is_broken(Bell(fd, 1))
