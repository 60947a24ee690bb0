"""What a recordable disc reports: READ DISC INFORMATION, READ TRACK INFORMATION
of the invisible track, and the ATIP (MMC-6 6.22, 6.27, 6.26.3.6).

Disc status (MMC-6 table 509): empty (00b) with nothing written,
incomplete (01b) while it can be appended to, complete (10b) once
finalized. The state of the last session: empty (00b) when the next
session has no track yet, incomplete (01b) while its tracks are being
written, complete (11b) on a finalized disc. The number of sessions and
the last track of the last session count the empty or incomplete
session and its invisible track (MMC-6 6.22.3.1.5-7).

On a CD, the last session's lead-in start and the last possible
lead-out start are MSF addresses (0, M, S, F): the lead-in of the next
session (the ATIP lead-in start of a blank disc) and the capacity
(MMC-6 6.22.3.1.11-12); FFFFFFFFh on a complete disc. On a DVD or BD
they are LBAs: the start of the last session and the capacity.

The invisible track (READ TRACK INFORMATION of track FFh, MMC-6
6.27.3.1) is the next track to be written: Blank and NWA_V set, its
start and next writable address the address the next Track-At-Once
write must use, its free blocks the rest of the disc. While a track is
being written it is that track: not blank, its next writable address
after its last written block.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Array, BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Struct

from devemu.cdrom.disc import DEFAULT_PREGAP, LEADIN_LENGTH
from devemu.cdrom.msf import msf_bytes, msf_to_lba
from devemu.cdrom.recording import OpenTrack, Recording
from devemu.cdrom.toc import DiscInformation, TrackInformation
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

#: Disc status (MMC-6 table 509).
DISC_EMPTY = 0b00
DISC_INCOMPLETE = 0b01
DISC_COMPLETE = 0b10
#: State of the last session (MMC-6 table 510).
SESSION_EMPTY = 0b00
SESSION_INCOMPLETE = 0b01
SESSION_COMPLETE = 0b11
#: Disc information byte 2 bit 4: erasable.
ERASABLE = 0x10
#: Byte 7 bit 4: URU, unrestricted use (MMC-6 6.22.3.1.8).
URU = 0x10
#: Track information byte 6 (MMC-6 table 545): RT (reserved track), Blank.
TRACK_RESERVED = 0x80
TRACK_BLANK = 0x40
#: Byte 7: NWA_V.
NWA_VALID = 0x01
#: A typical ATIP lead-in start of CD-R media: 97:26:66 (a manufacturer's code, ECMA-394).
ATIP_LEADIN = (97, 26, 66)
#: MMC-6 table 491: ATIP descriptor (after the 4-byte header).
AtipDescriptor = Struct(
    "writing_power" / Int8ub,
    "uru" / Int8ub,
    "disc"
    / BitStruct(
        "one" / Flag,
        "erasable" / Flag,
        "sub_type" / BitsInteger(3),
        "a1_valid" / Flag,
        "a2_valid" / Flag,
        "a3_valid" / Flag,
    ),
    "reserved" / Int8ub,
    "leadin" / Array(3, Int8ub),
    "reserved2" / Int8ub,
    "leadout" / Array(3, Int8ub),
    "reserved3" / Int8ub,
    "a1" / Array(4, Int8ub),
    "a2" / Array(4, Int8ub),
    "a3" / Array(4, Int8ub),
    "s4" / Array(4, Int8ub),
)
AtipHeader = Struct("length" / Int16ub, "reserved" / Int16ub)
#: ATIP byte 4: bit 7 one, indicative target writing power 5, reference speed 2 (MMC-6 table 491).
ATIP_WRITING_POWER = 0x80 | (5 << 4) | 2


def disc_status(rec: Recording) -> tuple[int, int]:
    """(disc status, state of the last session)."""
    if rec.finalized:
        return DISC_COMPLETE, SESSION_COMPLETE
    if rec.blank:
        return DISC_EMPTY, SESSION_EMPTY
    return DISC_INCOMPLETE, SESSION_INCOMPLETE if rec.session_open else SESSION_EMPTY


def _msf_field(lba: int) -> int:
    return int.from_bytes(msf_bytes(lba), "big")


def leadin_start(rec: Recording) -> int:
    """LBA of the lead-in of the session to be written: the ATIP lead-in start on a blank
    disc, else 4500 blocks and a pregap before the next track (MMC-6 6.22.3.1.11)."""
    if rec.blank:
        return msf_to_lba(*ATIP_LEADIN)
    nwa = rec.next_writable
    start = nwa if nwa is not None else rec.sectors
    return start - DEFAULT_PREGAP - LEADIN_LENGTH


def disc_information(rec: Recording) -> bytes:
    """The disc information block of a recordable CD (MMC-6 table 506)."""
    status, session_state = disc_status(rec)
    sessions = rec.sessions
    last_session_tracks = [t for t in rec.tracks if t.session == sessions]
    if rec.finalized:
        first_last = last_session_tracks[0].number
        last_last = last_session_tracks[-1].number
        leadin = leadout = 0xFFFFFFFF
    else:
        first_last = last_session_tracks[0].number if last_session_tracks else rec.next_track_number
        last_last = rec.next_track_number if rec.open_track is None else rec.open_track.number
        nwa = rec.next_writable
        start = nwa if nwa is not None else rec.sectors
        if not rec.medium.is_cd:
            # DVD and BD: LBAs, the last session's start and the capacity (MMC-6 6.22.3.1.11-12).
            leadin = last_session_tracks[0].start if last_session_tracks else start
            leadout = rec.sectors
        else:
            leadin = _msf_field(leadin_start(rec))
            leadout = _msf_field(rec.sectors)
    return disc_information_block(
        status=(ERASABLE if rec.medium.erasable else 0) | (session_state << 2) | status,
        sessions=sessions,
        first_last=first_last,
        last_last=last_last,
        flags=URU,
        leadin=leadin,
        leadout=leadout,
    )


def disc_information_block(
    *,
    status: int,
    sessions: int,
    first_last: int,
    last_last: int,
    flags: int,
    leadin: int,
    leadout: int,
) -> bytes:
    """The disc information block (MMC-6 6.22.3.1, table 506) of a recordable disc: its
    status byte (erasable, state of the last session, disc status), session count, first
    and last track of the last session, flags byte 7 (URU, BG format status), last
    lead-in start and last possible lead-out start."""
    out: bytes = DiscInformation.build(
        {
            "length": DiscInformation.sizeof() - 2,
            "status": status,
            "first_track": 1,
            "sessions_lsb": sessions & 0xFF,
            "first_track_last_session_lsb": first_last & 0xFF,
            "last_track_last_session_lsb": last_last & 0xFF,
            "flags": flags,
            "disc_type": 0,
            "sessions_msb": sessions >> 8,
            "first_track_last_session_msb": first_last >> 8,
            "last_track_last_session_msb": last_last >> 8,
            "disc_id": 0,
            "last_leadin": leadin,
            "last_leadout": leadout,
            "bar_code": [0, 0],
            "application_code": 0,
            "opc_tables": 0,
        }
    )
    return out


def invisible_track(device: CdromDevice, rec: Recording, address_type: int, address: int) -> bytes:
    """READ TRACK INFORMATION of the track being or to be written (MMC-6 6.27.3.1), or
    of a reserved track (RT set, its free blocks what is left of the reservation)."""
    nwa = rec.next_writable
    if nwa is None:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
    params = device.write_parameters()
    open_track = rec.open_track
    if device.sao is not None:
        nwa = device.sao.next
    flags = 0
    if (
        open_track is not None
        and open_track.reserved
        and not _names_open(open_track, address_type, address)
    ):
        open_track = None  # the invisible track after the reserved one
        nwa = rec.invisible_start()
    if open_track is not None:
        number, start, mode = open_track.number, open_track.start, open_track.mode
        nwa = open_track.next_address
        if open_track.reserved:
            flags = TRACK_RESERVED | (TRACK_BLANK if not open_track.written else 0)
        size = open_track.reserved or rec.sectors - start
        free = (
            open_track.reserved - open_track.written if open_track.reserved else rec.sectors - nwa
        )
    else:
        number, start, mode = rec.next_track_number, nwa, rec.write_mode(params.mode)
        if rec.open_track is not None:
            number = rec.open_track.number + 1
        flags = TRACK_BLANK
        size = rec.sectors - start
        free = rec.sectors - nwa
    control = 0 if mode.is_audio else 0x04
    out: bytes = TrackInformation.build(
        {
            "length": TrackInformation.sizeof() - 2,
            "track_lsb": number & 0xFF,
            "session_lsb": rec.session & 0xFF,
            "track_mode": control,
            "data_mode": flags | mode.data_mode,
            "valid": NWA_VALID,
            "start": start & 0xFFFFFFFF,
            "next_writable": nwa & 0xFFFFFFFF,
            "free_blocks": max(0, free),
            "packet_size": 0,
            "size": size,
            "last_recorded": (nwa - 1) & 0xFFFFFFFF
            if open_track is not None and open_track.written
            else 0,
            "track_msb": number >> 8,
            "session_msb": rec.session >> 8,
            "read_compatibility": 0,
            "next_layer_jump": 0,
            "last_layer_jump": 0,
        }
    )
    return out


def _names_open(track: OpenTrack, address_type: int, address: int) -> bool:
    """The request names the open (reserved) track: its number, or an LBA in it."""
    if address_type == 1:
        return address == track.number
    if address_type == 0:
        return track.first <= address < track.start + track.reserved
    return False


def is_invisible(rec: Recording, address_type: int, address: int) -> bool:
    """The request names the invisible track (track FFh, its number, an LBA in it) or
    the track being written or reserved."""
    if rec.finalized:
        return False
    number = rec.open_track.number if rec.open_track is not None else rec.next_track_number
    if address_type == 1:
        return address in (0xFF, number) or (
            rec.open_track is not None and bool(rec.open_track.reserved) and address == number + 1
        )
    if address_type == 0:
        nwa = rec.next_writable
        if nwa is None:
            return False
        first = rec.open_track.first if rec.open_track is not None else nwa
        return first <= address < rec.sectors
    if address_type == 2:
        return address == rec.session and not any(t.session == rec.session for t in rec.tracks)
    return False


def atip(rec: Recording) -> bytes:
    """READ TOC/PMA/ATIP format 0100b (MMC-6 6.26.3.6): the pre-groove's information."""
    m, s, f = msf_bytes(rec.sectors)[1:]
    body: bytes = AtipDescriptor.build(
        {
            "writing_power": ATIP_WRITING_POWER,
            "uru": 0x40,
            "disc": {
                "one": True,
                "erasable": rec.medium.erasable,
                "sub_type": 0,
                "a1_valid": False,
                "a2_valid": False,
                "a3_valid": False,
            },
            "reserved": 0,
            "leadin": list(ATIP_LEADIN),
            "reserved2": 0,
            "leadout": [m, s, f],
            "reserved3": 0,
            "a1": [0, 0, 0, 0],
            "a2": [0, 0, 0, 0],
            "a3": [0, 0, 0, 0],
            "s4": [0, 0, 0, 0],
        }
    )
    head: bytes = AtipHeader.build({"length": len(body) + 2, "reserved": 0})
    return head + body
