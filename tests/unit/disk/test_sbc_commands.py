"""VERIFY and WRITE AND VERIFY (12), ORWRITE (16), WRITE ATOMIC (16), READ DEFECT DATA.

Golden bytes of every CDB and parameter data both ways, then each
command's behaviour, its refusals (reserved bits, ranges, limits), its
REPORT SUPPORTED OPERATION CODES entry, write protection and reservations.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
from construct import Struct

from devemu import cli
from devemu.disk import cdbs, defects, pages
from devemu.disk.claims import DISK_CLAIMS
from devemu.disk.config import from_config
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.errors import ConfigError
from devemu.scsi.command import Command, Status, answered
from devemu.scsi.persistent_reservations import PrType, Reservation
from devemu.scsi.sense import (
    DEFECT_LIST_NOT_FOUND,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    MISCOMPARE_DURING_VERIFY_OPERATION,
    WRITE_PROTECTED,
)
from tests.golden import check_both_ways
from tests.unit.disk.disk_fixtures import (
    BLOCKS,
    IDENTITY,
    Answer,
    Run,
    execute,
    make_disk,
    make_image,
    rw12,
)

G0 = {"reserved": 0, "group_number": 0}
H = bytes.fromhex


def vflags(**kw: Any) -> dict[str, Any]:
    return {"protect": 0, "dpo": False, "reserved": 0, "bytchk": 0, "obsolete": 0} | kw


def request(**kw: Any) -> dict[str, Any]:
    base = {"reserved": 0, "req_plist": False, "req_glist": False, "defect_list_format": 0}
    return base | kw


CDB_CASES: list[Any] = [
    pytest.param(
        cdbs.Verify12Cdb,
        "af 12 00 00 01 00 00 00 00 08 05 00",
        {
            "opcode": 0xAF,
            "flags": vflags(dpo=True, bytchk=1),
            "lba": 0x100,
            "transfer_length": 8,
            "group": {"reserved": 0, "group_number": 5},
            "control": 0,
        },
        id="VERIFY(12) DPO BYTCHK=01b",
    ),
    pytest.param(
        cdbs.Verify12Cdb,
        "af 06 ff ff ff fe 00 01 00 00 00 00",
        {
            "opcode": 0xAF,
            "flags": vflags(bytchk=3),
            "lba": 0xFFFFFFFE,
            "transfer_length": 0x10000,
            "group": G0,
            "control": 0,
        },
        id="VERIFY(12) BYTCHK=11b",
    ),
    pytest.param(
        cdbs.WriteAndVerify12Cdb,
        "ae 02 00 00 00 07 00 00 00 01 00 00",
        {
            "opcode": 0xAE,
            "flags": vflags(bytchk=1),
            "lba": 7,
            "transfer_length": 1,
            "group": G0,
            "control": 0,
        },
        id="WRITE AND VERIFY(12)",
    ),
    pytest.param(
        cdbs.OrWrite16Cdb,
        "8b 18 00 00 00 01 00 00 00 00 00 00 00 10 00 00",
        {
            "opcode": 0x8B,
            "flags": {
                "orprotect": 0,
                "dpo": True,
                "fua": True,
                "reserved": 0,
                "obsolete": 0,
                "reserved2": 0,
            },
            "lba": 1 << 32,
            "transfer_length": 16,
            "group": G0,
            "control": 0,
        },
        id="ORWRITE(16) DPO FUA",
    ),
    pytest.param(
        cdbs.WriteAtomic16Cdb,
        "9c 08 00 00 00 00 00 00 00 08 00 01 00 08 00 00",
        {
            "opcode": 0x9C,
            "flags": {"wrprotect": 0, "dpo": False, "fua": True, "reserved": 0, "obsolete": 0},
            "lba": 8,
            "atomic_boundary": 1,
            "transfer_length": 8,
            "group": G0,
            "control": 0,
        },
        id="WRITE ATOMIC(16) FUA boundary 1",
    ),
    pytest.param(
        cdbs.ReadDefectData10Cdb,
        "37 00 1b 00 00 00 00 00 04 00",
        {
            "opcode": 0x37,
            "request": request(req_plist=True, req_glist=True, defect_list_format=3),
            "allocation_length": 4,
            "control": 0,
        },
        id="READ DEFECT DATA(10) P+G long block",
    ),
    pytest.param(
        cdbs.ReadDefectData12Cdb,
        "b7 08 00 00 00 02 00 00 02 00 00 00",
        {
            "opcode": 0xB7,
            "request": request(req_glist=True),
            "address_descriptor_index": 2,
            "allocation_length": 0x200,
            "control": 0,
        },
        id="READ DEFECT DATA(12) G short block",
    ),
]


@pytest.mark.parametrize(("struct", "golden", "fields"), CDB_CASES)
def test_cdb_golden_bytes(struct: Struct, golden: str, fields: dict[str, Any]) -> None:
    check_both_ways(struct, H(golden.replace(" ", "")), fields)


def header_flags(plistv: bool, glistv: bool, fmt: int) -> dict[str, Any]:
    return {"reserved": 0, "plistv": plistv, "glistv": glistv, "defect_list_format": fmt}


def test_defect_list_headers_golden_bytes() -> None:
    check_both_ways(
        defects.DefectListHeader10,
        H("00 1b 00 00".replace(" ", "")),
        {"reserved": 0, "flags": header_flags(True, True, 3), "defect_list_length": 0},
    )
    check_both_ways(
        defects.DefectListHeader12,
        H("00 08 00 00 00 00 00 00".replace(" ", "")),
        {
            "reserved": 0,
            "flags": header_flags(False, True, 0),
            "generation_code": 0,
            "defect_list_length": 0,
        },
    )


# --- helpers -----------------------------------------------------------------------


def verify12(lba: int, count: int, bytchk: int = 0, flags: int = 0) -> bytes:
    return rw12(0xAF, lba, count, flags | bytchk << 1)


def write_verify12(lba: int, count: int, bytchk: int = 0, flags: int = 0) -> bytes:
    return rw12(0xAE, lba, count, flags | bytchk << 1)


def orwrite16(lba: int, count: int, flags: int = 0) -> bytes:
    return bytes([0x8B, flags]) + lba.to_bytes(8, "big") + count.to_bytes(4, "big") + b"\0\0"


def atomic16(lba: int, count: int, boundary: int = 0, flags: int = 0) -> bytes:
    return (
        bytes([0x9C, flags])
        + lba.to_bytes(8, "big")
        + boundary.to_bytes(2, "big")
        + count.to_bytes(2, "big")
        + b"\0\0"
    )


def defect10(fmt: int, plist: bool = False, glist: bool = True, alloc: int = 512) -> bytes:
    req = plist << 4 | glist << 3 | fmt
    return bytes([0x37, 0, req, 0, 0, 0, 0]) + alloc.to_bytes(2, "big") + b"\0"


def defect12(fmt: int, plist: bool = False, glist: bool = True, alloc: int = 512) -> bytes:
    req = plist << 4 | glist << 3 | fmt
    return bytes([0xB7, req]) + (0).to_bytes(4, "big") + alloc.to_bytes(4, "big") + b"\0\0"


def pattern(nbytes: int, seed: int = 1) -> bytes:
    return bytes((i * 7 + seed) & 0xFF for i in range(nbytes))


def on_image(path: Path, block_size: int, lba: int, count: int) -> bytes:
    with path.open("rb") as f:
        f.seek(lba * block_size)
        return f.read(count * block_size)


def put_on_image(path: Path, block_size: int, lba: int, data: bytes) -> None:
    with path.open("r+b") as f:
        f.seek(lba * block_size)
        f.write(data)


def refused(answer: Answer, code: Any, field: tuple[int, int | None] | None = None) -> None:
    assert answer.status == Status.CHECK_CONDITION, answer
    assert answer.code == code, answer.code
    if field is not None:
        byte, bit = field
        specific = bytes([0xC0 | (0x08 | bit if bit is not None else 0)]) + byte.to_bytes(2, "big")
        assert answer.fields["sense_key_specific"] == specific, answer.fields


# --- VERIFY (12) ------------------------------------------------------------------------


def test_verify_12_each_bytchk(run: Run, image_path: Path, block_size: int) -> None:
    data = pattern(4 * block_size)
    put_on_image(image_path, block_size, 10, data)
    assert run(verify12(10, 4)).status == Status.GOOD
    assert run(verify12(10, 4, bytchk=1), data).status == Status.GOOD
    put_on_image(image_path, block_size, 20, data[:block_size] * 3)
    assert run(verify12(20, 3, bytchk=3), data[:block_size]).status == Status.GOOD
    assert run(verify12(10, 4, flags=0x10)).status == Status.GOOD  # DPO


def test_verify_12_miscompare_names_the_offset(run: Run, image_path: Path, block_size: int) -> None:
    data = bytearray(pattern(4 * block_size))
    put_on_image(image_path, block_size, 10, bytes(data))
    offset = 2 * block_size + 17
    data[offset] ^= 0xFF
    answer = run(verify12(10, 4, bytchk=1), bytes(data))
    refused(answer, MISCOMPARE_DURING_VERIFY_OPERATION)
    assert answer.fields["information"] == offset
    block = bytes(block_size)  # BYTCHK 11b: the first block holds data, so it differs at 0
    answer = run(verify12(10, 1, bytchk=3), block)
    refused(answer, MISCOMPARE_DURING_VERIFY_OPERATION)
    assert answer.fields["information"] == first_nonzero(data)


def first_nonzero(data: bytes | bytearray) -> int:
    return next(i for i, b in enumerate(data) if b)


def test_verify_12_refusals(run: Run, block_size: int) -> None:
    refused(run(verify12(0, 1, bytchk=2), bytes(block_size)), INVALID_FIELD_IN_CDB, (1, 2))
    refused(run(verify12(0, 1, flags=0x20)), INVALID_FIELD_IN_CDB, (1, 5))  # VRPROTECT
    refused(run(verify12(0, 1, flags=0x08)), INVALID_FIELD_IN_CDB, (1, 3))  # reserved
    answer = run(verify12(BLOCKS - 1, 2))
    refused(answer, LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE)
    assert answer.fields["information"] == BLOCKS
    refused(
        run(verify12(0, 2, bytchk=1), bytes(block_size)), INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT
    )
    cdb = bytearray(verify12(0, 1))
    cdb[10] = 0x40  # reserved bit of the GROUP NUMBER byte
    refused(run(bytes(cdb)), INVALID_FIELD_IN_CDB, (10, 6))


# --- WRITE AND VERIFY (12) -------------------------------------------------------------


@pytest.mark.parametrize("bytchk", [0, 1])
def test_write_and_verify_12(run: Run, image_path: Path, block_size: int, bytchk: int) -> None:
    data = pattern(3 * block_size, seed=bytchk)
    assert run(write_verify12(5, 3, bytchk), data).status == Status.GOOD
    assert on_image(image_path, block_size, 5, 3) == data


@pytest.mark.parametrize("bytchk", [2, 3])
def test_write_and_verify_12_reserved_bytchk(
    run: Run, image_path: Path, block_size: int, bytchk: int
) -> None:
    """SBC-4: BYTCHK 10b and 11b are reserved for WRITE AND VERIFY; nothing is written."""
    answer = run(write_verify12(5, 1, bytchk), pattern(block_size))
    refused(answer, INVALID_FIELD_IN_CDB, (1, 2))
    assert on_image(image_path, block_size, 5, 1) == bytes(block_size)


def test_write_and_verify_12_refusals(run: Run, image_path: Path, block_size: int) -> None:
    refused(run(write_verify12(BLOCKS, 1), bytes(block_size)), LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE)
    refused(run(write_verify12(0, 2), bytes(block_size)), INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT)
    refused(run(write_verify12(0, 1, flags=0x40), bytes(block_size)), INVALID_FIELD_IN_CDB, (1, 6))
    assert on_image(image_path, block_size, 0, 2) == bytes(2 * block_size)


# --- ORWRITE (16) -----------------------------------------------------------------------


def test_orwrite_ors_the_data_into_the_medium(run: Run, image_path: Path, block_size: int) -> None:
    old = bytes([0x0F, 0x30]) * (2 * block_size)
    put_on_image(image_path, block_size, 100, old)
    new = bytes([0xF0, 0x01]) * (2 * block_size)
    assert run(orwrite16(100, 4), new).status == Status.GOOD
    assert on_image(image_path, block_size, 100, 4) == bytes([0xFF, 0x31]) * (2 * block_size)
    # Idempotent: the same ORWRITE again changes nothing (a restart may replay it).
    assert run(orwrite16(100, 4, flags=0x08), new).status == Status.GOOD  # FUA
    assert on_image(image_path, block_size, 100, 4) == bytes([0xFF, 0x31]) * (2 * block_size)
    assert on_image(image_path, block_size, 104, 1) == bytes(block_size)


def test_orwrite_across_chunks(tmp_path: Path) -> None:
    """More than one read-OR-write chunk (1 MiB) lands whole."""
    path = make_image(tmp_path / "big.img", 512, 4096)
    dev = make_disk(path, 512)
    try:
        put_on_image(path, 512, 0, b"\x01" * (3000 * 512))
        answer = execute(dev, orwrite16(0, 3000), b"\x80" * (3000 * 512))
        assert answer.status == Status.GOOD
        assert on_image(path, 512, 0, 3001) == b"\x81" * (3000 * 512) + bytes(512)
    finally:
        dev.close()


def test_orwrite_refusals(run: Run, image_path: Path, block_size: int) -> None:
    answer = run(orwrite16(BLOCKS - 1, 2), bytes(2 * block_size))
    refused(answer, LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE)
    assert answer.fields["information"] == BLOCKS
    refused(run(orwrite16(0, 2), b"\xff" * block_size), INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT)
    refused(run(orwrite16(0, 1, flags=0x20), b"\xff" * block_size), INVALID_FIELD_IN_CDB, (1, 5))
    refused(run(orwrite16(0, 1, flags=0x04), b"\xff" * block_size), INVALID_FIELD_IN_CDB, (1, 2))
    assert on_image(image_path, block_size, 0, 2) == bytes(2 * block_size)
    assert run(orwrite16(0, 0), b"").status == Status.GOOD


# --- WRITE ATOMIC (16) --------------------------------------------------------------------


def test_write_atomic_inside_the_limits(
    disk: Disk, run: Run, image_path: Path, block_size: int
) -> None:
    page = 4096 // block_size
    assert disk.limits.max_atomic_transfer == page == disk.limits.atomic_alignment
    data = pattern(page * block_size)
    assert run(atomic16(2 * page, page), data).status == Status.GOOD
    assert on_image(image_path, block_size, 2 * page, page) == data
    assert run(atomic16(3 * page, 1, flags=0x08), data[:block_size]).status == Status.GOOD
    assert on_image(image_path, block_size, 3 * page, 1) == data[:block_size]
    # ATOMIC BOUNDARY 1: every block its own atomic write, up to the transfer limit.
    many = pattern(3 * page * block_size, seed=9)
    assert run(atomic16(1, 3 * page, boundary=1), many).status == Status.GOOD
    assert on_image(image_path, block_size, 1, 3 * page) == many
    assert run(atomic16(0, 0), b"").status == Status.GOOD


def test_write_atomic_outside_the_limits(
    disk: Disk, run: Run, image_path: Path, block_size: int
) -> None:
    page = 4096 // block_size
    over = bytes((page + 1) * block_size)
    refused(run(atomic16(0, page + 1), over), INVALID_FIELD_IN_CDB, (12, None))
    if page > 1:
        refused(run(atomic16(1, 1), bytes(block_size)), INVALID_FIELD_IN_CDB, (2, None))
        # Aligned but crossing into the next page: longer than one page.
        refused(run(atomic16(page, page + 1), over), INVALID_FIELD_IN_CDB, (12, None))
    refused(run(atomic16(0, 1, boundary=2), bytes(block_size)), INVALID_FIELD_IN_CDB, (10, None))
    limit = disk.limits.max_atomic_with_boundary
    refused(run(atomic16(0, limit + 1, boundary=1), b""), INVALID_FIELD_IN_CDB, (12, None))
    answer = run(atomic16(BLOCKS, 1), bytes(block_size))
    refused(answer, LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE)
    refused(run(atomic16(0, 1), bytes(2 * block_size)), INVALID_FIELD_IN_COMMAND_INFORMATION_UNIT)
    refused(run(atomic16(0, 1, flags=0x20), bytes(block_size)), INVALID_FIELD_IN_CDB, (1, 5))
    assert on_image(image_path, block_size, 0, 2 * page) == bytes(2 * page * block_size)


# --- READ DEFECT DATA -----------------------------------------------------------------------


@pytest.mark.parametrize("fmt", sorted(defects.SUPPORTED_FORMATS))
@pytest.mark.parametrize(
    ("plist", "glist"), [(False, False), (True, False), (False, True), (True, True)]
)
def test_read_defect_data_has_no_defects(run: Run, fmt: int, plist: bool, glist: bool) -> None:
    flags = plist << 4 | glist << 3 | fmt
    answer = run(defect10(fmt, plist, glist), data_in=512)
    assert answer.status == Status.GOOD, answer
    assert answer.data == bytes([0, flags, 0, 0])
    answer = run(defect12(fmt, plist, glist), data_in=512)
    assert answer.status == Status.GOOD, answer
    assert answer.data == bytes([0, flags]) + bytes(6)


@pytest.mark.parametrize("fmt", [1, 2, 4, 5, 6])
def test_read_defect_data_other_formats_come_in_the_default_one(run: Run, fmt: int) -> None:
    """SBC-4: the list in the default format, then RECOVERED ERROR / DEFECT LIST NOT FOUND."""
    default = defects.DEFAULT_FORMAT
    answer = run(defect10(fmt), data_in=512)
    refused(answer, DEFECT_LIST_NOT_FOUND)
    assert answer.data_in_length == 4
    assert answer.data == bytes([0, 0x08 | default, 0, 0])
    answer = run(defect12(fmt, plist=True), data_in=512)
    refused(answer, DEFECT_LIST_NOT_FOUND)
    assert answer.data == bytes([0, 0x18 | default]) + bytes(6)


def test_read_defect_data_refusals_and_allocation_length(run: Run) -> None:
    refused(run(defect10(7), data_in=512), INVALID_FIELD_IN_CDB, (2, 2))
    refused(run(defect12(7), data_in=512), INVALID_FIELD_IN_CDB, (1, 2))
    cdb = bytearray(defect10(0))
    cdb[1] = 0x01
    refused(run(bytes(cdb), data_in=512), INVALID_FIELD_IN_CDB, (1, 0))
    cdb = bytearray(defect10(0))
    cdb[2] |= 0x20
    refused(run(bytes(cdb), data_in=512), INVALID_FIELD_IN_CDB, (2, 5))
    cdb = bytearray(defect12(0))
    cdb[10] = 0x80
    refused(run(bytes(cdb), data_in=512), INVALID_FIELD_IN_CDB, (10, 7))
    answer = run(defect12(3, alloc=2), data_in=512)
    assert answer.status == Status.GOOD and answer.data == bytes([0, 0x0B])
    answer = run(defect10(0, alloc=0), data_in=512)
    assert answer.status == Status.GOOD and answer.data == b""


# --- the table: REPORT SUPPORTED OPERATION CODES, protection, reservations -----------------

NEW = {
    0xAF: "af16ffffffffffffffff3f00",
    0xAE: "ae16ffffffffffffffff3f00",
    0x8B: "8b18ffffffffffffffffffffffff3f00",
    0x9C: "9c18ffffffffffffffffffffffff3f00",
    0x37: "37001f00000000ffff00",
    0xB7: "b71fffffffffffffffff0000",
}


@pytest.mark.parametrize("opcode", list(NEW))
def test_report_supported_operation_codes_entry(run: Run, opcode: int) -> None:
    rsoc = bytes([0xA3, 0x0C, 0x01, opcode, 0, 0]) + (512).to_bytes(4, "big") + b"\0\0"
    answer = run(rsoc, data_in=512)
    assert answer.status == Status.GOOD
    usage = H(NEW[opcode])
    assert answer.data == bytes([0, 0x03]) + len(usage).to_bytes(2, "big") + usage


WRITING = [
    pytest.param(lambda bs: (write_verify12(0, 1), bytes(bs)), id="WRITE AND VERIFY(12)"),
    pytest.param(lambda bs: (orwrite16(0, 1), bytes(bs)), id="ORWRITE(16)"),
    pytest.param(lambda bs: (atomic16(0, 1), bytes(bs)), id="WRITE ATOMIC(16)"),
]
#: Reading commands: a data-out of None means a data-in buffer.
READING = [
    pytest.param(lambda bs: (verify12(0, 1), b""), id="VERIFY(12)"),
    pytest.param(lambda bs: (defect10(0), None), id="READ DEFECT DATA(10)"),
    pytest.param(lambda bs: (defect12(0), None), id="READ DEFECT DATA(12)"),
]


@pytest.mark.parametrize("make", WRITING)
def test_write_protection_refuses_the_writing_ones(
    tmp_path: Path, block_size: int, make: Any
) -> None:
    path = make_image(tmp_path / "ro.img", block_size)
    put_on_image(path, block_size, 0, b"\x5a" * block_size)
    dev = make_disk(path, block_size, read_only=True)
    try:
        cdb, data = make(block_size)
        refused(execute(dev, cdb, data), WRITE_PROTECTED)
        assert on_image(path, block_size, 0, 1) == b"\x5a" * block_size
    finally:
        dev.close()


@pytest.mark.parametrize("make", READING)
def test_write_protection_lets_the_reading_ones_run(
    tmp_path: Path, block_size: int, make: Any
) -> None:
    dev = make_disk(make_image(tmp_path / "ro.img", block_size), block_size, read_only=True)
    try:
        cdb, data = make(block_size)
        assert execute(dev, cdb, data, 512).status == Status.GOOD
    finally:
        dev.close()


def _reserved_by_other(disk: Disk, pr_type: PrType) -> None:
    persistent = disk.reservations.persistent
    persistent.registrations["other"] = 0x1234
    persistent.reservation = Reservation("other", pr_type)


def _as(disk: Disk, cdb: bytes, data: bytes | None, nexus: str) -> Status:
    buf = bytearray(data) if data is not None else bytearray(512)
    iov = [memoryview(buf)] if buf else []
    return Status(answered(disk.execute(Command(cdb, iov, nexus=nexus))).status)


@pytest.mark.parametrize("make", WRITING + READING)
def test_reservations(disk: Disk, block_size: int, make: Any) -> None:
    """Write Exclusive held by another nexus refuses the writing ones only,
    Exclusive Access the reading ones too; the holder runs them all (SPC-5 5.13.1)."""
    cdb, data = make(block_size)
    writes = bool(data)
    _reserved_by_other(disk, PrType.WRITE_EXCLUSIVE)
    conflict = Status.RESERVATION_CONFLICT
    assert (_as(disk, cdb, data, "me") == conflict) is writes
    _reserved_by_other(disk, PrType.EXCLUSIVE_ACCESS)
    assert _as(disk, cdb, data, "me") == conflict
    assert _as(disk, cdb, data, "other") == Status.GOOD


def test_replay_policy(disk: Disk, block_size: int) -> None:
    """A restarted daemon may run every one of them again: OR and atomic writes are idempotent."""
    for cdb in (verify12(0, 1), write_verify12(0, 1), orwrite16(0, 1), atomic16(0, 1), defect10(0)):
        assert disk.may_replay(Command(cdb))


# --- identity: the standards INQUIRY claims ---------------------------------------------


def _standard_inquiry(dev: Disk) -> bytes:
    answer = execute(dev, bytes([0x12, 0, 0, 0, 96, 0]), data_in=96)
    assert answer.status == Status.GOOD
    return answer.data


@pytest.mark.parametrize(
    ("standards", "version", "descriptors"),
    [
        ("spc-4", 0x06, "00a0 0460 04c0"),
        ("spc-5", 0x07, "00a0 05c0 0600"),
    ],
)
def test_inquiry_claims(tmp_path: Path, standards: str, version: int, descriptors: str) -> None:
    """VERSION and version descriptors (SPC-5 6.7.2): SAM-5, SPC-4, SBC-3 by default."""
    image = DiskImage(make_image(tmp_path / "d.img"), 512)
    dev = Disk(image, IDENTITY, claims=DISK_CLAIMS[standards])
    try:
        data = _standard_inquiry(dev)
        assert data[2] == version
        assert data[58:74] == H(descriptors.replace(" ", "")).ljust(16, b"\0")
    finally:
        dev.close()


def test_inquiry_default_is_spc4(disk: Disk) -> None:
    data = _standard_inquiry(disk)
    assert data[2] == 0x06
    assert data[58:64] == H("00a0046004c0")


def test_standards_key(tmp_path: Path) -> None:
    create_image(tmp_path / "d.img", 1 << 20)
    config = Path("/etc/devemu/lab.toml")

    def build(table: dict[str, Any]) -> Any:
        return from_config(
            table, path=config, key="disk[0]", base_dir=tmp_path, state_dir=tmp_path / "state"
        )

    [served] = build({"image": "d.img", "standards": "spc-5"})
    try:
        assert isinstance(served.device, Disk)
        assert _standard_inquiry(served.device)[2] == 0x07
    finally:
        served.close()
    for value, reason in (("spc-3", 'must be "spc-4" or "spc-5", not \'spc-3\''), (5, "string")):
        with pytest.raises(ConfigError) as caught:
            build({"image": "d.img", "standards": value})
        assert caught.value.key == "disk[0].standards"
        assert reason in caught.value.reason
        assert "\n" not in str(caught.value)
        assert str(caught.value).startswith(f"{config}: disk[0].standards: ")


def test_block_limits_atomic_fields_4096() -> None:
    parsed = pages.BlockLimitsVpd.parse(pages.block_limits_vpd(pages.Limits.for_block_size(4096)))
    assert parsed.max_atomic_transfer_length == 1
    assert parsed.atomic_alignment == 1
    assert parsed.atomic_transfer_length_granularity == 1
    assert parsed.max_atomic_transfer_length_with_boundary == (16 << 20) // 4096
    assert parsed.max_atomic_boundary_size == 1


def test_serve_check_names_the_file_and_the_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    create_image(tmp_path / "d.img", 1 << 20)
    lab = tmp_path / "lab.toml"
    lab.write_text('[[disk]]\nimage = "d.img"\nstandards = "SPC-5"\n')
    assert cli.main(["serve", "--check", str(lab)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith(f"devemu: {lab}: disk[0].standards: must be "), err
    lab.write_text('[[disk]]\nimage = "d.img"\nstandards = "spc-5"\n')
    assert cli.main(["serve", "--check", str(lab)]) == 0


def test_write_atomic_is_one_write_inside_one_page(
    run: Run, block_size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What kill -9 cannot tear: one pwritev whose bytes lie inside one 4096-byte page."""
    calls: list[tuple[int, int]] = []
    real = os.pwritev

    def counting(fd: int, buffers: Any, offset: int, flags: int = 0) -> int:
        calls.append((offset, sum(len(b) for b in buffers)))
        return real(fd, buffers, offset, flags)

    monkeypatch.setattr(os, "pwritev", counting)
    page = 4096 // block_size
    assert run(atomic16(5 * page, page), pattern(4096)).status == Status.GOOD
    [(offset, length)] = calls
    assert offset // 4096 == (offset + length - 1) // 4096 and length == 4096
