"""Table of contents and disc/track information: READ TOC/PMA/ATIP (formats
0, 1, 2, 5), READ DISC INFORMATION, READ TRACK INFORMATION (MMC-6 6.26,
6.22, 6.27).

Addresses are LBAs or, with the MSF bit, (0, M, S, F) in binary (MMC-6
table 15). A DVD or BD has a fabricated TOC of one track (MMC-6 6.26.2).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int8ub, Int16ub, Int32ub, Padding, Struct

from devemu.cdrom.cdtext import cdtext_packs
from devemu.cdrom.disc import Disc, Session, Track
from devemu.cdrom.msf import lba_to_msf, msf_bytes
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

LEADOUT = 0xAA
ADR_Q_POSITION = 0x10
ADR_MODE5 = 0x50
#: Outermost lead-out start of a 80-minute disc, for point B0.
MAX_LEADOUT = (79, 59, 74)

#: MMC-6 table 477: TOC track descriptor (format 0000b).
TocTrackDescriptor = Struct(
    Padding(1),
    "adr_control" / Int8ub,
    "track" / Int8ub,
    Padding(1),
    "address" / Int32ub,
)

#: MMC-6 table 482: full TOC track descriptor (format 0010b).
FullTocDescriptor = Struct(
    "session" / Int8ub,
    "adr_control" / Int8ub,
    "tno" / Int8ub,
    "point" / Int8ub,
    "min" / Int8ub,
    "sec" / Int8ub,
    "frame" / Int8ub,
    "zero" / Int8ub,
    "pmin" / Int8ub,
    "psec" / Int8ub,
    "pframe" / Int8ub,
)

#: MMC-6 table 506: disc information block (standard).
DiscInformation = Struct(
    "length" / Int16ub,
    "status" / Int8ub,
    "first_track" / Int8ub,
    "sessions_lsb" / Int8ub,
    "first_track_last_session_lsb" / Int8ub,
    "last_track_last_session_lsb" / Int8ub,
    "flags" / Int8ub,
    "disc_type" / Int8ub,
    "sessions_msb" / Int8ub,
    "first_track_last_session_msb" / Int8ub,
    "last_track_last_session_msb" / Int8ub,
    "disc_id" / Int32ub,
    "last_leadin" / Int32ub,
    "last_leadout" / Int32ub,
    "bar_code" / Int32ub[2],
    "application_code" / Int8ub,
    "opc_tables" / Int8ub,
)

#: MMC-6 table 544: track information block.
TrackInformation = Struct(
    "length" / Int16ub,
    "track_lsb" / Int8ub,
    "session_lsb" / Int8ub,
    Padding(1),
    "track_mode" / Int8ub,
    "data_mode" / Int8ub,
    "valid" / Int8ub,
    "start" / Int32ub,
    "next_writable" / Int32ub,
    "free_blocks" / Int32ub,
    "packet_size" / Int32ub,
    "size" / Int32ub,
    "last_recorded" / Int32ub,
    "track_msb" / Int8ub,
    "session_msb" / Int8ub,
    Padding(2),
    "read_compatibility" / Int32ub,
    "next_layer_jump" / Int32ub,
    "last_layer_jump" / Int32ub,
)

#: READ TOC/PMA/ATIP format 0100b: the ATIP of a recordable CD.
ATIP = 0x04
#: READ DISC INFORMATION status: last session complete (11b), disc complete (10b).
DISC_COMPLETE = 0x0E


def address(lba: int, msf: bool) -> int:
    return int.from_bytes(msf_bytes(lba), "big") if msf else lba & 0xFFFFFFFF


def _header(body: bytes, first: int, last: int) -> bytes:
    return (len(body) + 2).to_bytes(2, "big") + bytes((first, last)) + body


def toc_format0(disc: Disc, start: int, msf: bool) -> bytes:
    """Formatted TOC, MMC-6 6.26.3.2."""
    tracks = disc.tracks
    last = tracks[-1]
    if start == 0:
        start = 1
    if start != LEADOUT and start > last.number:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
    entries = [
        TocTrackDescriptor.build(
            {
                "adr_control": ADR_Q_POSITION | t.control,
                "track": t.number,
                "address": address(t.start, msf),
            }
        )
        for t in tracks
        if start != LEADOUT and t.number >= start
    ]
    entries.append(
        TocTrackDescriptor.build(
            {
                "adr_control": ADR_Q_POSITION | last.control,
                "track": LEADOUT,
                "address": address(disc.leadout, msf),
            }
        )
    )
    return _header(b"".join(entries), tracks[0].number, last.number)


def toc_format1(disc: Disc, msf: bool) -> bytes:
    """Multi-session information, MMC-6 6.26.3.3: the first track of the last session."""
    first = disc.sessions[-1].first_track
    entry: bytes = TocTrackDescriptor.build(
        {
            "adr_control": ADR_Q_POSITION | first.control,
            "track": first.number,
            "address": address(first.start, msf),
        }
    )
    return _header(entry, 1, len(disc.sessions))


def _full(
    session: int,
    adr_control: int,
    point: int,
    pmsf: tuple[int, int, int],
    *,
    amsf: tuple[int, int, int] = (0, 0, 0),
    zero: int = 0,
) -> bytes:
    out: bytes = FullTocDescriptor.build(
        {
            "session": session,
            "adr_control": adr_control,
            "tno": 0,
            "point": point,
            "min": amsf[0],
            "sec": amsf[1],
            "frame": amsf[2],
            "zero": zero,
            "pmin": pmsf[0],
            "psec": pmsf[1],
            "pframe": pmsf[2],
        }
    )
    return out


def _msf(lba: int) -> tuple[int, int, int]:
    m, s, f = lba_to_msf(lba)
    return (m, s, f)


def _session_entries(disc: Disc, s: Session) -> list[bytes]:
    first, last = s.first_track, s.last_track
    out = [
        _full(s.number, ADR_Q_POSITION | first.control, 0xA0, (first.number, s.disc_type, 0)),
        _full(s.number, ADR_Q_POSITION | last.control, 0xA1, (last.number, 0, 0)),
        _full(s.number, ADR_Q_POSITION | last.control, 0xA2, _msf(s.leadout)),
    ]
    out += [_full(s.number, ADR_Q_POSITION | t.control, t.number, _msf(t.start)) for t in s.tracks]
    if s.number < len(disc.sessions):
        nxt = disc.sessions[s.number].first_track
        out.append(_full(s.number, ADR_MODE5, 0xB0, MAX_LEADOUT, amsf=_msf(nxt.pregap), zero=1))
    return out


def toc_format2(disc: Disc, first_session: int) -> bytes:
    """Full TOC (raw Q of the lead-ins), MMC-6 6.26.3.4: points A0, A1, A2, tracks, B0."""
    if first_session == 0:
        first_session = 1
    if first_session > len(disc.sessions):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
    entries = [e for s in disc.sessions[first_session - 1 :] for e in _session_entries(disc, s)]
    return _header(b"".join(entries), 1, len(disc.sessions))


def toc_format5(disc: Disc) -> bytes:
    """CD-TEXT, MMC-6 6.26.3.7: the packs after a 4-byte header."""
    packs = cdtext_packs(disc)
    return (len(packs) + 2).to_bytes(2, "big") + b"\0\0" + packs


def read_toc(
    device: CdromDevice,
    cmd: Command,
    msf: int,
    format: int,
    track_session_number: int,
    allocation_length: int,
    vendor_format: int,
) -> int:
    """READ TOC/PMA/ATIP, MMC-6 6.26: formats 0, 1, 2 and 5.

    With FORMAT 0, a non-zero ``vendor_format`` (bits 7-6 of the control
    byte, the format field of SFF-8020i) chooses the format.
    """
    disc = device.ready_disc()
    fmt = format
    if fmt == 0 and vendor_format:
        fmt = vendor_format
    cd = device.profile.is_cd
    rec = device.recording
    if fmt == ATIP and rec is not None and rec.medium.is_cd:
        return cmd.data_in(recordable_info.atip(rec), allocation_length)
    if not disc.sessions:
        # A blank disc has no TOC (MMC-6 6.26.2.1): the format cannot be given.
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 3))
    if fmt == 0:
        data = toc_format0(disc, track_session_number, bool(msf))
    elif fmt == 1:
        data = toc_format1(disc, bool(msf))
    elif fmt == 2 and cd:
        data = toc_format2(disc, track_session_number)
    elif fmt == 5 and cd:
        data = toc_format5(disc)
    else:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 3))
    return cmd.data_in(data, allocation_length)


def read_disc_information(
    device: CdromDevice, cmd: Command, data_type: int, allocation_length: int
) -> int:
    """READ DISC INFORMATION, MMC-6 6.22: a complete, finalized disc."""
    if data_type:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 2))
    disc = device.ready_disc()
    rec = device.recording
    if rec is not None and rec.random_access:
        return cmd.data_in(overwrite.disc_information(rec), allocation_length)
    if rec is not None:
        return cmd.data_in(recordable_info.disc_information(rec), allocation_length)
    last = disc.sessions[-1]
    sessions = len(disc.sessions)
    data = DiscInformation.build(
        {
            "length": DiscInformation.sizeof() - 2,
            "status": DISC_COMPLETE,
            "first_track": disc.first_track.number,
            "sessions_lsb": sessions & 0xFF,
            "first_track_last_session_lsb": last.first_track.number,
            "last_track_last_session_lsb": last.last_track.number,
            "flags": 0,
            "disc_type": disc.sessions[0].disc_type if device.profile.is_cd else 0,
            "sessions_msb": sessions >> 8,
            "first_track_last_session_msb": 0,
            "last_track_last_session_msb": 0,
            "disc_id": 0,
            "last_leadin": 0xFFFFFFFF,
            "last_leadout": 0xFFFFFFFF,
            "bar_code": [0, 0],
            "application_code": 0,
            "opc_tables": 0,
        }
    )
    return cmd.data_in(data, allocation_length)


def _track_for(disc: Disc, kind: int, value: int) -> Track:
    if kind == 0:
        found = disc.track_at(value)
        if found is None:
            raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=value)
        return found
    if kind == 1:
        found = disc.track(value)
        if found is None:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
        return found
    if kind == 2:
        if not 1 <= value <= len(disc.sessions):
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
        return disc.sessions[value - 1].first_track
    raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 1))


def read_track_information(
    device: CdromDevice, cmd: Command, address_type: int, address: int, allocation_length: int
) -> int:
    """READ TRACK INFORMATION, MMC-6 6.27: a recorded, complete track (or, on a
    recordable disc, the invisible track: :mod:`devemu.cdrom.recordable_info`)."""
    disc = device.ready_disc()
    rec = device.recording
    if rec is not None and rec.random_access:
        if not overwrite.names_track(rec, address_type, address):
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
        return cmd.data_in(overwrite.track_information(rec), allocation_length)
    if rec is not None and recordable_info.is_invisible(rec, address_type, address):
        return cmd.data_in(
            recordable_info.invisible_track(device, rec, address_type, address),
            allocation_length,
        )
    track = _track_for(disc, address_type, address)
    session = disc.session_of(track)
    following = [t for t in session.tracks if t.number > track.number]
    end = following[0].pregap if following else session.leadout
    size = end - track.start
    data = TrackInformation.build(
        {
            "length": TrackInformation.sizeof() - 2,
            "track_lsb": track.number,
            "session_lsb": track.session,
            "track_mode": track.control,
            "data_mode": track.mode.data_mode,
            "valid": 0,
            "start": track.start,
            "next_writable": 0,
            "free_blocks": 0,
            "packet_size": 0,
            "size": size,
            "last_recorded": end - 1,
            "track_msb": 0,
            "session_msb": 0,
            "read_compatibility": 0,
            "next_layer_jump": 0,
            "last_layer_jump": 0,
        }
    )
    return cmd.data_in(data, allocation_length)


# Imported last: it builds on this module's structures (DiscInformation, TrackInformation).
from devemu.cdrom import overwrite, recordable_info  # noqa: E402
