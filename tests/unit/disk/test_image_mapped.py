"""Large reads from a memory-backed image come from its mapping, never from a hole."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from devemu.disk.device import Disk
from devemu.disk.image import MAPPED_READ_MIN, DiskImage, memory_backed
from devemu.scsi.command import Status
from tests.unit.disk.disk_fixtures import execute, make_disk, make_image, rw10

SHM = Path("/dev/shm")
MIB = 1 << 20


def _on_tmpfs() -> bool:
    try:
        fd = os.open(SHM, os.O_RDONLY)
    except OSError:
        return False
    try:
        return memory_backed(fd)
    finally:
        os.close(fd)


needs_tmpfs = pytest.mark.skipif(not _on_tmpfs(), reason="no tmpfs at /dev/shm")


@pytest.fixture
def shm_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(dir=SHM, prefix="devemu-test-") as folder:
        yield Path(folder)


@pytest.fixture
def disk(shm_dir: Path) -> Iterator[Disk]:
    dev = make_disk(make_image(shm_dir / "disk.img", 512, 8 * MIB // 512))
    yield dev
    dev.close()


def _fill(dev: Disk, offset: int, data: bytes) -> None:
    assert os.pwrite(dev.fd, data, offset) == len(data)


@needs_tmpfs
def test_image_on_tmpfs_is_mapped_and_one_on_disk_storage_is_not(
    shm_dir: Path, tmp_path: Path
) -> None:
    with DiskImage(make_image(shm_dir / "a.img")) as image:
        assert image.mapped
    plain = make_image(tmp_path / "b.img")
    fd = os.open(plain, os.O_RDONLY)
    try:
        backed = memory_backed(fd)
    finally:
        os.close(fd)
    with DiskImage(plain) as image:
        assert image.mapped == backed


@needs_tmpfs
def test_read_mapped_copies_exactly_the_run_into_every_buffer(disk: Disk) -> None:
    data = os.urandom(2 * MIB)
    _fill(disk, MIB, data)
    buf = bytearray(MIB + 1000)
    view = memoryview(buf)
    iov = [view[:3000], view[3000:700000], view[700000:]]
    assert disk.image.read_mapped(MIB + 512, iov, len(buf))
    assert bytes(buf) == data[512 : 512 + len(buf)]


@needs_tmpfs
def test_read_mapped_refuses_holes_and_runs_past_the_end(disk: Disk) -> None:
    _fill(disk, 0, b"\x55" * MIB)
    before = disk.image.allocated_bytes()
    buf = bytearray(MIB)
    assert not disk.image.read_mapped(MIB // 2, [memoryview(buf)], MIB)  # half in a hole
    assert not disk.image.read_mapped(4 * MIB, [memoryview(buf)], MIB)  # all hole
    assert not disk.image.read_mapped(8 * MIB - 4096, [memoryview(buf)], MIB)  # past the end
    assert buf == bytes(MIB)  # nothing copied
    assert disk.image.allocated_bytes() == before  # and no hole filled in


@needs_tmpfs
def test_large_read_of_a_hole_returns_zeros_and_allocates_nothing(disk: Disk) -> None:
    before = disk.image.allocated_bytes()
    answer = execute(disk, rw10(0x28, 4096, MIB // 512), data_in=MIB)
    assert answer.status == Status.GOOD
    assert answer.data == bytes(MIB)
    assert disk.image.allocated_bytes() == before


@needs_tmpfs
def test_large_reads_use_the_mapping_small_ones_preadv(
    disk: Disk, monkeypatch: pytest.MonkeyPatch
) -> None:
    data = os.urandom(2 * MIB)
    _fill(disk, 0, data)
    calls: list[int] = []
    real = DiskImage.read_mapped

    def spy(self: DiskImage, offset: int, iov: list[memoryview], length: int) -> bool:
        done = real(self, offset, iov, length)
        calls.append(length if done else -length)
        return done

    monkeypatch.setattr(DiskImage, "read_mapped", spy)
    big = execute(disk, rw10(0x28, 8, MAPPED_READ_MIN // 512), data_in=MAPPED_READ_MIN)
    assert big.data == data[4096 : 4096 + MAPPED_READ_MIN]
    split = execute(disk, rw10(0x28, 16, 2048), data_in=MIB, pieces=3)  # the dispatcher's path
    assert split.data == data[8192 : 8192 + MIB]
    small = execute(disk, rw10(0x28, 8, 8), data_in=4096)
    assert small.data == data[4096:8192]
    assert calls == [MAPPED_READ_MIN, MIB]


@needs_tmpfs
def test_unmapped_blocks_read_as_zeros_after_a_mapped_read(disk: Disk) -> None:
    _fill(disk, 0, b"\xaa" * MIB)
    first = execute(disk, rw10(0x28, 0, 2048), data_in=MIB)
    assert first.data == b"\xaa" * MIB
    disk.image.unmap(0, 2048)
    again = execute(disk, rw10(0x28, 0, 2048), data_in=MIB)
    assert again.status == Status.GOOD
    assert again.data == bytes(MIB)
