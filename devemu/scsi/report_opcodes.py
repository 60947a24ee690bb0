"""REPORT SUPPORTED OPERATION CODES, SPC-5 6.35.

The answer is generated from ``device.commands``, the very table that
dispatches, so it cannot disagree with what the device does: the CDB
usage data of one-command answers is the table's usage mask, and the
command timeouts descriptors carry each entry's timeout.

Reporting options (SPC-5 6.35.1 table 240):

- 000b all commands, one descriptor per (opcode, service action);
- 001b one command by opcode; an opcode with service actions is refused;
- 010b one command by opcode and service action; an opcode without
  service actions is refused;
- 011b one command by opcode and service action; for an opcode without
  service actions the service action is ignored.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Int32ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field
from devemu.scsi.table import CommandSpec

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice


ALL_COMMANDS = 0b000
ONE_COMMAND = 0b001
ONE_COMMAND_SERVICE_ACTION = 0b010
ONE_COMMAND_EITHER = 0b011

#: SUPPORT field, SPC-5 6.35.3 table 245.
SUPPORT_NOT_SUPPORTED = 0b001
SUPPORT_STANDARD = 0b011

#: SPC-5 6.35.1 table 239: REPORT SUPPORTED OPERATION CODES CDB.
RsocCdb = Struct(
    "opcode" / Int8ub,
    "service_action" / Int8ub,
    "options" / BitStruct("rctd" / Flag, "reserved" / BitsInteger(4), "reporting" / BitsInteger(3)),
    "requested_operation_code" / Int8ub,
    "requested_service_action" / Int16ub,
    "allocation_length" / Int32ub,
    "reserved" / Int8ub,
    "control" / Int8ub,
)

#: SPC-5 6.35.2 table 243: command descriptor of the all-commands format.
CommandDescriptor = Struct(
    "operation_code" / Int8ub,
    "reserved" / Int8ub,
    "service_action" / Int16ub,
    "reserved2" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(6), "ctdp" / Flag, "servactv" / Flag),
    "cdb_length" / Int16ub,
)

#: SPC-5 6.35.3 table 244: one-command parameter data header (usage data follows).
OneCommandHeader = Struct(
    "reserved" / Int8ub,
    "flags" / BitStruct("ctdp" / Flag, "reserved" / BitsInteger(4), "support" / BitsInteger(3)),
    "cdb_size" / Int16ub,
)

#: SPC-5 6.35.4 table 246: command timeouts descriptor.
TimeoutsDescriptor = Struct(
    "descriptor_length" / Int16ub,
    "reserved" / Int8ub,
    "command_specific" / Int8ub,
    "nominal_timeout" / Int32ub,
    "recommended_timeout" / Int32ub,
)
TIMEOUTS_DESCRIPTOR_LENGTH = 0x0A


def timeouts_descriptor(spec: CommandSpec) -> bytes:
    """The command timeouts descriptor of ``spec`` (seconds)."""
    out: bytes = TimeoutsDescriptor.build(
        {
            "descriptor_length": TIMEOUTS_DESCRIPTOR_LENGTH,
            "reserved": 0,
            "command_specific": 0,
            "nominal_timeout": spec.timeout,
            "recommended_timeout": spec.timeout,
        }
    )
    return out


def all_commands(device: ScsiDevice, *, rctd: bool) -> bytes:
    """The all-commands parameter data (SPC-5 6.35.2)."""
    body = b""
    for spec in device.commands:
        body += CommandDescriptor.build(
            {
                "operation_code": spec.opcode,
                "reserved": 0,
                "service_action": spec.service_action or 0,
                "reserved2": 0,
                "flags": {
                    "reserved": 0,
                    "ctdp": rctd,
                    "servactv": spec.service_action is not None,
                },
                "cdb_length": spec.length,
            }
        )
        if rctd:
            body += timeouts_descriptor(spec)
    return len(body).to_bytes(4, "big") + body


def one_command(spec: CommandSpec | None, *, rctd: bool) -> bytes:
    """The one-command parameter data (SPC-5 6.35.3)."""
    if spec is None:
        out: bytes = OneCommandHeader.build(
            {
                "reserved": 0,
                "flags": {"ctdp": False, "reserved": 0, "support": SUPPORT_NOT_SUPPORTED},
                "cdb_size": 0,
            }
        )
        return out
    head: bytes = OneCommandHeader.build(
        {
            "reserved": 0,
            "flags": {"ctdp": rctd, "reserved": 0, "support": SUPPORT_STANDARD},
            "cdb_size": spec.length,
        }
    )
    return head + spec.usage + (timeouts_descriptor(spec) if rctd else b"")


def report_supported_operation_codes(
    device: ScsiDevice,
    cmd: Command,
    rctd: int,
    reporting: int,
    requested_operation_code: int,
    requested_service_action: int,
    allocation_length: int,
) -> int:
    """REPORT SUPPORTED OPERATION CODES, SPC-5 6.35."""
    option = reporting
    table = device.commands
    opcode = requested_operation_code
    sa = requested_service_action
    if option == ALL_COMMANDS:
        data = all_commands(device, rctd=bool(rctd))
    elif option == ONE_COMMAND:
        if table.has_service_actions(opcode):
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
        data = one_command(table.get(opcode), rctd=bool(rctd))
    elif option == ONE_COMMAND_SERVICE_ACTION:
        if table.get(opcode) is not None:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
        data = one_command(table.get(opcode, sa), rctd=bool(rctd))
    elif option == ONE_COMMAND_EITHER:
        if table.has_service_actions(opcode):
            data = one_command(table.get(opcode, sa), rctd=bool(rctd))
        else:
            data = one_command(table.get(opcode), rctd=bool(rctd))
    else:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2, 2))
    return cmd.data_in(data, allocation_length)
