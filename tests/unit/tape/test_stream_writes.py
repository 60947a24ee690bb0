"""A stream of WRITEs costs one write(2) per record and one fdatasync per synchronising command.

What a WRITE acknowledged is in the cartridge file before its status goes
back (buffered mode 1: durable at the next synchronising command; buffered
mode 0: at once), so a kill -9 of the daemon never loses it.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from devemu.scsi.command import Status
from devemu.tape import cartridge as cartridge_module
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.records import PAYLOAD_ALIGNMENT
from tests.unit.tape.test_drive import IDENTITY, Host

RECORD = os.urandom(256 * 1024)


class Syscalls:
    """Counts the writes and syncs the cartridge module makes."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: Counter[str] = Counter()
        for name in ("pwritev", "pwrite", "write", "fdatasync", "fsync"):
            monkeypatch.setattr(f"{cartridge_module.__name__}.os.{name}", self._counted(name))

    def _counted(self, name: str) -> Callable[..., Any]:
        real = getattr(os, name)

        def counted(*args: Any) -> Any:
            self.calls[name] += 1
            return real(*args)

        return counted

    def take(self) -> dict[str, int]:
        taken = dict(self.calls)
        self.calls.clear()
        return taken


@pytest.fixture
def host(tmp_path: Path) -> Host:
    path = tmp_path / "STRM01L8.tape"
    Cartridge.create(path, "STRM01L8").close()
    drive = TapeDrive(IDENTITY)
    drive.load(path)
    h = Host(drive)
    h.settle()
    return h


def test_a_record_stream_is_one_write_per_record_and_one_sync_per_filemark(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = Syscalls(monkeypatch)
    for _ in range(16):
        assert host.write(RECORD).status == Status.GOOD
    assert calls.take() == {"pwritev": 16}
    assert host.filemarks(1).status == Status.GOOD
    # the FILEMARKS entry, one fdatasync, the sync mark, the SYNC entry
    assert calls.take() == {"pwritev": 2, "fdatasync": 1, "pwrite": 1}
    cart = host.drive.cartridge
    assert cart is not None
    offsets = cart.partitions[0].offsets
    assert all(offsets[i] % PAYLOAD_ALIGNMENT == 0 for i in range(16))


def test_buffered_mode_0_synchronises_every_write(
    host: Host, monkeypatch: pytest.MonkeyPatch
) -> None:
    host.drive.buffered_mode = 0
    calls = Syscalls(monkeypatch)
    assert host.write(RECORD).status == Status.GOOD
    assert calls.take() == {"pwritev": 2, "fdatasync": 1, "pwrite": 1}
    cart = host.drive.cartridge
    assert cart is not None
    assert cart.durable == (cart.entries - 1, cart.file_size - 40)  # all but the SYNC entry


def test_acknowledged_records_are_in_the_file_before_any_sync(host: Host, tmp_path: Path) -> None:
    """A kill -9 right after the status: another open of the file finds every record."""
    for n in range(3):
        assert host.write(RECORD[: 5000 * (n + 1)]).status == Status.GOOD
    copy = tmp_path / "copy.tape"
    copy.write_bytes((tmp_path / "STRM01L8.tape").read_bytes())
    with Cartridge.open(copy) as again:
        assert [again.read_block_bytes(0, n) for n in range(3)] == [
            RECORD[: 5000 * (n + 1)] for n in range(3)
        ]
