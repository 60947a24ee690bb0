"""Operation codes of the SPC-5 commands every device type shares.

SPC-5 annex E.3.1 (operation codes) lists them; the values here are the
ones the shared table (:mod:`devemu.scsi.spc`) answers. Each device
family has its own enum beside its table for the commands of its standard.
"""

from __future__ import annotations

from enum import IntEnum


class Opcode(IntEnum):
    """SPC-5 operation codes (SPC-5 E.3.1 table E.2)."""

    TEST_UNIT_READY = 0x00
    REQUEST_SENSE = 0x03
    INQUIRY = 0x12
    MODE_SELECT_6 = 0x15
    RESERVE_6 = 0x16
    RELEASE_6 = 0x17
    MODE_SENSE_6 = 0x1A
    RECEIVE_DIAGNOSTIC_RESULTS = 0x1C
    SEND_DIAGNOSTIC = 0x1D
    LOG_SELECT = 0x4C
    LOG_SENSE = 0x4D
    MODE_SELECT_10 = 0x55
    RESERVE_10 = 0x56
    RELEASE_10 = 0x57
    MODE_SENSE_10 = 0x5A
    PERSISTENT_RESERVE_IN = 0x5E
    PERSISTENT_RESERVE_OUT = 0x5F
    REPORT_LUNS = 0xA0
    SECURITY_PROTOCOL_IN = 0xA2
    MAINTENANCE_IN = 0xA3
    SECURITY_PROTOCOL_OUT = 0xB5


class MaintenanceIn(IntEnum):
    """Service actions of MAINTENANCE IN (SPC-5 E.3.2 table E.4) this package answers."""

    REPORT_SUPPORTED_OPERATION_CODES = 0x0C
