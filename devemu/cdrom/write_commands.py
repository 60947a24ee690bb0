"""Recording commands: WRITE (10)/(12), SYNCHRONIZE CACHE, CLOSE TRACK/SESSION,
RESERVE TRACK, SEND CUE SHEET, BLANK, READ BUFFER CAPACITY, SEND OPC INFORMATION and SET
STREAMING (MMC-6 6.47, 6.48, 6.41, 6.3, 6.32, 6.33, 6.2, 6.21, 6.35, 6.40).

Write-once rules (MMC-6 4.5.3): a CD-R or CD-RW written Track At Once
takes data only at the next writable address of the invisible track
(READ TRACK INFORMATION); a write anywhere else is ILLEGAL REQUEST,
INVALID ADDRESS FOR WRITE (21/02) with the LBA in the INFORMATION field,
as is any write to a finalized disc. Session At Once writes follow the
cue sheet from the first track's pregap to the lead-out, in order.

A disc taken out (a forced control ``eject`` or ``insert``) while a
track or a Session At Once recording was being written on it leaves the
recording program writing to a disc that is gone. The medium change is
posted as a unit attention (28/00) like any other, but on Linux the
kernel's media polling (TEST UNIT READY) shares the program's I_T nexus
and takes it first; so the next recording command (WRITE, SYNCHRONIZE
CACHE, CLOSE TRACK/SESSION, RESERVE TRACK, SEND CUE SHEET) is itself
terminated with UNIT ATTENTION, NOT READY TO READY CHANGE, MEDIUM MAY
HAVE CHANGED (SPC-5 5.14, MMC-6 4.1.6), once: the program learns its
recording was cut instead of closing a track on the new disc. A write at
the old next writable address of the new disc is refused anyway (21/02).

Track At Once: the first WRITE at the next writable address opens a
track in the mode the Write Parameters page names; SYNCHRONIZE CACHE or
CLOSE TRACK completes it (MMC-6 6.41.3: in TAO the cache flush closes
the track, which is what wodim relies on); CLOSE SESSION closes the
session, finalizing the disc unless page 05h allows a next session.

With the Test Write bit of page 05h set, writes are accepted and
recorded nowhere (MMC-6 7.5.4.4), like a real drive's laser at reading
power.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import TYPE_CHECKING

from construct import Int8ub, Int16ub, Int32ub, Padding, Struct

from devemu.cdrom import overwrite, pages
from devemu.cdrom import sector as raw
from devemu.cdrom.cue_sheet import SaoPlan, parse_cue_sheet
from devemu.cdrom.disc import DEFAULT_PREGAP, TrackMode
from devemu.cdrom.leadin_text import SECTOR_BYTES, LeadInText
from devemu.cdrom.media import BlankMedium
from devemu.cdrom.raw_write import (
    LEAD_OUT,
    RawWrite,
    descramble,
    kept_bytes,
    q_position,
    track_mode,
)
from devemu.cdrom.recordable_info import leadin_start
from devemu.cdrom.recording import MAX_TRACKS, Recording, host_size
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT,
    COMMAND_SEQUENCE_ERROR,
    INVALID_ADDRESS_FOR_WRITE,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    NOT_READY_TO_READY_CHANGE,
    PARAMETER_LIST_LENGTH_ERROR,
    WRITE_ERROR,
    SenseError,
    cdb_field,
    param_field,
)

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

#: CD-ROM XA sub-header submode bit 3: data (ECMA-130 / CD-ROM XA); a page 05h sub-header
#: without it (all zeros, as wodim sends) gets the form 1 data sub-header instead.
SUBMODE_DATA = 0x08
#: Bytes of the drive's write buffer (READ BUFFER CAPACITY, page 2Ah).
BUFFER_BYTES = pages.BUFFER_KB * 1024

#: MMC-6 table 385: READ BUFFER CAPACITY data, Block bit 0.
BufferCapacityBytes = Struct(
    "data_length" / Int16ub,
    Padding(2),
    "buffer_length" / Int32ub,
    "blank_length" / Int32ub,
)
#: MMC-6 table 386: READ BUFFER CAPACITY data, Block bit 1.
BufferCapacityBlocks = Struct(
    "data_length" / Int16ub,
    Padding(1),
    "block" / Int8ub,
    Padding(4),
    "available_blocks" / Int32ub,
)
#: MMC-6 table 616: the performance descriptor of SET STREAMING (type 00h).
StreamingDescriptor = Struct(
    "flags" / Int8ub,
    Padding(3),
    "start_lba" / Int32ub,
    "end_lba" / Int32ub,
    "read_size" / Int32ub,
    "read_time" / Int32ub,
    "write_size" / Int32ub,
    "write_time" / Int32ub,
)


class CloseFunction:
    """MMC-6 table 39: close the track, close the session; on DVD+R and BD-R also
    finalize the disc (with the minimal radius, or the normal lead-out)."""

    TRACK = 0b001
    SESSION = 0b010
    FINALIZE_MINIMAL_RADIUS = 0b101
    FINALIZE = 0b110


#: Media whose session closing does not follow page 05h (MMC-6 6.3.2.3: DVD+R, BD-R):
#: 010b leaves the disc appendable, 101b and 110b finalize it.
CLOSED_BY_FUNCTION = frozenset((BlankMedium.DVD_PLUS_R, BlankMedium.BD_R))


def _finalizes(device: CdromDevice, rec: Recording, close_function: int) -> bool:
    """Whether closing the session with ``close_function`` finalizes the disc; INVALID
    FIELD IN CDB for a function the medium does not have."""
    if rec.medium in CLOSED_BY_FUNCTION:
        if close_function == CloseFunction.SESSION:
            return False
        if close_function in (CloseFunction.FINALIZE, CloseFunction.FINALIZE_MINIMAL_RADIUS):
            return True
    elif close_function == CloseFunction.SESSION:
        return not device.write_parameters().next_session_allowed
    raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 2))


class BlankingType:
    """MMC-6 table 29: the blanking types this drive carries out."""

    FULL = 0b000
    MINIMAL = 0b001
    UNCLOSE_LAST_SESSION = 0b101
    LAST_SESSION = 0b110


@dataclass(slots=True)
class SaoWrite:
    """A Session At Once recording in progress: its plan and the next address.

    With CD-TEXT in the lead-in (:attr:`SaoPlan.leadin_text`), ``leadin_next``
    is the next lead-in sector the host writes and ``text`` what it wrote.
    """

    plan: SaoPlan
    next: int
    leadin_next: int | None = None
    text: LeadInText | None = None


def _recording(device: CdromDevice) -> Recording:
    """The recordable disc in the drive; a pressed CD is CANNOT WRITE MEDIUM (MMC-6 4.1.5)."""
    device.ready_disc()
    rec = device.recording
    if rec is None:
        raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT)
    return rec


def _writing(device: CdromDevice) -> Recording:
    """The recordable disc, for a recording command: after a disc was taken out in the
    middle of a recording, the first such command is told the medium changed."""
    rec = _recording(device)
    _check_interrupted(device)
    return rec


def _check_interrupted(device: CdromDevice) -> None:
    if device.write_interrupted:
        device.write_interrupted = False
        raise SenseError(NOT_READY_TO_READY_CHANGE)


def _views(buffers: list[memoryview], start: int, length: int) -> list[memoryview]:
    """The pieces of ``buffers`` holding bytes ``start`` to ``start + length - 1``."""
    out: list[memoryview] = []
    pos = 0
    end = start + length
    for buf in buffers:
        n = len(buf)
        lo, hi = max(start, pos), min(end, pos + n)
        if hi > lo:
            out.append(buf[lo - pos : hi - pos])
        pos += n
        if pos >= end:
            break
    return out


def _begin(rec: Recording, lba: int, mode: TrackMode, start: int, pregap: int) -> None:
    """Open the next track's file; a folder that refuses it is a WRITE ERROR (03/0C/00)."""
    try:
        rec.begin_track(mode, first=lba, start=start, generated_pregap=pregap)
    except OSError:
        raise SenseError(WRITE_ERROR, information=lba & 0xFFFFFFFF) from None


def _store(device: CdromDevice, rec: Recording, lba: int, views: list[memoryview], n: int) -> None:
    try:
        rec.write(lba, views, n)
    except OSError as err:
        code = WRITE_ERROR if err.errno != errno.EINVAL else INVALID_FIELD_IN_CDB
        raise SenseError(code, information=lba & 0xFFFFFFFF) from None


def write_10(
    device: CdromDevice, cmd: Command, lba: int, transfer_length: int, fua: int = 0
) -> None:
    """WRITE (10), MMC-6 6.47, and WRITE (12), MMC-6 6.48: record at the next writable
    address (a rewritable DVD or BD: anywhere, :func:`devemu.cdrom.overwrite.write`)."""
    rec = _writing(device)
    if rec.random_access:
        overwrite.write(device, cmd, lba, transfer_length, fua)
        return
    if lba >= 0x80000000:
        lba -= 1 << 32
    if transfer_length == 0:
        return
    params = device.write_parameters()
    if device.sao is not None:
        _write_sao(device, rec, cmd, lba, transfer_length)
        return
    if params.raw or device.raw is not None:
        _write_raw(device, rec, cmd, lba, transfer_length)
        return
    nwa = rec.next_writable
    if nwa is None or lba != nwa:
        raise SenseError(INVALID_ADDRESS_FOR_WRITE, information=lba & 0xFFFFFFFF)
    if lba + transfer_length > rec.sectors:
        raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=lba & 0xFFFFFFFF)
    track = rec.open_track
    if track is not None and track.reserved and track.written + transfer_length > track.reserved:
        raise SenseError(INVALID_ADDRESS_FOR_WRITE, information=lba & 0xFFFFFFFF)
    mode = track.mode if track is not None else rec.write_mode(params.mode)
    views = overwrite.transferred(cmd, transfer_length * host_size(mode))
    if params.test_write:
        return
    if track is None:
        if rec.next_track_number > MAX_TRACKS:
            raise SenseError(INVALID_ADDRESS_FOR_WRITE, information=lba & 0xFFFFFFFF)
        _begin(rec, lba, mode, lba, rec.pregap_of_next())
        assert rec.open_track is not None
        submode = params.subheader[2]
        if submode & SUBMODE_DATA and not submode & raw.SUBMODE_FORM2:
            rec.open_track.subheader = params.subheader
    _store(device, rec, lba, views, transfer_length)
    if rec.open_track is not None and rec.open_track.full:
        # A reserved track is complete once every block of it is written (MMC-6 6.32.2).
        rec.complete_track()
        if params.session_at_once and not rec.medium.is_cd:
            # DVD-R/-RW Disc At Once: the one reserved Rzone written, the drive closes the
            # disc itself (MMC-6 4.5.3; growisofs sends no CLOSE TRACK/SESSION then).
            rec.close_session(finalize=not params.next_session_allowed)
            device.disc_changed(new_media=True)
            return
        device.disc_changed()


write_12 = write_10


def _write_sao(device: CdromDevice, rec: Recording, cmd: Command, lba: int, count: int) -> None:
    """Session At Once: sectors in cue sheet order, each region's size from its data form."""
    sao = device.sao
    assert sao is not None
    if sao.leadin_next is not None and lba < sao.plan.first:
        _write_leadin(device, sao, cmd, lba, count)
        return
    if lba != sao.next:
        raise SenseError(INVALID_ADDRESS_FOR_WRITE, information=lba & 0xFFFFFFFF)
    if lba + count > sao.plan.leadout:
        raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=lba & 0xFFFFFFFF)
    # Check the whole transfer's length before storing any of it.
    need = 0
    pos = lba
    while pos < lba + count:
        region = sao.plan.region_at(pos)
        assert region is not None
        n = min(region.end, lba + count) - pos
        need += n * region.host_size
        pos += n
    if cmd.data_length != need:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    test = device.write_parameters().test_write
    if sao.text is not None and not test and rec.cdtext is None:
        packs = sao.text.data()
        if packs:
            _keep_cdtext(rec, packs, lba)
    offset = 0
    pos = lba
    while pos < lba + count:
        region = sao.plan.region_at(pos)
        assert region is not None
        n = min(region.end, lba + count) - pos
        size = region.host_size
        if not test and pos + n > 0:
            skip = max(0, -pos)  # sectors before LBA 0 are not addressable: not kept
            _sao_track(device, rec, region.track, pos + skip)
            views = _views(cmd.iov, offset + skip * size, (n - skip) * size)
            if size:
                _store(device, rec, pos + skip, views, n - skip)
            else:
                rec.write_zeros(n - skip)
        offset += n * size
        pos += n
    sao.next = pos


def _write_raw(device: CdromDevice, rec: Recording, cmd: Command, lba: int, count: int) -> None:
    """Raw writing (:mod:`devemu.cdrom.raw_write`): the session sector by sector, its
    layout read from the Q sub-channel the host writes with each."""
    params = device.write_parameters()
    raw = device.raw
    if raw is None:
        nwa = rec.next_writable
        if nwa is None or rec.open_track is not None or rec.session_open:
            raise SenseError(COMMAND_SEQUENCE_ERROR)
        if not leadin_start(rec) <= lba <= nwa - DEFAULT_PREGAP:
            raise SenseError(INVALID_ADDRESS_FOR_WRITE, information=lba & 0xFFFFFFFF)
        raw = RawWrite(params.data_block_type, lba, program_start=nwa - DEFAULT_PREGAP)
        device.raw = raw
    if lba != raw.next:
        raise SenseError(INVALID_ADDRESS_FOR_WRITE, information=lba & 0xFFFFFFFF)
    size = raw.sector_bytes
    if cmd.data_length != count * size:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    flat = cmd.iov[0] if len(cmd.iov) == 1 else memoryview(b"".join(cmd.iov))
    pending: list[memoryview] = []
    pending_lba = lba
    for i in range(count):
        pos = lba + i
        if raw.leadout:
            continue
        sector = flat[i * size : (i + 1) * size]
        if pos < raw.program_start:
            raw.leadin_rw(sector)
            continue
        where = q_position(raw.q(sector)) or raw.position
        if where is None:
            raise SenseError(INVALID_ADDRESS_FOR_WRITE, information=pos & 0xFFFFFFFF)
        changed = raw.position is not None and where.track != raw.position.track
        if (changed or where.track == LEAD_OUT) and pending:
            _store(device, rec, pending_lba, pending, len(pending))
            pending = []
        if where.track == LEAD_OUT:
            _finish_raw(device, rec, raw, params.test_write)
            continue
        raw.position = where
        if params.test_write or pos < 0:
            continue  # sectors before LBA 0 are not addressable: not kept
        main = memoryview(descramble(sector)) if where.data else sector
        track = rec.open_track
        if track is None or changed:
            rec.complete_track()
            mode = track_mode(where, main)
            if where.track != rec.next_track_number or where.track > MAX_TRACKS or mode is None:
                raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT, information=pos)
            if raw.text.packs and rec.cdtext is None:
                _keep_cdtext(rec, raw.text.data(), pos)
            _begin(rec, pos, mode, pos, 0)
            track = rec.open_track
            assert track is not None
            raw.index1 = where.index >= 1
        elif where.index >= 1 and not raw.index1:
            track.start = pos
            raw.index1 = True
        if not pending:
            pending_lba = pos
        pending.append(kept_bytes(track.mode, main))
    if pending:
        _store(device, rec, pending_lba, pending, len(pending))
    raw.next = lba + count


def _finish_raw(device: CdromDevice, rec: Recording, raw: RawWrite, test: bool) -> None:
    """The first lead-out sector: the last track completes, the session closes."""
    raw.leadout = True
    if test:
        return
    rec.complete_track()
    rec.close_session(finalize=not device.write_parameters().next_session_allowed)
    device.disc_changed(new_media=True)


def _write_leadin(device: CdromDevice, sao: SaoWrite, cmd: Command, lba: int, count: int) -> None:
    """Lead-in sectors of CD-TEXT (data form 41h): 96 R-W bytes each, in order from the
    lead-in start to the first pregap (MMC-6 6.33.3.5)."""
    if lba != sao.leadin_next or lba + count > sao.plan.first:
        raise SenseError(INVALID_ADDRESS_FOR_WRITE, information=lba & 0xFFFFFFFF)
    if cmd.data_length != count * SECTOR_BYTES:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    assert sao.text is not None
    sao.text.add_sectors(b"".join(_views(cmd.iov, 0, cmd.data_length)), count)
    sao.leadin_next = lba + count


def _keep_cdtext(rec: Recording, packs: bytes, lba: int) -> None:
    try:
        rec.keep_cdtext(packs)
    except OSError:
        raise SenseError(WRITE_ERROR, information=lba & 0xFFFFFFFF) from None


def _sao_track(device: CdromDevice, rec: Recording, number: int, lba: int) -> None:
    """Make track ``number`` of the plan the open track (completing the one before)."""
    sao = device.sao
    assert sao is not None
    if rec.open_track is not None and rec.open_track.number == number:
        return
    rec.complete_track()
    planned = next(t for t in sao.plan.tracks if t.number == number)
    _begin(rec, lba, planned.mode, max(planned.start, lba), 0)


def _finish_sao(device: CdromDevice, rec: Recording) -> None:
    sao = device.sao
    assert sao is not None
    rec.complete_track()
    closed = sao.next >= sao.plan.leadout
    if closed:
        device.sao = None
        rec.close_session(finalize=not device.write_parameters().next_session_allowed)
    device.disc_changed(new_media=closed)


def synchronize_cache(device: CdromDevice, cmd: Command) -> None:
    """SYNCHRONIZE CACHE, MMC-6 6.41: what is written is made durable.

    In Track At Once the open track is closed (its file flushed and the
    track recorded); after the last sector of a Session At Once cue
    sheet, the session is closed as page 05h says.
    """
    device.ready_disc()
    _check_interrupted(device)
    rec = device.recording
    if rec is None:
        return
    if rec.random_access:
        overwrite.synchronize_cache(device)
        return
    if device.sao is not None:
        _finish_sao(device, rec)
        return
    if device.raw is not None:
        if device.raw.leadout:
            device.raw = None
        else:
            rec.flush()
        return
    track = rec.open_track
    if track is not None and track.reserved and not track.full:
        rec.flush()  # a reserved track stays open until it is full or closed
    elif track is not None:
        rec.complete_track()
        device.disc_changed()


def close_track_session(
    device: CdromDevice, cmd: Command, immed: int, close_function: int, track_number: int
) -> None:
    """CLOSE TRACK/SESSION, MMC-6 6.3: close the open track, or the session.

    Closing the session finalizes the disc when the Multi-session field of
    page 05h is 00b, and leaves room for a next session when it is 11b
    (MMC-6 6.3.2.3, table 39: CD, DVD-R). On DVD+R and BD-R the function
    says it: 010b closes the session, 101b and 110b finalize the disc.
    """
    rec = _writing(device)
    if rec.random_access:
        overwrite.close_track_session(device, close_function)
        return
    if close_function == CloseFunction.TRACK:
        if device.sao is not None:
            raise SenseError(COMMAND_SEQUENCE_ERROR)
        track = rec.open_track
        if track is not None and track.reserved and not track.full:
            # The unwritten rest of a reserved track is padded (MMC-6 6.3.2.2).
            rec.write_zeros(track.reserved - track.written)
        rec.complete_track()
    else:
        finalize = _finalizes(device, rec, close_function)
        if device.sao is not None:
            _finish_sao(device, rec)
            return
        rec.close_session(finalize=finalize)
        device.disc_changed(new_media=True)
        return
    device.disc_changed()


def reserve_track(device: CdromDevice, cmd: Command, arsv: int, reservation_size: int) -> None:
    """RESERVE TRACK, MMC-6 6.32: the invisible track becomes a track of a fixed size.

    The reserved track is written Track At Once at its own next writable
    address (its mode the one page 05h names); the invisible track moves
    past it and its pregap. Reservation by address (ARSV 1) is refused, as
    is a reservation while a track is being written (COMMAND SEQUENCE
    ERROR) or one larger than the free space.
    """
    rec = _writing(device)
    if arsv:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 0))
    if rec.open_track is not None or device.sao is not None:
        raise SenseError(COMMAND_SEQUENCE_ERROR)
    nwa = rec.next_writable
    if reservation_size == 0 or nwa is None or nwa + reservation_size > rec.sectors:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
    if rec.next_track_number > MAX_TRACKS:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
    rec.reserve(device.write_parameters().mode, reservation_size)


def send_cue_sheet(device: CdromDevice, cmd: Command, cue_sheet_size: int) -> None:
    """SEND CUE SHEET, MMC-6 6.33: the layout of the Session At Once recording to come.

    Refused unless page 05h names Session At Once (COMMAND SEQUENCE
    ERROR) and the sheet starts at the pregap of the next track.
    """
    rec = _writing(device)
    if cue_sheet_size == 0:
        return
    data = cmd.data_out(cue_sheet_size)
    if len(data) < cue_sheet_size:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    if not device.write_parameters().session_at_once:
        raise SenseError(COMMAND_SEQUENCE_ERROR)
    nwa = rec.next_writable
    if nwa is None or rec.open_track is not None or rec.session_open:
        raise SenseError(COMMAND_SEQUENCE_ERROR)
    plan = parse_cue_sheet(
        data,
        first_track=rec.next_track_number,
        first_lba=nwa - DEFAULT_PREGAP,
        sectors=rec.sectors,
    )
    if rec.next_track_number + len(plan.tracks) - 1 > MAX_TRACKS:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(len(data) - 8 + 1))
    sao = SaoWrite(plan, plan.first)
    if plan.leadin_text:
        sao.leadin_next = leadin_start(rec)
        sao.text = LeadInText()
    device.sao = sao


def blank(
    device: CdromDevice, cmd: Command, immed: int, blanking_type: int, start_address: int
) -> None:
    """BLANK, MMC-6 6.2: erase a CD-RW (the whole disc, its last session, or unclose it).

    A write-once disc cannot be blanked: CANNOT WRITE MEDIUM -
    INCOMPATIBLE FORMAT (30/05).
    """
    rec = _recording(device)
    if rec.random_access:
        overwrite.blank(device, blanking_type)
        return
    if blanking_type not in (
        BlankingType.FULL,
        BlankingType.MINIMAL,
        BlankingType.UNCLOSE_LAST_SESSION,
        BlankingType.LAST_SESSION,
    ):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 2))
    if not rec.medium.erasable:
        raise SenseError(CANNOT_WRITE_MEDIUM_INCOMPATIBLE_FORMAT)
    device.sao = None
    if blanking_type in (BlankingType.FULL, BlankingType.MINIMAL):
        rec.erase()
    elif blanking_type == BlankingType.LAST_SESSION:
        rec.erase(last_session_only=True)
    else:
        rec.unclose_last_session()
    device.disc_changed(new_media=True)


def read_buffer_capacity(
    device: CdromDevice, cmd: Command, block: int, allocation_length: int
) -> int:
    """READ BUFFER CAPACITY, MMC-6 6.21: the buffer is always empty (writes go straight through)."""
    if block:
        data: bytes = BufferCapacityBlocks.build(
            {"data_length": 10, "block": 1, "available_blocks": BUFFER_BYTES // 2048}
        )
    else:
        data = BufferCapacityBytes.build(
            {"data_length": 10, "buffer_length": BUFFER_BYTES, "blank_length": BUFFER_BYTES}
        )
    return cmd.data_in(data, allocation_length)


def send_opc_information(
    device: CdromDevice, cmd: Command, do_opc: int, parameter_list_length: int
) -> None:
    """SEND OPC INFORMATION, MMC-6 6.35: power calibration needs nothing of an image."""
    _recording(device)


def set_streaming(device: CdromDevice, cmd: Command, type: int, parameter_list_length: int) -> None:
    """SET STREAMING, MMC-6 6.40: a type 00h performance descriptor sets the write speed.

    The speed in kB/s is Write Size / Write Time (kilobytes per
    millisecond x 1000), remembered and reported by GET PERFORMANCE and
    page 2Ah.
    """
    if type != 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(8))
    if parameter_list_length == 0:
        return
    size = StreamingDescriptor.sizeof()
    data = cmd.data_out(parameter_list_length)
    if parameter_list_length < size or len(data) < size:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    desc = StreamingDescriptor.parse(data)
    if desc.read_time == 0 or desc.write_time == 0:
        raise SenseError(
            INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(16 if not desc.read_time else 24)
        )
    device.write_speed = min(0xFFFF, desc.write_size * 1000 // desc.write_time)
    device.read_speed = min(0xFFFF, desc.read_size * 1000 // desc.read_time)
    pages.update_dynamic(device)
