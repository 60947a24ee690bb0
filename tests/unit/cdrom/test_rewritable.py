"""Rewritable DVD and BD media through the MMC-6 commands: DVD+RW, DVD-RW in restricted
overwrite, BD-RE. FORMAT UNIT and READ FORMAT CAPACITIES, writes anywhere in the
formatted area, the features, disc and track information and disc structures as
growisofs, dvd+rw-format, dvd+rw-mediainfo and libburn read them, and the disc kept
in its folder across a restart."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from devemu.cdrom import format_unit, overwrite
from devemu.cdrom.format_state import FormatState
from devemu.cdrom.recording import Recording, current_recording, load_recording
from devemu.errors import ImageError
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    LOGICAL_UNIT_NOT_READY_FORMAT_IN_PROGRESS,
    MEDIUM_NOT_FORMATTED,
    MISCOMPARE_DURING_VERIFY_OPERATION,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseCode,
    parse_sense,
)
from tests.unit.cdrom.test_burn import Burner, data_blocks

DVD_BLOCKS = 8192  # 16 MiB
BD_BLOCKS = 16384  # 32 MiB


def format_list(blocks: int, format_type: int, *, immed: bool = False, param: int = 0) -> bytes:
    return (
        bytes((0, 0x02 if immed else 0, 0, 8))
        + struct.pack(">IB", blocks, format_type << 2)
        + param.to_bytes(3, "big")
    )


class Rewriter(Burner):
    def refused(
        self, cdb: bytes | list[int], payload: bytes
    ) -> tuple[SenseCode, dict[str, object]]:
        result = self.out(cdb, payload)
        assert result.status == 2
        return parse_sense(result.sense)

    def formats(self) -> bytes:
        head = self.data([0x23, 0, 0, 0, 0, 0, 0, 0, 4, 0])
        return self.data([0x23, 0, 0, 0, 0, 0, 0, 0, 4 + head[3], 0])

    def offers(self) -> list[tuple[int, int, int]]:
        data = self.formats()
        return [
            (
                int.from_bytes(data[i : i + 4], "big"),
                data[i + 4] >> 2,
                int.from_bytes(data[i + 5 : i + 8], "big"),
            )
            for i in range(12, 4 + data[3], 8)
        ]

    def current(self) -> tuple[int, int]:
        data = self.formats()
        return int.from_bytes(data[4:8], "big"), data[8] & 0x03

    def format(self, blocks: int, format_type: int, **kw: int | bool) -> None:
        self.ok([0x04, 0x11, 0, 0, 0, 0], format_list(blocks, format_type, **kw))  # type: ignore[arg-type]

    def profile(self) -> int:
        return int.from_bytes(self.data([0x46, 0x02, 0, 0, 0, 0, 0, 0, 8, 0])[6:8], "big")

    def feature_current(self, code: int) -> bool:
        data = self.data([0x46, 0x02, code >> 8, code & 0xFF, 0, 0, 0, 0, 64, 0])
        assert int.from_bytes(data[8:10], "big") == code
        return bool(data[10] & 0x01)

    def structure(self, media_type: int, fmt: int) -> bytes:
        return self.data([0xAD, media_type, 0, 0, 0, 0, 0, fmt, 0x10, 0, 0, 0])


@pytest.fixture
def dvd_plus(tmp_path: Path) -> Rewriter:
    return Rewriter(tmp_path / "discs", "dvd+rw", DVD_BLOCKS)


@pytest.fixture
def bd_re(tmp_path: Path) -> Rewriter:
    return Rewriter(tmp_path / "discs", "bd-re", BD_BLOCKS)


@pytest.fixture
def dvd_minus(tmp_path: Path) -> Rewriter:
    return Rewriter(tmp_path / "discs", "dvd-rw", DVD_BLOCKS)


# --- the structures, both ways ------------------------------------------------------------


@pytest.mark.parametrize(
    ("struct_", "raw", "fields"),
    [
        (
            format_unit.FormatDescriptor,
            bytes.fromhex("ffffffff 98 000001"),
            {"blocks": 0xFFFFFFFF, "type": {"format_type": 0x26, "subtype": 0}, "parameter": 1},
        ),
        (
            format_unit.FormatDescriptor,
            bytes.fromhex("00007e00 c3 000060"),
            {"blocks": 0x7E00, "type": {"format_type": 0x30, "subtype": 3}, "parameter": 0x60},
        ),
        (
            format_unit.CurrentCapacityDescriptor,
            bytes.fromhex("00002000 01 000800"),
            {"blocks": 8192, "type": {"reserved": 0, "descriptor_type": 1}, "block_length": 2048},
        ),
        (
            format_unit.FormattableCapacityDescriptor,
            bytes.fromhex("00002000 54 000010"),
            {"blocks": 8192, "type": {"format_type": 0x15, "reserved": 0}, "parameter": 16},
        ),
    ],
)
def test_format_structures_both_ways(
    struct_: object, raw: bytes, fields: dict[str, object]
) -> None:
    assert struct_.build(fields) == raw  # type: ignore[attr-defined]
    parsed = struct_.parse(raw)  # type: ignore[attr-defined]
    assert struct_.build(parsed) == raw  # type: ignore[attr-defined]
    assert parsed.blocks == fields["blocks"]


@pytest.mark.parametrize(
    ("cdb", "fields"),
    [
        (bytes.fromhex("04 11 00 00 00 00"), (1, 0, 1)),
        (bytes.fromhex("04 19 00 00 00 00"), (1, 1, 1)),
    ],
)
def test_format_unit_cdb_both_ways(cdb: bytes, fields: tuple[int, int, int]) -> None:
    parsed = format_unit.FormatUnitCdb.parse(cdb)
    assert (parsed.flags.fmt_data, parsed.flags.cmp_list, parsed.flags.format_code) == fields
    assert format_unit.FormatUnitCdb.build(parsed) == cdb


# --- DVD+RW ------------------------------------------------------------------------------


def test_blank_dvd_plus_rw_offers_the_basic_format(dvd_plus: Rewriter) -> None:
    assert dvd_plus.profile() == 0x1A
    info = dvd_plus.disc_info()
    assert info[2] & 0x03 == 0 and info[7] & 0x03 == 0  # blank, background format not begun
    assert info[2] & 0x10  # erasable
    assert dvd_plus.current() == (DVD_BLOCKS, format_unit.UNFORMATTED)
    assert dvd_plus.offers() == [(DVD_BLOCKS, 0x26, 0)]
    assert (
        dvd_plus.refused(struct.pack(">BBiBHB", 0x2A, 0, 0, 0, 1, 0), bytes(2048))[0]
        == MEDIUM_NOT_FORMATTED
    )
    assert dvd_plus.feature_current(0x002A) and dvd_plus.feature_current(0x0023)
    assert not dvd_plus.feature_current(0x0020)


def test_dvd_plus_rw_formats_and_writes_anywhere(dvd_plus: Rewriter) -> None:
    dvd_plus.format(0xFFFFFFFF, 0x26, immed=True)
    dvd_plus.settle()
    info = dvd_plus.disc_info()
    assert info[2] & 0x03 == 0b10 and (info[2] >> 2) & 0x03 == 0b11  # complete
    assert info[7] & 0x03 == 0b11  # background format completed
    assert dvd_plus.current() == (DVD_BLOCKS, format_unit.FORMATTED)
    assert dvd_plus.feature_current(0x0020)
    capacity = dvd_plus.data([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert struct.unpack(">II", capacity) == (DVD_BLOCKS - 1, 2048)
    # Out of order, then over what was written.
    dvd_plus.ok(struct.pack(">BBiBHB", 0x2A, 0, 4000, 0, 16, 0), data_blocks(16, 7))
    dvd_plus.ok(struct.pack(">BBiBHB", 0x2A, 0, 0, 0, 32, 0), data_blocks(32, 1))
    dvd_plus.ok(struct.pack(">BBiBHB", 0x2A, 0x08, 8, 0, 2, 0), data_blocks(2, 200))
    assert dvd_plus.read(4000, 16) == data_blocks(16, 7)
    assert dvd_plus.read(0, 8) == data_blocks(8, 1)
    assert dvd_plus.read(8, 2) == data_blocks(2, 200)
    assert dvd_plus.read(100, 1) == bytes(2048)  # never written: empty
    assert (
        dvd_plus.refused(struct.pack(">BBiBHB", 0x2A, 0, DVD_BLOCKS - 1, 0, 2, 0), bytes(4096))[0]
        == LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    )
    dvd_plus.sync()
    # Stop the background format and close the session, as growisofs does.
    dvd_plus.ok([0x5B, 0x01, 0, 0, 0, 0, 0, 0, 0, 0])
    dvd_plus.ok([0x5B, 0x01, 2, 0, 0, 0, 0, 0, 0, 0])
    track = dvd_plus.track_info(1)
    assert int.from_bytes(track[24:28], "big") == DVD_BLOCKS  # track size: the area
    assert track[6] & 0x40 == 0  # not blank
    assert dvd_plus.track_info(0xFF) == track


def test_dvd_plus_rw_cannot_be_blanked_nor_take_other_formats(dvd_plus: Rewriter) -> None:
    code, fields = dvd_plus.refused([0x04, 0x11, 0, 0, 0, 0], format_list(DVD_BLOCKS, 0x30))
    assert code == INVALID_FIELD_IN_PARAMETER_LIST
    assert fields["sense_key_specific"] == bytes((0x80 | 0x08 | 7, 0, 8))
    dvd_plus.format(0xFFFFFFFF, 0x26)
    assert dvd_plus.sense([0xA1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == (
        CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT
    )


def test_format_unit_refusals(dvd_plus: Rewriter) -> None:
    code, fields = dvd_plus.refused([0x04, 0x01, 0, 0, 0, 0], format_list(0, 0x26))
    assert code == INVALID_FIELD_IN_CDB and fields["sense_key_specific"] == bytes(
        (0xC0 | 0x08 | 4, 0, 1)
    )
    code, fields = dvd_plus.refused([0x04, 0x12, 0, 0, 0, 0], format_list(0, 0x26))
    assert code == INVALID_FIELD_IN_CDB and fields["sense_key_specific"] == bytes(
        (0xC0 | 0x08 | 2, 0, 1)
    )
    assert dvd_plus.refused([0x04, 0x11, 0, 0, 0, 0], bytes(8))[0] == PARAMETER_LIST_LENGTH_ERROR
    bad_length = bytearray(format_list(0, 0x26))
    bad_length[3] = 16
    code, fields = dvd_plus.refused([0x04, 0x11, 0, 0, 0, 0], bytes(bad_length) + bytes(8))
    assert (
        code == INVALID_FIELD_IN_PARAMETER_LIST and fields["sense_key_specific"] == b"\x80\x00\x02"
    )


def test_cd_media_refuse_formatting(tmp_path: Path) -> None:
    cd = Rewriter(tmp_path / "discs", "cd-rw", 20000)
    assert cd.sense([0x23, 0, 0, 0, 0, 0, 0, 0, 12, 0]) == CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT
    code, _ = cd.refused([0x04, 0x11, 0, 0, 0, 0], format_list(0, 0x00))
    assert code == CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT


def test_dvd_plus_rw_structures(dvd_plus: Rewriter) -> None:
    physical = dvd_plus.structure(0, 0x00)
    assert physical[4] == 0x92  # DVD+RW book
    start = int.from_bytes(physical[9:12], "big")
    end = int.from_bytes(physical[13:16], "big")
    assert end - start + 1 == DVD_BLOCKS
    listed = dvd_plus.structure(0, 0xFF)
    codes = [listed[i] for i in range(4, int.from_bytes(listed[0:2], "big") + 2, 4)]
    assert codes == [0x00, 0x01, 0x11, 0xFF]
    adip = dvd_plus.structure(0, 0x11)
    assert adip[4 + 19 : 4 + 25] == b"DEVEMU"
    assert dvd_plus.sense([0xAD, 1, 0, 0, 0, 0, 0, 0, 0x10, 0, 0, 0]).asc == 0x30


# --- the disc kept across a restart ----------------------------------------------------------


def test_written_area_survives_a_restart(tmp_path: Path) -> None:
    root = tmp_path / "discs"
    first = Rewriter(root, "dvd+rw", DVD_BLOCKS)
    first.format(0xFFFFFFFF, 0x26)
    first.ok(struct.pack(">BBiBHB", 0x2A, 0, 16, 0, 4, 0), data_blocks(4, 3))
    first.sync()
    first.ok(struct.pack(">BBiBHB", 0x2A, 0, 16, 0, 1, 0), data_blocks(1, 90))  # not synced
    rec = current_recording(root, "cd0")
    assert rec is not None and rec.format == FormatState(DVD_BLOCKS, 0x26)
    disc = rec.disc()
    buf = bytearray(4 * 2048)
    disc.read_user_data(16, 4, [memoryview(buf)])
    assert bytes(buf) == data_blocks(1, 90) + data_blocks(4, 3)[2048:]
    disc.close()
    rec.close()


def test_a_format_cut_short_grows_back_and_a_bad_state_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "discs"
    first = Rewriter(root, "bd-re", BD_BLOCKS)
    first.format(0, 0x31)
    rec = first.device.recording
    assert rec is not None
    (rec.folder / "track01.bin").write_bytes(bytes(4096))  # as if killed mid-format
    again = load_recording(rec.folder)
    assert (rec.folder / "track01.bin").stat().st_size == BD_BLOCKS * 2048
    again.close()
    state = (rec.folder / "state.json").read_text()
    (rec.folder / "state.json").write_text(state.replace('"blocks": 16384', '"blocks": 9'))
    with pytest.raises(ImageError, match="does not match"):
        load_recording(rec.folder)


# --- BD-RE -----------------------------------------------------------------------------


def test_bd_re_offers_spare_and_no_spare_formats(bd_re: Rewriter) -> None:
    assert bd_re.profile() == 0x43
    default, most, least = format_unit.bd_spare_sizes(BD_BLOCKS)
    assert least < default < most
    assert bd_re.offers() == [
        (BD_BLOCKS - default, 0x00, default // 32),
        (BD_BLOCKS - default, 0x30, default // 32),
        (BD_BLOCKS - most, 0x30, most // 32),
        (BD_BLOCKS - least, 0x30, least // 32),
        (BD_BLOCKS, 0x31, 0),
    ]
    assert bd_re.disc_info()[2] & 0x03 == 0  # blank until formatted


def test_bd_re_format_in_progress_then_writable(
    bd_re: Rewriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [100.0]
    real = format_unit.FormatInProgress
    monkeypatch.setattr(format_unit, "FormatInProgress", lambda d: real(d, lambda: now[0]))
    size = BD_BLOCKS - 20 * 32  # a spare area between the least and the most offered
    bd_re.ok([0x04, 0x11, 0, 0, 0, 0], format_list(size, 0x30, immed=True))
    now[0] += format_unit.FORMAT_SECONDS / 2
    result, _ = bd_re.run([0, 0, 0, 0, 0, 0])
    code, fields = parse_sense(result.sense)
    assert code == LOGICAL_UNIT_NOT_READY_FORMAT_IN_PROGRESS
    assert fields["sense_key_specific"] == b"\x80\x80\x00"  # half done
    sense = bd_re.data([0x03, 0, 0, 0, 18, 0])
    assert sense[2] & 0x0F == 0x02 and sense[12:14] == b"\x04\x04" and sense[15] & 0x80
    now[0] += format_unit.FORMAT_SECONDS
    bd_re.ok([0, 0, 0, 0, 0, 0])
    assert bd_re.current() == (size, format_unit.FORMATTED)
    assert bd_re.feature_current(0x0024) and bd_re.feature_current(0x0041)
    spare = bd_re.structure(1, 0x0A)
    assert int.from_bytes(spare[8:12], "big") > 0
    di = bd_re.structure(1, 0x00)
    assert di[4:6] == b"DI" and di[4 + 8 : 4 + 11] == b"BDW"
    bd_re.ok(struct.pack(">BBiBHB", 0x2A, 0, size - 32, 0, 32, 0), data_blocks(32, 5))
    assert bd_re.read(size - 32, 32) == data_blocks(32, 5)


def test_bd_re_format_size_bounds_and_no_spare(bd_re: Rewriter) -> None:
    code, fields = bd_re.refused([0x04, 0x11, 0, 0, 0, 0], format_list(BD_BLOCKS, 0x30))
    assert (
        code == INVALID_FIELD_IN_PARAMETER_LIST and fields["sense_key_specific"] == b"\x80\x00\x04"
    )
    bd_re.format(0, 0x31)
    assert bd_re.current() == (BD_BLOCKS, format_unit.FORMATTED)
    assert not bd_re.feature_current(0x0024)  # no spare: no defect management
    assert bd_re.sense([0xAD, 1, 0, 0, 0, 0, 0, 0x0A, 0x10, 0, 0, 0]) == INVALID_FIELD_IN_CDB


def test_verify_compares_with_the_area(bd_re: Rewriter) -> None:
    bd_re.format(0, 0x31)
    bd_re.ok(struct.pack(">BBiBHB", 0x2A, 0, 64, 0, 2, 0), data_blocks(2, 9))
    bd_re.ok([0x2F, 0, 0, 0, 0, 64, 0, 0, 2, 0])
    bd_re.ok(bytes([0x2F, 0x02, 0, 0, 0, 64, 0, 0, 2, 0]), data_blocks(2, 9))
    changed = bytearray(data_blocks(2, 9))
    changed[3000] ^= 1
    code, fields = bd_re.refused(bytes([0x2F, 0x02, 0, 0, 0, 64, 0, 0, 2, 0]), bytes(changed))
    assert code == MISCOMPARE_DURING_VERIFY_OPERATION and fields["information"] == 3000


# --- DVD-RW ----------------------------------------------------------------------------


def test_dvd_rw_quick_format_to_restricted_overwrite_and_blank_back(dvd_minus: Rewriter) -> None:
    assert dvd_minus.profile() == 0x14
    assert [o[1] for o in dvd_minus.offers()] == [0x00, 0x10, 0x15]
    dvd_minus.format(0, 0x15)
    dvd_minus.settle()
    assert dvd_minus.profile() == 0x13
    assert dvd_minus.feature_current(0x002C) and dvd_minus.feature_current(0x0026)
    assert not dvd_minus.feature_current(0x0020)
    assert dvd_minus.offers()[-1] == (0, 0x13, 16)  # nothing left to grow
    track = dvd_minus.track_info(1)
    assert track[6] & 0x30 == 0x30 and int.from_bytes(track[20:24], "big") == 16
    dvd_minus.ok(struct.pack(">BBiBHB", 0x2A, 0, 32, 0, 16, 0), data_blocks(16, 4))
    assert dvd_minus.read(32, 16) == data_blocks(16, 4)
    assert dvd_minus.structure(0, 0x00)[4] == 0x32  # DVD-RW book
    dvd_minus.ok([0xA1, 0x00, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    dvd_minus.settle()
    assert dvd_minus.profile() == 0x14
    assert dvd_minus.disc_info()[2] & 0x03 == 0


def test_dvd_rw_full_format_of_part_then_quick_grow(dvd_minus: Rewriter) -> None:
    dvd_minus.format(1000, 0x00)
    assert dvd_minus.current() == (1008, format_unit.FORMATTED)  # whole ECC blocks
    assert dvd_minus.offers()[-1] == (DVD_BLOCKS - 1008, 0x13, 16)
    dvd_minus.format(0, 0x13, param=16)
    assert dvd_minus.current() == (DVD_BLOCKS, format_unit.FORMATTED)


def test_close_functions_outside_the_table_are_refused(dvd_plus: Rewriter) -> None:
    dvd_plus.format(0xFFFFFFFF, 0x26)
    for function in range(8):
        result, _ = dvd_plus.run([0x5B, 0, function, 0, 0, 0, 0, 0, 0, 0])
        assert (result.status == 0) == (function in overwrite.CLOSE_FUNCTIONS)


def test_fua_and_synchronize_cache_flush_the_area(
    dvd_plus: Rewriter, monkeypatch: pytest.MonkeyPatch
) -> None:
    flushed: list[int] = []
    real = Recording.flush_area

    def counting(rec: Recording) -> None:
        flushed.append(1)
        real(rec)

    monkeypatch.setattr(Recording, "flush_area", counting)
    dvd_plus.format(0xFFFFFFFF, 0x26)
    dvd_plus.ok(struct.pack(">BBiBHB", 0x2A, 0, 64, 0, 1, 0), data_blocks(1, 1))
    assert flushed == []
    dvd_plus.ok(struct.pack(">BBiIBB", 0xAA, 0x08, 65, 1, 0, 0), data_blocks(1, 2))  # WRITE (12)
    assert flushed == [1]
    dvd_plus.sync()
    assert flushed == [1, 1]
    assert dvd_plus.read(64, 2) == data_blocks(1, 1) + data_blocks(1, 2)
