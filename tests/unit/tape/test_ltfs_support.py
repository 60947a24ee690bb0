"""What LTFS needs of a drive: protection, drive dump, pages, log pages, partitions.

Golden bytes both ways for each new page and answer (SSC-5 8.3 control
data protection, page 10h/01h, log pages 14h/17h/1Bh, READ BUFFER,
REPORT DENSITY SUPPORT medium type form), the logical block protection
behaviour (SSC-5 4.2, logical block protection: CRC32C checked on write, appended on read) and
the errors LTFS can meet.
"""

from __future__ import annotations

import json
from pathlib import Path

import crc32c
import pytest

from devemu.scsi.log_sense import LogPage
from devemu.scsi.sense import (
    END_OF_DATA_DETECTED,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_BLOCK_GUARD_CHECK_FAILED,
    NO_ADDITIONAL_SENSE,
    POSITION_PAST_BEGINNING_OF_MEDIUM,
    PROGRAMMABLE_EARLY_WARNING_DETECTED,
    SEQUENTIAL_POSITIONING_ERROR_ILLEGAL,
    parse_sense,
)
from devemu.tape import log_pages, pages, protection
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.limits import early_warning_margin
from devemu.tape.media import MEDIA, MediumTypeCodes, medium_type_code
from tests.golden import check_both_ways, plain
from tests.unit.tape.test_drive import IDENTITY, Host


@pytest.fixture
def cartridge(tmp_path: Path) -> Path:
    path = tmp_path / "L00001L8.tape"
    Cartridge.create(path, "L00001L8").close()
    return path


@pytest.fixture
def host(cartridge: Path) -> Host:
    drv = TapeDrive(IDENTITY)
    drv.load(cartridge)
    h = Host(drv)
    h.settle()
    return h


def mode_sense10(host: Host, page: int, subpage: int = 0, pc: int = 0) -> bytes:
    """MODE SENSE(10) with DBD: header (8 bytes) and the page."""
    return host.ok([0x5A, 0x08, (pc << 6) | page, subpage, 0, 0, 0, 0x01, 0x00, 0], n=256)


def mode_select10(host: Host, page: bytes) -> bytes:
    data = bytes(8) + page
    return host.ok([0x55, 0x10, 0, 0, 0, 0, 0, 0, len(data), 0], out=data)


def select_protection(host: Host, method: int, length: int, flags: int) -> tuple[int, bytes]:
    page = bytearray(mode_sense10(host, 0x0A, 0xF0)[8:])
    page[0] &= 0x7F
    page[4], page[5], page[6] = method, length, flags
    data = bytes(8) + bytes(page)
    r = host.cmd([0x55, 0x10, 0, 0, 0, 0, 0, 0, len(data), 0], out=data)
    return r.status, r.sense


def crc(data: bytes) -> bytes:
    return crc32c.crc32c(data).to_bytes(4, "little")


# --- control data protection, SSC-5 8.3 -------------------------------------------------

PROTECTION_PAGE = bytes.fromhex("4a f0 001c 00 00 00") + bytes(25)


def test_control_data_protection_page_golden(host: Host) -> None:
    assert mode_sense10(host, 0x0A, 0xF0)[8:] == PROTECTION_PAGE
    changeable = mode_sense10(host, 0x0A, 0xF0, pc=1)[8:]
    assert changeable == bytes.fromhex("4a f0 001c ff 3f c0") + bytes(25)
    body = bytes.fromhex("02 04 c0") + bytes(25)
    fields = {
        "method": 2,
        "information_length": {"length": 4},
        "flags": {"lbp_w": True, "lbp_r": True, "rbdp": False},
    }
    check_both_ways(protection.ControlDataProtection, body, fields)


def test_lbp_as_ltfs_turns_it_on_and_off(host: Host) -> None:
    status, _ = select_protection(host, 0x02, 0x04, 0xC0)
    assert status == 0
    assert host.drive.protection == protection.Protection(write=True, read=True)
    assert mode_sense10(host, 0x0A, 0xF0)[12:15] == bytes.fromhex("02 04 c0")
    status, _ = select_protection(host, 0x00, 0x00, 0x00)
    assert status == 0 and not host.drive.protection.on


@pytest.mark.parametrize(
    ("method", "length", "byte"),
    [(0x01, 0x08, 8 + 5), (0x02, 0x02, 8 + 5), (0x00, 0x04, 8 + 5), (0x03, 0x04, 8 + 4)],
    ids=["reed-solomon-bad-length", "crc32c-bad-length", "none-with-length", "unknown-method"],
)
def test_lbp_methods_the_drive_cannot_do_are_refused(
    host: Host, method: int, length: int, byte: int
) -> None:
    status, sense = select_protection(host, method, length, 0xC0)
    code, fields = parse_sense(sense)
    assert status == 2 and code == INVALID_FIELD_IN_PARAMETER_LIST
    # field pointer: SKSV, C/D=0, the byte in the MODE SELECT parameter list
    assert fields["sense_key_specific"] == bytes([0x80]) + byte.to_bytes(2, "big")
    assert not host.drive.protection.on


def test_lbp_write_checks_the_crc_and_stores_the_block_alone(host: Host) -> None:
    select_protection(host, 0x02, 0x04, 0x80)  # LBP_W only
    block = bytes(range(256)) * 40
    assert host.write(block + crc(block)).status == 0
    bad = host.write(block + b"\0\0\0\0")
    assert bad.status == 2
    assert parse_sense(bad.sense)[0] == LOGICAL_BLOCK_GUARD_CHECK_FAILED
    assert host.position() == 1  # nothing written by the refused WRITE
    assert host.drive.mounted().read_block_bytes(0, 0) == block
    host.rewind()
    assert host.read(len(block)).status == 0 and host.data == block  # LBP_R off


def test_lbp_read_appends_the_crc(host: Host) -> None:
    block = b"LTFS label block" * 100
    host.write(block)
    select_protection(host, 0x02, 0x04, 0x40)  # LBP_R only
    host.rewind()
    assert host.read(len(block) + 4).status == 0
    assert host.data == block + crc(block)
    # a larger buffer with SILI: the block and its CRC, no ILI
    host.rewind()
    r = host.read(len(block) + 100, sili=True)
    assert r.status == 0 and r.data_in_length == len(block) + 4
    assert host.data[: len(block) + 4] == block + crc(block)
    # without SILI the residue counts the protection information
    host.rewind()
    fields, _ = host.check(
        bytes([0x08, 0]) + (len(block) + 10).to_bytes(3, "big") + b"\0",
        NO_ADDITIONAL_SENSE,
        n=len(block) + 10,
    )
    assert fields["ili"] and fields["information"] == 6


def test_reed_solomon_crc_known_answers() -> None:
    # ECMA-319 Reed-Solomon CRC, as LTFS's reed_solomon_crc.c computes it
    assert protection.reed_solomon_crc([b"123456789"]) == 0x4B4F673A
    assert protection.reed_solomon_crc([b"x"]) == 0x8F2F8F78
    assert protection.reed_solomon_crc([b"1234", memoryview(b"56789")]) == 0x4B4F673A
    assert protection.reed_solomon_crc([b""]) == 0


def test_lbp_reed_solomon_as_ltfs_uses_it_on_lto5_and_lto6(host: Host) -> None:
    status, _ = select_protection(host, 0x01, 0x04, 0xC0)
    assert status == 0
    assert host.drive.protection.method == protection.ProtectionMethod.REED_SOLOMON
    block = b"an LTO-6 block" * 50
    rs = protection.reed_solomon_crc([block]).to_bytes(4, "big")
    assert host.write(block + crc(block)).status == 2  # a CRC32C is not the RS CRC
    assert host.write(block + rs).status == 0
    host.rewind()
    assert host.read(len(block) + 4).status == 0 and host.data == block + rs


def test_lbp_fixed_blocks_each_carry_their_crc(host: Host) -> None:
    host.ok([0x15, 0x10, 0, 0, 12, 0], out=bytes([0, 0, 0x10, 8, 0, 0, 0, 0, 0, 0, 2, 0]))
    select_protection(host, 0x02, 0x04, 0xC0)
    a, b = b"a" * 512, b"b" * 512
    out = a + crc(a) + b + crc(b)
    assert host.cmd(bytes([0x0A, 1, 0, 0, 2, 0]), out=out).status == 0
    host.rewind()
    assert host.cmd(bytes([0x08, 1, 0, 0, 2, 0]), n=len(out)).status == 0
    assert host.data == out


# --- device configuration extension, page 10h/01h ----------------------------------------


def test_device_configuration_extension_golden_and_pews(host: Host) -> None:
    page = mode_sense10(host, 0x10, 0x01)[8:]
    assert page == bytes.fromhex("50 01 001c 00 00 0000 00") + bytes(23)
    assert mode_sense10(host, 0x10, 0x01, pc=1)[8:] == bytes.fromhex(
        "50 01 001c 00 00 ffff 00"
    ) + bytes(23)
    fields = {
        "flags": {"tarpf": False, "tarpp": False, "taplsd": False, "tarlld": False},
        "modes": {"write_mode": 0, "short_erase_mode": 0},
        "pews": 0x1234,
        "vcelbre": {"vcelbre": False},
    }
    check_both_ways(
        pages.DeviceConfigurationExtension, bytes.fromhex("00 00 1234 00") + bytes(23), fields
    )
    # what LTFS's tape_set_pews sends: PS cleared, PEWS in bytes 6-7
    sent = bytearray(page)
    sent[6:8] = (476).to_bytes(2, "big")
    mode_select10(host, bytes(sent))
    assert host.drive.pews == 476 * 10**6
    assert mode_sense10(host, 0x10, 0x01)[14:16] == (476).to_bytes(2, "big")
    # WRITE MODE (append only) is not changeable
    sent[5] = 0x10
    r = host.cmd([0x55, 0x10, 0, 0, 0, 0, 0, 0, 8 + len(sent), 0], out=bytes(8) + bytes(sent))
    assert r.status == 2 and parse_sense(r.sense)[0] == INVALID_FIELD_IN_PARAMETER_LIST


# --- drive dump: READ BUFFER and SEND DIAGNOSTIC ------------------------------------------


def test_drive_dump_as_ltfs_reads_it(host: Host) -> None:
    # SEND DIAGNOSTIC PF, page 80h, diagnostic ID 0160h (force dump), 8 bytes
    host.ok([0x1D, 0x10, 0, 0, 8, 0], out=bytes.fromhex("80 00 0004 0160 0000"))
    head = host.ok([0x3C, 0x03, 0x01, 0, 0, 0, 0, 0, 4, 0], n=4)
    size = int.from_bytes(head[1:4], "big")
    assert head[0] == 0 and size > 0
    check_both_ways(
        __import__("devemu.tape.drive_dump", fromlist=["BufferDescriptor"]).BufferDescriptor,
        head,
        {"offset_boundary": 0, "buffer_capacity": size},
    )
    first = host.ok([0x3C, 0x02, 0x01, 0, 0, 0, 0, 0, 16, 0], n=16)
    rest = host.ok(
        bytes([0x3C, 0x02, 0x01, 0, 0, 16]) + (size - 16).to_bytes(3, "big") + b"\0",
        n=size - 16,
    )
    dump = first + rest
    assert dump.startswith(b"DEVEMU DRIVE DUMP DRV0001\n")
    state = json.loads(dump.split(b"\n", 1)[1])
    assert state["barcode"] == "L00001L8" and state["identity"]["serial"] == "DRV0001"
    # page 0x00 lists page 80h
    assert host.ok([0x1C, 0x01, 0x00, 0, 16, 0], n=16) == bytes.fromhex("00 00 0002 00 80")


@pytest.mark.parametrize(
    ("cdb", "pointer"),
    [
        ([0x3C, 0x02, 0x00, 0, 0, 0, 0, 0, 4, 0], "c00002"),  # buffer 00h
        ([0x3C, 0x0A, 0x01, 0, 0, 0, 0, 0, 4, 0], "cc0001"),  # mode 0Ah: byte 1, bit 4
        ([0x3C, 0x03, 0x01, 0, 0, 1, 0, 0, 4, 0], "c00003"),  # descriptor at an offset
    ],
)
def test_read_buffer_errors(host: Host, cdb: list[int], pointer: str) -> None:
    fields, _ = host.check(cdb, INVALID_FIELD_IN_CDB, n=4)
    assert fields["sense_key_specific"] == bytes.fromhex(pointer)


def test_unknown_diagnostic_refused(host: Host) -> None:
    host.check(
        [0x1D, 0x10, 0, 0, 8, 0],
        INVALID_FIELD_IN_PARAMETER_LIST,
        out=bytes.fromhex("80 00 0004 0199 0000"),
    )
    host.check(
        [0x1D, 0x10, 0, 0, 8, 0],
        INVALID_FIELD_IN_PARAMETER_LIST,
        out=bytes.fromhex("81 00 0004 0160 0000"),
    )


# --- ALLOW OVERWRITE -------------------------------------------------------------------


def allow(partition: int, position: int, form: int = 1) -> bytes:
    return bytes([0x82, 0, form, partition]) + position.to_bytes(8, "big") + bytes(4)


def test_allow_overwrite_at_the_current_position(host: Host) -> None:
    host.write(b"1")
    host.write(b"2")
    host.ok([0x2B, 0, 0, 0, 0, 0, 1, 0, 0, 0])  # LOCATE to object 1
    host.ok(allow(0, 1))
    host.check(allow(0, 0), SEQUENTIAL_POSITIONING_ERROR_ILLEGAL)
    host.check(allow(0, 2**64 - 1), END_OF_DATA_DETECTED)  # what LTFS accepts as good
    fields, _ = host.check(allow(1, 1), INVALID_FIELD_IN_CDB)
    assert fields["sense_key_specific"] == b"\xc0\x00\x03"
    host.check(allow(0, 1, form=3), INVALID_FIELD_IN_CDB)
    host.ok(allow(0, 0, form=0))
    host.write(b"X")  # overwrite allowed: the data after it is gone
    assert host.drive.current_partition().eod == 2


# --- log pages ---------------------------------------------------------------------------


def parameters(page: bytes) -> dict[int, bytes]:
    parsed = LogPage.parse(page)
    out, body = {}, parsed.parameters
    while body:
        code, length = int.from_bytes(body[:2], "big"), body[3]
        out[code] = body[4 : 4 + length]
        body = body[4 + length :]
    return out


def log_sense(host: Host, page: int) -> bytes:
    return host.ok([0x4D, 0, 0x40 | page, 0, 0, 0, 0, 0x10, 0, 0], n=4096)


def test_volume_statistics_per_partition_as_ltfs_reads_it(host: Host) -> None:
    # two partitions, as mkltfs asks: partition 1 one GB
    page = bytearray(host.ok([0x1A, 0, 0x11, 0, 255, 0], n=255))
    page[0] = 0
    at = 4 + page[3]
    page[at + 3], page[at + 4] = 1, 0x20 | (page[at + 4] & 0x1F)
    page[at + 6], page[at + 8 : at + 12] = 9, bytes.fromhex("ffff 0001")
    host.ok([0x15, 0x10, 0, 0, len(page), 0], out=bytes(page))
    host.ok([0x04, 0, 1, 0, 0, 0])
    host.write(b"x" * 3_000_000)
    data = log_sense(host, 0x17)
    assert data[:2] == b"\x17\x00"
    got = parameters(data)
    assert got[0x0000] == b"\x01"
    assert got[0x0202] == bytes.fromhex("07 00 0000") + (11_999_000).to_bytes(
        4, "big"
    ) + bytes.fromhex("07 00 0001") + (1000).to_bytes(4, "big")
    assert got[0x0203] == bytes.fromhex("07 00 0000 00000003 07 00 0001 00000000")
    assert got[0x0204][4:8] == (11_998_997).to_bytes(4, "big")
    assert got[0x0042].rstrip() == b"L00001L8"
    assert int.from_bytes(got[0x0001], "big") == 1  # this load
    assert got[0x0080] == b"\x00" and got[0x0081] == b"\x00"


def test_volume_statistics_golden_both_ways() -> None:
    volume = log_pages.VolumeFigures(
        mounts=2,
        written_lifetime_mb=5,
        read_lifetime_mb=6,
        written_load_mb=1,
        read_load_mb=0,
        native=3 * 10**6,
        used=10**6,
        serial="S1",
        barcode="B1",
        write_protected=False,
        worm=True,
        partitions=[
            log_pages.PartitionFigures(0, 2 * 10**6, 10**6, 10**6),
            log_pages.PartitionFigures(1, 10**6, None, 10**6),
        ],
    )
    page = log_pages.volume_statistics_page(volume)
    golden = (
        "17 00 01 0b"
        "0000 03 01 01"
        "0001 00 04 00000002"
        "0003 00 04 00000000  0004 00 04 00000000  0005 00 04 00000000"
        "0006 00 04 00000000  0008 00 04 00000000  0009 00 04 00000000"
        "000c 00 04 00000000  000d 00 04 00000000"
        "000e 00 04 00000001  000f 00 04 00000000"
        "0010 00 04 00000005  0011 00 04 00000006  0016 00 04 00000003"
        "0017 00 04 00000001"
        "0040 01 20" + (b"S1".ljust(32)).hex() + "0042 01 20" + (b"B1".ljust(32)).hex() + ""
        "0080 03 01 00  0081 03 01 01"
        "0202 03 10 07 00 0000 00000002 07 00 0001 00000001"
        "0203 03 10 07 00 0000 00000001 07 00 0001 ffffffff"
        "0204 03 10 07 00 0000 00000001 07 00 0001 00000001"
    )
    assert page == bytes.fromhex(golden)
    assert parameters(page)[0x0203][12:16] == b"\xff\xff\xff\xff"
    check_both_ways(
        log_pages.PartitionRecord,
        bytes.fromhex("07 00 0001"),
        {"descriptor_length": 7, "partition_number": 1},
    )


def test_data_compression_and_device_statistics(host: Host) -> None:
    host.write(b"z" * 1_500_000)
    got = parameters(log_sense(host, 0x1B))
    assert got[0x0000] == got[0x0001] == (100).to_bytes(2, "big")
    assert got[0x0006] == (1).to_bytes(4, "big") and got[0x0007] == (500_000).to_bytes(4, "big")
    assert got[0x0008] == (1).to_bytes(4, "big") and got[0x0009] == (500_000).to_bytes(4, "big")
    assert log_pages.data_compression_page(
        log_pages.TapeCounters(3_000_001, 0, 0, 0)
    ) == bytes.fromhex(
        "1b 00 004c"
        "0000 00 02 0064 0001 00 02 0064"
        "0002 00 04 00000000 0003 00 04 00000000"
        "0004 00 04 00000000 0005 00 04 00000000"
        "0006 00 04 00000003 0007 00 04 00000001"
        "0008 00 04 00000000 0009 00 04 00000000"
    )
    dev = parameters(log_sense(host, 0x14))
    assert int.from_bytes(dev[0x0000], "big") == 1  # one load
    assert log_pages.device_statistics_page(log_pages.DeviceCounters(loads=7), 3) == bytes.fromhex(
        "14 00 0020 0000 00 04 00000007 0001 00 04 00000000 0002 00 04 00000003 0003 00 04 00000000"
    )


# --- mode header MEDIUM TYPE, REPORT DENSITY SUPPORT medium type form ---------------------


def test_medium_type_codes_as_ltfs_reads_them() -> None:
    lto8, lto5 = MEDIA["LTO-8"], MEDIA["LTO-5"]
    assert medium_type_code(MediumTypeCodes.IBM, lto8, False) == 0x88
    assert medium_type_code(MediumTypeCodes.IBM, lto8, True) == 0x8C
    assert medium_type_code(MediumTypeCodes.IBM, lto5, False) == 0x58
    assert medium_type_code(MediumTypeCodes.IBM, MEDIA["LTO-7M8"], False) == 0x78
    assert medium_type_code(MediumTypeCodes.HP, lto8, True) == 0x01
    assert medium_type_code(MediumTypeCodes.HP, lto8, False) == 0x00


def test_mode_sense_all_pages_reports_the_cartridge_type(host: Host) -> None:
    # what sg_load asks: MODE SENSE(10) page 3Fh; byte 2 cartridge type, byte 8 density
    data = host.ok([0x5A, 0, 0x3F, 0, 0, 0, 0, 0x04, 0, 0], n=1024)
    assert data[2] == 0x88 and data[8] == 0x5E


def test_report_density_support_medium_type_form_golden(host: Host) -> None:
    data = host.ok([0x44, 0x03, 0, 0, 0, 0, 0, 0x01, 0, 0], n=256)
    golden = (
        "003a 0000"
        "88 00 0034 01 5e0000000000000000 007f 03c0 0000"
        + b"LTO-CVE ".hex()
        + b"LTO-8   ".hex()
        + b"Ultrium 8/32T".ljust(20).hex()
    )
    assert data == bytes.fromhex(golden)
    fields = {
        "medium_type": 0x88,
        "descriptor_length": 0x34,
        "number_of_density_codes": 1,
        "primary_density_codes": bytes([0x5E]) + bytes(8),
        "media_width": 127,
        "medium_length": 960,
        "assigning_organization": b"LTO-CVE ",
        "medium_type_name": b"LTO-8   ",
        "description": b"Ultrium 8/32T".ljust(20),
    }
    check_both_ways(pages.MediumTypeDescriptor, data[4:], fields)
    every = host.ok([0x44, 0x02, 0, 0, 0, 0, 0, 0x04, 0, 0], n=1024)
    assert int.from_bytes(every[:2], "big") == 2 + 3 * 56  # LTO-8 drive: LTO-7, 7M8, 8
    assert [every[4 + i * 56] for i in range(3)] == [0x88, 0x78, 0x78]


# --- partitions: errors LTFS can meet ----------------------------------------------------


def test_locate16_to_a_partition_that_does_not_exist(host: Host) -> None:
    cdb = bytes([0x92, 0x02, 0, 1]) + (0).to_bytes(8, "big") + bytes(4)
    fields, _ = host.check(cdb, INVALID_FIELD_IN_CDB)
    assert fields["sense_key_specific"] == b"\xc0\x00\x03"


@pytest.mark.parametrize(
    ("sizes", "units"),
    [("ffff ffff", 9), ("2ee0 2ee0", 9), ("0000 ffff", 9)],
    ids=["two-rest", "too-big", "empty-partition"],
)
def test_format_with_a_bad_partition_size(host: Host, sizes: str, units: int) -> None:
    page = bytearray(host.ok([0x1A, 0, 0x11, 0, 255, 0], n=255))
    page[0] = 0
    at = 4 + page[3]
    page[at + 3], page[at + 4] = 1, 0x20 | (page[at + 4] & 0x1F)
    page[at + 6], page[at + 8 : at + 12] = units, bytes.fromhex(sizes)
    r = host.cmd([0x15, 0x10, 0, 0, len(page), 0], out=bytes(page))
    if r.status == 0:
        fields, _ = host.check([0x04, 0, 1, 0, 0, 0], INVALID_FIELD_IN_CDB)
        assert fields["sense_key_specific"] == b"\xc8\x00\x02"
    else:
        assert parse_sense(r.sense)[0] == INVALID_FIELD_IN_PARAMETER_LIST
    assert host.drive.mounted().partition_count == 1


def test_four_partitions_on_an_lto8_cartridge(host: Host) -> None:
    page = bytearray(host.ok([0x1A, 0, 0x11, 0, 255, 0], n=255))
    at = 4 + page[3]
    # page 11h carries four size descriptors (SSC-5 8.3.5): maximum additional 3
    assert page[at : at + 2] == bytes([0x11, 0x0E]) and page[at + 2] == 3
    golden = bytes.fromhex("03 03 38 03 09 00 0001 0002 0003 ffff")
    fields = {
        "maximum_additional_partitions": 3,
        "additional_partitions_defined": 3,
        "flags": {
            "fdp": False,
            "sdp": False,
            "idp": True,
            "psum": 3,
            "pofm": False,
            "clear": False,
            "addp": False,
        },
        "medium_format_recognition": 3,
        "partition_units": {"units": 9},
        "partition_sizes": [1, 2, 3, 0xFFFF],
    }
    # both ways (the descriptors make the size variable: no sizeof)
    assert pages.MediumPartition.build(fields) == golden
    assert plain(pages.MediumPartition.parse(golden)) == fields
    page[0] = 0
    page[at + 3], page[at + 4] = 3, 0x20 | (page[at + 4] & 0x1F)
    page[at + 6], page[at + 8 : at + 16] = 9, bytes.fromhex("0001 0002 0003 ffff")
    host.ok([0x15, 0x10, 0, 0, len(page), 0], out=bytes(page))
    host.ok([0x04, 0, 1, 0, 0, 0])
    caps = [p.capacity for p in host.drive.mounted().partitions]
    assert caps == [10**9, 2 * 10**9, 3 * 10**9, 12 * 10**12 - 6 * 10**9]
    host.ok(bytes([0x92, 0x02, 0, 3]) + (0).to_bytes(8, "big") + bytes(4))  # LOCATE(16) CP to 3
    host.write(b"in partition 3")
    long_form = host.ok([0x34, 6, 0, 0, 0, 0, 0, 0, 0, 0], n=32)
    assert int.from_bytes(long_form[4:8], "big") == 3
    sense = host.ok([0x1A, 0, 0x11, 0, 255, 0], n=255)
    assert sense[at + 3] == 3 and sense[at + 8 : at + 14] == bytes.fromhex("0001 0002 0003")
    partition_list = bytes([0x8C, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    assert host.ok(partition_list, n=256) == bytes([0, 2, 0, 4])
    attrs = bytes([0x8C, 0, 0, 0, 0, 0, 0, 3, 0, 1, 0, 0, 1, 0, 0, 0])  # MAXIMUM CAPACITY, p3
    data = host.ok(attrs, n=256)
    assert data[4:9] == bytes.fromhex("0001 80 0008")
    assert int.from_bytes(data[9:17], "big") == (12 * 10**12 - 6 * 10**9) >> 20


def test_an_lto5_drive_makes_two_partitions(tmp_path: Path) -> None:
    path = tmp_path / "L00005L5.tape"
    Cartridge.create(path, "L00005L5", "LTO-5").close()
    drive = TapeDrive(IDENTITY, drive_type="LTO-5")
    drive.load(path)
    host = Host(drive)
    host.settle()
    page = bytearray(host.ok([0x1A, 0, 0x11, 0, 255, 0], n=255))
    at = 4 + page[3]
    assert page[at : at + 3] == bytes([0x11, 0x0A, 1])  # two descriptors, one more partition
    page[0] = 0
    page[at + 3] = 2  # three partitions: more than the drive allows
    r = host.cmd([0x15, 0x10, 0, 0, len(page), 0], out=bytes(page))
    assert r.status == 2 and parse_sense(r.sense)[0] == INVALID_FIELD_IN_PARAMETER_LIST


def test_set_capacity_as_ltfs_sends_it(host: Host) -> None:
    host.write(b"old data")
    host.check([0x0B, 0, 0, 0xFF, 0xFF, 0], POSITION_PAST_BEGINNING_OF_MEDIUM)
    host.rewind()
    host.ok([0x0B, 0, 0, 0x80, 0x00, 0])  # half the medium, one partition, data gone
    cart = host.drive.mounted()
    assert [p.capacity for p in cart.partitions] == [12 * 10**12 * 0x8000 // 0xFFFF]
    assert cart.partitions[0].eod == 0
    host.ok([0x0B, 0, 0, 0xFF, 0xFF, 0])
    assert [p.capacity for p in cart.partitions] == [12 * 10**12]
    fields, _ = host.check([0x0B, 0, 0, 0, 0, 0], INVALID_FIELD_IN_CDB)
    assert fields["sense_key_specific"] == b"\xc0\x00\x03"


def test_programmable_early_warning_is_reported_once_when_crossed(tmp_path: Path) -> None:
    path = tmp_path / "S00001L8.tape"
    Cartridge.create(path, "S00001L8", capacity=400 * 10**6).close()
    drive = TapeDrive(IDENTITY)
    drive.load(path)
    host = Host(drive)
    host.settle()
    page = bytearray(mode_sense10(host, 0x10, 0x01)[8:])
    page[0] &= 0x7F
    page[6:8] = (100).to_bytes(2, "big")  # PEWS 100 MB
    mode_select10(host, bytes(page))
    part = drive.current_partition()
    point = part.capacity - early_warning_margin(part.capacity) - 100 * 10**6
    block = b"p" * 10**6
    while part.used + len(block) <= point:
        assert host.write(block).status == 0
    fields, _ = host.check(
        bytes([0x0A, 0]) + len(block).to_bytes(3, "big") + b"\0",
        PROGRAMMABLE_EARLY_WARNING_DETECTED,
        out=block,
    )
    assert not fields["eom"] and drive.current_partition().used > point
    assert host.write(block).status == 0  # past it: no second report


# --- a restart of the daemon keeps the host's protection and early warning ---------------


def test_a_restarted_drive_keeps_protection_and_pews(cartridge: Path, tmp_path: Path) -> None:
    """What LTFS met when devemu was killed and started again in the middle of a mount.

    LTFS set protection once, at mount, and goes on appending each block's
    CRC after the restart (the POWER ON RESET it sees is answered by its
    backend, not by setting the page again). A drive that forgot the page
    would store the CRC as four more bytes of the block: the index LTFS
    wrote at unmount read back as XML with four bytes of garbage.
    """
    state = tmp_path / "state"
    drv = TapeDrive(IDENTITY, state_dir=state)
    drv.load(cartridge)
    h = Host(drv)
    h.settle()
    assert select_protection(h, 0x02, 0x04, 0xC0)[0] == 0
    pews_page = bytearray(mode_sense10(h, 0x10, 0x01)[8:])
    pews_page[0] &= 0x7F
    pews_page[6:8] = (476).to_bytes(2, "big")
    mode_select10(h, bytes(pews_page))
    first = b"before the restart" * 100
    assert h.write(first + crc(first)).status == 0
    drv.close()  # kill -9: the process dies, its files stay

    again = TapeDrive(IDENTITY, state_dir=state)
    assert again.protection == protection.Protection(write=True, read=True)
    assert again.pews == 476 * 10**6
    h2 = Host(again)
    h2.settle()  # the POWER ON RESET
    assert mode_sense10(h2, 0x0A, 0xF0)[12:15] == bytes.fromhex("02 04 c0")
    assert mode_sense10(h2, 0x10, 0x01)[14:16] == (476).to_bytes(2, "big")
    second = b"after the restart" * 100
    assert h2.write(second + crc(second)).status == 0
    assert again.mounted().read_block_bytes(0, 1) == second  # the block alone, no CRC
    h2.rewind()
    assert h2.read(len(first) + 4).status == 0 and h2.data == first + crc(first)
    assert h2.read(len(second) + 4).status == 0 and h2.data == second + crc(second)


def test_protection_turned_off_stays_off_after_a_restart(cartridge: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    drv = TapeDrive(IDENTITY, state_dir=state)
    drv.load(cartridge)
    h = Host(drv)
    h.settle()
    select_protection(h, 0x02, 0x04, 0xC0)
    select_protection(h, 0x00, 0x00, 0x00)
    drv.close()
    again = TapeDrive(IDENTITY, state_dir=state)
    assert not again.protection.on
    h2 = Host(again)
    h2.settle()
    assert mode_sense10(h2, 0x0A, 0xF0)[8:] == PROTECTION_PAGE


def test_kept_mode_pages_a_restart_cannot_use_are_left_out(cartridge: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    drv = TapeDrive(IDENTITY, state_dir=state)
    drv.load(cartridge)
    drv.close()
    path = state / f"drive-{IDENTITY.serial}.json"
    saved = json.loads(path.read_text())
    lbp_on = bytearray(PROTECTION_PAGE[4:])
    lbp_on[0:3] = bytes.fromhex("02 04 c0")
    saved["mode_pages"] = {
        "0a/f0": bytes(lbp_on).hex(),
        "10/01": "00",  # too short for the page
        "3e/00": "00",  # a page the drive does not keep
    }
    path.write_text(json.dumps(saved))
    again = TapeDrive(IDENTITY, state_dir=state)
    assert again.protection == protection.Protection(write=True, read=True)
    assert again.pews == 0 and again.loaded_path == cartridge
    again.close()
    saved["mode_pages"] = {"0a/f0": "07" + bytes(lbp_on[1:]).hex()}  # method 07h: refused
    path.write_text(json.dumps(saved))
    assert not TapeDrive(IDENTITY, state_dir=state).protection.on


def test_a_restarted_drive_keeps_the_reservation_ltfs_made(cartridge: Path, tmp_path: Path) -> None:
    """LTFS registers a key and reserves the drive (Exclusive Access) at mount and
    releases it at unmount: after a restart the release must still find them
    (SPC-5 5.13: the nexus never went away). A drive that forgot them answered
    RESERVATION CONFLICT, the answer to a nexus that is not registered.
    """
    key = bytes.fromhex("0000000000abcdef")
    state = tmp_path / "state"
    drv = TapeDrive(IDENTITY, state_dir=state)
    drv.load(cartridge)
    h = Host(drv)
    h.settle()
    # what LTFS sends: REGISTER AND IGNORE EXISTING KEY, then RESERVE type 3
    h.ok([0x5F, 0x06, 0, 0, 0, 0, 0, 0, 24, 0], out=bytes(8) + key + bytes(8))
    h.ok([0x5F, 0x01, 0x03, 0, 0, 0, 0, 0, 24, 0], out=key + bytes(16))
    drv.close()
    again = TapeDrive(IDENTITY, state_dir=state)
    h2 = Host(again)
    h2.settle()
    keys = h2.ok([0x5E, 0x00, 0, 0, 0, 0, 0, 0, 64, 0], n=64)  # READ KEYS
    assert keys[4:8] == (8).to_bytes(4, "big") and keys[8:16] == key
    held = h2.ok([0x5E, 0x01, 0, 0, 0, 0, 0, 0, 64, 0], n=64)  # READ RESERVATION
    assert held[8:16] == key and held[21] & 0x0F == 0x03
    # and what LTFS sends at unmount: RELEASE, then REGISTER with key 0 (unregister)
    h2.ok([0x5F, 0x02, 0x03, 0, 0, 0, 0, 0, 24, 0], out=key + bytes(16))
    h2.ok([0x5F, 0x06, 0, 0, 0, 0, 0, 0, 24, 0], out=key + bytes(16))
    assert h2.ok([0x5E, 0x00, 0, 0, 0, 0, 0, 0, 64, 0], n=64)[4:8] == bytes(4)
