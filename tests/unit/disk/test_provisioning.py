"""UNMAP, WRITE SAME, GET LBA STATUS and FORMAT UNIT: thin provisioning (SBC-4 4.7)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from devemu.disk.device import Disk
from devemu.disk.parameters import LbaStatusDescriptor, LbaStatusHeader
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    PARAMETER_LIST_LENGTH_ERROR,
)
from tests.unit.disk.disk_fixtures import (
    BLOCKS,
    Run,
    execute,
    make_disk,
    rw10,
    rw16,
    sai16,
    unmap_cdb,
    unmap_list,
)


def fill(run: Run, block_size: int, byte: int = 0x5A) -> None:
    for lba in range(0, BLOCKS, 256):
        assert run(rw10(0x2A, lba, 256), bytes([byte]) * (256 * block_size)).status == Status.GOOD


def allocated(path: Path) -> int:
    os.sync()
    return path.stat().st_blocks * 512


def lba_status(run: Run, lba: int, allocation_length: int = 4096) -> list[tuple[int, int, int]]:
    answer = run(sai16(0x12, lba, allocation_length), data_in=allocation_length)
    assert answer.status == Status.GOOD, answer
    header = LbaStatusHeader.parse(answer.data[:8])
    assert header.parameter_data_length == len(answer.data) - 4
    out = []
    for pos in range(8, len(answer.data), 16):
        d = LbaStatusDescriptor.parse(answer.data[pos : pos + 16])
        out.append((d.lba, d.count, d.provisioning_status.status))
    return out


def test_unmap_punches_holes(run: Run, image_path: Path, block_size: int) -> None:
    fill(run, block_size)
    before = allocated(image_path)
    params = unmap_list((64, 64), (1024, 512))
    assert run(unmap_cdb(len(params)), params).status == Status.GOOD
    assert allocated(image_path) <= before - 576 * block_size
    raw = image_path.read_bytes()
    assert raw[64 * block_size : 128 * block_size] == bytes(64 * block_size)
    assert raw[63 * block_size : 64 * block_size] == b"\x5a" * block_size
    assert raw[1024 * block_size : 1536 * block_size] == bytes(512 * block_size)
    assert lba_status(run, 0) == [
        (0, 64, 0),
        (64, 64, 1),
        (128, 896, 0),
        (1024, 512, 1),
        (1536, 512, 0),
    ]
    # The first descriptor always starts at the requested LBA.
    assert lba_status(run, 100)[0] == (100, 28, 1)
    # A short allocation length returns fewer descriptors.
    assert lba_status(run, 0, 8 + 32) == [(0, 64, 0), (64, 64, 1)]


def test_unmap_parameter_list_checks(run: Run, image_path: Path, block_size: int) -> None:
    fill(run, block_size)
    before = image_path.read_bytes()
    assert run(unmap_cdb(0), b"").status == Status.GOOD
    assert run(unmap_cdb(4), bytes(4)).code == PARAMETER_LIST_LENGTH_ERROR
    params = unmap_list((0, 8))
    assert run(unmap_cdb(len(params)), params[:-4]).code == PARAMETER_LIST_LENGTH_ERROR
    # One good descriptor and one out of range: nothing is unmapped.
    params = unmap_list((0, 8), (BLOCKS - 4, 8))
    answer = run(unmap_cdb(len(params)), params)
    assert answer.code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert answer.fields["information"] == BLOCKS
    assert image_path.read_bytes() == before
    # More descriptors than the Block Limits page allows.
    params = unmap_list(*[(i, 1) for i in range(257)])
    answer = run(unmap_cdb(len(params)), params)
    assert answer.code == INVALID_FIELD_IN_PARAMETER_LIST
    assert answer.fields["sense_key_specific"] == bytes([0x80, 0, 2])
    assert image_path.read_bytes() == before
    # A partial trailing descriptor is ignored.
    params = unmap_list((0, 8)) + bytes(10)
    params = (len(params) - 2).to_bytes(2, "big") + (26).to_bytes(2, "big") + params[4:]
    assert run(unmap_cdb(len(params)), params).status == Status.GOOD
    assert image_path.read_bytes()[: 8 * block_size] == bytes(8 * block_size)


def test_unmap_anchor_is_refused(run: Run) -> None:
    answer = run(bytes([0x42, 0x01, 0, 0, 0, 0, 0, 0, 24, 0]), bytes(24))
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.fields["sense_key_specific"] == bytes([0xC8, 0, 1])


@pytest.mark.parametrize("length", [10, 16])
def test_write_same_writes_the_pattern(
    run: Run, image_path: Path, block_size: int, length: int
) -> None:
    op, build = (0x41, rw10) if length == 10 else (0x93, rw16)
    block = bytes(range(256)) * (block_size // 256)
    assert run(build(op, 10, 20), block).status == Status.GOOD
    raw = image_path.read_bytes()
    assert raw[10 * block_size : 30 * block_size] == block * 20
    assert raw[30 * block_size : 31 * block_size] == bytes(block_size)


@pytest.mark.parametrize("length", [10, 16])
def test_write_same_unmap(run: Run, image_path: Path, block_size: int, length: int) -> None:
    op, build = (0x41, rw10) if length == 10 else (0x93, rw16)
    fill(run, block_size)
    assert run(build(op, 0, 1024, flags=0x08), bytes(block_size)).status == Status.GOOD
    assert lba_status(run, 0)[:2] == [(0, 1024, 1), (1024, 1024, 0)]
    assert image_path.read_bytes()[: 1024 * block_size] == bytes(1024 * block_size)
    # UNMAP with a non-zero block writes the block instead.
    assert run(build(op, 0, 8, flags=0x08), b"\x01" * block_size).status == Status.GOOD
    assert image_path.read_bytes()[: 8 * block_size] == b"\x01" * (8 * block_size)


def test_write_same_zeros_without_unmap_stay_mapped(
    run: Run, image_path: Path, block_size: int
) -> None:
    fill(run, block_size)
    assert run(rw16(0x93, 0, 64), bytes(block_size)).status == Status.GOOD
    assert image_path.read_bytes()[: 64 * block_size] == bytes(64 * block_size)
    assert lba_status(run, 0)[0][2] == 0


def test_write_same_ndob(run: Run, image_path: Path, block_size: int) -> None:
    fill(run, block_size)
    assert run(rw16(0x93, 8, 8, flags=0x09), b"").status == Status.GOOD
    assert run(rw16(0x93, 32, 8, flags=0x01), b"").status == Status.GOOD
    raw = image_path.read_bytes()
    assert raw[8 * block_size : 16 * block_size] == bytes(8 * block_size)
    assert raw[32 * block_size : 40 * block_size] == bytes(8 * block_size)
    # NDOB with a data-out buffer, and NDOB in the 10-byte CDB (reserved there).
    assert run(rw16(0x93, 8, 8, flags=0x01), bytes(block_size)).code == (
        INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT
    )
    assert run(rw10(0x41, 8, 8, flags=0x01), b"").code == INVALID_FIELD_IN_CDB


def test_write_same_checks(disk: Disk, run: Run, image_path: Path, block_size: int) -> None:
    before = image_path.read_bytes()
    one = b"\x01" * block_size
    # WSNZ: a zero length is refused, pointing at the NUMBER OF LOGICAL BLOCKS field.
    answer = run(rw10(0x41, 0, 0), one)
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.fields["sense_key_specific"] == bytes([0xC0, 0, 7])
    answer = run(rw16(0x93, 0, 0), one)
    assert answer.fields["sense_key_specific"] == bytes([0xC0, 0, 10])
    answer = run(rw16(0x93, 0, disk.limits.max_write_same + 1), one)
    assert answer.code == INVALID_FIELD_IN_CDB
    assert run(rw10(0x41, BLOCKS - 1, 2), one).code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert run(rw10(0x41, 0, 2), one + one).code == INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT
    assert run(rw10(0x41, 0, 2), b"").code == INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT
    # ANCHOR is not supported (ANC_SUP 0).
    assert run(rw10(0x41, 0, 2, flags=0x10), one).code == INVALID_FIELD_IN_CDB
    assert image_path.read_bytes() == before


def test_get_lba_status_checks(run: Run, block_size: int) -> None:
    answer = run(sai16(0x12, BLOCKS, 24), data_in=24)
    assert answer.code == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    assert answer.fields["information"] == BLOCKS
    # The last block alone.
    assert lba_status(run, BLOCKS - 1) == [(BLOCKS - 1, 1, 1)]
    # An allocation length shorter than one descriptor truncates the data.
    answer = run(sai16(0x12, 0, 12), data_in=12)
    assert answer.status == Status.GOOD
    assert answer.data_in_length == 12
    assert answer.data[:4] == (20).to_bytes(4, "big")
    # A fresh image is all deallocated.
    assert lba_status(run, 0) == [(0, BLOCKS, 1)]


def test_format_unit_deallocates_everything(run: Run, image_path: Path, block_size: int) -> None:
    fill(run, block_size)
    assert run(bytes([0x04, 0, 0, 0, 0, 0])).status == Status.GOOD
    assert image_path.read_bytes() == bytes(BLOCKS * block_size)
    assert lba_status(run, 0) == [(0, BLOCKS, 1)]
    assert allocated(image_path) == 0
    # A parameter list (FMTDATA) is not supported.
    answer = run(bytes([0x04, 0x10, 0, 0, 0, 0]), bytes(4))
    assert answer.code == INVALID_FIELD_IN_CDB
    assert answer.fields["sense_key_specific"] == bytes([0xCC, 0, 1])


def test_get_lba_status_splits_runs_longer_than_32_bits(tmp_path: Path) -> None:
    path = tmp_path / "huge.img"
    with open(path, "wb") as f:
        f.truncate((1 << 32) * 512 + 512 * 10)
    dev = make_disk(path)
    try:
        answer = execute(dev, sai16(0x12, 0, 8 + 3 * 16), data_in=8 + 3 * 16)
        assert answer.status == Status.GOOD
        assert len(answer.data) == 8 + 2 * 16
        runs = [LbaStatusDescriptor.parse(answer.data[p : p + 16]) for p in (8, 24)]
        assert [(r.lba, r.count, r.provisioning_status.status) for r in runs] == [
            (0, 0xFFFFFFFF, 1),
            (0xFFFFFFFF, 11, 1),
        ]
    finally:
        dev.close()
