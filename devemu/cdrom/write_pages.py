"""The Write Parameters mode page (05h), MMC-6 7.5, and what the drive accepts in it.

The page tells the drive how the next track is written: the write type
(Track At Once 01h, Session At Once 02h, raw 03h; Incremental 00h on
DVD and BD media; packet writing on CD is refused), the track mode (the
Q sub-channel CONTROL nibble: 4 data, 0 audio), the data block type (08h
Mode 1 of 2048 bytes, 00h raw audio of 2352 bytes, 0Ah CD-ROM XA Mode 2
form 1 of 2048 bytes, MMC-6 table 647),
whether a next session is allowed when this one closes (Multi-session
11b) or the disc is finalized (00b), the test write bit (the drive writes
nothing) and the audio pause length.

A MODE SELECT naming a write type or data block type the drive cannot
record is refused with INVALID FIELD IN PARAMETER LIST (MMC-6 7.5.1:
"the Drive shall check the parameters for validity"); wodim probes the
drive's write modes exactly that way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Int32ub, Struct

from devemu.cdrom.disc import TrackMode
from devemu.scsi.mode_pages import ModePage
from devemu.scsi.sense import INVALID_FIELD_IN_PARAMETER_LIST, SenseError

WRITE_PARAMETERS = 0x05


class WriteType(IntEnum):
    """MMC-6 table 644: Write Type."""

    PACKET = 0x00
    TRACK_AT_ONCE = 0x01
    SESSION_AT_ONCE = 0x02
    RAW = 0x03
    LAYER_JUMP = 0x04


class DataBlockType(IntEnum):
    """MMC-6 table 647: Data Block Type (the ones this drive records)."""

    RAW_2352 = 0x00
    #: Raw writing: 2352 bytes and 16 bytes of P-Q sub-channel (MMC-6 table 647).
    RAW_PQ_2368 = 0x01
    #: Raw data with raw P-W sub-channel, 2448 bytes: what cdrdao names for a Session At
    #: Once recording with CD-TEXT; accepted in SAO only, where the cue sheet's data forms
    #: say what each sector holds (MMC-6 7.5.4.9).
    RAW_PW_2448 = 0x03
    MODE1_2048 = 0x08
    #: CD-ROM XA Mode 2 form 1, 2048 bytes from the host; the sub-header is page
    #: bytes 48-51 (or a form 1 data sub-header when those are zero).
    MODE2_FORM1_2048 = 0x0A


#: Multi-session field (MMC-6 table 645): 00b no next session (finalize), 11b next allowed.
MULTISESSION_NONE = 0b00
MULTISESSION_NEXT = 0b11

#: MMC-6 table 643: Write Parameters mode page, the bytes after the page header.
WriteParametersPage = Struct(
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(1),
        "bufe" / Flag,
        "ls_v" / Flag,
        "test_write" / Flag,
        "write_type" / BitsInteger(4),
    ),
    "track"
    / BitStruct(
        "multi_session" / BitsInteger(2),
        "fp" / Flag,
        "copy" / Flag,
        "track_mode" / BitsInteger(4),
    ),
    "data_block_type" / BitStruct("reserved" / BitsInteger(4), "type" / BitsInteger(4)),
    "link_size" / Int8ub,
    "reserved" / Int8ub,
    "host_application_code" / BitStruct("reserved" / BitsInteger(2), "code" / BitsInteger(6)),
    "session_format" / Int8ub,
    "reserved2" / Int8ub,
    "packet_size" / Int32ub,
    "audio_pause_length" / Int16ub,
    "media_catalog_number" / Bytes(16),
    "isrc" / Bytes(16),
    "subheader" / Bytes(4),
)

PAGE_LENGTH = WriteParametersPage.sizeof()


@dataclass(frozen=True, slots=True)
class WriteParameters:
    """The decoded fields of page 05h the recording logic uses."""

    write_type: int
    test_write: bool
    multi_session: int
    track_mode: int
    data_block_type: int
    audio_pause_length: int

    @property
    def track_at_once(self) -> bool:
        return self.write_type == WriteType.TRACK_AT_ONCE

    @property
    def session_at_once(self) -> bool:
        return self.write_type == WriteType.SESSION_AT_ONCE

    @property
    def raw(self) -> bool:
        return self.write_type == WriteType.RAW

    @property
    def next_session_allowed(self) -> bool:
        return self.multi_session == MULTISESSION_NEXT

    subheader: bytes = b"\0\0\0\0"

    @property
    def mode(self) -> TrackMode:
        """The track mode a TAO write records (from the data block type): audio,
        Mode 1, or Mode 2 kept as 2336 bytes a sector (sub-header, data, EDC/ECC)."""
        if self.data_block_type == DataBlockType.RAW_2352:
            return TrackMode.AUDIO
        if self.data_block_type == DataBlockType.MODE2_FORM1_2048:
            return TrackMode.MODE2_2336
        return TrackMode.MODE1_2048


def decode(body: bytes) -> WriteParameters:
    page = WriteParametersPage.parse(body)
    return WriteParameters(
        write_type=page.flags.write_type,
        test_write=page.flags.test_write,
        multi_session=page.track.multi_session,
        track_mode=page.track.track_mode,
        data_block_type=page.data_block_type.type,
        audio_pause_length=page.audio_pause_length,
        subheader=bytes(page.subheader),
    )


def default_body() -> bytes:
    """TAO, data track, Mode 1, no next session, 150-frame audio pause."""
    out: bytes = WriteParametersPage.build(
        {
            "flags": {
                "reserved": 0,
                "bufe": False,
                "ls_v": False,
                "test_write": False,
                "write_type": WriteType.TRACK_AT_ONCE,
            },
            "track": {"multi_session": 0, "fp": False, "copy": False, "track_mode": 4},
            "data_block_type": {"reserved": 0, "type": DataBlockType.MODE1_2048},
            "link_size": 0,
            "reserved": 0,
            "host_application_code": {"reserved": 0, "code": 0},
            "session_format": 0,
            "reserved2": 0,
            "packet_size": 0,
            "audio_pause_length": 150,
            "media_catalog_number": bytes(16),
            "isrc": bytes(16),
            "subheader": bytes(4),
        }
    )
    return out


#: Changeable bits: every field but the reserved ones.
CHANGEABLE = bytes([0x7F, 0xFF, 0x0F, 0xFF, 0x00, 0x3F, 0xFF, 0x00]) + b"\xff" * (PAGE_LENGTH - 8)

#: Session formats (MMC-6 table 648): CD-DA/CD-ROM, CD-I, CD-ROM XA.
SESSION_FORMATS = (0x00, 0x10, 0x20)


def check(body: bytes, *, incremental: bool = False) -> None:
    """Refuse a page the drive cannot record with (MMC-6 7.5.1).

    Packet writing on a CD, data block types other than 00h, 08h and 0Ah
    for Track At Once, raw writing with other than 01h or 03h (raw data with
    P-Q or raw P-W sub-channel; 03h is accepted in Session At Once too) and
    unknown session formats are INVALID FIELD IN PARAMETER LIST. With
    ``incremental`` (a DVD or BD is loaded) write type 00h is Incremental
    recording (MMC-6 table 644, DVD-R) and taken.
    """
    params = decode(body)
    allowed = {WriteType.TRACK_AT_ONCE, WriteType.SESSION_AT_ONCE, WriteType.RAW}
    if incremental:
        allowed.add(WriteType.PACKET)
    if params.write_type not in allowed:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST)
    if params.data_block_type not in tuple(DataBlockType):
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST)
    raw_types = (DataBlockType.RAW_PQ_2368, DataBlockType.RAW_PW_2448)
    sao_with_pw = params.session_at_once and params.data_block_type == DataBlockType.RAW_PW_2448
    if params.raw != (params.data_block_type in raw_types) and not sao_with_pw:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST)
    if params.multi_session not in (MULTISESSION_NONE, MULTISESSION_NEXT, 0b01):
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST)
    if body[6] not in SESSION_FORMATS:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST)


def make_page(incremental: Callable[[], bool] = lambda: False) -> ModePage:
    """Page 05h with its defaults, mask and check; ``incremental`` says whether the
    loaded medium is written incrementally (a DVD or BD)."""

    def on_change(body: bytes) -> None:
        check(body, incremental=incremental())

    return ModePage(WRITE_PARAMETERS, default_body(), CHANGEABLE, on_change=on_change)
