"""The SSC-5 drive: what Linux st sends, reads, writes, sense data, states."""

from __future__ import annotations

from pathlib import Path

import pytest

from devemu.scsi.command import Command, Result, Status, answered
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT_DATA_PROTECT,
    END_OF_DATA_DETECTED,
    END_OF_PARTITION_MEDIUM_DETECTED,
    FILEMARK_DETECTED,
    INCOMPATIBLE_MEDIUM_INSTALLED,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED,
    MEDIUM_NOT_PRESENT,
    MEDIUM_REMOVAL_PREVENTED,
    NO_ADDITIONAL_SENSE,
    NOT_READY_TO_READY_CHANGE,
    POSITION_PAST_BEGINNING_OF_MEDIUM,
    POWER_ON_RESET_OR_BUS_DEVICE_RESET,
    VOLUME_OVERFLOW_END_OF_PARTITION,
    WORM_MEDIUM_OVERWRITE_ATTEMPTED,
    WRITE_PROTECTED,
    SenseCode,
    parse_sense,
)
from devemu.tape.cartridge import Cartridge
from devemu.tape.cdbs import ReadWrite6Cdb
from devemu.tape.drive import TapeDrive
from devemu.tape.limits import early_warning_margin

IDENTITY = Identity("DEVEMU", "LTO-8 TAPE", "0100", "DRV0001")


class Host:
    """Sends CDBs to a drive the way an initiator would."""

    def __init__(self, drive: TapeDrive) -> None:
        self.drive = drive

    def cmd(self, cdb: bytes | list[int], out: bytes | None = None, n: int = 0) -> Result:
        buf = bytearray(out if out is not None else n)
        r = answered(self.drive.execute(Command(bytes(cdb), [memoryview(buf)] if buf else [])))
        self.data = bytes(buf[: r.data_in_length or 0]) if out is None else b""
        return r

    def ok(self, cdb: bytes | list[int], out: bytes | None = None, n: int = 0) -> bytes:
        r = self.cmd(cdb, out, n)
        assert r.status == Status.GOOD, parse_sense(r.sense)
        return self.data

    def check(
        self, cdb: bytes | list[int], code: SenseCode, out: bytes | None = None, n: int = 0
    ) -> tuple[dict[str, object], Result]:
        r = self.cmd(cdb, out, n)
        assert r.status == Status.CHECK_CONDITION
        got, fields = parse_sense(r.sense)
        assert got == code, (got, fields)
        return fields, r

    def settle(self) -> None:
        while self.cmd([0, 0, 0, 0, 0, 0]).status != Status.GOOD:
            pass

    def write(self, data: bytes) -> Result:
        return self.cmd(bytes([0x0A, 0]) + len(data).to_bytes(3, "big") + b"\0", out=data)

    def read(self, n: int, *, sili: bool = False) -> Result:
        return self.cmd(bytes([0x08, 2 if sili else 0]) + n.to_bytes(3, "big") + b"\0", n=n)

    def filemarks(self, n: int = 1, immed: bool = False) -> Result:
        return self.cmd(bytes([0x10, int(immed)]) + n.to_bytes(3, "big") + b"\0")

    def rewind(self) -> None:
        self.ok([0x01, 0, 0, 0, 0, 0])

    def position(self) -> int:
        return int.from_bytes(self.ok([0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0], n=20)[4:8], "big")


@pytest.fixture
def cartridge(tmp_path: Path) -> Path:
    path = tmp_path / "A00001L8.tape"
    Cartridge.create(path, "A00001L8").close()
    return path


@pytest.fixture
def host(cartridge: Path) -> Host:
    drv = TapeDrive(IDENTITY)
    drv.load(cartridge)
    h = Host(drv)
    h.settle()
    return h


# --- CDB declarations agree with the fast path -----------------------------------------


@pytest.mark.parametrize(
    "cdb,fixed,sili,length",
    [
        (bytes.fromhex("080000040000"), False, False, 1024),
        (bytes.fromhex("0a0100000800"), True, False, 8),
        (bytes.fromhex("0802ffffff00"), False, True, 0xFFFFFF),
    ],
)
def test_read_write_6_fields_agree(cdb: bytes, fixed: bool, sili: bool, length: int) -> None:
    parsed = ReadWrite6Cdb.parse(cdb)
    assert (parsed.flags.fixed, parsed.flags.sili, parsed.transfer_length) == (fixed, sili, length)
    spec = TapeDrive.commands.get(0x08)
    assert spec is not None and spec.decode is not None
    assert spec.decode(cdb) == (sili, fixed, length)
    built = ReadWrite6Cdb.build(
        {
            "opcode": cdb[0],
            "flags": {"sili": sili, "fixed": fixed},
            "transfer_length": length,
            "control": 0,
        }
    )
    assert built == cdb
    assert ReadWrite6Cdb.sizeof() == 6


# --- what Linux st does when it opens the device -------------------------------------------


def test_st_open_sequence(cartridge: Path) -> None:
    drv = TapeDrive(IDENTITY)
    h = Host(drv)
    h.check([0, 0, 0, 0, 0, 0], POWER_ON_RESET_OR_BUS_DEVICE_RESET)
    h.check([0, 0, 0, 0, 0, 0], MEDIUM_NOT_PRESENT)
    drv.load(cartridge)
    h.check([0, 0, 0, 0, 0, 0], NOT_READY_TO_READY_CHANGE)
    h.ok([0, 0, 0, 0, 0, 0])
    assert h.ok([0x05, 0, 0, 0, 0, 0], n=6) == bytes.fromhex("00 800000 0001")
    assert h.ok([0x05, 1, 0, 0, 0, 0], n=20) == bytes(12) + bytes.fromhex("00000000fffffffe")
    # MODE SENSE(6) page 0 with the block descriptor, allocation 12: header + descriptor
    assert h.ok([0x1A, 0, 0, 0, 12, 0], n=12) == bytes.fromhex("0b 88 10 08 5e000000 00 000000")
    # st sets a fixed block size of 512 with MODE SELECT(6)
    h.ok([0x15, 0x10, 0, 0, 12, 0], out=bytes.fromhex("00 00 10 08 00000000 00 000200"))
    assert h.ok([0x1A, 0, 0, 0, 12, 0], n=12)[9:12] == bytes.fromhex("000200")
    # and back to variable
    h.ok([0x15, 0x10, 0, 0, 12, 0], out=bytes.fromhex("00 00 10 08 5e000000 00 000000"))
    assert drv.block_length == 0
    assert h.ok([0x34, 1, 0, 0, 0, 0, 0, 0, 0, 0], n=20) == bytes.fromhex(
        "80 00 0000 00000000 00000000 00 000000 00000000"
    )


def test_inquiry_and_vpd(host: Host) -> None:
    data = host.ok([0x12, 0, 0, 0, 96, 0], n=96)
    assert data[0] == 0x01 and data[1] == 0x80
    pages = host.ok([0x12, 1, 0, 0, 255, 0], n=255)
    assert bytes([0xB0, 0xB1, 0xB2]) in pages[4:]
    assert 0xB0 in pages[4:] and 0x89 not in pages[4:]  # no ATA or disk pages
    assert host.ok([0x12, 1, 0xB0, 0, 255, 0], n=255) == bytes.fromhex("01 b0 0002 01 00")
    assert host.ok([0x12, 1, 0xB1, 0, 255, 0], n=255) == bytes.fromhex("01 b1 0007") + b"DRV0001"
    assert host.ok([0x12, 1, 0xB2, 0, 255, 0], n=255) == bytes.fromhex(
        "01 b2 000c 3cf0940000000210 00000000"
    )


def test_mode_pages_golden(host: Host) -> None:
    data = host.ok([0x1A, 0x08, 0x3F, 0, 255, 0], n=255)
    assert data[:4] == bytes([len(data) - 1, 0x88, 0x10, 0])
    pages = data[4:]
    assert pages.startswith(bytes.fromhex("0a0a"))  # control page from SPC
    assert bytes.fromhex("0f0e c080 00000001 00000001 00000000") in pages
    assert bytes.fromhex("100e 00 00 00 00 0000 40 00 18 000000 01 00") in pages
    assert bytes.fromhex("110e 03 00 3c 03 09 00 2ee0 0000 0000 0000") in pages
    assert bytes.fromhex("1c0a 08 03 00000000 00000000") in pages


def test_compression_toggle_like_st(host: Host) -> None:
    page = host.ok([0x1A, 0x08, 0x0F, 0, 255, 0], n=255)
    assert page[4:6] == b"\x0f\x0e" and page[6] & 0xC0 == 0xC0
    sent = bytearray(page)
    sent[0] = 0
    sent[6] &= 0x7F
    host.ok([0x15, 0x10, 0, 0, len(sent), 0], out=bytes(sent))
    assert host.ok([0x1A, 0x08, 0x0F, 0, 255, 0], n=255)[6] == 0x40


# --- READ and WRITE ---------------------------------------------------------------------------


def test_variable_write_read_with_ili_filemark_and_eod(host: Host) -> None:
    assert host.write(b"A" * 100).status == Status.GOOD
    assert host.write(b"B" * 50).status == Status.GOOD
    assert host.filemarks(1).status == Status.GOOD
    host.rewind()
    assert host.read(100).status == Status.GOOD and host.data == b"A" * 100
    # short record: ILI, INFORMATION = residue, READ_LEN = what the block had
    fields, r = host.check(bytes([0x08, 0, 0, 0, 80, 0]), NO_ADDITIONAL_SENSE, n=80)
    assert fields["ili"] and fields["information"] == 30
    assert r.data_in_length == 50 and host.data == b"B" * 50
    fields, r = host.check(bytes([0x08, 0, 0, 0, 10, 0]), FILEMARK_DETECTED, n=10)
    assert fields["filemark"] and fields["information"] == 10 and r.data_in_length == 0
    assert host.position() == 3
    fields, r = host.check(bytes([0x08, 0, 0, 0, 10, 0]), END_OF_DATA_DETECTED, n=10)
    assert fields["information"] == 10 and host.position() == 3


def test_sili_and_long_records(host: Host) -> None:
    host.write(b"x" * 64)
    host.write(b"y" * 64)
    host.rewind()
    r = host.read(100, sili=True)
    assert r.status == Status.GOOD and r.data_in_length == 64
    # a record longer than asked: ILI with a negative residue, SILI does not help
    fields, r = host.check(bytes([0x08, 2, 0, 0, 16, 0]), NO_ADDITIONAL_SENSE, n=16)
    assert fields["ili"] and fields["information"] == (16 - 64) & 0xFFFFFFFF
    assert r.data_in_length == 16 and host.data == b"y" * 16
    assert host.position() == 2


def test_fixed_mode(host: Host) -> None:
    host.ok([0x15, 0x10, 0, 0, 12, 0], out=bytes.fromhex("00 00 10 08 00000000 00 000004"))
    host.ok([0x0A, 1, 0, 0, 3, 0], out=b"aaaabbbbcccc")
    host.filemarks(1)
    host.ok([0x0A, 1, 0, 0, 1, 0], out=b"dddd")
    host.rewind()
    assert host.ok([0x08, 1, 0, 0, 2, 0], n=8) == b"aaaabbbb"
    fields, r = host.check([0x08, 1, 0, 0, 3, 0], FILEMARK_DETECTED, n=12)
    assert fields["information"] == 2 and r.data_in_length == 4 and host.data[:4] == b"cccc"
    fields, r = host.check([0x08, 1, 0, 0, 2, 0], END_OF_DATA_DETECTED, n=8)
    assert fields["information"] == 1 and r.data_in_length == 4
    host.check([0x08, 3, 0, 0, 1, 0], INVALID_FIELD_IN_CDB, n=4)  # SILI with FIXED


def test_fixed_read_of_a_wrong_length_block(host: Host) -> None:
    host.write(b"z" * 10)
    host.ok([0x15, 0x10, 0, 0, 12, 0], out=bytes.fromhex("00 00 10 08 00000000 00 000004"))
    host.rewind()
    fields, r = host.check([0x08, 1, 0, 0, 2, 0], NO_ADDITIONAL_SENSE, n=8)
    assert fields["ili"] and fields["information"] == 2 and r.data_in_length == 0


def test_fixed_without_block_length_is_refused(host: Host) -> None:
    fields, _ = host.check([0x0A, 1, 0, 0, 1, 0], INVALID_FIELD_IN_CDB, out=b"x")
    assert fields["sense_key_specific"] == b"\xc8\x00\x01"


def test_write_in_the_middle_truncates(host: Host) -> None:
    for c in b"ABCD":
        host.write(bytes([c]) * 8)
    host.ok([0x2B, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    host.write(b"N" * 8)
    host.rewind()
    host.read(8)
    host.read(8)
    assert host.data == b"N" * 8
    host.check(bytes([0x08, 0, 0, 0, 8, 0]), END_OF_DATA_DETECTED, n=8)


def test_early_warning_and_volume_overflow(tmp_path: Path) -> None:
    capacity = 64 * 1024
    path = tmp_path / "SMALL1L8.tape"
    Cartridge.create(path, "SMALL1L8", capacity=capacity).close()
    drv = TapeDrive(IDENTITY)
    drv.load(path)
    h = Host(drv)
    h.settle()
    ew = capacity - early_warning_margin(capacity)
    block = 4096
    written = 0
    while written + block <= ew:
        assert h.write(b"w" * block).status == Status.GOOD
        written += block
    # the write that crosses early warning is done, and says so
    fields, _ = h.check(
        bytes([0x0A, 0, 0, 0x10, 0, 0]), END_OF_PARTITION_MEDIUM_DETECTED, out=b"e" * block
    )
    assert fields["eom"] and fields["information"] == 0
    written += block
    fields, _ = h.check([0x10, 0, 0, 0, 1, 0], END_OF_PARTITION_MEDIUM_DETECTED)
    assert fields["eom"]
    while written + block <= capacity:
        h.write(b"w" * block)
        written += block
    before = h.position()
    fields, _ = h.check(
        bytes([0x0A, 0, 0, 0x10, 0, 0]), VOLUME_OVERFLOW_END_OF_PARTITION, out=b"o" * block
    )
    assert fields["eom"] and fields["information"] == block
    assert h.position() == before


def test_worm_refuses_overwrite_but_appends(tmp_path: Path) -> None:
    path = tmp_path / "WORM01L8.tape"
    Cartridge.create(path, "WORM01L8", worm=True).close()
    drv = TapeDrive(IDENTITY)
    drv.load(path)
    h = Host(drv)
    h.settle()
    h.write(b"1" * 8)
    h.filemarks(2)
    h.ok([0x2B, 0, 0, 0, 0, 0, 1, 0, 0, 0])  # onto the trailing filemarks: allowed
    assert h.write(b"2" * 8).status == Status.GOOD
    h.rewind()
    h.check(bytes([0x0A, 0, 0, 0, 8, 0]), WORM_MEDIUM_OVERWRITE_ATTEMPTED, out=b"3" * 8)
    h.check([0x10, 0, 0, 0, 1, 0], WORM_MEDIUM_OVERWRITE_ATTEMPTED)
    h.check([0x19, 1, 0, 0, 0, 0], WORM_MEDIUM_OVERWRITE_ATTEMPTED)
    h.check([0x04, 0, 0, 0, 0, 0], WORM_MEDIUM_OVERWRITE_ATTEMPTED)
    h.ok([0x11, 3, 0, 0, 0, 0])
    assert h.write(b"4" * 8).status == Status.GOOD
    assert [c for c in drv.mounted().partitions[0].lengths] == [8, 8, 8]


def test_read_only_file_is_write_protected(cartridge: Path) -> None:
    cartridge.chmod(0o444)
    drv = TapeDrive(IDENTITY)
    drv.load(cartridge)
    h = Host(drv)
    h.settle()
    assert h.ok([0x1A, 0, 0, 0, 12, 0], n=12)[2] & 0x80
    h.check(bytes([0x0A, 0, 0, 0, 1, 0]), WRITE_PROTECTED, out=b"x")
    assert 0x09 in drv.tapealerts


@pytest.mark.parametrize(
    "drive_type,media,readable,writable",
    [
        ("LTO-8", "LTO-8", True, True),
        ("LTO-8", "LTO-7", True, True),
        ("LTO-8", "LTO-6", False, False),
        ("LTO-7", "LTO-5", True, False),
        ("LTO-9", "LTO-8", True, True),
        ("LTO-9", "LTO-7", False, False),
        ("LTO-5", "LTO-3", True, False),
    ],
)
def test_generations(
    tmp_path: Path, drive_type: str, media: str, readable: bool, writable: bool
) -> None:
    path = tmp_path / "GEN001.tape"
    Cartridge.create(path, "GEN001", media).close()
    drv = TapeDrive(IDENTITY, drive_type)
    drv.load(path)
    h = Host(drv)
    h.cmd([0, 0, 0, 0, 0, 0])
    h.cmd([0, 0, 0, 0, 0, 0])
    # TapeAlert 0Ch unsupported format, 11h read-only format (SSC-5 annex A)
    assert (0x0C in drv.tapealerts, 0x11 in drv.tapealerts) == (
        not readable,
        readable and not writable,
    )
    if not readable:
        h.check([0, 0, 0, 0, 0, 0], INCOMPATIBLE_MEDIUM_INSTALLED)
        assert drv.unload() == path
        return
    h.settle()
    if writable:
        assert h.write(b"x").status == Status.GOOD
    else:
        h.check(
            bytes([0x0A, 0, 0, 0, 1, 0]),
            CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT_DATA_PROTECT,
            out=b"x",
        )


# --- REPORT DENSITY SUPPORT -------------------------------------------------------------------


def test_report_density_support(host: Host) -> None:
    data = host.ok([0x44, 0, 0, 0, 0, 0, 0, 0x10, 0, 0], n=4096)
    assert int.from_bytes(data[:2], "big") == len(data) - 2 == 2 + 3 * 52
    codes = [data[4 + 52 * i] for i in range(3)]
    assert codes == [0x5E, 0x5D, 0x5C]
    lto8 = data[4:56]
    assert lto8 == (
        bytes.fromhex("5e 5e a1 0031 0050bd 007f 1a00 00b71b00")
        + b"LTO-CVE U-832   Ultrium 8/32T       "
    )
    media = host.ok([0x44, 1, 0, 0, 0, 0, 0, 0x10, 0, 0], n=4096)
    assert media[:4] == bytes.fromhex("0036 0000") and media[4:56] == lto8


# --- LOAD UNLOAD, PREVENT ALLOW, the library's view ------------------------------------------


def test_unload_prevent_and_eject(host: Host, cartridge: Path) -> None:
    drv = host.drive
    host.write(b"data")
    host.ok([0x1E, 0, 0, 0, 1, 0])
    assert drv.removal_prevented
    host.check([0x1B, 0, 0, 0, 0, 0], MEDIUM_REMOVAL_PREVENTED)
    host.ok([0x1E, 0, 0, 0, 0, 0])
    host.ok([0x1B, 0, 0, 0, 0, 0])
    assert drv.ejected and drv.loaded_path == cartridge and drv.loaded_barcode == "A00001L8"
    host.check([0, 0, 0, 0, 0, 0], MEDIUM_NOT_PRESENT)
    host.ok([0x1B, 0, 0, 0, 1, 0])  # load again from the throat
    assert not drv.ejected
    host.ok([0, 0, 0, 0, 0, 0])
    host.ok([0x1B, 0, 0, 0, 0x08, 0])  # unload with HOLD: stays, not ready
    assert not drv.ejected
    host.check([0, 0, 0, 0, 0, 0], LOGICAL_UNIT_NOT_READY_INITIALIZING_COMMAND_REQUIRED)
    host.check([0x1B, 0, 0, 0, 0x05, 0], INVALID_FIELD_IN_CDB)  # LOAD with EOT
    assert drv.unload() == cartridge
    assert drv.loaded_path is None and drv.unload() is None
    host.check([0x1B, 0, 0, 0, 1, 0], MEDIUM_NOT_PRESENT)
    with Cartridge.open(cartridge) as cart:
        assert cart.read_block_bytes(0, 0) == b"data"
        attrs = cart.attributes(0)
        assert int.from_bytes(attrs[0x0003].value, "big") == 1
        assert attrs[0x020A].value.startswith(b"DEVEMU  DRV0001")


def test_loading_a_second_cartridge_is_refused(host: Host, tmp_path: Path) -> None:
    other = tmp_path / "B00001L8.tape"
    Cartridge.create(other, "B00001L8").close()
    with pytest.raises(Exception, match="already holds"):
        host.drive.load(other)
    same = host.drive.loaded_path
    assert same is not None
    host.drive.load(same)  # the same one: re-thread at BOP
    host.check([0, 0, 0, 0, 0, 0], NOT_READY_TO_READY_CHANGE)
    assert host.drive.loaded_path == same and host.position() == 0


def test_format_medium_partitions_like_st(host: Host) -> None:
    host.write(b"old")
    host.check([0x04, 0, 0, 0, 0, 0], POSITION_PAST_BEGINNING_OF_MEDIUM)
    host.rewind()
    # what st's partition_tape writes: IDP, PSUM MB, partition 1 = 100 MB
    page = host.ok([0x1A, 0, 0x11, 0, 255, 0], n=255)
    sent = bytearray(page)
    sent[0] = 0
    pgo = 4 + sent[3]
    sent[pgo + 3] = 1
    sent[pgo + 4] = 0x20 | 0x10 | (sent[pgo + 4] & 0x07)
    sent[pgo + 6] = 0
    sent[pgo + 8 : pgo + 12] = bytes.fromhex("ffff 0064")
    host.ok([0x15, 0x10, 0, 0, len(sent), 0], out=bytes(sent))
    host.ok([0x04, 0, 1, 0, 0, 0])
    cart = host.drive.mounted()
    assert [p.capacity for p in cart.partitions] == [12 * 10**12 - 100 * 10**6, 100 * 10**6]
    host.ok([0x2B, 2, 0, 0, 0, 0, 0, 0, 1, 0])  # LOCATE CP to partition 1
    host.write(b"p1")
    r = host.ok([0x34, 6, 0, 0, 0, 0, 0, 0, 0, 0], n=32)
    assert int.from_bytes(r[4:8], "big") == 1 and int.from_bytes(r[8:16], "big") == 1
    read_attr = bytes([0x8C, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    assert host.ok(read_attr, n=256) == bytes([0, 2, 0, 2])
    host.check([0x2B, 2, 0, 0, 0, 0, 0, 0, 2, 0], INVALID_FIELD_IN_CDB)
    host.rewind()
    host.ok([0x04, 0, 0, 0, 0, 0])
    assert cart.partition_count == 1


def test_read_position_forms_golden(host: Host) -> None:
    host.write(b"a")
    host.filemarks(1)
    host.write(b"b")
    assert host.ok([0x34, 0, 0, 0, 0, 0, 0, 0, 0, 0], n=20) == bytes.fromhex(
        "00 00 0000 00000003 00000003 00 000000 00000000"
    )
    assert host.ok([0x34, 6, 0, 0, 0, 0, 0, 0, 0, 0], n=32) == bytes.fromhex(
        "00 000000 00000000 0000000000000003 0000000000000001 0000000000000000"
    )
    assert host.ok([0x34, 8, 0, 0, 0, 0, 0, 0, 32, 0], n=32) == bytes.fromhex(
        "00 00 001c 00 000000 0000000000000003 0000000000000003 0000000000000000"
    )
    host.check([0x34, 2, 0, 0, 0, 0, 0, 0, 0, 0], INVALID_FIELD_IN_CDB, n=32)


def test_erase_and_write_filemarks_16(host: Host) -> None:
    host.write(b"1")
    host.write(b"2")
    host.ok([0x80, 0, 0, 0, *(2).to_bytes(8, "big"), 0, 0, 1, 0])
    host.check([0x80, 0, 0, 0, *(0).to_bytes(8, "big"), 0, 0, 1, 0], INVALID_FIELD_IN_CDB)
    host.ok([0x2B, 0, 0, 0, 0, 0, 1, 0, 0, 0])
    host.ok([0x19, 1, 0, 0, 0, 0])
    host.rewind()
    host.read(1)
    host.check(bytes([0x08, 0, 0, 0, 1, 0]), END_OF_DATA_DETECTED, n=1)


# --- log pages, MAM ------------------------------------------------------------------------


def test_log_pages(host: Host) -> None:
    host.write(b"q" * 1000)
    supported = host.ok([0x4D, 0, 0x40, 0, 0, 0, 0, 1, 0, 0], n=256)
    assert supported[4:] == bytes([0x00, 0x02, 0x03, 0x0C, 0x12, 0x14, 0x17, 0x1B, 0x2E, 0x31])
    seq = host.ok([0x4D, 0, 0x4C, 0, 0, 0, 0, 1, 0, 0], n=256)
    assert seq[4:16] == bytes.fromhex("0000 00 08 00000000000003e8")
    write_errors = host.ok([0x4D, 0, 0x42, 0, 0, 0, 0, 1, 0, 0], n=256)
    assert bytes.fromhex("0005 00 08 00000000000003e8") in write_errors
    tapealert = host.ok([0x4D, 0, 0x6E, 0, 0, 0, 0, 2, 0, 0], n=512)
    assert len(tapealert) == 4 + 64 * 5 and tapealert[4:9] == bytes.fromhex("0001 03 01 00")
    capacity = host.ok([0x4D, 0, 0x71, 0, 0, 0, 0, 1, 0, 0], n=256)
    assert capacity[4:12] == bytes.fromhex("0001 03 04") + (11_999_999).to_bytes(4, "big")


def test_read_and_write_attributes(host: Host) -> None:
    values = bytes([0x8C, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00, 0, 0, 0x10, 0, 0, 0])
    # 0x0800 has no value yet: the first attribute asked for must exist (SPC-5 6.18.2)
    fields, _ = host.check(values, INVALID_FIELD_IN_CDB, n=4096)
    assert fields["sense_key_specific"] == b"\xc0\x00\x08"
    barcode = bytes([0x8C, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x06, 0, 0, 0x10, 0, 0, 0])
    assert host.ok(barcode, n=4096)[:4] == bytes.fromhex("00000025")  # only 0x0806
    attr = bytes.fromhex("0800 01 0008") + b"DEVEMU  "
    param = len(attr).to_bytes(4, "big") + attr
    write = bytes([0x8D, 0, 0, 0, 0, 0, 0, 0, 0, 0]) + len(param).to_bytes(4, "big") + b"\0\0"
    host.ok(write, out=param)
    data = host.ok(values, n=4096)
    assert data[4:17] == bytes.fromhex("0800 01 0008") + b"DEVEMU  "
    # read-only attribute: refused, nothing changes
    bad = bytes.fromhex("0003 00 0008") + bytes(8)
    param = (len(bad) + len(attr)).to_bytes(4, "big") + attr + bad
    write = bytes([0x8D, 0, 0, 0, 0, 0, 0, 0, 0, 0]) + len(param).to_bytes(4, "big") + b"\0\0"
    fields, _ = host.check(write, INVALID_FIELD_IN_PARAMETER_LIST, out=param)
    assert fields["sense_key_specific"] == b"\x80\x00\x11"
    listing = host.ok(bytes([0x8C, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]), n=4096)
    ids = [int.from_bytes(listing[i : i + 2], "big") for i in range(4, len(listing), 2)]
    assert ids == sorted(ids) and {0x0000, 0x0001, 0x0003, 0x0400, 0x0800, 0x0806} <= set(ids)


# --- replay policy and restart --------------------------------------------------------------


@pytest.mark.parametrize(
    "opcode,replay",
    [
        (0x00, True),
        (0x12, True),
        (0x34, True),
        (0x05, True),
        (0x1A, True),
        (0x4D, True),
        (0x8C, True),
        (0x08, False),
        (0x0A, False),
        (0x10, False),
        (0x11, False),
        (0x2B, False),
        (0x01, False),
        (0x19, False),
        (0x1B, False),
        (0x04, False),
        (0x91, False),
        (0x92, False),
        (0x80, False),
        (0x15, False),
        (0x8D, False),
    ],
)
def test_may_replay(opcode: int, replay: bool) -> None:
    drive = TapeDrive.__new__(TapeDrive)
    assert drive.may_replay(Command(bytes([opcode]) + bytes(15))) is replay


def test_restart_keeps_the_tape_where_it_was(cartridge: Path, tmp_path: Path) -> None:
    state = tmp_path / "state"
    drv = TapeDrive(IDENTITY, state_dir=state)
    drv.load(cartridge)
    h = Host(drv)
    h.settle()
    h.ok([0x15, 0x10, 0, 0, 12, 0], out=bytes.fromhex("00 00 10 08 00000000 00 000400"))
    h.ok([0x0A, 1, 0, 0, 1, 0], out=b"k" * 1024)
    h.filemarks(1)  # synchronising: durable
    h.ok([0x0A, 1, 0, 0, 1, 0], out=b"l" * 1024)
    drv.close()  # the process dies; the file stays as it is
    again = TapeDrive(IDENTITY, state_dir=state)
    assert again.loaded_path == cartridge and again.block_length == 1024
    h2 = Host(again)
    h2.check([0, 0, 0, 0, 0, 0], POWER_ON_RESET_OR_BUS_DEVICE_RESET)
    h2.ok([0, 0, 0, 0, 0, 0])
    assert h2.position() == 3  # after "k", the filemark and "l": the host's next write appends
    h2.ok([0x0A, 1, 0, 0, 1, 0], out=b"m" * 1024)
    h2.ok([0x01, 0, 0, 0, 0, 0])  # REWIND
    assert h2.ok([0x08, 1, 0, 0, 1, 0], n=1024) == b"k" * 1024
    assert again.unload() == cartridge
    assert TapeDrive(IDENTITY, state_dir=state).loaded_path is None
