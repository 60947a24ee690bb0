"""The MMC-6 command table of the drive: opcode, CDB usage data, handler.

Usage data (SPC-5 6.35.3): byte 0 the opcode, then a one for every bit
the drive interprets; the dispatcher refuses anything else with INVALID
FIELD IN CDB. The control byte is 00h (no NACA, no LINK).
"""

from __future__ import annotations

from devemu.cdrom import dvd, events, features, performance, playback, reading, toc, tray
from devemu.scsi.table import CommandSpec


def _u(*octets: int) -> bytes:
    return bytes(octets)


MMC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "START STOP UNIT", _u(0x1B, 0x01, 0, 0x00, 0xF7, 0), tray.start_stop_unit, timeout=60
    ),
    CommandSpec(
        "PREVENT ALLOW MEDIUM REMOVAL",
        _u(0x1E, 0, 0, 0, 0x03, 0),
        tray.prevent_allow_medium_removal,
    ),
    CommandSpec(
        "READ CAPACITY",
        _u(0x25, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        reading.read_capacity,
        needs_medium=True,
    ),
    CommandSpec(
        "READ (10)",
        _u(0x28, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
        reading.read10,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE (10)",
        _u(0x2A, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
        reading.write_refused,
        needs_medium=True,
    ),
    CommandSpec(
        "SEEK (10)",
        _u(0x2B, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0),
        reading.seek10,
        needs_medium=True,
    ),
    CommandSpec(
        "READ SUB-CHANNEL",
        _u(0x42, 0x02, 0x40, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0),
        playback.read_subchannel,
        needs_medium=True,
    ),
    CommandSpec(
        "READ TOC/PMA/ATIP",
        _u(0x43, 0x02, 0x0F, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xC0),
        toc.read_toc,
        needs_medium=True,
    ),
    CommandSpec(
        "PLAY AUDIO (10)",
        _u(0x45, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
        playback.play_audio10,
        needs_medium=True,
    ),
    CommandSpec(
        "GET CONFIGURATION",
        _u(0x46, 0x03, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0),
        features.get_configuration,
        blocked_by_unit_attention=False,
    ),
    CommandSpec(
        "PLAY AUDIO MSF",
        _u(0x47, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        playback.play_audio_msf,
        needs_medium=True,
    ),
    CommandSpec(
        "GET EVENT STATUS NOTIFICATION",
        _u(0x4A, 0x01, 0, 0, 0xFF, 0, 0, 0xFF, 0xFF, 0),
        events.get_event_status_notification,
        blocked_by_unit_attention=False,
    ),
    CommandSpec(
        "PAUSE/RESUME",
        _u(0x4B, 0, 0, 0, 0, 0, 0, 0, 0x01, 0),
        playback.pause_resume,
        needs_medium=True,
    ),
    CommandSpec(
        "STOP PLAY/SCAN",
        _u(0x4E, 0, 0, 0, 0, 0, 0, 0, 0, 0),
        playback.stop_play_scan,
        needs_medium=True,
    ),
    CommandSpec(
        "READ DISC INFORMATION",
        _u(0x51, 0x07, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        toc.read_disc_information,
        needs_medium=True,
    ),
    CommandSpec(
        "READ TRACK INFORMATION",
        _u(0x52, 0x07, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0),
        toc.read_track_information,
        needs_medium=True,
    ),
    CommandSpec(
        "REPORT KEY",
        _u(0xA4, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        dvd.report_key,
    ),
    CommandSpec(
        "PLAY AUDIO (12)",
        _u(0xA5, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        playback.play_audio12,
        needs_medium=True,
    ),
    CommandSpec(
        "READ (12)",
        _u(0xA8, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0),
        reading.read12,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE (12)",
        _u(0xAA, 0x18, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x80, 0),
        reading.write_refused,
        needs_medium=True,
    ),
    CommandSpec(
        "GET PERFORMANCE",
        _u(0xAC, 0x1F, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0),
        performance.get_performance,
    ),
    CommandSpec(
        "READ DISC STRUCTURE",
        _u(0xAD, 0x0F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xC0, 0),
        dvd.read_disc_structure,
        needs_medium=True,
    ),
    CommandSpec(
        "READ CD MSF",
        _u(0xB9, 0x1E, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0x07, 0),
        reading.read_cd_msf,
        needs_medium=True,
    ),
    CommandSpec(
        "SET CD SPEED",
        _u(0xBB, 0x03, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 0, 0),
        performance.set_cd_speed,
    ),
    CommandSpec(
        "MECHANISM STATUS",
        _u(0xBD, 0, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0, 0),
        tray.mechanism_status,
        blocked_by_unit_attention=False,
    ),
    CommandSpec(
        "READ CD",
        _u(0xBE, 0x1E, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE, 0x07, 0),
        reading.read_cd,
        needs_medium=True,
    ),
)
