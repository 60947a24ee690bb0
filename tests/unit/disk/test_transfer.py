"""READ, WRITE, VERIFY, WRITE AND VERIFY and COMPARE AND WRITE on a disk (SBC-4 5.x)."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any

import pytest

from devemu.disk.device import Disk
from devemu.disk.image import DiskImage
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    MISCOMPARE_DURING_VERIFY_OPERATION,
    WRITE_PROTECTED,
)
from tests.unit.disk.disk_fixtures import (
    BLOCKS,
    Run,
    execute,
    make_disk,
    make_image,
    rw6,
    rw10,
    rw12,
    rw16,
)

READS = {6: 0x08, 10: 0x28, 12: 0xA8, 16: 0x88}
WRITES = {6: 0x0A, 10: 0x2A, 12: 0xAA, 16: 0x8A}
BUILD = {10: rw10, 12: rw12, 16: rw16}


def cdb(length: int, op: int, lba: int, count: int, flags: int = 0) -> bytes:
    if length == 6:
        return rw6(op, lba, count)
    return BUILD[length](op, lba, count, flags)


@pytest.mark.parametrize("length", [6, 10, 12, 16])
def test_write_then_read_every_length(
    run: Run, disk: Disk, image_path: Path, block_size: int, length: int
) -> None:
    data = os.urandom(3 * block_size)
    answer = run(cdb(length, WRITES[length], 100, 3), data)
    assert answer.status == Status.GOOD
    assert answer.data_in_length is None
    answer = run(cdb(length, READS[length], 100, 3), data_in=3 * block_size, pieces=3)
    assert answer.status == Status.GOOD
    assert answer.data_in_length == 3 * block_size
    assert answer.data == data
    raw = image_path.read_bytes()
    assert raw[100 * block_size : 103 * block_size] == data


def test_read_6_length_zero_means_256_blocks(run: Run, block_size: int) -> None:
    run(rw10(0x2A, 0, 256), b"\x42" * (256 * block_size))
    answer = run(rw6(0x08, 0, 0), data_in=256 * block_size)
    assert answer.status == Status.GOOD
    assert answer.data_in_length == 256 * block_size
    assert answer.data == b"\x42" * (256 * block_size)


def test_write_6_length_zero_means_256_blocks(run: Run, image_path: Path, block_size: int) -> None:
    answer = run(rw6(0x0A, 1, 0), b"\x24" * (256 * block_size))
    assert answer.status == Status.GOOD
    assert image_path.read_bytes()[block_size : 257 * block_size] == b"\x24" * (256 * block_size)


@pytest.mark.parametrize("length", [10, 12, 16])
def test_zero_length_transfers_nothing(run: Run, image_path: Path, length: int) -> None:
    before = image_path.read_bytes()
    answer = run(cdb(length, READS[length], 5, 0), data_in=0)
    assert answer.status == Status.GOOD
    assert answer.data_in_length == 0
    assert run(cdb(length, WRITES[length], 5, 0), b"").status == Status.GOOD
    assert image_path.read_bytes() == before


@pytest.mark.parametrize("length", [6, 10, 12, 16])
def test_out_of_range_names_the_first_lba_outside(run: Run, image_path: Path, length: int) -> None:
    before = image_path.read_bytes()
    for lba, count, first in [
        (BLOCKS - 1, 2, BLOCKS),
        (BLOCKS, 1, BLOCKS),
        (BLOCKS + 7, 1, BLOCKS + 7),
    ]:
        answer = run(cdb(length, READS[length], lba, count), data_in=4096 * 2)
        assert answer.status == Status.CHECK_CONDITION
        assert answer.code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
        assert answer.fields["information"] == first
        answer = run(cdb(length, WRITES[length], lba, count), bytes(count * 4096)[: count * 4096])
        assert answer.code in (
            LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
            INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT,
        )
    assert image_path.read_bytes() == before


def test_out_of_range_write_checked_before_length(run: Run, block_size: int) -> None:
    answer = run(rw10(0x2A, BLOCKS, 1), bytes(block_size))
    assert answer.code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE


def test_out_of_range_16_byte_lba_too_large_for_fixed_information(run: Run) -> None:
    answer = run(rw16(0x88, 1 << 40, 1), data_in=4096)
    assert answer.code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert "information" not in answer.fields
    # The sum of LBA and length past 2^64 is still out of range, not an overflow.
    answer = run(rw16(0x88, (1 << 64) - 1, 0xFFFFFFFF), data_in=0)
    assert answer.code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE


def test_last_block_is_readable(run: Run, block_size: int) -> None:
    answer = run(rw16(0x88, BLOCKS - 1, 1), data_in=block_size)
    assert answer.status == Status.GOOD and answer.data == bytes(block_size)


def test_write_data_out_length_mismatch_is_refused(
    run: Run, image_path: Path, block_size: int
) -> None:
    before = image_path.read_bytes()
    for data in (bytes(block_size), bytes(3 * block_size)):
        answer = run(rw10(0x2A, 0, 2), b"\x01" * len(data))
        assert answer.status == Status.CHECK_CONDITION
        assert answer.code == INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT
    assert image_path.read_bytes() == before


def test_read_into_larger_buffer_reports_the_transfer(run: Run, block_size: int) -> None:
    run(rw10(0x2A, 0, 1), b"\x07" * block_size)
    answer = run(rw10(0x28, 0, 1), data_in=4 * block_size)
    assert answer.status == Status.GOOD
    assert answer.data_in_length == block_size
    assert answer.data == b"\x07" * block_size


def test_read_into_smaller_buffer_fills_it(run: Run, block_size: int) -> None:
    run(rw10(0x2A, 0, 2), b"\x07" * block_size + b"\x08" * block_size)
    answer = run(rw10(0x28, 0, 2), data_in=block_size)
    assert answer.status == Status.GOOD
    assert answer.data_in_length == block_size
    assert answer.data == b"\x07" * block_size


def test_fua_and_write_cache_decide_durability(
    disk: Disk, run: Run, block_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[int] = []
    real = os.pwritev

    def spy(fd: int, bufs: Any, offset: int, flags: int = 0) -> int:
        seen.append(flags)
        return real(fd, bufs, offset, flags)

    monkeypatch.setattr(os, "pwritev", spy)
    data = bytes(block_size)
    run(rw10(0x2A, 0, 1), data)
    run(rw10(0x2A, 0, 1, flags=0x08), data)
    run(rw16(0x8A, 0, 1, flags=0x08), data)
    run(rw10(0x2A, 0, 1, flags=0x10), data)  # DPO alone: accepted, not durable
    assert seen == [0, os.RWF_DSYNC, os.RWF_DSYNC, 0]
    seen.clear()
    disk.write_cache = False
    run(rw10(0x2A, 0, 1), data)
    run(rw6(0x0A, 0, 1), data)
    assert seen == [os.RWF_DSYNC, os.RWF_DSYNC]


def test_read_only_refuses_every_write(tmp_path: Path, block_size: int) -> None:
    path = make_image(tmp_path / "ro.img", block_size)
    dev = make_disk(path, block_size, read_only=True)
    before = path.read_bytes()
    one = bytes(block_size)
    writes = [
        (rw6(0x0A, 0, 1), one),
        (rw10(0x2A, 0, 1), one),
        (rw12(0xAA, 0, 1), one),
        (rw16(0x8A, 0, 1), one),
        (rw10(0x2E, 0, 1), one),
        (rw16(0x8E, 0, 1), one),
        (rw10(0x41, 0, 1), one),
        (rw16(0x93, 0, 1, flags=0x09), b""),
        (bytes([0x42, 0, 0, 0, 0, 0, 0, 0, 24, 0]), bytes(24)),
        (bytes([0x89, 0]) + bytes(8) + bytes([0, 0, 0, 1, 0, 0]), bytes(2 * block_size)),
        (bytes([0x04, 0, 0, 0, 0, 0]), None),
    ]
    for cdb_bytes, data in writes:
        answer = execute(dev, cdb_bytes, data)
        assert answer.status == Status.CHECK_CONDITION, cdb_bytes.hex()
        assert answer.code == WRITE_PROTECTED, cdb_bytes.hex()
    assert execute(dev, rw10(0x28, 0, 1), data_in=block_size).status == Status.GOOD
    assert execute(dev, rw10(0x2F, 0, 1), None).status == Status.GOOD
    assert path.read_bytes() == before
    dev.close()


# --- VERIFY ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [10, 16])
def test_verify_bytchk(run: Run, block_size: int, length: int) -> None:
    op = 0x2F if length == 10 else 0x8F
    build = rw10 if length == 10 else rw16
    data = os.urandom(4 * block_size)
    run(rw10(0x2A, 20, 4), data)
    # BYTCHK 00b: medium verification, no data-out.
    assert run(build(op, 20, 4)).status == Status.GOOD
    # BYTCHK 01b: compare with the data-out buffer.
    assert run(build(op, 20, 4, flags=0x02), data).status == Status.GOOD
    bad = bytearray(data)
    bad[block_size + 17] ^= 0xFF
    answer = run(build(op, 20, 4, flags=0x02), bytes(bad))
    assert answer.status == Status.CHECK_CONDITION
    assert answer.code == MISCOMPARE_DURING_VERIFY_OPERATION
    assert answer.fields["information"] == block_size + 17
    # BYTCHK 11b: one block compared with each block of the range.
    run(rw10(0x41, 40, 5), b"\xab" * block_size)
    assert run(build(op, 40, 5, flags=0x06), b"\xab" * block_size).status == Status.GOOD
    answer = run(build(op, 39, 5, flags=0x06), b"\xab" * block_size)
    assert answer.code == MISCOMPARE_DURING_VERIFY_OPERATION
    assert answer.fields["information"] == 0
    # BYTCHK 10b is reserved.
    answer = run(build(op, 20, 1, flags=0x04), bytes(block_size))
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.fields["sense_key_specific"] == bytes([0xCA, 0, 1])


def test_verify_length_checks(run: Run, block_size: int) -> None:
    assert run(rw10(0x2F, BLOCKS - 1, 2)).code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    answer = run(rw10(0x2F, 0, 2, flags=0x02), bytes(block_size))
    assert answer.code == INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT
    assert run(rw10(0x2F, 0, 0, flags=0x02), b"").status == Status.GOOD


# --- WRITE AND VERIFY ------------------------------------------------------------------


@pytest.mark.parametrize("length", [10, 16])
def test_write_and_verify(
    run: Run, image_path: Path, block_size: int, length: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    op = 0x2E if length == 10 else 0x8E
    build = rw10 if length == 10 else rw16
    flags_seen: list[int] = []
    real = os.pwritev

    def spy(fd: int, bufs: Any, offset: int, flags: int = 0) -> int:
        flags_seen.append(flags)
        return real(fd, bufs, offset, flags)

    monkeypatch.setattr(os, "pwritev", spy)
    data = os.urandom(2 * block_size)
    assert run(build(op, 7, 2, flags=0x02), data).status == Status.GOOD
    assert image_path.read_bytes()[7 * block_size : 9 * block_size] == data
    assert flags_seen == [os.RWF_DSYNC]
    assert run(build(op, 9, 2), data).status == Status.GOOD
    answer = run(build(op, 7, 1, flags=0x04), bytes(block_size))
    assert answer.code == INVALID_FIELD_IN_CDB


def test_write_and_verify_detects_a_bad_medium(
    run: Run, disk: Disk, block_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    real_read = DiskImage.read

    def flaky(self: DiskImage, lba: int, count: int) -> bytearray:
        out = real_read(self, lba, count)
        out[5] ^= 1
        return out

    monkeypatch.setattr(DiskImage, "read", flaky)
    answer = run(rw10(0x2E, 0, 1, flags=0x02), b"\x10" * block_size)
    assert answer.code == MISCOMPARE_DURING_VERIFY_OPERATION
    assert answer.fields["information"] == 5


# --- COMPARE AND WRITE -------------------------------------------------------------------


def caw(lba: int, count: int, fua: bool = False) -> bytes:
    return (
        bytes([0x89, 0x08 if fua else 0]) + lba.to_bytes(8, "big") + bytes([0, 0, 0, count, 0, 0])
    )


def test_compare_and_write(run: Run, image_path: Path, block_size: int) -> None:
    old = b"\x01" * (2 * block_size)
    new = b"\x02" * (2 * block_size)
    run(rw10(0x2A, 30, 2), old)
    assert run(caw(30, 2), old + new).status == Status.GOOD
    assert image_path.read_bytes()[30 * block_size : 32 * block_size] == new
    # Miscompare: nothing written, INFORMATION = offset of the first differing byte.
    wrong = bytearray(new)
    wrong[block_size + 3] = 0
    answer = run(caw(30, 2, fua=True), bytes(wrong) + old)
    assert answer.status == Status.CHECK_CONDITION
    assert answer.code == MISCOMPARE_DURING_VERIFY_OPERATION
    assert answer.fields["information"] == block_size + 3
    assert image_path.read_bytes()[30 * block_size : 32 * block_size] == new


def test_compare_and_write_checks(run: Run, block_size: int) -> None:
    assert run(caw(0, 0), b"").status == Status.GOOD
    assert run(caw(BLOCKS - 1, 2), bytes(4 * block_size)).code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert run(caw(0, 1), bytes(block_size)).code == INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT
    answer = run(caw(0, 255), bytes(510 * block_size))
    assert answer.status == Status.GOOD


def test_compare_and_write_over_the_limit(disk: Disk, run: Run, block_size: int) -> None:
    disk.limits = dataclasses.replace(disk.limits, max_compare_and_write=1)
    answer = run(caw(0, 2), bytes(4 * block_size))
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.fields["sense_key_specific"] == bytes([0xC0, 0, 13])


def test_reserved_bits_are_refused(run: Run, block_size: int) -> None:
    # RDPROTECT is not supported: byte 1 bit 7 set.
    answer = run(rw10(0x28, 0, 1, flags=0x80), data_in=block_size)
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.fields["sense_key_specific"] == bytes([0xCF, 0, 1])
    # READ(6) byte 1 bits 7-5 are reserved.
    answer = run(bytes([0x08, 0x20, 0, 0, 1, 0]), data_in=block_size)
    assert answer.fields["sense_key_specific"] == bytes([0xCD, 0, 1])
