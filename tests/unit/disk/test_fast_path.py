"""The READ/WRITE fast path answers exactly what the dispatcher answers."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from devemu.disk.device import Disk
from devemu.scsi.command import Command, Result
from devemu.scsi.device import ScsiDevice
from devemu.scsi.persistent_reservations import PrType, Reservation
from devemu.scsi.sense import POWER_ON_RESET_OR_BUS_DEVICE_RESET
from tests.unit.disk.disk_fixtures import make_disk, make_image

BLOCKS = 32


@st.composite
def rw_cdbs(draw: st.DrawFn) -> bytes:
    op = draw(st.sampled_from([0x28, 0x2A, 0x88, 0x8A]))
    flags = draw(st.sampled_from([0, 0x08, 0x10, 0x18, 0x04, 0x80, 0x01]))
    lba = draw(st.integers(0, BLOCKS + 1))
    count = draw(st.integers(0, 4))
    control = draw(st.sampled_from([0, 0, 0, 0x04]))
    if op in (0x28, 0x2A):
        group = draw(st.sampled_from([0, 0, 0x05, 0x40]))
        body = lba.to_bytes(4, "big") + bytes([group]) + count.to_bytes(2, "big")
    else:
        body = lba.to_bytes(8, "big") + count.to_bytes(4, "big") + bytes([0])
    cdb = bytes([op, flags]) + body + bytes([control])
    if draw(st.integers(0, 9)) == 0:
        cdb = cdb[: draw(st.integers(1, len(cdb) - 1))]
    return cdb


def run(dev: Disk, cdb: bytes, length: int, pieces: int, fast: bool) -> tuple[Result, bytes]:
    buf = bytearray(b"\x5a" * length)
    view = memoryview(buf)
    step = max(1, -(-length // pieces))
    iov = [view[i : i + step] for i in range(0, length, step)]
    cmd = Command(cdb, iov)
    result = dev.execute(cmd) if fast else ScsiDevice.execute(dev, cmd)
    return result, bytes(buf)


@settings(max_examples=150, deadline=None)
@given(
    cdb=rw_cdbs(),
    blocks=st.integers(0, 5),
    extra=st.sampled_from([0, 0, 0, 100]),
    pieces=st.integers(1, 2),
    state=st.sampled_from(["plain", "ua", "stopped", "read_only", "reserved", "wce_off", "nexus"]),
    block_size=st.sampled_from([512, 4096]),
)
def test_fast_path_agrees_with_dispatcher(
    cdb: bytes, blocks: int, extra: int, pieces: int, state: str, block_size: int
) -> None:
    length = blocks * block_size + extra
    with tempfile.TemporaryDirectory() as tmp:
        answers = []
        for fast in (True, False):
            path = make_image(Path(tmp) / f"{fast}.img", block_size, BLOCKS)
            path.write_bytes(bytes(range(256)) * (BLOCKS * block_size // 256))
            dev = make_disk(path, block_size, read_only=state == "read_only")
            if state == "ua":
                dev.unit_attentions.post(POWER_ON_RESET_OR_BUS_DEVICE_RESET)
            if state == "stopped":
                dev.stopped = True
            if state == "reserved":
                dev.reservations.persistent.reservation = Reservation(
                    "other", PrType.WRITE_EXCLUSIVE
                )
            if state == "wce_off":
                dev.write_cache = False
            try:
                if state == "nexus":
                    buf = bytearray(length)
                    cmd = Command(cdb, [memoryview(buf)] if length else [], nexus="iqn.x")
                    result = dev.execute(cmd) if fast else ScsiDevice.execute(dev, cmd)
                    data = bytes(buf)
                else:
                    result, data = run(dev, cdb, length, pieces, fast)
            finally:
                dev.close()
            answers.append(
                (result.status, result.sense, result.data_in_length, data, path.read_bytes())
            )
        assert answers[0] == answers[1]


def test_plain_reads_and_writes_take_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dev = make_disk(make_image(tmp_path / "f.img", 512, BLOCKS))
    try:

        def refuse(self: ScsiDevice, cmd: Command) -> Result:
            raise AssertionError(f"dispatcher used for {cmd.cdb.hex()}")

        monkeypatch.setattr(ScsiDevice, "execute", refuse)
        data = bytes(range(256)) * 4
        write = Command(bytes([0x2A, 0x08, 0, 0, 0, 3, 0, 0, 2, 0]), [memoryview(data)])
        assert dev.execute(write).status == 0
        buf = bytearray(1024)
        read = Command(bytes([0x88, 0]) + (3).to_bytes(8, "big") + (2).to_bytes(4, "big") + b"\0\0")
        read.iov = [memoryview(buf)]
        result = dev.execute(read)
        assert (result.status, result.data_in_length) == (0, 1024)
        assert buf == data
    finally:
        dev.close()
