"""Speed commands: SET CD SPEED and GET PERFORMANCE (MMC-6 6.37, 6.7).

A drive that records reports its write speeds: GET PERFORMANCE type 03h
(MMC-6 6.7.2.5) lists one write speed descriptor per speed it offers
for the loaded medium (48x, 24x, 16x, 8x, 4x of CD, 176 kB/s a 1x;
16x to 2x of DVD; 6x to 2x of BD), fastest first; SET CD SPEED and SET
STREAMING choose one.
"""

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

#: MMC-6 table 136: write speed descriptor.
WriteSpeedDescriptor = Struct(
    "flags" / Int8ub,
    Padding(3),
    "end_lba" / Int32ub,
    "read_speed" / Int32ub,
    "write_speed" / Int32ub,
)

PERFORMANCE = 0x00
WRITE_SPEED = 0x03
#: The CD write speeds offered, in multiples of 1x (176 kB/s).
CD_WRITE_SPEEDS = (48, 24, 16, 8, 4)
#: ... and the DVD (1x 1385 kB/s) and BD (1x 4496 kB/s) write speeds.
DVD_WRITE_SPEEDS = (16, 8, 4, 2)
BD_WRITE_SPEEDS = (6, 4, 2)
#: Write speed descriptor byte 0: MRW 0, Exact 0, RDD 0, WRC 00b (default rotation control).
WRITE_SPEED_FLAGS = 0x00


def set_cd_speed(device: CdromDevice, cmd: Command, read_speed: int, write_speed: int) -> None:
    """SET CD SPEED, MMC-6 6.37: remembered and shown in mode page 0x2A.

    FFFFh asks for the highest speed; a drive that records keeps the
    write speed too (rounded down to one it offers).
    """
    device.read_speed = read_speed
    if device.writer:
        device.write_speed = write_speed
    pages.update_dynamic(device)


def write_speed_descriptors(device: CdromDevice) -> bytes:
    """The write speed descriptors of GET PERFORMANCE type 03h (MMC-6 table 136)."""
    if not device.writer or device.recording is None:
        return b""
    end = device.recording.sectors
    profile = device.profile
    speeds = (
        BD_WRITE_SPEEDS
        if profile.is_bd
        else DVD_WRITE_SPEEDS
        if profile.is_dvd
        else CD_WRITE_SPEEDS
    )
    return b"".join(
        WriteSpeedDescriptor.build(
            {
                "flags": WRITE_SPEED_FLAGS,
                "end_lba": end,
                "read_speed": pages.MAX_READ_SPEED,
                "write_speed": x * profile.kilobytes_per_second_1x,
            }
        )
        for x in speeds
    )


def get_performance(
    device: CdromDevice,
    cmd: Command,
    data_type: int,
    maximum_number_of_descriptors: int,
    type: int,
) -> int:
    """GET PERFORMANCE, MMC-6 6.7: type 0 (read, and write on a drive that records,
    performance) and 3 (write speeds)."""
    flags = data_type & 0x07
    descriptors = b""
    if type == PERFORMANCE:
        disc = device.ready_disc()
        write = bool(flags & 0x04)
        if (
            (not write or device.writer)
            and flags & 0x03 in (0, 1)
            and maximum_number_of_descriptors
        ):
            speed = min(device.read_speed, pages.MAX_READ_SPEED)
            end = max(disc.leadout - 1, 0)
            if write:
                speed = min(device.write_speed or pages.MAX_WRITE_SPEED, pages.MAX_WRITE_SPEED)
                if device.recording is not None:
                    end = device.recording.sectors - 1
            descriptors = PerformanceDescriptor.build(
                {
                    "start_lba": 0,
                    "start_performance": speed,
                    "end_lba": end,
                    "end_performance": speed,
                }
            )
    elif type == WRITE_SPEED:
        descriptors = write_speed_descriptors(device)[: 16 * maximum_number_of_descriptors]
    else:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(10))
    head: bytes = PerformanceHeader.build(
        {"data_length": 4 + len(descriptors), "flags": flags & 0x07 if type == 0 else 0}
    )
    data = head + descriptors
    return cmd.data_in(data, 8 + 16 * maximum_number_of_descriptors)
