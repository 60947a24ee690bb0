"""The SPC-5 commands every device type shares, as one table.

Each device type builds its table as ``CommandTable(SPC_COMMANDS, OWN)``.
The usage data of each entry is the CDB usage data of SPC-5 6.35.3: the
dispatcher refuses any bit outside it with INVALID FIELD IN CDB, and
REPORT SUPPORTED OPERATION CODES reports it as is. The control byte is
0x00 everywhere (NACA and LINK are not supported). MODE SENSE(6) also
accepts the obsolete LUN bits of byte 1, which the Linux ch driver sets
for a changer that is not LUN 0 (:data:`devemu.scsi.mode_sense.OBSOLETE_LUN_BITS`).

INQUIRY, REPORT LUNS and REQUEST SENSE run despite a pending unit
attention (SPC-5 5.14). INQUIRY, REPORT LUNS, REQUEST SENSE, REPORT
SUPPORTED OPERATION CODES and LOG SENSE never conflict with a
reservation (SPC-5 5.13.1); for the others
:meth:`devemu.scsi.reservations.Reservations.conflict` decides.
"""

from __future__ import annotations

from devemu.scsi.command import Command
from devemu.scsi.diagnostics import (
    RECEIVE_DIAGNOSTIC_RESULTS,
    SEND_DIAGNOSTIC,
    receive_diagnostic_results,
    send_diagnostic,
)
from devemu.scsi.inquiry import INQUIRY, inquiry
from devemu.scsi.log_sense import LOG_SELECT, LOG_SENSE, log_select, log_sense
from devemu.scsi.mode_sense import (
    MODE_SELECT_6,
    MODE_SELECT_10,
    MODE_SENSE_6,
    MODE_SENSE_10,
    OBSOLETE_LUN_BITS,
    mode_select_6,
    mode_select_10,
    mode_sense_6,
    mode_sense_10,
)
from devemu.scsi.persistent_reservations import PERSISTENT_RESERVATION_COMMANDS
from devemu.scsi.report_luns import REPORT_LUNS, report_luns
from devemu.scsi.report_opcodes import (
    MAINTENANCE_IN,
    REPORT_SUPPORTED_OPERATION_CODES,
    report_supported_operation_codes,
)
from devemu.scsi.request_sense import REQUEST_SENSE, request_sense
from devemu.scsi.reservations import RESERVATION_COMMANDS
from devemu.scsi.table import CommandSpec

TEST_UNIT_READY = 0x00


def test_unit_ready(device: object, cmd: Command) -> None:
    """TEST UNIT READY, SPC-5 6.47: GOOD when the medium is ready."""


def _usage(*data: int) -> bytes:
    return bytes(data)


SPC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec("TEST UNIT READY", b"\x00\x00\x00\x00\x00\x00", test_unit_ready, needs_medium=True),
    CommandSpec(
        "REQUEST SENSE",
        _usage(REQUEST_SENSE, 0x01, 0, 0, 0xFF, 0),
        request_sense,
        blocked_by_unit_attention=False,
        conflicts=False,
    ),
    CommandSpec(
        "INQUIRY",
        _usage(INQUIRY, 0x01, 0xFF, 0xFF, 0xFF, 0),
        inquiry,
        blocked_by_unit_attention=False,
        conflicts=False,
    ),
    CommandSpec("MODE SELECT(6)", _usage(MODE_SELECT_6, 0x11, 0, 0, 0xFF, 0), mode_select_6),
    CommandSpec(
        "MODE SENSE(6)",
        _usage(MODE_SENSE_6, OBSOLETE_LUN_BITS | 0x08, 0xFF, 0xFF, 0xFF, 0),
        mode_sense_6,
    ),
    CommandSpec(
        "RECEIVE DIAGNOSTIC RESULTS",
        _usage(RECEIVE_DIAGNOSTIC_RESULTS, 0x01, 0xFF, 0xFF, 0xFF, 0),
        receive_diagnostic_results,
    ),
    CommandSpec(
        "SEND DIAGNOSTIC",
        _usage(SEND_DIAGNOSTIC, 0xF7, 0, 0xFF, 0xFF, 0),
        send_diagnostic,
        timeout=60,
    ),
    CommandSpec(
        "LOG SELECT",
        _usage(LOG_SELECT, 0x02, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0),
        log_select,
    ),
    CommandSpec(
        "LOG SENSE",
        _usage(LOG_SENSE, 0, 0xFF, 0xFF, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0),
        log_sense,
        conflicts=False,
    ),
    CommandSpec(
        "MODE SELECT(10)",
        _usage(MODE_SELECT_10, 0x11, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        mode_select_10,
    ),
    CommandSpec(
        "MODE SENSE(10)",
        _usage(MODE_SENSE_10, 0x18, 0xFF, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0),
        mode_sense_10,
    ),
    CommandSpec(
        "REPORT LUNS",
        _usage(REPORT_LUNS, 0, 0xFF, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0),
        report_luns,
        blocked_by_unit_attention=False,
        conflicts=False,
    ),
    CommandSpec(
        "REPORT SUPPORTED OPERATION CODES",
        _usage(
            MAINTENANCE_IN,
            REPORT_SUPPORTED_OPERATION_CODES,
            0x87,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0xFF,
            0,
            0,
        ),
        report_supported_operation_codes,
        service_action=REPORT_SUPPORTED_OPERATION_CODES,
        conflicts=False,
    ),
    *RESERVATION_COMMANDS,
    *PERSISTENT_RESERVATION_COMMANDS,
)
