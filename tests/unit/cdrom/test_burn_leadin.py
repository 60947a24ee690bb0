"""Recording what cdrdao and wodim send beyond plain tracks: CD-TEXT in a Session At Once
lead-in, cdrdao's cue sheet (catalog entries first, data block type 03h), a reserved track
across a restart, and a disc taken out in the middle of a recording."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from devemu.cdrom.cdtext import read_cdtext
from devemu.cdrom.cue_sheet import parse_cue_sheet
from devemu.cdrom.device import CdromDevice, MediumRemovalPreventedError
from devemu.cdrom.image import load_image
from devemu.cdrom.leadin_text import (
    LeadInText,
    bytes_to_symbols,
    pack_valid,
    symbols_to_bytes,
)
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.msf import msf_to_lba
from devemu.cdrom.raw_write import SCRAMBLE_SEQUENCE, descramble
from devemu.cdrom.recording import Recording, current_recording, load_recording, new_recording
from devemu.cdrom.sector import mode1_sector
from devemu.cdrom.subchannel import crc16, q_subchannel, raw_pw
from devemu.errors import ImageError
from devemu.scsi.identity import Identity
from devemu.scsi.sense import (
    INVALID_ADDRESS_FOR_WRITE,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    MEDIUM_REMOVAL_PREVENTED,
    NOT_READY_TO_READY_CHANGE,
    parse_sense,
)
from tests.unit.cdrom.conftest import Drive
from tests.unit.cdrom.test_burn import Burner, _cue, data_blocks

#: The ATIP lead-in start of the blank CD-R (97:26:66) as an LBA.
LEADIN = msf_to_lba(97, 26, 66)


class RestartedBurner(Burner):
    """A new daemon's drive holding the disc it found in the folder."""

    def __init__(self, root: Path, rec: Recording) -> None:
        Drive.__init__(
            self,
            CdromDevice(
                Identity(product="VIRTUAL CDRW", serial="CDW001"), burn_root=root, name="cd0"
            ),
        )
        self.root = root
        self.device.insert(rec.disc(), rec)
        self.settle()


@pytest.fixture
def burner(tmp_path: Path) -> Burner:
    return Burner(tmp_path / "discs")


def pack(kind: int, track: int, seq: int, payload: bytes) -> bytes:
    body = bytes((kind, track, seq, 0)) + payload.ljust(12, b"\0")
    return body + (crc16(body) ^ 0xFFFF).to_bytes(2, "big")


#: Titles of the disc and its one track, then a size information pack.
PACKS = [
    pack(0x80, 0, 0, b"Album\0Song\0"),
    pack(0x81, 0, 1, b"Band\0Band\0"),
    pack(0x8F, 0, 2, bytes((0, 1, 1, 0))),
    pack(0x8F, 1, 3, bytes(12)),
]


def leadin_sectors(packs: list[bytes], count: int) -> bytes:
    """``count`` lead-in sectors cycling through ``packs``, four to a sector (as cdrdao)."""
    out = bytearray()
    i = 0
    for _ in range(count):
        chunk = b"".join(packs[(i + k) % len(packs)] for k in range(4))
        i += 4
        out += bytes_to_symbols(chunk)
    return bytes(out)


def test_symbols_round_trip_and_golden() -> None:
    """Each of the 96 bytes holds a 6-bit symbol; 72 bytes of packs go in, both ways."""
    data = bytes(range(72))
    symbols = bytes_to_symbols(data)
    assert len(symbols) == 96 and max(symbols) < 64
    # 00 01 02 -> 000000 000000 000100 000010
    assert symbols[:4] == bytes((0, 0, 4, 2))
    assert symbols_to_bytes(symbols) == data
    # P and Q bits a host may leave set above the symbols are ignored.
    assert symbols_to_bytes(bytes(b | 0xC0 for b in symbols)) == data


def test_leadin_text_keeps_each_valid_pack_once() -> None:
    text = LeadInText()
    bad = bytearray(PACKS[1])
    bad[5] ^= 1
    assert pack_valid(PACKS[1]) and not pack_valid(bytes(bad))
    text.add_sectors(leadin_sectors(PACKS, 5), 5)
    text.add_sectors(bytes_to_symbols(PACKS[0] + bytes(bad) + PACKS[2] + PACKS[3]), 1)
    assert text.data() == b"".join(PACKS)


def test_cue_sheet_catalog_entries_before_the_leadin_and_cdtext_flag() -> None:
    """cdrdao puts the catalog number (ADR 2) first; lead-in data form 41h is CD-TEXT."""
    sheet = _cue(
        [
            (0x02, 0x31, 0x32, 0x33, (0x34, 0x35, 0x36)),
            (0x02, 0x37, 0x38, 0x39, (0x30, 0x31, 0x00)),
            (0x01, 0x00, 0, 0x41, (97, 26, 66)),
            (0x01, 0x01, 0, 0x00, (0, 0, 0)),
            (0x01, 0x01, 1, 0x00, (0, 2, 0)),
            (0x01, 0xAA, 1, 0x01, (0, 6, 0)),
        ]
    )
    plan = parse_cue_sheet(sheet, first_track=1, first_lba=-150, sectors=20000)
    assert plan.leadin_text and plan.first == -150 and plan.leadout == 300
    plain = sheet[:16] + bytes((0x01, 0, 0, 0x01)) + sheet[20:]
    assert not parse_cue_sheet(plain, first_track=1, first_lba=-150, sectors=20000).leadin_text


def _audio(blocks: int) -> bytes:
    return bytes(range(256)) * (2352 * blocks // 256) + bytes(2352 * blocks % 256)


def _sao_with_text(burner: Burner) -> bytes:
    burner.set_params(write_type=2, dbtype=3, track_mode=0)
    sheet = _cue(
        [
            (0x01, 0x00, 0, 0x41, (97, 26, 66)),
            (0x01, 0x01, 0, 0x00, (0, 0, 0)),
            (0x01, 0x01, 1, 0x00, (0, 2, 0)),
            (0x01, 0xAA, 1, 0x01, (0, 6, 0)),
        ]
    )
    burner.ok([0x5D, 0, 0, 0, 0, 0, 0, 0, len(sheet), 0], sheet)
    leadin = burner.disc_info()[17:20]
    assert msf_to_lba(*leadin) == LEADIN
    total = -150 - LEADIN
    lba = LEADIN
    while lba < -150:
        n = min(500, -150 - lba)
        result = burner.out(struct.pack(">BBiBHB", 0x2A, 0, lba, 0, n, 0), leadin_sectors(PACKS, n))
        assert result.status == 0, parse_sense(result.sense)
        lba += n
    assert total > 10000
    assert burner.write(-150, 150, bytes(150 * 2352)).status == 0
    audio = _audio(300)
    assert burner.write(0, 300, audio).status == 0
    burner.sync()
    return audio


def test_sao_cdtext_in_the_leadin_is_kept_and_read_back(tmp_path: Path) -> None:
    """CD-TEXT written in the lead-in (data form 41h): kept as the CUE sheet's CDTEXTFILE,
    answered by READ TOC format 5, and there again after a restart."""
    root = tmp_path / "discs"
    burner = Burner(root)
    audio = _sao_with_text(burner)
    rec = burner.device.recording
    assert rec is not None and rec.finalized
    assert (rec.folder / "cdtext.bin").read_bytes() == b"".join(PACKS)
    assert rec.image_path.read_text().startswith('CDTEXTFILE "cdtext.bin"\n')
    toc5 = burner.data([0x43, 0, 0x05, 0, 0, 0, 0, 0x10, 0, 0])
    assert struct.unpack(">H", toc5[:2])[0] == len(PACKS) * 18 + 2
    assert toc5[4:] == b"".join(PACKS)
    assert read_cdtext(toc5[4:]) == {
        0: {"TITLE": "Album", "PERFORMER": "Band"},
        1: {"TITLE": "Song", "PERFORMER": "Band"},
    }
    disc = load_image(rec.image_path)
    try:
        assert disc.cdtext_packs == b"".join(PACKS)
    finally:
        disc.close()
    again = current_recording(root, "cd0")
    assert again is not None
    try:
        assert again.cdtext == b"".join(PACKS)
        assert (again.folder / "track01.bin").read_bytes() == audio
    finally:
        again.close()


def test_leadin_writes_out_of_order_or_sized_wrong_are_refused(burner: Burner) -> None:
    burner.set_params(write_type=2, dbtype=0, track_mode=0)
    sheet = _cue(
        [
            (0x01, 0x00, 0, 0x41, (0, 0, 0)),
            (0x01, 0x01, 0, 0x00, (0, 0, 0)),
            (0x01, 0x01, 1, 0x00, (0, 2, 0)),
            (0x01, 0xAA, 1, 0x01, (0, 6, 0)),
        ]
    )
    burner.ok([0x5D, 0, 0, 0, 0, 0, 0, 0, len(sheet), 0], sheet)
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, LEADIN + 4, 0, 4, 0), bytes(384))
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, LEADIN, 0, 4, 0), bytes(2352 * 4))
    assert sense[0] == INVALID_FIELD_IN_CDB


def test_lead_in_without_cdtext_is_not_writable(burner: Burner) -> None:
    burner.set_params(write_type=2, dbtype=0, track_mode=0)
    sheet = _cue(
        [
            (0x01, 0x00, 0, 0x01, (0, 0, 0)),
            (0x01, 0x01, 0, 0x00, (0, 0, 0)),
            (0x01, 0x01, 1, 0x00, (0, 2, 0)),
            (0x01, 0xAA, 1, 0x01, (0, 6, 0)),
        ]
    )
    burner.ok([0x5D, 0, 0, 0, 0, 0, 0, 0, len(sheet), 0], sheet)
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, LEADIN, 0, 4, 0), bytes(384))
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE


def test_data_block_type_03h_only_in_session_at_once(burner: Burner) -> None:
    page = burner.page05()
    page[2] = (page[2] & 0xF0) | 1
    page[4] = 3
    result = burner.select05(page)
    assert parse_sense(result.sense)[0] == INVALID_FIELD_IN_PARAMETER_LIST
    page[2] = (page[2] & 0xF0) | 2
    assert burner.select05(page).status == 0


def test_blanking_drops_the_cdtext(tmp_path: Path) -> None:
    burner = Burner(tmp_path / "discs", "cd-rw")
    _sao_with_text(burner)
    rec = burner.device.recording
    assert rec is not None
    burner.ok([0xA1, 0x01, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])
    assert rec.cdtext is None and not (rec.folder / "cdtext.bin").exists()
    assert "cdtext" not in json.loads((rec.folder / "state.json").read_text())


# --- a reserved track across a restart --------------------------------------------------


def test_reserved_track_survives_a_restart(tmp_path: Path) -> None:
    """The reservation is in the state from RESERVE TRACK on; what the last SYNCHRONIZE
    CACHE made durable is kept, later sectors are dropped, and READ TRACK INFORMATION
    answers after the restart as before it."""
    root = tmp_path / "discs"
    burner = Burner(root)
    burner.set_params()
    burner.ok([0x53, 0, 0, 0, 0, 0, 0, 0, 100, 0])
    # kill -9 right after the reservation: the reserved track is there, empty.
    early = current_recording(root, "cd0")
    assert early is not None and early.open_track is not None
    assert early.open_track.reserved == 100 and early.open_track.written == 0
    early.close()
    assert burner.write(0, 60, data_blocks(60, 1)).status == 0
    burner.sync()
    before = (burner.track_info(1), burner.track_info(0xFF), burner.disc_info())
    assert burner.write(60, 10, data_blocks(10, 9)).status == 0  # never synchronized
    # kill -9: a new daemon reads the folder.
    rec = current_recording(root, "cd0")
    assert rec is not None
    assert (rec.folder / "track01.bin").stat().st_size == 60 * 2048
    after = RestartedBurner(root, rec)
    after.set_params()
    assert (after.track_info(1), after.track_info(0xFF), after.disc_info()) == before
    assert after.track_info(1)[6] & 0x80  # RT: reserved
    assert after.write(60, 40, data_blocks(40, 2)).status == 0  # fills it: complete
    assert after.nwa() == 250
    assert after.read(0, 100) == data_blocks(60, 1) + data_blocks(40, 2)


def test_a_reserved_track_named_wrongly_in_the_state_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "discs"
    rec = new_recording(root, "cd0", BlankMedium.from_label("cd-r"), 20000)
    rec.close()
    state = json.loads((rec.folder / "state.json").read_text())
    state["reserved"] = {
        "number": 2,
        "session": 1,
        "mode": "MODE1/2048",
        "first": 0,
        "start": 0,
        "generated_pregap": 0,
        "blocks": 100,
        "written": 0,
    }
    (rec.folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(ImageError, match=r"reserved track 2 .* out of order"):
        load_recording(rec.folder)
    state["reserved"].update(number=1, blocks=30000)
    (rec.folder / "state.json").write_text(json.dumps(state))
    with pytest.raises(ImageError, match="does not fit the disc"):
        load_recording(rec.folder)


# --- a disc taken out in the middle of a recording ---------------------------------------


def _prevent(burner: Burner) -> None:
    burner.ok([0x1E, 0, 0, 0, 0x01, 0])


def test_control_eject_refused_while_prevented_mid_burn(burner: Burner) -> None:
    burner.set_params()
    _prevent(burner)
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    with pytest.raises(MediumRemovalPreventedError):
        burner.device.eject()
    assert burner.sense([0x1B, 0, 0, 0, 0x02, 0]) == MEDIUM_REMOVAL_PREVENTED
    assert burner.device.recording is not None and burner.device.medium is not None
    assert burner.write(10, 10, data_blocks(10, 2)).status == 0  # the burn goes on


def test_forced_swap_mid_track_is_told_to_the_writer(tmp_path: Path) -> None:
    """A forced removal mid-track: the old disc keeps only its completed tracks; on the new
    disc the first recording command gets UNIT ATTENTION 28/00 even after the kernel's TEST
    UNIT READY took the shared one, and a write at the old address is refused."""
    root = tmp_path / "discs"
    burner = Burner(root)
    burner.set_params(multi=3)
    assert burner.write(0, 40, data_blocks(40, 1)).status == 0
    burner.sync()
    _prevent(burner)
    assert burner.write(190, 20, data_blocks(20, 2)).status == 0
    old = burner.device.recording
    assert old is not None
    old_folder = old.folder
    burner.device.eject(force=True)
    new = new_recording(root, "cd0", BlankMedium.from_label("cd-r"), 20000)
    burner.device.insert(new.disc(), new)
    burner.settle()  # the kernel's polling takes the unit attention and BECOMING READY
    assert burner.sense([0x35, 0, 0, 0, 0, 0, 0, 0, 0, 0]) == NOT_READY_TO_READY_CHANGE
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, 210, 0, 1, 0), bytes(2048))
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE
    burner.sync()  # told once
    assert new.blank
    kept = load_recording(old_folder)
    try:
        assert [t.number for t in kept.tracks] == [1] and kept.session_open
        assert not (old_folder / "track02.bin").exists()
        disc = load_image(kept.image_path)
        try:
            assert disc.leadout == 40
        finally:
            disc.close()
    finally:
        kept.close()


def test_a_swap_between_burns_is_not_told_twice(tmp_path: Path) -> None:
    """Taking out a disc with nothing being written leaves the next recording alone."""
    root = tmp_path / "discs"
    burner = Burner(root)
    burner.set_params()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0
    burner.sync()
    burner.device.eject()
    new = new_recording(root, "cd0", BlankMedium.from_label("cd-r"), 20000)
    burner.device.insert(new.disc(), new)
    burner.settle()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0


# --- raw writing (write type 03h) ----------------------------------------------------------


def _raw_session(pw: bool, leadin: int) -> tuple[bytes, int, bytes, bytes]:
    """A raw session from ``leadin`` blocks before the first pregap: a Mode 1 track of 100
    blocks after its 150-block pregap, an audio track (150-block pregap, 150 blocks), 10
    blocks of lead-out; one Q frame in the data track a catalog number (ADR 2)."""
    data = data_blocks(100, 7)
    audio = _audio(150)
    sectors: list[tuple[bytes, bytes, bytes]] = []  # main, q, r-w
    text = b"".join(PACKS)
    for i in range(leadin):
        rw = bytes_to_symbols(text)  # four packs: one lead-in sector holds them all
        sectors.append((bytes(2352), q_subchannel(4, 0, 1, 0, -150 - leadin + i), rw))
    for lba in range(-150, 100):
        user = data[lba * 2048 : (lba + 1) * 2048] if lba >= 0 else bytes(2048)
        q = q_subchannel(4, 1, 0 if lba < 0 else 1, abs(lba), lba)
        if lba == 50:
            q = bytes((0x42,)) + b"1234567890123"[:9] + bytes(2)
        sectors.append((descramble(mode1_sector(lba, user)), q, bytes(96)))  # scrambled
    for lba in range(100, 400):
        main = bytes(2352) if lba < 250 else audio[(lba - 250) * 2352 : (lba - 249) * 2352]
        sectors.append((main, q_subchannel(0, 2, 0 if lba < 250 else 1, 0, lba), bytes(96)))
    for lba in range(400, 410):
        sectors.append((bytes(2352), q_subchannel(0, 0xAA, 1, lba - 400, lba), bytes(96)))
    out = bytearray()
    for main, q, rw in sectors:
        if pw:
            out += main + bytes(a | b for a, b in zip(raw_pw(q, False), rw, strict=True))
        else:
            out += main + q + bytes(4)
    return bytes(out), len(sectors), data, audio


@pytest.mark.parametrize("pw", [False, True], ids=["pq16", "raw-pw96"])
def test_raw_session_becomes_the_tracks_its_q_subchannel_names(tmp_path: Path, pw: bool) -> None:
    """Raw writing (MMC-6 7.5.4.3): tracks, pregaps and modes from the Q sub-channel; the
    user data of Mode 1 sectors and whole audio sectors kept; lead-in CD-TEXT (raw P-W)."""
    burner = Burner(tmp_path / "discs")
    burner.set_params(write_type=3, dbtype=3 if pw else 1, track_mode=4)
    leadin = 8
    stream, count, data, audio = _raw_session(pw, leadin)
    size = 2352 + (96 if pw else 16)
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, 0, 0, 1, 0), stream[:size])
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE  # a raw session starts before the pregap
    lba = -150 - leadin
    done = 0
    while done < count:
        n = min(27, count - done)
        chunk = stream[done * size : (done + n) * size]
        result = burner.out(struct.pack(">BBiBHB", 0x2A, 0, lba + done, 0, n, 0), chunk)
        assert result.status == 0, parse_sense(result.sense)
        done += n
    burner.sync()
    rec = burner.device.recording
    assert rec is not None and rec.finalized
    disc = load_image(rec.image_path)
    try:
        layout = [(t.number, t.mode.label, t.pregap, t.start, t.end) for t in disc.tracks]
        assert layout == [(1, "MODE1/2048", 0, 0, 100), (2, "AUDIO", 100, 250, 400)]
    finally:
        disc.close()
    assert burner.read(0, 100) == data
    assert (rec.folder / "track02.bin").read_bytes()[150 * 2352 :] == audio
    assert rec.cdtext == (b"".join(PACKS) if pw else None)


def test_scramble_sequence_golden() -> None:
    """ECMA-130 annex B: the sequence starts 01 80 00 60 00 28 00 1E; scrambling twice
    gives the sector back."""
    assert SCRAMBLE_SEQUENCE[:8] == bytes.fromhex("018000600028001e")
    assert len(SCRAMBLE_SEQUENCE) == 2340
    sector = bytes(mode1_sector(5, data_blocks(1, 3)))
    assert descramble(sector)[:12] == sector[:12] and descramble(sector) != sector
    assert descramble(descramble(sector)) == sector


def test_raw_data_block_types(burner: Burner) -> None:
    for write_type, dbtype, ok in ((3, 1, True), (3, 3, True), (3, 8, False), (1, 1, False)):
        page = burner.page05()
        page[2] = (page[2] & 0xF0) | write_type
        page[4] = dbtype
        assert (burner.select05(page).status == 0) == ok, (write_type, dbtype)


def test_raw_write_out_of_order_refused(burner: Burner) -> None:
    burner.set_params(write_type=3, dbtype=1, track_mode=4)
    stream, _, _, _ = _raw_session(False, 0)
    size = 2368
    assert (
        burner.out(struct.pack(">BBiBHB", 0x2A, 0, -150, 0, 2, 0), stream[: 2 * size]).status == 0
    )
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, -140, 0, 1, 0), stream[:size])
    assert sense[0] == INVALID_ADDRESS_FOR_WRITE
    sense = burner.out_sense(struct.pack(">BBiBHB", 0x2A, 0, -148, 0, 1, 0), stream[:2048])
    assert sense[0] == INVALID_FIELD_IN_CDB


def test_taking_out_a_disc_with_a_reserved_track_is_no_interruption(tmp_path: Path) -> None:
    root = tmp_path / "discs"
    burner = Burner(root)
    burner.set_params()
    burner.ok([0x53, 0, 0, 0, 0, 0, 0, 0, 100, 0])
    burner.device.eject()
    new = new_recording(root, "cd0", BlankMedium.from_label("cd-r"), 20000)
    burner.device.insert(new.disc(), new)
    burner.settle()
    assert burner.write(0, 10, data_blocks(10, 1)).status == 0


def test_mode_select_with_cdrdaos_zero_block_descriptor(burner: Burner) -> None:
    """cdrdao sends page 05h after an 8-byte block descriptor of zeros: passed over (an MMC
    drive has none to change); a descriptor of another length is still refused."""
    page = burner.page05()
    page[2] = (page[2] & 0xF0) | 2
    body = bytes(page[: page[1] + 2])
    plist = bytes((0, 0, 0, 0, 0, 0, 0, 8)) + bytes(8) + body
    result = burner.out([0x55, 0x10, 0, 0, 0, 0, 0, 0, len(plist), 0], plist)
    assert result.status == 0, parse_sense(result.sense)
    assert burner.page05()[2] & 0x0F == 2
    assert burner.data([0x5A, 0x00, 0x05, 0, 0, 0, 0, 0, 164, 0])[6:8] == b"\0\0"
    plist = bytes((0, 0, 0, 0, 0, 0, 0, 16)) + bytes(16) + body
    result = burner.out([0x55, 0x10, 0, 0, 0, 0, 0, 0, len(plist), 0], plist)
    sense = parse_sense(result.sense)
    assert sense[0] == INVALID_FIELD_IN_PARAMETER_LIST and result.sense[16:18] == b"\x00\x06"


def test_a_session_at_once_disc_of_back_to_back_tracks_loads_again(tmp_path: Path) -> None:
    """Session At Once tracks follow each other with no gap (track 2's pregap starts where
    track 1 ends): the state reads back after a restart."""
    root = tmp_path / "discs"
    burner = Burner(root)
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
    assert burner.write(-150, 150, bytes(150 * 2048)).status == 0
    assert burner.write(0, 150, data_blocks(150, 3)).status == 0
    assert burner.write(150, 300, _audio(300)).status == 0
    burner.sync()
    rec = current_recording(root, "cd0")
    assert rec is not None
    try:
        assert [(t.first, t.end) for t in rec.tracks] == [(0, 150), (150, 450)]
    finally:
        rec.close()
