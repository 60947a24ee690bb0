"""Recording CD-R and CD-RW through the MMC-6 commands: TAO, SAO, multisession,
BLANK, the write-once refusals, and the disc kept in its folder surviving a restart."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from devemu.cdrom.device import CdromDevice
from devemu.cdrom.events import MediaEvent
from devemu.cdrom.image import load_image
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.recording import (
    RecordingError,
    current_recording,
    load_recording,
    new_recording,
)
from devemu.errors import ImageError
from devemu.scsi.command import Command, Result, answered
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT,
    COMMAND_SEQUENCE_ERROR,
    INVALID_ADDRESS_FOR_WRITE,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    WRITE_ERROR,
    parse_sense,
)
from tests.unit.cdrom.conftest import Drive


class Burner(Drive):
    """A drive that records, with helpers for the recording commands."""

    def __init__(self, root: Path, medium: str = "cd-r", sectors: int = 20000) -> None:
        super().__init__(
            CdromDevice(
                Identity(product="VIRTUAL CDRW", serial="CDW001"), burn_root=root, name="cd0"
            )
        )
        self.root = root
        rec = new_recording(root, "cd0", BlankMedium.from_label(medium), sectors)
        self.device.insert(rec.disc(), rec)
        self.settle()

    def out(self, cdb: bytes | list[int], payload: bytes) -> Result:
        return answered(self.device.execute(Command(bytes(cdb), [memoryview(bytearray(payload))])))

    def ok(self, cdb: bytes | list[int], payload: bytes = b"") -> None:
        result = self.out(cdb, payload) if payload else self.run(cdb)[0]
        assert result.status == 0, parse_sense(result.sense)

    def out_sense(self, cdb: bytes | list[int], payload: bytes) -> tuple[object, ...]:
        result = self.out(cdb, payload)
        assert result.status == 2
        return parse_sense(result.sense)

    def page05(self) -> bytearray:
        data = self.data([0x5A, 0x08, 0x05, 0, 0, 0, 0, 0x01, 0x00, 0])
        return bytearray(data[8:])

    def select05(self, page: bytes | bytearray) -> Result:
        plist = bytes(8) + bytes(page)
        n = len(plist)
        return self.out([0x55, 0x10, 0, 0, 0, 0, 0, n >> 8, n & 0xFF, 0], plist)

    def set_params(
        self, *, write_type: int = 1, dbtype: int = 8, track_mode: int = 4, multi: int = 0
    ) -> None:
        page = self.page05()
        page[2] = (page[2] & 0xF0) | write_type
        page[3] = (multi << 6) | track_mode
        page[4] = dbtype
        result = self.select05(page)
        assert result.status == 0, parse_sense(result.sense)

    def write(self, lba: int, blocks: int, payload: bytes) -> Result:
        cdb = struct.pack(">BBiBHB", 0x2A, 0, lba, 0, blocks, 0)
        return self.out(cdb, payload)

    def sync(self) -> None:
        self.ok([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0])

    def close(self, function: int, track: int = 0) -> None:
        self.ok([0x5B, 0, function, 0, track >> 8, track & 0xFF, 0, 0, 0, 0])

    def disc_info(self) -> bytes:
        return self.data([0x51, 0, 0, 0, 0, 0, 0, 0, 34, 0])

    def track_info(self, number: int) -> bytes:
        return self.data([0x52, 0x01, 0, 0, 0, number, 0, 0, 36, 0])

    def nwa(self) -> int:
        info = self.track_info(0xFF)
        assert info[7] & 0x01
        return int(struct.unpack(">i", info[12:16])[0])

    def read(self, lba: int, blocks: int) -> bytes:
        return self.data(struct.pack(">BBIBHB", 0x28, 0, lba, 0, blocks, 0), blocks * 2048)


def data_blocks(blocks: int, seed: int) -> bytes:
    return b"".join(bytes([(seed + i) & 0xFF]) * 2048 for i in range(blocks))


@pytest.fixture
def burner(tmp_path: Path) -> Burner:
    return Burner(tmp_path / "discs")


def test_blank_disc_reports_empty(burner: Burner) -> None:
    info = burner.disc_info()
    assert info[2] & 0x03 == 0 and (info[2] >> 2) & 0x03 == 0  # empty disc, empty session
    assert info[2] & 0x10 == 0  # CD-R: not erasable
    assert info[4] == 1 and info[5] == 1 and info[6] == 1
    assert burner.nwa() == 0
    profile = burner.data([0x46, 0x02, 0, 0, 0, 0, 0, 0, 16, 0])
    assert profile[6:8] == b"\x00\x09"


def test_tao_data_track_then_finalize(burner: Burner, samples: dict[str, Path]) -> None:
    burner.set_params()
    payload = samples["data"].read_bytes()
    blocks = len(payload) // 2048
    for i in range(0, blocks, 100):
        n = min(100, blocks - i)
        r = burner.write(i, n, payload[i * 2048 : (i + n) * 2048])
        assert r.status == 0, parse_sense(r.sense)
    burner.sync()
    assert burner.read(0, blocks) == payload
    info = burner.disc_info()
    assert info[2] & 0x03 == 1  # incomplete
    assert burner.nwa() == blocks + 150
    burner.close(2)
    info = burner.disc_info()
    assert info[2] & 0x03 == 2 and (info[2] >> 2) & 3 == 3
    rec = burner.device.recording
    assert rec is not None and rec.image_path.name == "disc.iso"
    assert rec.image_path.read_bytes() == payload
    disc = load_image(rec.image_path)
    assert disc.leadout == blocks
    disc.close()


def test_write_elsewhere_is_refused(burner: Burner) -> None:
    burner.set_params()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    burner.sync()
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, 0, 0, 1, 0), bytes(2048))
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, 5000, 0, 1, 0), bytes(2048))
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE


def _cue(entries: list[tuple[int, int, int, int, tuple[int, int, int]]]) -> bytes:
    return b"".join(bytes((ca, tno, idx, df, 0, *msf)) for ca, tno, idx, df, msf in entries)


def test_session_at_once_data_and_audio(burner: Burner) -> None:
    """SAO (MMC-6 6.33): a data track with its pregap written at -150, then audio."""
    burner.set_params(write_type=2, dbtype=0, track_mode=0)
    sheet = _cue(
        [
            (0x41, 0x00, 0, 0x14, (0, 0, 0)),
            (0x41, 0x01, 0, 0x10, (0, 0, 0)),
            (0x41, 0x01, 1, 0x10, (0, 2, 0)),
            (0x01, 0x02, 0, 0x00, (0, 4, 0)),
            (0x01, 0x02, 1, 0x00, (0, 6, 0)),
            (0x01, 0xAA, 1, 0x01, (0, 8, 0)),
        ]
    )
    burner.ok([0x5D, 0, 0, 0, 0, 0, 0, 0, len(sheet), 0], sheet)
    assert burner.nwa() == -150
    data = data_blocks(150, 3)
    assert burner.write(-150, 150, bytes(150 * 2048)).status == 0
    assert burner.write(0, 150, data).status == 0
    audio = bytes(range(256)) * (2352 * 300 // 256) + bytes(2352 * 300 % 256)
    assert burner.write(150, 300, audio).status == 0
    burner.sync()
    info = burner.disc_info()
    assert info[2] & 0x03 == 2  # finalized: page 05h said no next session
    assert burner.read(0, 150) == data
    rec = burner.device.recording
    assert rec is not None and rec.image_path.name == "disc.cue"
    disc = load_image(rec.image_path)
    try:
        assert [(t.number, t.mode.label, t.pregap, t.start, t.end) for t in disc.tracks] == [
            (1, "MODE1/2048", 0, 0, 150),
            (2, "AUDIO", 150, 300, 450),
        ]
    finally:
        disc.close()
    assert (rec.folder / "track02.bin").read_bytes() == audio


def test_cue_sheet_needs_session_at_once(burner: Burner) -> None:
    sheet = _cue(
        [
            (0x41, 0, 0, 0x14, (0, 0, 0)),
            (0x41, 1, 1, 0x10, (0, 0, 0)),
            (0x41, 0xAA, 1, 0x14, (0, 4, 0)),
        ]
    )
    assert (
        burner.out_sense([0x5D, 0, 0, 0, 0, 0, 0, 0, len(sheet), 0], sheet)[0]
        == COMMAND_SEQUENCE_ERROR
    )


def test_cue_sheet_bad_data_form_points_at_it(burner: Burner) -> None:
    burner.set_params(write_type=2)
    sheet = _cue(
        [
            (0x41, 0, 0, 0x14, (0, 0, 0)),
            (0x41, 1, 1, 0x33, (0, 0, 0)),
            (0x41, 0xAA, 1, 0x14, (0, 4, 0)),
        ]
    )
    code = burner.out_sense([0x5D, 0, 0, 0, 0, 0, 0, 0, len(sheet), 0], sheet)[0]
    assert code == INVALID_FIELD_IN_PARAMETER_LIST
    result = burner.out([0x5D, 0, 0, 0, 0, 0, 0, 0, len(sheet), 0], sheet)
    # SKSV, C/D 0, field pointer at byte 11 (entry 1, its data form byte).
    assert result.sense[15] & 0x80 and not result.sense[15] & 0x40
    assert int.from_bytes(result.sense[16:18], "big") == 11


def test_two_sessions_and_their_addresses(burner: Burner) -> None:
    burner.set_params(multi=3)
    assert burner.write(0, 300, data_blocks(300, 1)).status == 0
    burner.sync()
    burner.close(2)
    info = burner.disc_info()
    assert info[2] & 0x03 == 1 and (info[2] >> 2) & 3 == 0  # incomplete disc, empty session
    assert info[4] == 2  # sessions, the empty one counted
    nwa = burner.nwa()
    assert nwa == 300 + 6750 + 4500 + 150
    second = data_blocks(50, 9)
    assert burner.write(nwa, 50, second).status == 0
    burner.sync()
    burner.close(2)
    assert burner.read(nwa, 50) == second
    toc1 = burner.data([0x43, 0, 1, 0, 0, 0, 0, 0, 12, 0])
    assert toc1[3] == 2 and int.from_bytes(toc1[8:12], "big") == nwa
    rec = burner.device.recording
    assert rec is not None
    text = (rec.folder / "disc.cue").read_text()
    assert "REM SESSION 02" in text
    disc = load_image(rec.image_path)
    try:
        assert [t.start for t in disc.tracks] == [0, nwa]
    finally:
        disc.close()


def test_second_track_of_a_session_has_a_pregap(burner: Burner) -> None:
    burner.set_params()
    assert burner.write(0, 20, data_blocks(20, 1)).status == 0
    burner.sync()
    assert burner.nwa() == 170
    assert burner.write(170, 20, data_blocks(20, 2)).status == 0
    burner.sync()
    burner.close(2)
    toc = burner.data([0x43, 0, 0, 0, 0, 0, 0, 0, 100, 0])
    assert toc[2:4] == b"\x01\x02"
    assert int.from_bytes(toc[16:20], "big") == 170


def test_blank_cd_rw_and_write_again(tmp_path: Path) -> None:
    burner = Burner(tmp_path / "discs", "cd-rw")
    assert burner.disc_info()[2] & 0x10  # erasable
    burner.set_params()
    assert burner.write(0, 20, data_blocks(20, 1)).status == 0
    burner.sync()
    burner.close(2)
    assert burner.disc_info()[2] & 0x03 == 2
    burner.ok([0xA1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])  # minimal blank
    assert burner.disc_info()[2] & 0x03 == 0
    assert burner.nwa() == 0
    again = data_blocks(30, 5)
    assert burner.write(0, 30, again).status == 0
    burner.sync()
    assert burner.read(0, 30) == again


def test_blank_refused_on_cd_r(burner: Burner) -> None:
    assert (
        burner.sense([0xA1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
        == CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT
    )


def test_blank_type_not_carried_out(tmp_path: Path) -> None:
    burner = Burner(tmp_path / "discs", "cd-rw")
    result, _ = burner.run([0xA1, 0x02, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_CDB
    assert result.sense[15] == 0xC0 | 0x08 | 2 and result.sense[16:18] == b"\x00\x01"


def test_close_function_refused(burner: Burner) -> None:
    result, _ = burner.run([0x5B, 0, 0x04, 0, 0, 0, 0, 0, 0, 0])
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_CDB
    assert result.sense[16:18] == b"\x00\x02"


def test_packet_writing_refused_in_page05(burner: Burner) -> None:
    page = burner.page05()
    page[2] = page[2] & 0xF0  # packet
    result = burner.select05(page)
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_PARAMETER_LIST
    assert burner.page05()[2] & 0x0F == 1  # unchanged


def test_test_write_records_nothing(burner: Burner) -> None:
    page = burner.page05()
    page[2] |= 0x10
    assert burner.select05(page).status == 0
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    burner.sync()
    assert burner.disc_info()[2] & 0x03 == 0


def test_wrong_transfer_size_refused(burner: Burner) -> None:
    burner.set_params()
    result = burner.write(0, 2, bytes(2048))
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_CDB


def test_pressed_disc_refuses_writes(drive: Drive, samples: dict[str, Path]) -> None:
    drive.device.insert(load_image(samples["data"]))
    drive.settle()
    result = answered(
        drive.device.execute(
            Command(bytes.fromhex("2a000000000000000100"), [memoryview(bytearray(2048))])
        )
    )
    assert parse_sense(result.sense)[0] == CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT


def test_restart_finds_the_disc_and_drops_an_unfinished_track(tmp_path: Path) -> None:
    root = tmp_path / "discs"
    burner = Burner(root)
    burner.set_params(multi=3)
    first = data_blocks(40, 1)
    assert burner.write(0, 40, first).status == 0
    burner.sync()
    assert burner.write(190, 10, data_blocks(10, 2)).status == 0  # never synchronized
    # kill -9: nothing more runs; a new daemon reads the folder.
    rec = current_recording(root, "cd0")
    assert rec is not None
    try:
        assert [t.number for t in rec.tracks] == [1]
        assert rec.session_open and rec.next_writable == 190
        assert not (rec.folder / "track02.bin").exists()
        disc = rec.disc()
        try:
            assert disc.leadout == 40
        finally:
            disc.close()
    finally:
        rec.close()
    state = json.loads((rec.folder / "state.json").read_text())
    assert state["closed_sessions"] == 0 and len(state["tracks"]) == 1


def test_hostile_pointer_refused(tmp_path: Path) -> None:
    root = tmp_path / "discs"
    root.mkdir()
    (root / "cd0.current").write_text("../../etc\n")
    with pytest.raises(Exception, match="not a recording folder"):
        current_recording(root, "cd0")


def test_state_out_of_the_disc_refused(tmp_path: Path) -> None:
    root = tmp_path / "discs"
    burner = Burner(root)
    burner.set_params()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    burner.sync()
    rec = burner.device.recording
    assert rec is not None
    state = json.loads((rec.folder / "state.json").read_text())
    state["tracks"][0]["end"] = 10**9
    (rec.folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(Exception, match="outside the disc"):
        load_recording(rec.folder)


def test_write_speeds_and_set_streaming(burner: Burner) -> None:
    data = burner.data([0xAC, 0, 0, 0, 0, 0, 0, 0, 0, 8, 0x03, 0])
    assert int.from_bytes(data[0:4], "big") == 4 + 5 * 16
    speeds = [int.from_bytes(data[8 + 16 * i + 12 : 8 + 16 * i + 16], "big") for i in range(5)]
    assert speeds == [48 * 176, 24 * 176, 16 * 176, 8 * 176, 4 * 176]
    descriptor = bytes(4) + bytes(4) + (0xFFFFFFFF).to_bytes(4, "big")
    descriptor += (8448).to_bytes(4, "big") + (1000).to_bytes(4, "big")
    descriptor += (1408).to_bytes(4, "big") + (1000).to_bytes(4, "big")
    burner.ok([0xB6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 28, 0], descriptor)
    assert burner.device.write_speed == 1408
    page = burner.data([0x5A, 0x08, 0x2A, 0, 0, 0, 0, 0x01, 0x00, 0])[8:]
    assert page[3] == 0x17  # DVD-R, CD-R, CD-RW and test write
    assert int.from_bytes(page[28:30], "big") == 1408  # current write speed selected
    burner.ok([0xBB, 0, 0xFF, 0xFF, 0x0B, 0x00, 0, 0, 0, 0, 0, 0])  # SET CD SPEED write 2816
    assert burner.device.write_speed == 2816


def test_set_streaming_zero_time_refused(burner: Burner) -> None:
    descriptor = bytes(16) + (1000).to_bytes(4, "big") + bytes(8)
    code = burner.out_sense([0xB6, 0, 0, 0, 0, 0, 0, 0, 0, 0, 28, 0], descriptor)[0]
    assert code == INVALID_FIELD_IN_PARAMETER_LIST


def test_read_buffer_capacity(burner: Burner) -> None:
    assert burner.data([0x5C, 0, 0, 0, 0, 0, 0, 0, 12, 0]) == bytes.fromhex(
        "000a000000200000 00200000".replace(" ", "")
    )


def test_recording_features_are_current(burner: Burner) -> None:
    def feature(code: int) -> bytes:
        return burner.data([0x46, 0x02, code >> 8, code & 0xFF, 0, 0, 0, 0, 64, 0])[8:]

    tao = feature(0x002D)
    assert tao[:4] == bytes.fromhex("002d0904") and tao[4] == 0x06
    assert tao[6:8] == bytes.fromhex("0101")  # data block types 00h and 08h
    assert feature(0x002E)[:5] == bytes.fromhex("002e050426")
    assert feature(0x0021)[2] & 0x01  # incremental streaming writable: current
    assert feature(0x0037)[2] & 0x01 == 0  # CD-RW media write support: not on a CD-R
    profiles = feature(0x0000)
    listed = [int.from_bytes(profiles[4 + i : 6 + i], "big") for i in range(0, profiles[3], 4)]
    assert listed == [0x43, 0x41, 0x40, 0x1B, 0x1A, 0x14, 0x13, 0x11, 0x10, 0x0A, 0x09, 0x08]


def test_atip_of_a_blank_cd_rw(tmp_path: Path) -> None:
    burner = Burner(tmp_path / "discs", "cd-rw", sectors=20000)
    atip = burner.data([0x43, 0x02, 0x04, 0, 0, 0, 0, 0, 32, 0])
    assert atip[:4] == bytes.fromhex("001e0000")
    assert atip[6] & 0x40  # erasable
    assert tuple(atip[8:11]) == (97, 26, 66)
    assert tuple(atip[12:15]) == (4, 28, 50)  # 20000 + 150 frames


def test_disc_information_of_a_blank_cd_r_golden(burner: Burner) -> None:
    info = burner.disc_info()
    golden = "0020 00 01 01 01 01 10 00 000000 00000000 00611a42 00041c32 0000000000000000 0000"
    assert info == bytes.fromhex(golden.replace(" ", ""))


def test_toc_of_a_blank_disc_refused(burner: Burner) -> None:
    assert burner.sense([0x43, 0, 0, 0, 0, 0, 0, 0, 12, 0]) == INVALID_FIELD_IN_CDB
    assert burner.data([0x25] + [0] * 9) == bytes.fromhex("0000000000000800")


def test_reserve_track_then_write_it(burner: Burner) -> None:
    """RESERVE TRACK (MMC-6 6.32): a reserved track, RT set, the invisible track after it."""
    burner.set_params()
    burner.ok([0x53, 0, 0, 0, 0, 0, 0, 0, 100, 0])
    reserved = burner.track_info(1)
    assert reserved[6] & 0xC0 == 0xC0  # RT and Blank
    assert int.from_bytes(reserved[24:28], "big") == 100  # track size
    invisible = burner.track_info(0xFF)
    assert invisible[2] == 2 and invisible[6] & 0xC0 == 0x40
    assert int.from_bytes(invisible[8:12], "big") == 100 + 150
    assert burner.write(0, 60, data_blocks(60, 1)).status == 0
    burner.sync()  # a reserved track stays open
    reserved = burner.track_info(1)
    assert reserved[6] & 0xC0 == 0x80 and int.from_bytes(reserved[16:20], "big") == 40
    result = burner.write(60, 41, data_blocks(41, 2))
    assert parse_sense(result.sense)[0] == INVALID_ADDRESS_FOR_WRITE  # past the reservation
    assert burner.write(60, 40, data_blocks(40, 2)).status == 0  # fills it: complete
    assert burner.nwa() == 250
    assert burner.read(0, 100) == data_blocks(60, 1) + data_blocks(40, 2)


def test_reserve_track_refusals(burner: Burner) -> None:
    result, _ = burner.run([0x53, 0x01, 0, 0, 0, 0, 0, 0, 100, 0])
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_CDB
    assert result.sense[15] == 0xC0 | 0x08 | 0 and result.sense[16:18] == b"\x00\x01"
    result, _ = burner.run([0x53, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert result.sense[16:18] == b"\x00\x05"
    burner.set_params()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    assert burner.sense([0x53, 0, 0, 0, 0, 0, 0, 0, 100, 0]) == COMMAND_SEQUENCE_ERROR


def test_closing_a_reserved_track_pads_it(burner: Burner) -> None:
    burner.set_params()
    burner.ok([0x53, 0, 0, 0, 0, 0, 0, 0, 50, 0])
    assert burner.write(0, 20, data_blocks(20, 1)).status == 0
    burner.close(1, 1)
    assert burner.read(20, 30) == bytes(30 * 2048)
    assert burner.nwa() == 200


def test_a_link_in_the_track_file_place_is_not_followed(burner: Burner, tmp_path: Path) -> None:
    outside = tmp_path / "outside.bin"
    outside.write_bytes(b"keep")
    rec = burner.device.recording
    assert rec is not None
    (rec.folder / "track01.bin").symlink_to(outside)
    burner.set_params()
    result = burner.write(0, 1, bytes(2048))
    assert parse_sense(result.sense)[0] == WRITE_ERROR
    assert outside.read_bytes() == b"keep"


def test_a_link_named_in_the_state_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "discs"
    burner = Burner(root)
    burner.set_params()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    burner.sync()
    rec = burner.device.recording
    assert rec is not None
    outside = tmp_path / "big.bin"
    outside.write_bytes(bytes(10 * 2048 + 5))
    (rec.folder / "track01.bin").unlink()
    (rec.folder / "track01.bin").symlink_to(outside)
    with pytest.raises(ImageError, match=r"track01\.bin is not a regular file"):
        load_recording(rec.folder)
    assert outside.stat().st_size == 10 * 2048 + 5  # not truncated through the link


def test_xa_mode2_form1_track(burner: Burner) -> None:
    """Data block type 0Ah (MMC-6 table 647): what wodim -multi writes."""
    burner.set_params(dbtype=0x0A, multi=3)
    data = data_blocks(20, 4)
    assert burner.write(0, 20, data).status == 0
    burner.sync()
    burner.close(2)
    assert burner.read(0, 20) == data
    raw_sector = burner.data([0xBE, 0, 0, 0, 0, 3, 0, 0, 1, 0xF8, 0, 0], 2352)
    assert raw_sector[16:24] == bytes.fromhex("0000080000000800")
    assert raw_sector[24:2072] == data[3 * 2048 : 4 * 2048]
    assert raw_sector[2072:2076] != bytes(4)  # EDC generated
    toc = burner.data([0x43, 0, 2, 0, 0, 0, 0, 0, 64, 0])
    assert toc[4 + 3] == 0xA0 and toc[4 + 9] == 0x20  # point A0: CD-ROM XA disc
    rec = burner.device.recording
    assert rec is not None and "MODE2/2336" in (rec.folder / "disc.cue").read_text()


def test_scsi2_lun_bits_are_ignored(burner: Burner) -> None:
    """wodim (libusal) puts the LUN in byte 1 bits 7-5 of every CDB (SCSI-2)."""
    assert burner.run([0x00, 0x20, 0, 0, 0, 0])[0].status == 0
    assert burner.disc_info() == burner.data([0x51, 0x20, 0, 0, 0, 0, 0, 0, 34, 0])
    result, _ = burner.run([0x00, 0x10, 0, 0, 0, 0])  # bit 4 is still reserved
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_CDB
    assert result.sense[15] == 0xC0 | 0x08 | 4 and result.sense[16:18] == b"\x00\x01"


def test_new_media_event_when_the_session_closes_not_per_track(burner: Burner) -> None:
    burner.device.media_events.clear()
    burner.set_params()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    burner.sync()
    assert MediaEvent.NEW_MEDIA not in burner.device.media_events
    burner.close(2)
    assert MediaEvent.NEW_MEDIA in burner.device.media_events


def test_a_drive_name_cannot_leave_the_folder(tmp_path: Path) -> None:
    with pytest.raises(RecordingError):
        new_recording(tmp_path, "../x", BlankMedium.CD_R, 1000)
    assert not (tmp_path.parent / "x-001").exists()
