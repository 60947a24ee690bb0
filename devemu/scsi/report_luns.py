"""REPORT LUNS, SPC-5 6.33.

Through TCMU the kernel answers REPORT LUNS itself; other transports pass
it here. A device is one logical unit, LUN 0, with no well-known or
administrative logical units behind it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import Bytes, Int8ub, Int32ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice


#: SELECT REPORT values, SPC-5 6.33 table 230, whose list holds LUN 0.
_WITH_LUN0 = frozenset({0x00, 0x02, 0x11})
#: Well-known LUs only, administrative LUs only, subsidiaries of an
#: administrative LU: none exist.
_EMPTY = frozenset({0x01, 0x10, 0x12})

#: SPC-5 6.33 table 229: REPORT LUNS CDB.
ReportLunsCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Int8ub,
    "select_report" / Int8ub,
    "reserved2" / Bytes(3),
    "allocation_length" / Int32ub,
    "reserved3" / Int8ub,
    "control" / Int8ub,
)

#: SPC-5 6.33 table 231: REPORT LUNS parameter data header.
LunListHeader = Struct("lun_list_length" / Int32ub, "reserved" / Bytes(4))


def lun_list(select_report: int) -> bytes:
    """The REPORT LUNS parameter data for ``select_report``."""
    if select_report in _WITH_LUN0:
        luns = bytes(8)
    elif select_report in _EMPTY:
        luns = b""
    else:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    head: bytes = LunListHeader.build({"lun_list_length": len(luns), "reserved": bytes(4)})
    return head + luns


def report_luns(
    device: ScsiDevice, cmd: Command, select_report: int, allocation_length: int
) -> int:
    """REPORT LUNS, SPC-5 6.33."""
    return cmd.data_in(lun_list(select_report), allocation_length)
