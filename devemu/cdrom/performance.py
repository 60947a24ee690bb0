"""Speed commands: SET CD SPEED and GET PERFORMANCE (MMC-6 6.37, 6.7)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Int8ub, Int32ub, Padding, Struct

from devemu.cdrom import pages
from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field

if TYPE_CHECKING:
    from devemu.cdrom.device import CdromDevice

#: MMC-6 table 124: performance header.
PerformanceHeader = Struct("data_length" / Int32ub, "flags" / Int8ub, Padding(3))
#: MMC-6 table 126: nominal performance descriptor.
PerformanceDescriptor = Struct(
    "start_lba" / Int32ub,
    "start_performance" / Int32ub,
    "end_lba" / Int32ub,
    "end_performance" / Int32ub,
)

PERFORMANCE = 0x00
WRITE_SPEED = 0x03


def set_cd_speed(device: CdromDevice, cmd: Command, read_speed: int) -> None:
    """SET CD SPEED, MMC-6 6.37: remembered and shown in mode page 0x2A."""
    device.read_speed = read_speed
    pages.update_dynamic(device)


def get_performance(
    device: CdromDevice,
    cmd: Command,
    data_type: int,
    maximum_number_of_descriptors: int,
    type: int,
) -> int:
    """GET PERFORMANCE, MMC-6 6.7: type 0 (read performance) and 3 (no write speeds)."""
    flags = data_type & 0x07
    descriptors = b""
    if type == PERFORMANCE:
        disc = device.ready_disc()
        write = bool(flags & 0x04)
        if not write and flags & 0x03 in (0, 1) and maximum_number_of_descriptors:
            speed = min(device.read_speed, pages.MAX_READ_SPEED)
            descriptors = PerformanceDescriptor.build(
                {
                    "start_lba": 0,
                    "start_performance": speed,
                    "end_lba": disc.leadout - 1,
                    "end_performance": speed,
                }
            )
    elif type != WRITE_SPEED:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10))
    head: bytes = PerformanceHeader.build(
        {"data_length": 4 + len(descriptors), "flags": flags & 0x07 if type == 0 else 0}
    )
    data = head + descriptors
    return cmd.data_in(data, 8 + 16 * maximum_number_of_descriptors)
