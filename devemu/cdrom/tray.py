"""Tray and lock commands: START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL,
MECHANISM STATUS (MMC-6 6.39, 6.10, 6.9)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int8ub, Int16ub, Int24ub, Struct

from devemu.cdrom import pages
from devemu.cdrom.audio import AudioStatus
from devemu.scsi.command import Command
from devemu.scsi.sense import MEDIUM_REMOVAL_PREVENTED, SenseError

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

#: MMC-6 table 143: mechanism status header.
MechanismStatusHeader = Struct(
    "changer" / Int8ub,
    "mechanism" / Int8ub,
    "current_lba" / Int24ub,
    "slots" / Int8ub,
    "slot_table_length" / Int16ub,
)

MECHANISM_IDLE = 0
MECHANISM_PLAYING = 1
DOOR_OPEN = 0x10


def start_stop_unit(
    device: CdromDevice, cmd: Command, power_condition: int, loej: int, start: int
) -> None:
    """START STOP UNIT, MMC-6 6.39: LoEj with Start=0 ejects, with Start=1 loads.

    An eject while removal is prevented is ILLEGAL REQUEST, MEDIUM REMOVAL
    PREVENTED (MMC-6 6.39.2 table 599). A power condition other than 0
    only changes the power state, which the drive does not model.
    """
    if power_condition or not loej:
        if not start and not power_condition:
            device.audio.stop()
        return
    if start:
        device.close_tray()
        return
    if device.prevented and device.medium is not None:
        raise SenseError(MEDIUM_REMOVAL_PREVENTED)
    device.open_tray()


def prevent_allow_medium_removal(
    device: CdromDevice, cmd: Command, persistent: int, prevent: int
) -> None:
    """PREVENT ALLOW MEDIUM REMOVAL, MMC-6 6.10: PREVENT locks, PERSISTENT is persistent."""
    device.prevented = bool(prevent)
    if persistent:
        device.persistent_prevented = bool(prevent)
    pages.update_dynamic(device)


def mechanism_status(device: CdromDevice, cmd: Command, allocation_length: int) -> int:
    """MECHANISM STATUS, MMC-6 6.9: no changer, door state, what the pickup does."""
    playing = device.audio.report_status_peek() is AudioStatus.PLAYING
    state = (MECHANISM_PLAYING if playing else MECHANISM_IDLE) << 5
    data = MechanismStatusHeader.build(
        {
            "changer": 0,
            "mechanism": state | (DOOR_OPEN if device.tray_open else 0),
            "current_lba": max(device.audio.position(), 0) & 0xFFFFFF,
            "slots": 0,
            "slot_table_length": 0,
        }
    )
    return cmd.data_in(data, allocation_length)
