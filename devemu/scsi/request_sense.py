"""REQUEST SENSE, SPC-5 6.39.

Sense data travels with CHECK CONDITION (autosense), so REQUEST SENSE
reports the state of the logical unit, in the format its DESC bit asks:

1. a pending unit attention, which it takes off the queue (SPC-5 5.14);
2. otherwise a NOT READY condition, found by running the device's
   readiness check (with its progress indication, if any);
3. otherwise NO SENSE.

The command itself completes with GOOD status in every case.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.sense import NO_ADDITIONAL_SENSE, SenseError

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice


#: SPC-5 6.39.1 table 234: REQUEST SENSE CDB.
RequestSenseCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "desc" / Flag),
    "reserved" / Bytes(2),
    "allocation_length" / Int8ub,
    "control" / Int8ub,
)


def current_condition(device: ScsiDevice, nexus: str = "") -> SenseError:
    """What REQUEST SENSE reports now; takes a unit attention off the queue."""
    code = device.take_unit_attention(nexus)
    if code is not None:
        return SenseError(code)
    try:
        device.check_ready()
    except SenseError as err:
        return err
    return SenseError(NO_ADDITIONAL_SENSE)


def request_sense(device: ScsiDevice, cmd: Command, desc: int, allocation_length: int) -> int:
    """REQUEST SENSE, SPC-5 6.39: the condition as parameter data, GOOD status."""
    data = current_condition(device, cmd.nexus).sense_bytes(descriptor=bool(desc))
    return cmd.data_in(data, allocation_length)
