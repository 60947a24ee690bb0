"""FORMAT MEDIUM, SET CAPACITY, READ BLOCK LIMITS, REPORT DENSITY SUPPORT (SSC-5 7.1, 7.6, 6.6).

What the drive can do with a medium: lay out its partitions (as mode
page 0x11 says), the block lengths it takes, the densities it reads and
writes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    POSITION_PAST_BEGINNING_OF_MEDIUM,
    SenseError,
    cdb_field,
)
from devemu.tape import attribute_commands, pages
from devemu.tape.limits import (
    MAXIMUM_BLOCK_LENGTH,
    MAXIMUM_LOGICAL_OBJECT_IDENTIFIER,
    MINIMUM_BLOCK_LENGTH,
)
from devemu.tape.media import medium_type_code

if TYPE_CHECKING:
    from devemu.tape.drive import TapeDrive


def format_medium(drive: TapeDrive, cmd: Command, format: int) -> None:
    """FORMAT MEDIUM, SSC-5 7.1: 0 one partition, 1 and 2 as page 0x11 says."""
    fmt = format
    if fmt not in (0, 1, 2):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 3))
    drive.check_writable()
    cart = drive.mounted()
    if drive.partition != 0 or drive.position != 0:
        raise SenseError(POSITION_PAST_BEGINNING_OF_MEDIUM)
    if cart.worm and any(p.eod for p in cart.partitions):
        drive.refuse_worm_overwrite()
    if fmt == 0:
        layout = [cart.capacity]
    else:
        page = drive.mode_pages.get(pages.MEDIUM_PARTITION_PAGE)
        assert page is not None
        try:
            layout = pages.partition_layout(
                bytes(page.current), cart.capacity, cart.medium.max_partitions - 1
            )
        except ValueError:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 3)) from None
    cart.format(layout)
    attribute_commands.record_format(drive, cart)
    drive.to_bop()


#: CAPACITY PROPORTION VALUE of the whole medium (SSC-5, SET CAPACITY command).
FULL_CAPACITY = 0xFFFF


def set_capacity(
    drive: TapeDrive, cmd: Command, immed: int, capacity_proportion_value: int
) -> None:
    """SET CAPACITY (SSC-5): one partition of proportion/FFFFh of the medium, data gone.

    As FORMAT MEDIUM, only at the beginning of partition 0 (ILLEGAL
    REQUEST, POSITION PAST BEGINNING OF MEDIUM elsewhere) of a writable
    cartridge; a WORM cartridge with data refuses it. A proportion of 0
    would leave no capacity: INVALID FIELD IN CDB. LTFS sends FFFFh
    before it partitions a cartridge.
    """
    proportion = capacity_proportion_value
    if proportion == 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
    drive.check_writable()
    cart = drive.mounted()
    if drive.partition != 0 or drive.position != 0:
        raise SenseError(POSITION_PAST_BEGINNING_OF_MEDIUM)
    if cart.worm and any(p.eod for p in cart.partitions):
        drive.refuse_worm_overwrite()
    cart.format([cart.capacity * proportion // FULL_CAPACITY])
    drive.to_bop()


def read_block_limits(drive: TapeDrive, cmd: Command, mloi: int) -> int:
    """READ BLOCK LIMITS, SSC-5 7.6.2 (6 bytes) or 7.6.3 with MLOI (20 bytes)."""
    if mloi:
        data: bytes = pages.MaximumObjectIdentifier.build(
            {"maximum_logical_object_identifier": MAXIMUM_LOGICAL_OBJECT_IDENTIFIER}
        )
    else:
        data = pages.BlockLimits.build(
            {
                "granularity": {"granularity": 0},
                "maximum_block_length": MAXIMUM_BLOCK_LENGTH,
                "minimum_block_length": MINIMUM_BLOCK_LENGTH,
            }
        )
    return cmd.data_in(data)


def report_density_support(
    drive: TapeDrive, cmd: Command, medium_type: int, media: int, allocation_length: int
) -> int:
    """REPORT DENSITY SUPPORT, SSC-5 6.6: the drive's densities or the medium's.

    MEDIUM TYPE=1 (SSC-5 6.6.3) gives medium type descriptors instead:
    each cartridge kind the drive reads (MEDIA=1: the one mounted), with
    its MEDIUM TYPE as the mode header reports it and the density codes
    the drive can record on it.
    """
    if media:
        drive.check_ready()
        densities = [drive.mounted().medium]
    else:
        densities = drive.drive_type.densities
    if medium_type:
        worm = drive.mounted().worm if media else False
        descriptors = [
            pages.medium_type_descriptor(
                medium_type_code(drive.medium_types, m, worm),
                m,
                [m.density_code] if drive.drive_type.can_write(m) else [],
            )
            for m in densities
        ]
        return cmd.data_in(pages.medium_type_support(descriptors), allocation_length)
    data = pages.density_support(drive.drive_type, densities)
    return cmd.data_in(data, allocation_length)
