"""The disk served through the TCMU ring simulator: what an initiator receives."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.disk.device import Disk
from devemu.scsi.command import Status
from devemu.testing import RingSimulator
from tests.unit.disk.disk_fixtures import BLOCKS, make_disk, make_image, rw10, rw16, sai16


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[RingSimulator, Disk, Path]]:
    path = make_image(tmp_path / "ring.img", 512)
    dev = make_disk(path)
    sim = RingSimulator(data_size=8 << 20)
    sim.attach(dev)
    yield sim, dev, path
    dev.close()


def test_write_read_through_the_ring(served: tuple[RingSimulator, Disk, Path]) -> None:
    sim, _, path = served
    data = os.urandom(64 * 512)
    done = sim.execute(rw16(0x8A, 100, 64, flags=0x08), data_out=data)
    assert done.status == Status.GOOD
    done = sim.execute(rw10(0x28, 100, 64), data_in_length=64 * 512)
    assert done.status == Status.GOOD and done.data == data and done.residual == 0
    assert path.read_bytes()[100 * 512 : 164 * 512] == data


def test_sense_and_short_answers_through_the_ring(served: tuple[RingSimulator, Disk, Path]) -> None:
    sim, _, _ = served
    done = sim.execute(rw10(0x28, BLOCKS, 1), data_in_length=512)
    assert done.status == Status.CHECK_CONDITION
    assert done.sense_key == 0x5 and done.asc_ascq == (0x21, 0x00)
    # READ CAPACITY (16) into a larger buffer: READ_LEN says 32 bytes.
    done = sim.execute(sai16(0x10, 0, 32), data_in_length=64)
    assert done.status == Status.GOOD
    assert len(done.data) == 32 and done.residual == 32
    assert done.data[:12] == (BLOCKS - 1).to_bytes(8, "big") + (512).to_bytes(4, "big")
    # PRE-FETCH answers CONDITION MET.
    assert sim.execute(rw10(0x34, 0, 8)).status == Status.CONDITION_MET


def test_many_commands_in_flight(served: tuple[RingSimulator, Disk, Path]) -> None:
    sim, _, _ = served
    for lba in range(0, 64, 8):
        sim.execute(rw10(0x2A, lba, 8), data_out=bytes([lba]) * 4096)
    handles = [sim.submit(rw10(0x28, lba, 8), data_in_length=4096) for lba in range(0, 64, 8)]
    sim.process()
    for lba, handle in zip(range(0, 64, 8), handles, strict=True):
        assert handle.result is not None
        assert handle.result.data == bytes([lba]) * 4096
