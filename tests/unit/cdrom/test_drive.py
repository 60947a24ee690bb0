"""The drive's commands: golden bytes, tray states, events, media changes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from devemu.cdrom import cdbs, toc
from devemu.cdrom.device import CdromDevice, MediumRemovalPreventedError
from devemu.cdrom.image import load_image
from devemu.cdrom.sector import mode1_sector
from devemu.cdrom.subchannel import crc16
from devemu.scsi import sense as s
from devemu.scsi.identity import Identity
from devemu.testing import RingSimulator

TUR = [0, 0, 0, 0, 0, 0]


def loaded(drive: Any, image: Path) -> Any:
    drive.device.insert(load_image(image))
    drive.settle()
    drive.data([0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0])  # take the NewMedia event
    return drive


# --- CDB declarations: construct and the table's decoders agree -------------------------


def _spec(opcode: int) -> Any:
    spec = CdromDevice.commands.get(opcode)
    assert spec is not None
    return spec


@pytest.mark.parametrize(
    ("decl", "cdb"),
    [
        (cdbs.Read10Cdb, bytes.fromhex("2818000012340000200000")[:10]),
        (cdbs.Read12Cdb, bytes.fromhex("a8000001020300000010800000")[:12]),
    ],
)
def test_read_decoders_agree(decl: Any, cdb: bytes) -> None:
    parsed = decl.parse(cdb)
    spec = _spec(cdb[0])
    assert spec.cdb is decl
    assert spec.decode(cdb) == (parsed.lba, parsed.transfer_length)
    assert decl.build(dict(parsed)) == cdb
    assert spec.length == decl.sizeof() == len(cdb)


def test_read_cd_decoder_agrees() -> None:
    cdb = bytes.fromhex("be040000010000001af80000")[:12]
    parsed = cdbs.ReadCdCdb.parse(cdb)
    sector_type, lba, length, fields, sub = _spec(0xBE).decode(cdb)
    assert (parsed.lba, parsed.transfer_length) == (lba, length) == (256, 26)
    assert parsed.flags.sector_type == sector_type == 1
    assert parsed.fields.sync and parsed.fields.header_code == 3 and parsed.fields.user_data
    assert fields == 0xF8 and sub == 0
    assert cdbs.ReadCdCdb.build(parsed) == cdb


def test_read_toc_vendor_bits_are_declared() -> None:
    """Bits 7-6 of the READ TOC control byte are interpreted, NACA and the rest are not."""
    spec = _spec(0x43)
    assert spec.usage[-1] == 0xC0
    assert spec.decode(bytes.fromhex("4300000000000000ff80"))[-1] == 2


# --- golden structures, both directions -----------------------------------------------


@pytest.mark.parametrize(
    ("struct", "raw", "fields"),
    [
        (
            toc.TocTrackDescriptor,
            bytes.fromhex("0014010000000000"),
            {"adr_control": 0x14, "track": 1, "address": 0},
        ),
        (
            toc.FullTocDescriptor,
            bytes.fromhex("011400a0000000000100 00".replace(" ", "")),
            {
                "session": 1,
                "adr_control": 0x14,
                "tno": 0,
                "point": 0xA0,
                "min": 0,
                "sec": 0,
                "frame": 0,
                "zero": 0,
                "pmin": 1,
                "psec": 0,
                "pframe": 0,
            },
        ),
    ],
)
def test_golden_structures(struct, raw, fields) -> None:  # type: ignore[no-untyped-def]
    assert struct.build(fields) == raw
    parsed = struct.parse(raw)
    assert {k: parsed[k] for k in fields} == fields


# --- tray states ------------------------------------------------------------------------


def test_empty_drive_tray_states(drive: Any) -> None:
    assert drive.sense(TUR) == s.POWER_ON_RESET_OR_BUS_DEVICE_RESET
    assert drive.sense(TUR) == s.MEDIUM_NOT_PRESENT_TRAY_CLOSED
    assert drive.data([0x1B, 0, 0, 0, 0x02, 0]) == b""  # eject: opens
    assert drive.sense(TUR) == s.MEDIUM_NOT_PRESENT_TRAY_OPEN
    rs = drive.data([0x03, 0, 0, 0, 18, 0])
    assert (rs[2] & 0x0F, rs[12], rs[13]) == (2, 0x3A, 0x02)
    drive.data([0x1B, 0, 0, 0, 0x03, 0])  # load: closes, nothing in it
    assert drive.sense(TUR) == s.MEDIUM_NOT_PRESENT_TRAY_CLOSED


def test_insert_reports_medium_change_then_ready(drive: Any, samples: dict[str, Path]) -> None:
    drive.run(TUR)
    drive.device.insert(load_image(samples["data"]))
    assert drive.sense(TUR) == s.NOT_READY_TO_READY_CHANGE
    assert drive.sense(TUR) == s.LOGICAL_UNIT_BECOMING_READY
    assert drive.run(TUR)[0].status == 0


def test_prevented_eject(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["data"])
    drive.data([0x1E, 0, 0, 0, 1, 0])
    assert drive.sense([0x1B, 0, 0, 0, 0x02, 0]) == s.MEDIUM_REMOVAL_PREVENTED
    with pytest.raises(MediumRemovalPreventedError):
        drive.device.eject()
    # the refused control eject became an EjectRequest media event; a request
    # too short for the descriptor sees the header only and leaves it pending
    assert drive.data([0x4A, 1, 0, 0, 0x10, 0, 0, 0, 4, 0]) == bytes.fromhex("00060456")
    assert drive.data([0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0]) == bytes.fromhex("0006045601020000")
    assert drive.data([0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0]) == bytes.fromhex("0006045600020000")
    page = drive.data([0x5A, 0x08, 0x2A, 0, 0, 0, 0, 0, 64, 0])
    assert page[8 + 6] & 0x02  # lock state in page 0x2A
    drive.data([0x1E, 0, 0, 0, 0, 0])
    drive.data([0x1B, 0, 0, 0, 0x02, 0])
    assert drive.sense(TUR) == s.MEDIUM_NOT_PRESENT_TRAY_OPEN
    assert drive.data([0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0]) == bytes.fromhex("0006045603030000")
    drive.data([0x1B, 0, 0, 0, 0x03, 0])  # load the disc left on the tray
    assert drive.sense(TUR) == s.NOT_READY_TO_READY_CHANGE
    assert drive.data([0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0]) == bytes.fromhex("0006045602020000")


def test_forced_control_eject(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["data"])
    drive.data([0x1E, 0, 0, 0, 1, 0])
    drive.device.eject(force=True)
    assert drive.device.status()["medium"] is None
    assert drive.sense(TUR) == s.MEDIUM_NOT_PRESENT_TRAY_OPEN


# --- events, configuration, capabilities -------------------------------------------------


def test_gesn_classes(drive: Any) -> None:
    drive.settle()
    assert drive.data([0x4A, 1, 0, 0, 0x04, 0, 0, 0, 8, 0]) == bytes.fromhex("0006025600010000")
    assert drive.data([0x4A, 1, 0, 0, 0x10, 0, 0, 0, 8, 0]) == bytes.fromhex("0006045600000000")
    assert drive.data([0x4A, 1, 0, 0, 0x08, 0, 0, 0, 8, 0]) == bytes.fromhex("00028056")
    assert drive.sense([0x4A, 0, 0, 0, 0x10, 0, 0, 0, 8, 0]) == s.INVALID_FIELD_IN_CDB


def test_get_configuration(drive: Any, samples: dict[str, Path]) -> None:
    drive.settle()
    empty = drive.data([0x46, 0, 0, 0, 0, 0, 0, 0, 8, 0])
    assert empty[6:8] == b"\x00\x00"
    loaded(drive, samples["data"])
    head = drive.data([0x46, 2, 0, 0, 0, 0, 0, 0, 0xFF, 0])
    assert head == bytes.fromhex("00000014000000080000030c004000000010000000080100")
    cd_read = drive.data([0x46, 2, 0, 0x1E, 0, 0, 0, 0, 0xFF, 0])
    assert cd_read[8:] == bytes.fromhex("001e090403000000")
    current = drive.data([0x46, 1, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0])
    codes = []
    pos = 8
    while pos < len(current):
        codes.append(int.from_bytes(current[pos : pos + 2], "big"))
        pos += 4 + current[pos + 3]
    assert codes == [0x0, 0x1, 0x2, 0x3, 0x10, 0x1D, 0x1E, 0x100, 0x103, 0x105, 0x107, 0x108]
    serial = drive.data([0x46, 2, 0x01, 0x08, 0, 0, 0, 0, 0xFF, 0])
    assert serial[8:] == bytes.fromhex("01080308") + b"CD0001  "


def test_dvd_profile_by_setting(samples: dict[str, Path], drive_class: Any) -> None:
    drive = drive_class(CdromDevice(Identity(serial="DVD1"), profile="dvd"))
    loaded(drive, samples["data"])
    assert drive.data([0x46, 0, 0, 0, 0, 0, 0, 0, 8, 0])[6:8] == b"\x00\x10"
    phys = drive.data([0xAD, 0, 0, 0, 0, 0, 0, 0x00, 0x08, 0x04, 0, 0])
    assert phys[:4] == bytes.fromhex("08020000")
    sectors = samples["data"].stat().st_size // 2048
    assert phys[4:8] == bytes.fromhex("01020110")
    assert int.from_bytes(phys[13:16], "big") == 0x30000 + sectors - 1
    assert drive.data([0xAD, 0, 0, 0, 0, 0, 0, 0x01, 0, 8, 0, 0]) == bytes.fromhex(
        "0006000000000000"
    )
    assert drive.sense([0x43, 0, 2, 0, 0, 0, 0, 0, 0xFF, 0]) == s.INVALID_FIELD_IN_CDB


def test_cd_refuses_dvd_structure(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["data"])
    assert drive.sense([0xAD, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x04, 0, 0]) == (
        s.CANNOT_READ_MEDIUM_INCOMPATIBLE_FORMAT_ILLEGAL
    )


def test_report_key_rpc_state(drive: Any) -> None:
    drive.settle()
    assert drive.data([0xA4, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0x08, 0]) == bytes.fromhex(
        "0006000025000100"
    )


def test_mode_page_2a(drive: Any) -> None:
    drive.settle()
    data = drive.data([0x5A, 0x08, 0x2A, 0, 0, 0, 0, 0, 0xFF, 0])
    assert data[8:10] == bytes.fromhex("2a1e")
    assert data[10:16] == bytes.fromhex("0f0071772903")
    assert int.from_bytes(data[16:18], "big") == 48 * 176
    drive.data([0xBB, 0, 0x02, 0xC0, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0])
    data = drive.data([0x5A, 0x08, 0x2A, 0, 0, 0, 0, 0, 0xFF, 0])
    assert int.from_bytes(data[22:24], "big") == 0x2C0


@pytest.mark.parametrize("page", [0x01, 0x0D, 0x0E, 0x1A])
def test_other_mode_pages_present(drive: Any, page: int) -> None:
    drive.settle()
    data = drive.data([0x5A, 0x08, page, 0, 0, 0, 0, 0, 0xFF, 0])
    assert data[8] & 0x3F == page


# --- reading -------------------------------------------------------------------------------


def test_read_capacity_and_read10(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["data"])
    iso = samples["data"].read_bytes()
    sectors = len(iso) // 2048
    assert drive.data([0x25] + [0] * 9) == (sectors - 1).to_bytes(4, "big") + b"\x00\x00\x08\x00"
    assert drive.data([0x28, 0, 0, 0, 0, 16, 0, 0, 2, 0]) == iso[16 * 2048 : 18 * 2048]
    assert drive.data([0xA8, 0, 0, 0, 0, 16, 0, 0, 0, 1, 0, 0]) == iso[16 * 2048 : 17 * 2048]
    assert (
        drive.sense([0x28, 0, 0, 0, 0xFF, 0xFF, 0, 0, 1, 0]) == s.LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE
    )
    assert (
        drive.sense([0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0]) == s.CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT
    )
    assert drive.sense([0x28, 0, 0, 0, 0, 0, 0x01, 0, 1, 0]) == s.INVALID_FIELD_IN_CDB


def test_read10_through_ring_simulator(samples: dict[str, Path]) -> None:
    device = CdromDevice(Identity(serial="SIM1"))
    device.insert(load_image(samples["data"]))
    device.unit_attentions.clear()
    device.becoming_ready = False
    sim = RingSimulator()
    sim.attach(device)
    done = sim.execute(bytes([0x28, 0, 0, 0, 0, 16, 0, 0, 4, 0]), data_in_length=4 * 2048)
    assert done.status == 0
    assert done.data == samples["data"].read_bytes()[16 * 2048 : 20 * 2048]


def test_read10_audio_is_illegal_mode(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["mixed"])
    audio = drive.device.ready_disc().tracks[1].start
    cdb = [0x28, 0, 0, 0, audio >> 8, audio & 0xFF, 0, 0, 1, 0]
    assert drive.sense(cdb) == s.ILLEGAL_MODE_FOR_THIS_TRACK


def test_read_cd_fields(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["data"])
    iso = samples["data"].read_bytes()
    raw = bytes(mode1_sector(16, iso[16 * 2048 : 17 * 2048]))
    full = drive.data([0xBE, 0, 0, 0, 0, 16, 0, 0, 1, 0xF8, 0, 0])
    assert full == raw
    assert drive.data([0xBE, 0x08, 0, 0, 0, 16, 0, 0, 1, 0x10, 0, 0]) == raw[16:2064]
    assert drive.data([0xBE, 0, 0, 0, 0, 16, 0, 0, 1, 0x20, 0, 0]) == raw[12:16]
    assert drive.data([0xBE, 0, 0, 0, 0, 16, 0, 0, 1, 0x18, 0, 0]) == raw[16:]
    with_c2 = drive.data([0xBE, 0, 0, 0, 0, 16, 0, 0, 1, 0xFA, 0x02, 0])
    assert len(with_c2) == 2352 + 294 + 16 and with_c2[2352:2646] == bytes(294)
    q = with_c2[2646:]
    assert q[:10] == bytes.fromhex("41010100001600000216")
    assert (
        drive.sense([0xBE, 0x04, 0, 0, 0, 16, 0, 0, 1, 0x10, 0, 0]) == s.ILLEGAL_MODE_FOR_THIS_TRACK
    )
    assert drive.sense([0xBE, 0, 0, 0, 0, 16, 0, 0, 1, 0x16, 0, 0]) == s.INVALID_FIELD_IN_CDB
    assert drive.sense([0xBE, 0, 0, 0, 0, 16, 0, 0, 1, 0x10, 0x03, 0]) == s.INVALID_FIELD_IN_CDB
    msf = drive.data([0xB9, 0, 0, 0, 2, 16, 0, 2, 17, 0xF8, 0, 0])
    assert msf == raw


def test_read_cd_audio_and_raw_subchannel(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["mixed"])
    disc = drive.device.ready_disc()
    t2 = disc.tracks[1]
    bin_bytes = (samples["mixed"].parent / "mixed.bin").read_bytes()
    off = disc.tracks[0].end * 2352
    lba = t2.start
    data = drive.data([0xBE, 0x04, 0, 0, lba >> 8, lba & 0xFF, 0, 0, 2, 0x10, 0x01, 0])
    assert len(data) == 2 * (2352 + 96)
    assert data[:2352] == bin_bytes[off : off + 2352]
    pw = data[2352 : 2352 + 96]
    qbits = "".join(str((b >> 6) & 1) for b in pw)
    q = int(qbits, 2).to_bytes(12, "big")
    assert q[:3] == bytes.fromhex("010201")  # audio, ADR 1, track 02, index 01
    assert all(b & 0x80 == 0 for b in pw)  # P is clear outside a pause
    pre = drive.data([0xBE, 0, 0, 0, t2.pregap >> 8, t2.pregap & 0xFF, 0, 0, 1, 0x10, 0x01, 0])
    assert all(b & 0x80 for b in pre[2352:])  # pregap: P set


# --- TOC, disc and track information --------------------------------------------------------


def test_toc_mixed(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["mixed"])
    t = drive.device.ready_disc().tracks
    lead = drive.device.ready_disc().leadout
    expected = (
        bytes.fromhex("00220103")
        + bytes.fromhex("00140100")
        + (0).to_bytes(4, "big")
        + bytes.fromhex("00100200")
        + t[1].start.to_bytes(4, "big")
        + bytes.fromhex("00110300")
        + t[2].start.to_bytes(4, "big")
        + bytes.fromhex("0011aa00")
        + lead.to_bytes(4, "big")
    )
    assert drive.data([0x43, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0]) == expected
    msf = drive.data([0x43, 0x02, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0])
    assert msf[4:12] == bytes.fromhex("0014010000000200")
    only_leadout = drive.data([0x43, 0, 0, 0, 0, 0, 0xAA, 0xFF, 0xFF, 0])
    assert only_leadout[:4] == bytes.fromhex("000a0103")
    assert drive.sense([0x43, 0, 0, 0, 0, 0, 5, 0, 0xFF, 0]) == s.INVALID_FIELD_IN_CDB
    assert drive.data([0x43, 0, 0, 0, 0, 0, 0, 0, 4, 0]) == expected[:4]


def test_toc_sessions_and_full(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["multisession"])
    disc = drive.device.ready_disc()
    start = disc.sessions[1].first_track.start
    assert drive.data([0x43, 0, 1, 0, 0, 0, 0, 0, 12, 0]) == (
        bytes.fromhex("000a010200140200") + start.to_bytes(4, "big")
    )
    full = drive.data([0x43, 0x02, 2, 0, 0, 0, 1, 0xFF, 0xFF, 0])
    assert full[:4] == bytes.fromhex("00650102")
    entries = [full[i : i + 11] for i in range(4, len(full), 11)]
    assert [e[3] for e in entries] == [0xA0, 0xA1, 0xA2, 1, 0xB0, 0xA0, 0xA1, 0xA2, 2]
    assert entries[0] == bytes.fromhex("011000a0000000000100 00".replace(" ", ""))
    assert entries[2][8:] == bytes((0, 6, 0))  # session 1 lead-out at 00:06:00 (LBA 300)
    assert entries[4][1] == 0x50 and entries[4][4:7] == bytes((2, 36, 0))
    assert entries[5][0] == 2 and entries[5][8:] == bytes((2, 0x00, 0))


def test_cdtext(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["mixed"])
    data = drive.data([0x43, 0, 5, 0, 0, 0, 0, 0xFF, 0xFF, 0])
    packs = data[4:]
    assert int.from_bytes(data[:2], "big") == len(packs) + 2 and len(packs) % 18 == 0
    first = packs[:18]
    assert first[:4] == bytes((0x80, 0, 0, 0)) and first[4:16] == b"devemu mixed"
    for i in range(0, len(packs), 18):
        assert int.from_bytes(packs[i + 16 : i + 18], "big") == crc16(packs[i : i + 16]) ^ 0xFFFF
    assert packs[-18] == 0x8F


def test_disc_and_track_information(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["mixed"])
    disc = drive.device.ready_disc()
    info = drive.data([0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0])
    assert info[:12] == bytes.fromhex("00200e0101010300000000 00".replace(" ", ""))
    assert info[16:24] == b"\xff" * 8
    t2 = disc.tracks[1]
    ti = drive.data([0x52, 1, 0, 0, 0, 2, 0, 0, 48, 0])
    assert ti[:8] == bytes.fromhex("002e02010000 0f00".replace(" ", ""))
    assert int.from_bytes(ti[8:12], "big") == t2.start
    assert int.from_bytes(ti[24:28], "big") == disc.tracks[2].pregap - t2.start
    by_lba = drive.data([0x52, 0, 0, 0, 0, 20, 0, 0, 48, 0])
    assert by_lba[2] == 1 and by_lba[5:7] == bytes((0x04, 0x01))
    assert drive.sense([0x52, 1, 0, 0, 0, 9, 0, 0, 48, 0]) == s.INVALID_FIELD_IN_CDB


# --- audio ---------------------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_play_pause_resume_and_subchannel(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["mixed"])
    clock = FakeClock()
    drive.device.audio.clock = clock
    disc = drive.device.ready_disc()
    t2 = disc.tracks[1]
    start = t2.start
    drive.data([0x45, 0, 0, 0, start >> 8, start & 0xFF, 0, 0, 150, 0])
    clock.now += 1.0
    sub = drive.data([0x42, 0, 0x40, 1, 0, 0, 0, 0, 16, 0])
    assert sub[:8] == bytes.fromhex("0011000c01100201")
    assert int.from_bytes(sub[8:12], "big") == start + 75
    assert int.from_bytes(sub[12:16], "big") == 75
    assert drive.data([0xBD] + [0] * 7 + [0, 8, 0, 0])[1] == 0x20
    drive.data([0x4B, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    clock.now += 5
    assert drive.data([0x42, 0, 0x40, 1, 0, 0, 0, 0, 16, 0])[1] == 0x12
    drive.data([0x4B, 0, 0, 0, 0, 0, 0, 0, 1, 0])
    clock.now += 5
    assert drive.data([0x42, 0, 0x40, 1, 0, 0, 0, 0, 16, 0])[1] == 0x13
    assert drive.data([0x42, 0, 0x40, 1, 0, 0, 0, 0, 16, 0])[1] == 0x15
    assert drive.sense([0x4B, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == s.COMMAND_SEQUENCE_ERROR
    assert drive.sense([0x45, 0, 0, 0, 0, 0, 0, 0, 1, 0]) == s.ILLEGAL_MODE_FOR_THIS_TRACK
    drive.data([0x47, 0, 0, 0, 4, 47, 0, 4, 50, 0])
    assert drive.data([0x42, 0, 0x40, 1, 0, 0, 0, 0, 16, 0])[1] == 0x11
    drive.data([0x4E, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert drive.data([0x42, 0, 0x40, 1, 0, 0, 0, 0, 16, 0])[1] == 0x15


def test_mcn_and_isrc(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["mixed"])
    mcn = drive.data([0x42, 0, 0x40, 2, 0, 0, 0, 0, 24, 0])
    assert mcn[:9] == bytes.fromhex("001500140200000080") and mcn[9:22] == b"0123456789012"
    isrc = drive.data([0x42, 0, 0x40, 3, 0, 0, 2, 0, 24, 0])
    assert isrc[:9] == bytes.fromhex("001500140330020080") and isrc[9:21] == b"USDEV2600001"
    none = drive.data([0x42, 0, 0x40, 3, 0, 0, 1, 0, 24, 0])
    assert none[8] == 0
    assert drive.data([0x42, 0, 0x00, 1, 0, 0, 0, 0, 24, 0]) == bytes.fromhex("00150000")


def test_get_performance_and_mechanism(drive: Any, samples: dict[str, Path]) -> None:
    loaded(drive, samples["data"])
    last = drive.device.ready_disc().leadout - 1
    perf = drive.data([0xAC, 0x10, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0])
    assert perf == (
        bytes.fromhex("00000014000000000000000000002100")
        + last.to_bytes(4, "big")
        + bytes.fromhex("00002100")
    )
    assert drive.data([0xAC, 0, 0, 0, 0, 0, 0, 0, 0, 1, 3, 0]) == bytes.fromhex("0000000400000000")
    assert drive.sense([0xAC, 0, 0, 0, 0, 0, 0, 0, 0, 1, 9, 0]) == s.INVALID_FIELD_IN_CDB
    drive.data([0x1B, 0, 0, 0, 2, 0])
    assert drive.data([0xBD, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0, 0]) == bytes.fromhex("0010000000000000")
