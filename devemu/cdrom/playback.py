"""Audio commands: PLAY AUDIO (10), PLAY AUDIO (12), PLAY AUDIO MSF,
PAUSE/RESUME, STOP PLAY/SCAN and READ SUB-CHANNEL (MMC-6 6.11-6.14, 6.25,
6.36). The play itself is :class:`devemu.cdrom.audio.AudioPlayer`."""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.cdrom.audio import AudioStatus
from devemu.cdrom.disc import Disc
from devemu.cdrom.msf import lba_to_msf, packed_msf_to_lba
from devemu.cdrom.toc import address
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    COMMAND_SEQUENCE_ERROR,
    ILLEGAL_MODE_FOR_THIS_TRACK,
    INVALID_FIELD_IN_CDB,
    LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE,
    SenseError,
    cdb_field,
)

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

CURRENT_POSITION = 0x01
MEDIA_CATALOG_NUMBER = 0x02
TRACK_ISRC = 0x03
CURRENT_LBA = 0xFFFFFFFF
CURRENT_MSF = 0xFFFFFF


def _play(device: CdromDevice, start: int, end: int) -> None:
    disc = device.ready_disc()
    if start == end:
        return
    if start < 0 or end > disc.leadout or end < start:
        raise SenseError(LOGICAL_BLOCK_ADDRESS_OUT_OF_RANGE, information=start & 0xFFFFFFFF)
    track = disc.track_at(start)
    if track is None or not track.mode.is_audio:
        raise SenseError(ILLEGAL_MODE_FOR_THIS_TRACK, information=start & 0xFFFFFFFF)
    device.audio.play(start, end)


def play_audio_10(device: CdromDevice, cmd: Command, lba: int, play_length: int) -> None:
    """PLAY AUDIO (10), MMC-6 6.12 (LBA FFFFFFFFh: from the current position), and
    PLAY AUDIO (12), MMC-6 6.13, which takes the same fields."""
    start = device.audio.position() if lba == CURRENT_LBA else lba
    _play(device, start, start + play_length)


play_audio_12 = play_audio_10


def play_audio_msf(device: CdromDevice, cmd: Command, start: int, end: int) -> None:
    """PLAY AUDIO MSF, MMC-6 6.14: start FFFFFFh is the current position."""
    first = device.audio.position() if start == CURRENT_MSF else packed_msf_to_lba(start)
    last = packed_msf_to_lba(end)
    if last < first:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
    _play(device, first, last)


def pause_resume(device: CdromDevice, cmd: Command, resume: int) -> None:
    """PAUSE/RESUME, MMC-6 6.11: only while a play is on (else COMMAND SEQUENCE ERROR)."""
    status = device.audio.report_status_peek()
    if status not in (AudioStatus.PLAYING, AudioStatus.PAUSED):
        raise SenseError(COMMAND_SEQUENCE_ERROR)
    if resume:
        device.audio.resume()
    else:
        device.audio.pause()


def stop_play_scan(device: CdromDevice, cmd: Command) -> None:
    """STOP PLAY/SCAN, MMC-6 6.36."""
    device.audio.stop()


def _position_data(disc: Disc, lba: int, msf: bool) -> bytes:
    track = disc.track_at(lba) or disc.tracks[-1]
    relative = lba - track.start
    rel = (
        int.from_bytes(bytes((0, *lba_to_msf(relative - 150))), "big")
        if msf and relative >= 0
        else relative & 0xFFFFFFFF
    )
    return (
        bytes((CURRENT_POSITION, 0x10 | track.control, track.number, track.index_at(lba)))
        + address(lba, msf).to_bytes(4, "big")
        + rel.to_bytes(4, "big")
    )


def read_subchannel(
    device: CdromDevice,
    cmd: Command,
    msf: int,
    subq: int,
    parameter_list: int,
    track_number: int,
    allocation_length: int,
) -> int:
    """READ SUB-CHANNEL, MMC-6 6.25: position, media catalog number, ISRC."""
    disc = device.ready_disc()
    status = device.audio.report_status()
    body = b""
    if subq:
        frame = lba_to_msf(max(device.audio.position(), 0)).frame
        if parameter_list == CURRENT_POSITION:
            body = _position_data(disc, max(device.audio.position(), 0), bool(msf))
        elif parameter_list == MEDIA_CATALOG_NUMBER:
            mcn = (disc.catalog or "").encode("ascii").ljust(13, b"\0")
            body = bytes((MEDIA_CATALOG_NUMBER, 0, 0, 0, 0x80 if disc.catalog else 0))
            body += mcn + bytes((0, frame))
        elif parameter_list == TRACK_ISRC:
            track = disc.track(track_number)
            if track is None:
                raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(6))
            isrc = (track.isrc or "").encode("ascii").ljust(12, b"\0")
            body = bytes((TRACK_ISRC, 0x30 | track.control, track.number, 0))
            body += bytes((0x80 if track.isrc else 0,)) + isrc + bytes((0, frame, 0))
        else:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
    data = bytes((0, status)) + len(body).to_bytes(2, "big") + body
    return cmd.data_in(data, allocation_length)
