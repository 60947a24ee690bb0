"""The disk as a logical unit: capacity, cache, power, INQUIRY, VPD and mode pages."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devemu.disk.device import Disk
from devemu.disk.image import DiskImage
from devemu.disk.pages import BlockLimitsVpd
from devemu.disk.parameters import ReadCapacity16Data
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED,
    POWER_ON_RESET_OR_BUS_DEVICE_RESET,
)
from tests.unit.disk.disk_fixtures import (
    BLOCKS,
    IDENTITY,
    Run,
    execute,
    make_disk,
    make_image,
    rw10,
    rw16,
    sai16,
)


def test_power_on_unit_attention_first(image_path: Path, block_size: int) -> None:
    dev = Disk(DiskImage(image_path, block_size), IDENTITY)
    answer = execute(dev, rw10(0x28, 0, 1), data_in=block_size)
    assert answer.code == POWER_ON_RESET_OR_BUS_DEVICE_RESET
    assert execute(dev, rw10(0x28, 0, 1), data_in=block_size).status == Status.GOOD
    dev.close()


# --- READ CAPACITY --------------------------------------------------------------------


def test_read_capacity_10(run: Run, block_size: int) -> None:
    answer = run(bytes([0x25]) + bytes(9), data_in=8)
    assert answer.status == Status.GOOD
    assert answer.data == (BLOCKS - 1).to_bytes(4, "big") + block_size.to_bytes(4, "big")
    # PMI and the obsolete LBA are outside the usage data.
    assert run(bytes([0x25, 0, 0, 0, 0, 1, 0, 0, 0, 0]), data_in=8).code == INVALID_FIELD_IN_CDB


def test_read_capacity_16(run: Run, block_size: int) -> None:
    answer = run(sai16(0x10, 0, 32), data_in=32)
    assert answer.status == Status.GOOD
    exponent = 3 if block_size == 512 else 0
    assert answer.data == (
        (BLOCKS - 1).to_bytes(8, "big")
        + block_size.to_bytes(4, "big")
        + bytes([0, exponent, 0xC0, 0])
        + bytes(16)
    )
    parsed = ReadCapacity16Data.parse(answer.data)
    assert parsed.provisioning.lbpme and parsed.provisioning.lbprz
    # The allocation length truncates.
    short = run(sai16(0x10, 0, 12), data_in=32)
    assert short.data_in_length == 12 and short.data == answer.data[:12]


def test_read_capacity_10_of_a_huge_image(tmp_path: Path) -> None:
    path = tmp_path / "huge.img"
    with open(path, "wb") as f:
        f.truncate((1 << 32) * 512 + 512 * 8)
    dev = make_disk(path)
    answer = execute(dev, bytes([0x25]) + bytes(9), data_in=8)
    assert answer.data == bytes.fromhex("ffffffff00000200")
    answer = execute(dev, sai16(0x10, 0, 32), data_in=32)
    assert answer.data[:8] == ((1 << 32) + 7).to_bytes(8, "big")
    # A READ (16) beyond 2^32 works.
    assert execute(dev, rw16(0x88, (1 << 32) + 7, 1), data_in=512).status == Status.GOOD
    dev.close()


# --- SYNCHRONIZE CACHE and PRE-FETCH ---------------------------------------------------


def test_synchronize_cache(run: Run, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fdatasync", calls.append)
    assert run(rw10(0x35, 0, 0)).status == Status.GOOD
    assert run(rw10(0x35, 10, 10, flags=0x02)).status == Status.GOOD
    assert run(rw16(0x91, 0, BLOCKS)).status == Status.GOOD
    assert len(calls) == 3
    assert run(rw10(0x35, BLOCKS, 0)).code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert run(rw16(0x91, BLOCKS - 1, 2)).code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert len(calls) == 3


def test_pre_fetch(run: Run, disk: Disk) -> None:
    assert run(rw10(0x34, 0, 16)).status == Status.CONDITION_MET
    assert run(rw16(0x90, 0, 0, flags=0x02)).status == Status.CONDITION_MET
    assert run(rw10(0x34, BLOCKS - 1, 2)).code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert run(rw16(0x90, BLOCKS, 0)).code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE


def test_pre_fetch_larger_than_the_cache_is_good(tmp_path: Path) -> None:
    path = tmp_path / "big.img"
    with open(path, "wb") as f:
        f.truncate(256 << 20)
    dev = make_disk(path)
    assert execute(dev, rw16(0x90, 0, (128 << 20) // 512)).status == Status.GOOD
    assert execute(dev, rw16(0x90, 0, (32 << 20) // 512)).status == Status.CONDITION_MET
    dev.close()


# --- START STOP UNIT ----------------------------------------------------------------------


def ssu(byte4: int, immed: bool = False) -> bytes:
    return bytes([0x1B, 1 if immed else 0, 0, 0, byte4, 0])


def test_stop_then_start(run: Run, block_size: int, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []
    monkeypatch.setattr(os, "fdatasync", calls.append)
    assert run(ssu(0x00)).status == Status.GOOD
    assert calls, "stopping flushes the cache"
    for cdb in (bytes(6), rw10(0x28, 0, 1), sai16(0x12, 0, 32)):
        answer = run(cdb, data_in=block_size)
        assert answer.code == LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED
    # READ CAPACITY still answers while stopped.
    assert run(bytes([0x25]) + bytes(9), data_in=8).status == Status.GOOD
    assert run(ssu(0x01, immed=True)).status == Status.GOOD
    assert run(bytes(6)).status == Status.GOOD
    calls.clear()
    assert run(ssu(0x04)).status == Status.GOOD  # NO_FLUSH
    assert not calls
    assert run(ssu(0x01)).status == Status.GOOD


def test_power_conditions(run: Run, disk: Disk) -> None:
    for condition in (0x1, 0x2, 0x3, 0x7, 0xA, 0xB):
        assert run(ssu(condition << 4)).status == Status.GOOD
        assert not disk.stopped
    answer = run(ssu(0x50))
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.fields["sense_key_specific"] == bytes([0xCF, 0, 4])
    # LOEJ: nothing to eject on a fixed disk.
    answer = run(ssu(0x02))
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.fields["sense_key_specific"] == bytes([0xC9, 0, 4])


# --- INQUIRY and VPD ---------------------------------------------------------------------


def inquiry(run: Run, page: int | None = None, length: int = 255) -> bytes:
    cdb = bytes([0x12, 0 if page is None else 1, page or 0, 0, length, 0])
    answer = run(cdb, data_in=length)
    assert answer.status == Status.GOOD, answer
    return answer.data


def test_standard_inquiry(run: Run) -> None:
    data = inquiry(run)
    assert data[0] == 0x00  # direct access block device
    assert data[1] & 0x80 == 0  # not removable
    assert data[8:16] == b"DEVEMU  "
    assert data[16:32] == b"VIRTUAL DISK    "
    assert data[2] == 0x06  # SPC-4, what shipping disks claim
    assert b"\x04\xc0" in data[58:74]  # SBC-3 version descriptor


def test_vpd_pages(run: Run, block_size: int) -> None:
    supported = inquiry(run, 0x00)
    assert list(supported[4 : 4 + supported[3]]) == [0x00, 0x80, 0x83, 0x8F, 0xB0, 0xB1, 0xB2]
    b0 = inquiry(run, 0xB0)
    limits = BlockLimitsVpd.parse(b0)
    assert limits.optimal_unmap_granularity == 4096 // block_size
    assert limits.max_unmap_block_descriptor_count == 256
    b1 = inquiry(run, 0xB1)
    assert b1[:6] == bytes.fromhex("00b1003c0001")
    assert inquiry(run, 0xB2) == bytes.fromhex("00b2000400e40200")


# --- mode pages ----------------------------------------------------------------------------


def mode_sense_10(run: Run, page: int, *, llbaa: bool = False, pc: int = 0) -> bytes:
    cdb = bytes([0x5A, 0x10 if llbaa else 0, (pc << 6) | page, 0, 0, 0, 0, 0x10, 0x00, 0])
    answer = run(cdb, data_in=4096)
    assert answer.status == Status.GOOD, answer
    return answer.data


def test_mode_sense_header_and_block_descriptor(run: Run, block_size: int) -> None:
    data = mode_sense_10(run, 0x08)
    assert data[3] == 0x10  # DPOFUA, not write protected
    assert data[6:8] == b"\x00\x08"
    assert data[8:16] == BLOCKS.to_bytes(4, "big") + b"\x00" + block_size.to_bytes(3, "big")
    assert data[16:18] == b"\x08\x12"
    assert data[18] & 0x04  # WCE on by default
    long = mode_sense_10(run, 0x01, llbaa=True)
    assert long[4] & 0x01  # LONGLBA
    assert long[8:24] == BLOCKS.to_bytes(8, "big") + bytes(4) + block_size.to_bytes(4, "big")
    assert long[24:26] == b"\x01\x0a"
    # MODE SENSE(6) of every page lists 0x01, 0x08 and the control page 0x0A.
    answer = run(bytes([0x1A, 0x08, 0x3F, 0, 255, 0]), data_in=255)
    pages = []
    pos = 4
    while pos < len(answer.data):
        pages.append(answer.data[pos] & 0x3F)
        pos += 2 + answer.data[pos + 1]
    assert pages == [0x01, 0x08, 0x0A]


def test_write_protect_bit(tmp_path: Path) -> None:
    dev = make_disk(make_image(tmp_path / "ro.img"), read_only=True)
    answer = execute(dev, bytes([0x1A, 0, 0x08, 0, 255, 0]), data_in=255)
    assert answer.data[2] == 0x90  # WP | DPOFUA
    dev.close()


def test_mode_select_turns_the_write_cache_off(
    disk: Disk, run: Run, block_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    current = mode_sense_10(run, 0x08)
    assert disk.write_cache
    page = bytearray(current[16:36])
    page[0] &= 0x3F
    page[2] &= ~0x04
    params = bytes(8) + bytes(page)
    cdb = bytes([0x55, 0x10, 0, 0, 0, 0, 0, 0, len(params), 0])
    assert run(cdb, params).status == Status.GOOD
    assert not disk.write_cache
    assert mode_sense_10(run, 0x08)[18] & 0x04 == 0
    seen: list[int] = []
    real = os.pwritev
    monkeypatch.setattr(
        os, "pwritev", lambda fd, b, off, flags=0: seen.append(flags) or real(fd, b, off, flags)
    )
    run(rw10(0x2A, 0, 1), bytes(block_size))
    assert seen == [os.RWF_DSYNC]
    # Anything else in the caching page is not changeable.
    page[0] = 0x08
    page[2] |= 0x01  # RCD
    params = bytes(8) + bytes(page)
    answer = run(bytes([0x55, 0x10, 0, 0, 0, 0, 0, 0, len(params), 0]), params)
    assert answer.status == Status.CHECK_CONDITION


def test_write_cache_off_from_the_start(tmp_path: Path) -> None:
    dev = make_disk(make_image(tmp_path / "wt.img"), write_cache=False)
    answer = execute(dev, bytes([0x1A, 0x08, 0x08, 0, 255, 0]), data_in=255)
    assert answer.data[4:7] == b"\x08\x12\x00"
    dev.close()


def test_report_supported_operation_codes_lists_the_sbc_commands(run: Run) -> None:
    cdb = bytes([0xA3, 0x0C, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0])
    answer = run(cdb, data_in=4096)
    assert answer.status == Status.GOOD, answer
    listed = set()
    for pos in range(4, len(answer.data), 8):
        op = answer.data[pos]
        sa = int.from_bytes(answer.data[pos + 2 : pos + 4], "big")
        listed.add((op, sa) if answer.data[pos + 5] & 0x01 else (op, None))
    expected = {
        (0x04, None), (0x08, None), (0x0A, None), (0x1B, None), (0x25, None), (0x28, None),
        (0x2A, None), (0x2E, None), (0x2F, None), (0x34, None), (0x35, None), (0x41, None),
        (0x42, None), (0x88, None), (0x89, None), (0x8A, None), (0x8E, None), (0x8F, None),
        (0x90, None), (0x91, None), (0x93, None), (0x9E, 0x10), (0x9E, 0x12), (0xA8, None),
        (0xAA, None),
    }  # fmt: skip
    assert expected <= listed
    # One command's usage data: READ (10).
    one = run(bytes([0xA3, 0x0C, 0x01, 0x28, 0, 0, 0, 0, 0, 64, 0, 0]), data_in=64)
    assert one.data[2:4] == b"\x00\x0a"
    assert one.data[4:14] == bytes.fromhex("281cffffffff3fffff00")
