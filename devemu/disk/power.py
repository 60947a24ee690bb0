"""START STOP UNIT, SBC-4 5.25: stopping and starting the logical unit.

A stopped disk answers every medium access command (TEST UNIT READY
included) with NOT READY / LOGICAL UNIT NOT READY, INITIALIZING COMMAND
REQUIRED until a START arrives, which is what Linux's sd driver expects
(it then sends START STOP UNIT with START set). Stopping flushes the
write cache unless NO_FLUSH is set. The power conditions other than
START_VALID (ACTIVE, IDLE, STANDBY and their forced forms) are accepted
and change nothing: an image file has no spindle to spin down. LOEJ is
outside the usage data: a fixed disk has nothing to eject.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.disk.checks import write_error
from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field

if TYPE_CHECKING:
    from devemu.disk.device import Disk

#: POWER CONDITION values, SBC-4 5.25 table 78.
START_VALID = 0x0
#: ACTIVE, IDLE, STANDBY, LU_CONTROL, FORCE_IDLE_0, FORCE_STANDBY_0.
ACCEPTED_POWER_CONDITIONS = frozenset({0x1, 0x2, 0x3, 0x7, 0xA, 0xB})


def start_stop_unit(
    dev: Disk, cmd: Command, power_condition: int, no_flush: int, start: int
) -> None:
    """START STOP UNIT, SBC-4 5.25."""
    condition = power_condition
    if condition != START_VALID:
        if condition not in ACCEPTED_POWER_CONDITIONS:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4, 7))
        return
    if start:
        dev.stopped = False
        return
    if not no_flush:
        try:
            dev.image.flush()
        except OSError as err:
            raise write_error(err, 0) from err
    dev.stopped = True
