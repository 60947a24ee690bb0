"""The SPC-5 commands every device type shares, as one table.

Each device type builds its table as ``CommandTable(SPC_COMMANDS, OWN)``.
Each entry names the CDB declaration of its command; the usage data the
dispatcher checks and REPORT SUPPORTED OPERATION CODES reports is derived
from it (:mod:`devemu.scsi.layout`), less the fields listed as
unsupported. The control byte is 00h everywhere (NACA and LINK are not
supported). MODE SENSE(6) also accepts the obsolete LUN bits of byte 1,
which the Linux ch driver sets for a changer that is not LUN 0.

INQUIRY, REPORT LUNS and REQUEST SENSE run despite a pending unit
attention (SPC-5 5.14). INQUIRY, REPORT LUNS, REQUEST SENSE, REPORT
SUPPORTED OPERATION CODES and LOG SENSE never conflict with a
reservation; TEST UNIT READY conflicts only with RESERVE (SPC-5 5.13.1
table 63); for the others the entry's access decides.
"""

from __future__ import annotations

from construct import Bytes, Int8ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.diagnostics import (
    ReceiveDiagnosticCdb,
    SendDiagnosticCdb,
    receive_diagnostic_results,
    send_diagnostic,
)
from devemu.scsi.inquiry import InquiryCdb, inquiry
from devemu.scsi.log_sense import (
    LogSelectCdb,
    LogSenseCdb,
    log_select,
    log_sense,
)
from devemu.scsi.mode_sense import (
    ModeSelect6Cdb,
    ModeSelect10Cdb,
    ModeSense6Cdb,
    ModeSense10Cdb,
    mode_select_6,
    mode_select_10,
    mode_sense_6,
    mode_sense_10,
)
from devemu.scsi.opcodes import MaintenanceIn, Opcode
from devemu.scsi.persistent_reservations import PERSISTENT_RESERVATION_COMMANDS
from devemu.scsi.report_luns import ReportLunsCdb, report_luns
from devemu.scsi.report_opcodes import (
    RsocCdb,
    report_supported_operation_codes,
)
from devemu.scsi.request_sense import RequestSenseCdb, request_sense
from devemu.scsi.reservations import RESERVATION_COMMANDS
from devemu.scsi.table import Access, CommandSpec, Conflict, Data

#: SPC-5 6.47 table 282: TEST UNIT READY CDB.
TestUnitReadyCdb = Struct("opcode" / Int8ub, "reserved" / Bytes(4), "control" / Int8ub)


def test_unit_ready(device: object, cmd: Command) -> None:
    """TEST UNIT READY, SPC-5 6.47: GOOD when the medium is ready."""


_MODE_SENSE_FIELDS = ("flags.dbd", "page.pc", "page.page_code", "subpage_code", "allocation_length")

SPC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "TEST UNIT READY",
        Opcode.TEST_UNIT_READY,
        TestUnitReadyCdb,
        test_unit_ready,
        conflict=Conflict.RESERVE,
        needs_medium=True,
    ),
    CommandSpec(
        "REQUEST SENSE",
        Opcode.REQUEST_SENSE,
        RequestSenseCdb,
        request_sense,
        fields=("flags.desc", "allocation_length"),
        data=Data.IN,
        conflict=Conflict.NEVER,
        blocked_by_unit_attention=False,
    ),
    CommandSpec(
        "INQUIRY",
        Opcode.INQUIRY,
        InquiryCdb,
        inquiry,
        fields=("flags.evpd", "page_code", "allocation_length"),
        data=Data.IN,
        conflict=Conflict.NEVER,
        blocked_by_unit_attention=False,
    ),
    CommandSpec(
        "MODE SELECT(6)",
        Opcode.MODE_SELECT_6,
        ModeSelect6Cdb,
        mode_select_6,
        fields=("flags.sp", "parameter_list_length"),
        unsupported=frozenset({"flags.rtd"}),
        data=Data.OUT,
        access=Access.CONTROL,
        idempotent=True,
    ),
    CommandSpec(
        "MODE SENSE(6)",
        Opcode.MODE_SENSE_6,
        ModeSense6Cdb,
        mode_sense_6,
        fields=_MODE_SENSE_FIELDS,
        data=Data.IN,
    ),
    CommandSpec(
        "RECEIVE DIAGNOSTIC RESULTS",
        Opcode.RECEIVE_DIAGNOSTIC_RESULTS,
        ReceiveDiagnosticCdb,
        receive_diagnostic_results,
        fields=("flags.pcv", "page_code", "allocation_length"),
        data=Data.IN,
    ),
    CommandSpec(
        "SEND DIAGNOSTIC",
        Opcode.SEND_DIAGNOSTIC,
        SendDiagnosticCdb,
        send_diagnostic,
        fields=("flags.self_test_code", "flags.pf", "flags.selftest", "parameter_list_length"),
        data=Data.OUT,
        access=Access.CONTROL,
        idempotent=True,
        timeout=60,
    ),
    CommandSpec(
        "LOG SELECT",
        Opcode.LOG_SELECT,
        LogSelectCdb,
        log_select,
        fields=("flags.pcr", "parameter_list_length"),
        unsupported=frozenset({"flags.sp"}),
        data=Data.OUT,
        access=Access.CONTROL,
        idempotent=True,
    ),
    CommandSpec(
        "LOG SENSE",
        Opcode.LOG_SENSE,
        LogSenseCdb,
        log_sense,
        fields=("page.page_code", "subpage_code", "parameter_pointer", "allocation_length"),
        unsupported=frozenset({"flags.ppc", "flags.sp"}),
        data=Data.IN,
        conflict=Conflict.NEVER,
    ),
    CommandSpec(
        "MODE SELECT(10)",
        Opcode.MODE_SELECT_10,
        ModeSelect10Cdb,
        mode_select_10,
        fields=("flags.sp", "parameter_list_length"),
        unsupported=frozenset({"flags.rtd"}),
        data=Data.OUT,
        access=Access.CONTROL,
        idempotent=True,
    ),
    CommandSpec(
        "MODE SENSE(10)",
        Opcode.MODE_SENSE_10,
        ModeSense10Cdb,
        mode_sense_10,
        fields=("flags.llbaa", *_MODE_SENSE_FIELDS),
        data=Data.IN,
    ),
    CommandSpec(
        "REPORT LUNS",
        Opcode.REPORT_LUNS,
        ReportLunsCdb,
        report_luns,
        fields=("select_report", "allocation_length"),
        data=Data.IN,
        conflict=Conflict.NEVER,
        blocked_by_unit_attention=False,
    ),
    CommandSpec(
        "REPORT SUPPORTED OPERATION CODES",
        Opcode.MAINTENANCE_IN,
        RsocCdb,
        report_supported_operation_codes,
        service_action=MaintenanceIn.REPORT_SUPPORTED_OPERATION_CODES,
        fields=(
            "options.rctd",
            "options.reporting",
            "requested_operation_code",
            "requested_service_action",
            "allocation_length",
        ),
        data=Data.IN,
        conflict=Conflict.NEVER,
    ),
    *RESERVATION_COMMANDS,
    *PERSISTENT_RESERVATION_COMMANDS,
)
