"""DVD-RW in sequential recording (profile 14h) and its transitions: written like a DVD-R
session after session, BLANK back to blank, FORMAT UNIT to restricted overwrite (13h) and
BLANK back again, the Disc At Once recording growisofs falls back to, and the disc kept
across a restart in each mode."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from devemu.cdrom import format_unit
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.recording import load_recording
from devemu.cdrom.sequential import IMAGE, SESSION_GAP
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT,
    INVALID_ADDRESS_FOR_WRITE,
    INVALID_FIELD_IN_CDB,
    parse_sense,
)
from tests.unit.cdrom.test_burn import data_blocks
from tests.unit.cdrom.test_burn_sequential import current, feature, toc, write_ok
from tests.unit.cdrom.test_rewritable import DVD_BLOCKS, Rewriter

PROFILE_SEQUENTIAL = 0x14
PROFILE_RESTRICTED = 0x13
BLANK_MINIMAL = [0xA1, 0x11, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # Immed, type 001b (dvd+rw-format)


def dvd_rw(tmp_path: Path) -> Rewriter:
    return Rewriter(tmp_path / "discs", "dvd-rw", DVD_BLOCKS)


def growisofs_page(b: Rewriter, *, write_type: int = 0, multi: int = 0b11) -> None:
    """Page 05h as growisofs sets it for profile 14h: BUFE, link size 16, write type
    Incremental (or DAO), multi-session, track mode from READ TRACK INFORMATION, Mode 1."""
    page = b.page05()
    page[2] = 0x40 | 0x20 | write_type
    page[3] = (multi << 6) | 0x05
    page[4] = 8
    page[5] = 16
    r = b.select05(page)
    assert r.status == 0, parse_sense(r.sense)


def blank_minimal(b: Rewriter, folder: Path) -> None:
    """BLANK (minimal, Immed), MMC-6 6.2: blank and sequential again, the kept image emptied."""
    b.ok(BLANK_MINIMAL)
    b.settle()
    assert b.profile() == PROFILE_SEQUENTIAL
    assert b.disc_info()[2] & 0x03 == 0
    assert (folder / IMAGE).stat().st_size == 0


def test_blank_dvd_rw_is_sequential_with_incremental_streaming_current(tmp_path: Path) -> None:
    b = dvd_rw(tmp_path)
    assert b.profile() == PROFILE_SEQUENTIAL
    incremental = feature(b, 0x0021)
    assert incremental[2] & 0x01 and incremental[8] == 16  # current, link size 16
    dash_write = feature(b, 0x002F)
    assert dash_write[2] & 0x01 and dash_write[4] & 0x02  # current, DVD-RW bit
    assert current(b, 0x0023)  # Formattable: FORMAT UNIT can switch it to 13h
    assert not current(b, 0x0026) and not current(b, 0x002C) and not current(b, 0x0020)
    info = b.disc_info()
    assert info[2] & 0x03 == 0 and info[2] & 0x10  # blank, erasable
    track = b.track_info(1)
    assert track[6] & 0x40 and track[7] & 0x01  # blank, NWA valid
    assert struct.unpack(">III", track[8:20]) == (0, 0, DVD_BLOCKS)
    assert b.current() == (DVD_BLOCKS, 0b01)  # READ FORMAT CAPACITIES: unformatted
    assert [o[1] for o in b.offers()] == [0x00, 0x10, 0x15]


def test_two_sessions_like_dvd_r_then_blank(tmp_path: Path) -> None:
    b = dvd_rw(tmp_path)
    growisofs_page(b)
    write_ok(b, 0, data_blocks(40, 1))
    b.sync()
    b.close(1, 1)
    b.close(2)  # multi-session 11b: the session closes, the disc stays appendable
    info = b.disc_info()
    assert info[2] & 0x13 == 0x11  # erasable, appendable
    nwa = b.nwa()
    assert nwa == 48 + SESSION_GAP[BlankMedium.DVD_RW]
    for lba in (0, 40, nwa + 16):  # no block but the NWA takes a write
        r = b.write(lba, 1, bytes(2048))
        assert parse_sense(r.sense)[0] == INVALID_ADDRESS_FOR_WRITE
        assert int.from_bytes(r.sense[3:7], "big") == lba
    write_ok(b, nwa, data_blocks(16, 9))
    b.sync()
    b.close(2)
    ms = toc(b, 1)
    assert ms[3] == 2 and struct.unpack(">I", ms[8:12])[0] == nwa  # last session's start
    assert b.read(0, 40) == data_blocks(40, 1)
    assert b.read(nwa, 16) == data_blocks(16, 9)
    rec = b.device.recording
    assert rec is not None
    # A restarted daemon finds both sessions.
    again = load_recording(rec.folder)
    assert [(t.session, t.start, t.end) for t in again.tracks] == [(1, 0, 40), (2, nwa, nwa + 16)]
    again.close()
    blank_minimal(b, rec.folder)
    write_ok(b, 0, data_blocks(16, 3))


def test_blank_last_session_keeps_the_first(tmp_path: Path) -> None:
    b = dvd_rw(tmp_path)
    growisofs_page(b)
    write_ok(b, 0, data_blocks(16, 1))
    b.sync()
    b.close(2)
    nwa = b.nwa()
    write_ok(b, nwa, data_blocks(16, 2))
    b.sync()
    b.close(2)
    b.ok([0xA1, 0x06, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])  # BLANK, erase the last session
    b.settle()
    assert b.nwa() == nwa and b.read(0, 16) == data_blocks(16, 1)
    assert b.disc_info()[4] == 2  # one closed session and the empty one


def test_format_switches_to_restricted_overwrite_and_blank_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """dvd+rw-format -force: FORMAT UNIT type 15h, blocks 0, Immed, then FLUSH CACHE; the
    data of the sequential disc is gone, the whole disc is writable at random; BLANK
    (dvd+rw-format -blank) returns it to a blank sequential disc."""
    monkeypatch.setattr(format_unit, "FORMAT_SECONDS", 0.0)
    b = dvd_rw(tmp_path)
    growisofs_page(b)
    write_ok(b, 0, data_blocks(32, 1))
    b.sync()
    b.close(2)
    b.format(0, 0x15, immed=True)
    b.settle()
    b.sync()
    assert b.profile() == PROFILE_RESTRICTED
    assert current(b, 0x0026) and current(b, 0x002C)
    assert not current(b, 0x0021) and not current(b, 0x002F)
    assert b.current() == (DVD_BLOCKS, 0b10)
    assert b.disc_info()[2] & 0x03 == 2
    assert b.read(0, 1) == bytes(2048)  # the old session is gone
    rec = b.device.recording
    assert rec is not None and (rec.folder / IMAGE).stat().st_size == DVD_BLOCKS * 2048
    b.ok(struct.pack(">BBiBHB", 0x2A, 0, 4096, 0, 16, 0), data_blocks(16, 5))
    b.ok(struct.pack(">BBiBHB", 0x2A, 0, 0, 0, 16, 0), data_blocks(16, 6))
    b.sync()
    # A restarted daemon finds the format and the blocks.
    again = load_recording(rec.folder)
    assert again.format is not None and again.format.blocks == DVD_BLOCKS
    assert again.random_access
    disc = again.disc()
    buf = bytearray(16 * 2048)
    disc.read_user_data(4096, 16, [memoryview(buf)])
    assert bytes(buf) == data_blocks(16, 5)
    disc.close()
    again.close()
    blank_minimal(b, rec.folder)
    write_ok(b, 0, data_blocks(16, 7))  # sequential again: written at the NWA


def test_format_cut_short_grows_back(tmp_path: Path) -> None:
    b = dvd_rw(tmp_path)
    b.format(0, 0x15)
    rec = b.device.recording
    assert rec is not None
    (rec.folder / IMAGE).write_bytes(bytes(4096))  # as if killed mid-format
    again = load_recording(rec.folder)
    assert (rec.folder / IMAGE).stat().st_size == DVD_BLOCKS * 2048
    again.close()


def test_disc_at_once_closes_the_disc_with_its_reserved_track(tmp_path: Path) -> None:
    """growisofs -use-the-force-luke=dao: page 05h write type 2 (DAO), multi-session 00b,
    RESERVE TRACK of the image's blocks, the writes, one FLUSH CACHE; the drive closes
    the disc once the reserved Rzone is written."""
    b = dvd_rw(tmp_path)
    growisofs_page(b, write_type=2, multi=0)
    b.ok([0x53, 0, 0, 0, 0, 0, 0, 0, 40, 0])
    write_ok(b, 0, data_blocks(32, 4))
    # The last WRITE names the 8 blocks left but comes in growisofs's 32 KiB buffer.
    b.ok(struct.pack(">BBiBHB", 0x2A, 0, 32, 0, 8, 0), data_blocks(16, 36))
    info = b.disc_info()
    assert info[2] & 0x03 == 2  # complete
    track = b.track_info(1)
    assert struct.unpack(">II", track[8:12] + track[24:28]) == (0, 40)
    r = b.write(48, 1, bytes(2048))
    assert parse_sense(r.sense)[0] == INVALID_ADDRESS_FOR_WRITE
    assert b.read(0, 40) == data_blocks(40, 4)


def test_verify_and_other_blanking_types_refused_in_sequential_mode(tmp_path: Path) -> None:
    b = dvd_rw(tmp_path)
    code, _ = b.refused([0x2F, 0x02, 0, 0, 0, 0, 0, 0, 1, 0], bytes(2048))  # VERIFY BytChk
    assert code == CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT
    result, _ = b.run([0xA1, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])  # blank a track
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_CDB
    assert result.sense[15:18] == bytes((0xC0 | 0x08 | 2, 0, 1))  # CDB byte 1, bit 2


def test_an_area_kept_as_track01_becomes_the_image(tmp_path: Path) -> None:
    b = dvd_rw(tmp_path)
    b.format(0, 0x15)
    b.ok(struct.pack(">BBiBHB", 0x2A, 0, 64, 0, 1, 0), data_blocks(1, 8))
    b.sync()
    rec = b.device.recording
    assert rec is not None
    (rec.folder / IMAGE).rename(rec.folder / "track01.bin")  # the CD model's file name
    again = load_recording(rec.folder)
    assert not (rec.folder / "track01.bin").exists()
    disc = again.disc()
    buf = bytearray(2048)
    disc.read_user_data(64, 1, [memoryview(buf)])
    assert bytes(buf) == data_blocks(1, 8)
    disc.close()
    again.close()
