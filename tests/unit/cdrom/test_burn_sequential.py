"""Recording write-once DVD+R, DVD-R and BD-R sequentially through the MMC-6 commands:
features, disc and track information, the NWA rule, sessions closed and finalized, the
fabricated TOC, READ DISC STRUCTURE, and the image kept in its folder across a restart."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from devemu.cdrom import dvd, write_pages
from devemu.cdrom.features import FeatureDescriptorHeader
from devemu.cdrom.image import load_image
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.profiles import Profile
from devemu.cdrom.recording import current_recording, load_recording
from devemu.cdrom.sequential import IMAGE, SESSION_GAP, SequentialRecording
from devemu.cdrom.toc import DiscInformation
from devemu.scsi.sense import (
    CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL,
    INVALID_ADDRESS_FOR_WRITE,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    parse_sense,
)
from tests.golden import check_both_ways
from tests.unit.cdrom.test_burn import Burner, data_blocks

SECTORS = 40000


def burner_for(tmp_path: Path, medium: str) -> Burner:
    return Burner(tmp_path / "discs", medium, sectors=SECTORS)


def feature(b: Burner, code: int) -> bytes:
    """GET CONFIGURATION RT 2: the one feature (header stripped); b"" if absent."""
    return b.data([0x46, 0x02, code >> 8, code & 0xFF, 0, 0, 0, 0, 64, 0])[8:]


def current(b: Burner, code: int) -> bool:
    desc = feature(b, code)
    return bool(desc) and bool(desc[2] & 0x01)


def write_ok(b: Burner, lba: int, payload: bytes) -> None:
    for i in range(0, len(payload) // 2048, 64):
        chunk = payload[i * 2048 : (i + 64) * 2048]
        r = b.write(lba + i, len(chunk) // 2048, chunk)
        assert r.status == 0, parse_sense(r.sense)


def toc(b: Burner, fmt: int) -> bytes:
    return b.data([0x43, 0, fmt, 0, 0, 0, 0, 0x03, 0x00, 0])


def capacity(b: Burner) -> int:
    return int.from_bytes(b.data([0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0])[:4], "big")


@pytest.mark.parametrize(
    ("medium", "profile", "write_feature"),
    [("dvd+r", 0x1B, 0x002B), ("dvd-r", 0x11, 0x002F), ("bd-r", 0x41, 0x0041)],
)
def test_blank_medium_profile_features_and_invisible_track(
    tmp_path: Path, medium: str, profile: int, write_feature: int
) -> None:
    b = burner_for(tmp_path, medium)
    head = b.data([0x46, 0x02, 0, 0, 0, 0, 0, 0, 16, 0])
    assert int.from_bytes(head[6:8], "big") == profile
    assert current(b, write_feature)
    others = {0x002B, 0x002F, 0x0041} - {write_feature}
    assert not any(current(b, code) for code in others)
    assert current(b, 0x0021) == (medium == "dvd-r")  # incremental streaming: DVD-R only
    assert not current(b, 0x002D)  # CD track at once
    assert current(b, 0x0040 if medium == "bd-r" else 0x001F)  # BD read / DVD read
    info = b.disc_info()
    assert info[2] & 0x03 == 0 and info[2] & 0x10 == 0  # blank, not erasable
    assert int.from_bytes(info[20:24], "big") == SECTORS  # last possible lead-out: an LBA
    track = b.track_info(1)
    assert track[6] & 0x40 and track[7] & 0x01  # blank, NWA valid
    assert track[6] & 0x0F == 1  # data mode 1
    assert struct.unpack(">III", track[8:20]) == (0, 0, SECTORS)  # start, NWA, free blocks
    assert int.from_bytes(track[24:28], "big") == SECTORS


def test_dvd_plus_r_two_sessions(tmp_path: Path, samples: dict[str, Path]) -> None:
    b = burner_for(tmp_path, "dvd+r")
    first = samples["data"].read_bytes()
    n1 = len(first) // 2048
    write_ok(b, 0, first)
    b.sync()
    b.close(1, 1)  # close track (nothing left open)
    b.close(2)  # close session: the disc stays appendable
    info = b.disc_info()
    assert info[2] & 0x03 == 1 and (info[2] >> 2) & 0x03 == 0  # appendable, last session empty
    assert info[4] == 2 and info[5] == 2 and info[6] == 2  # sessions, first/last track
    nwa = b.nwa()
    assert nwa == -(-n1 // 16) * 16 + SESSION_GAP[BlankMedium.DVD_PLUS_R]
    assert nwa % 16 == 0
    assert int.from_bytes(info[16:20], "big") == nwa  # last session starts at the NWA
    # Write-once: the old session cannot be written again, nor a block past the NWA.
    for lba in (0, n1, nwa + 16):
        code = parse_sense(b.write(lba, 1, bytes(2048)).sense)[0]
        assert code == INVALID_ADDRESS_FOR_WRITE
    second = data_blocks(48, 7)
    write_ok(b, nwa, second)
    b.sync()
    b.close(2)
    # The fabricated TOC: one entry a track, the lead-out after the last block.
    t = toc(b, 0)
    assert t[2:4] == b"\x01\x02"
    assert struct.unpack(">I", t[8:12])[0] == 0
    assert struct.unpack(">I", t[16:20])[0] == nwa
    assert t[22] == 0xAA and struct.unpack(">I", t[24:28])[0] == nwa + 48
    ms = toc(b, 1)
    assert ms[3] == 2 and ms[6] == 2 and struct.unpack(">I", ms[8:12])[0] == nwa
    assert capacity(b) == nwa + 47
    assert b.read(0, n1) == first
    assert b.read(nwa, 48) == second
    done = b.track_info(1)
    assert done[6] & 0xC0 == 0 and done[7] & 0x01 == 0  # complete: not blank, no NWA
    assert struct.unpack(">I", done[24:28])[0] == n1
    # Finalize (110b): no more writing.
    b.close(6)
    info = b.disc_info()
    assert info[2] & 0x03 == 2 and (info[2] >> 2) & 0x03 == 3
    assert parse_sense(b.write(nwa + 48, 1, bytes(2048)).sense)[0] == INVALID_ADDRESS_FOR_WRITE
    # The kept image is the disc's user data at its LBAs; devemu reads it as an ISO.
    rec = b.device.recording
    assert isinstance(rec, SequentialRecording)
    image = rec.image_path
    assert image.name == IMAGE and image.stat().st_size == (nwa + 48) * 2048
    assert image.read_bytes()[: n1 * 2048] == first
    assert load_image(image).size_bytes == (nwa + 48) * 2048


def test_dvd_r_incremental_page_and_border(tmp_path: Path) -> None:
    b = burner_for(tmp_path, "dvd-r")
    feat = feature(b, 0x0021)
    assert feat[4:6] == b"\x01\x01" and feat[7] == 1 and feat[8] == 16  # link size 16
    # growisofs's page 05h for DVD-R: Incremental, BUFE, link size 16, track mode 5,
    # multi-session 11b, fixed packets of 16.
    page = b.page05()
    page[2] = 0x40 | 0x20 | 0x00
    page[3] = 0xC0 | 0x20 | 0x05
    page[4] = 8
    page[5] = 16
    page[10:14] = (16).to_bytes(4, "big")
    r = b.select05(page)
    assert r.status == 0, parse_sense(r.sense)
    write_ok(b, 0, data_blocks(32, 1))
    b.sync()
    b.close(2)  # multi-session 11b: the border closes, the disc stays appendable
    assert b.disc_info()[2] & 0x03 == 1
    nwa = b.nwa()
    assert nwa == 32 + SESSION_GAP[BlankMedium.DVD_R]
    write_ok(b, nwa, data_blocks(16, 2))
    b.set_params(write_type=0, multi=0, track_mode=5)
    b.close(2)  # multi-session 00b: the disc is finalized
    assert b.disc_info()[2] & 0x03 == 2
    # 110b (finalize) is a DVD+R and BD-R function.
    assert parse_sense(b.run([0x5B, 0, 6, 0, 0, 0, 0, 0, 0, 0])[0].sense)[0] == INVALID_FIELD_IN_CDB


def test_packet_writing_still_refused_on_cd(tmp_path: Path) -> None:
    b = burner_for(tmp_path, "cd-r")
    page = b.page05()
    page[2] = page[2] & 0xF0
    assert parse_sense(b.select05(page).sense)[0] == INVALID_FIELD_IN_PARAMETER_LIST


def test_bd_r_clusters_sessions_and_disc_information(tmp_path: Path) -> None:
    b = burner_for(tmp_path, "bd-r")
    write_ok(b, 0, data_blocks(64, 3))
    b.sync()
    b.close(2)
    nwa = b.nwa()
    assert nwa == 64  # right after the last cluster: no gap between BD-R sessions
    write_ok(b, nwa, data_blocks(32, 4))
    b.sync()
    b.close(2)
    assert [b.track_info(n)[8:12] for n in (1, 2)] == [
        (0).to_bytes(4, "big"),
        (64).to_bytes(4, "big"),
    ]
    di = b.data([0xAD, 0x01, 0, 0, 0, 0, 0, 0x00, 0x10, 0x04, 0, 0])
    assert di[4:6] == b"DI" and di[12:15] == b"BDR"
    assert b.sense([0xAD, 0x00, 0, 0, 0, 0, 0, 0x00, 0x10, 0x04, 0, 0]) == (
        CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL
    )
    random = feature(b, 0x0010)
    assert int.from_bytes(random[8:10], "big") == 32  # blocking
    # Tracks that touch (no gap between BD-R sessions) are a valid state on restart.
    rec = b.device.recording
    assert rec is not None
    again = load_recording(rec.folder)
    assert [(t.start, t.end) for t in again.tracks] == [(0, 64), (64, 96)]
    again.close()


def test_dvd_structure_names_the_book(tmp_path: Path) -> None:
    for medium, book in (("dvd+r", 0xA1), ("dvd-r", 0x25)):
        b = burner_for(tmp_path / medium, medium)
        phys = b.data([0xAD, 0, 0, 0, 0, 0, 0, 0x00, 0x08, 0x04, 0, 0])
        assert phys[4] == book and phys[6] & 0x0F == 0x02  # recordable layer
        start = int.from_bytes(phys[9:12], "big")
        end = int.from_bytes(phys[13:16], "big")
        assert end - start + 1 == SECTORS  # the whole data zone, written or not


def test_restart_keeps_completed_tracks_and_drops_an_open_one(tmp_path: Path) -> None:
    b = burner_for(tmp_path, "dvd+r")
    write_ok(b, 0, data_blocks(32, 5))
    b.sync()  # the track completes
    write_ok(b, 32, data_blocks(16, 6))  # a second track, never synchronized
    rec = b.device.recording
    assert rec is not None
    image = rec.image_path
    assert image.stat().st_size == 48 * 2048
    # The process dies here: what the state file says is what a restart finds.
    again = load_recording(rec.folder)
    assert [(t.number, t.start, t.end) for t in again.tracks] == [(1, 0, 32)]
    assert image.stat().st_size == 32 * 2048
    assert again.next_writable == 32 and not again.finalized
    assert again.disc().leadout == 32
    found = current_recording(tmp_path / "discs", "cd0")
    assert found is not None and found.folder == rec.folder
    again.close()
    found.close()


def test_write_elsewhere_than_the_nwa_is_refused_with_the_lba(tmp_path: Path) -> None:
    b = burner_for(tmp_path, "bd-r")
    r = b.write(32, 1, bytes(2048))
    code, info = parse_sense(r.sense)[0], r.sense[3:7]
    assert code == INVALID_ADDRESS_FOR_WRITE and int.from_bytes(info, "big") == 32


def test_dvd_plus_r_takes_growisofs_page_and_immediate_closing(tmp_path: Path) -> None:
    """Page 05h as growisofs sends it for DVD+R (Incremental, BUFE, the track mode of
    track 1, multi-session 11b), then the IMMED forms of SYNCHRONIZE CACHE and CLOSE."""
    b = burner_for(tmp_path, "dvd+r")
    page = b.page05()
    page[2] = 0x40  # BUFE, write type 00h
    page[3] = 0xC0 | (b.track_info(1)[5] & 0x0F)
    page[4] = 8
    r = b.select05(page)
    assert r.status == 0, parse_sense(r.sense)
    write_ok(b, 0, data_blocks(16, 9))
    b.ok([0x35, 0x02, 0, 0, 0, 0, 0, 0, 0, 0])  # SYNCHRONIZE CACHE, IMMED
    b.ok([0x5B, 0x01, 0x01, 0, 0, 1, 0, 0, 0, 0])  # CLOSE TRACK 1, IMMED
    b.ok([0x5B, 0x01, 0x02, 0, 0, 0, 0, 0, 0, 0])  # CLOSE SESSION, IMMED
    info = b.disc_info()
    assert info[2] & 0x03 == 1 and info[4] == 2
    assert b.nwa() == 16 + SESSION_GAP[BlankMedium.DVD_PLUS_R]


# --- golden bytes, both ways -----------------------------------------------------------

GROWISOFS_DVD_R_PAGE05 = bytes.fromhex(
    "60 e5 08 10 00 00 00 00 00000010 0096".replace(" ", "")
) + bytes(36)


def test_dvd_r_page05_golden() -> None:
    fields = {
        "flags": {"reserved": 0, "bufe": True, "ls_v": True, "test_write": False, "write_type": 0},
        "track": {"multi_session": 3, "fp": True, "copy": False, "track_mode": 5},
        "data_block_type": {"reserved": 0, "type": 8},
        "link_size": 16,
        "reserved": 0,
        "host_application_code": {"reserved": 0, "code": 0},
        "session_format": 0,
        "reserved2": 0,
        "packet_size": 16,
        "audio_pause_length": 150,
        "media_catalog_number": bytes(16),
        "isrc": bytes(16),
        "subheader": bytes(4),
    }
    check_both_ways(write_pages.WriteParametersPage, GROWISOFS_DVD_R_PAGE05, fields)


def test_dvd_plus_r_physical_format_golden() -> None:
    raw = bytes.fromhex("a1 02 02 10 00 030000 00 039c3f 00 000000 00".replace(" ", ""))
    fields = {
        "book": 0xA1,
        "size_rate": 0x02,
        "layers": 0x02,
        "density": 0x10,
        "start": 0x030000,
        "end": 0x030000 + SECTORS - 1,
        "end_layer0": 0,
        "bca": 0,
    }
    check_both_ways(dvd.PhysicalFormat, raw, fields)
    built = dvd._structure(dvd.PHYSICAL, SECTORS, Profile.DVD_PLUS_R)
    assert built[:17] == raw and len(built) == 2048
    assert built[19:30] == b"DEVEMU\x00\x00001"  # disc manufacturer and media type IDs


def test_appendable_dvd_plus_r_disc_information_golden(tmp_path: Path) -> None:
    b = burner_for(tmp_path, "dvd+r")
    write_ok(b, 0, data_blocks(16, 1))
    b.sync()
    b.close(2)
    raw = bytes.fromhex(
        "0020 01 01 02 02 02 10 00 00 00 00 00000000"  # status to disc identification
        "00000810 00009c40 0000000000000000 00 00".replace(" ", "")  # session start, capacity
    )
    fields = {
        "length": 32,
        "status": 0x01,
        "first_track": 1,
        "sessions_lsb": 2,
        "first_track_last_session_lsb": 2,
        "last_track_last_session_lsb": 2,
        "flags": 0x10,
        "disc_type": 0,
        "sessions_msb": 0,
        "first_track_last_session_msb": 0,
        "last_track_last_session_msb": 0,
        "disc_id": 0,
        "last_leadin": 16 + 2048,
        "last_leadout": SECTORS,
        "bar_code": [0, 0],
        "application_code": 0,
        "opc_tables": 0,
    }
    check_both_ways(DiscInformation, raw, fields)
    assert b.disc_info() == raw


@pytest.mark.parametrize(
    ("code", "raw"),
    [
        (0x002B, "002b0104 01000000"),
        (0x002F, "002f0504 46000000"),  # BUFE, Test Write, DVD-RW
        (0x0041, "00410514 00000000 0006000000000000 0001000000000000"),
    ],
)
def test_write_feature_descriptors_golden(tmp_path: Path, code: int, raw: str) -> None:
    medium = {0x002B: "dvd+r", 0x002F: "dvd-r", 0x0041: "bd-r"}[code]
    b = burner_for(tmp_path, medium)
    golden = bytes.fromhex(raw.replace(" ", ""))
    assert feature(b, code) == golden
    head = FeatureDescriptorHeader.parse(golden)
    assert (head.code, head.additional_length) == (code, len(golden) - 4)


def test_reserved_track_on_bd_r_completes_when_full(tmp_path: Path) -> None:
    """RESERVE TRACK as libburn sends it for a track of known size (MMC-6 6.32): the
    reserved track is written at its own NWA and completes with its last block; the
    invisible track starts at the next cluster after the reservation."""
    b = burner_for(tmp_path, "bd-r")
    b.ok([0x53, 0, 0, 0, 0, 0, 0, 0x00, 40, 0])  # RESERVE TRACK, 40 blocks
    reserved = b.track_info(1)
    assert reserved[6] & 0xC0 == 0xC0  # RT and Blank: reserved, nothing written yet
    assert struct.unpack(">II", reserved[12:20]) == (0, 40)  # NWA 0, 40 free blocks
    assert b.nwa() == 64  # the invisible track, after the reservation's cluster
    write_ok(b, 0, data_blocks(40, 8))
    rec = b.device.recording
    assert rec is not None and rec.open_track is None
    assert [(t.start, t.end) for t in rec.tracks] == [(0, 40)]
    b.close(2)
    assert b.nwa() == 64
