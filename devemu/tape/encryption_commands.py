"""SECURITY PROTOCOL IN and OUT of the tape drive (SPC-5 6.40, 6.41; SSC-5 8.5).

The drive answers protocol 00h, security protocol information
(:mod:`devemu.scsi.security_protocol`), and protocol 20h, tape data
encryption (:mod:`devemu.tape.encryption_pages`). SECURITY PROTOCOL OUT
takes the Set Data Encryption page; parameters set for ALL I_T NEXUS
post DATA ENCRYPTION PARAMETERS CHANGED BY ANOTHER I_T NEXUS (2Ah/11h)
to every other nexus the drive knows (SSC-5 8.5). The entries below
join the drive's command table, which REPORT SUPPORTED OPERATION CODES
reads.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.scsi.command import Command
from devemu.scsi.opcodes import Opcode
from devemu.scsi.security_protocol import (
    PROTOCOL_BYTE,
    SPECIFIC_BYTE,
    SecurityProtocol,
    SecurityProtocolInCdb,
    SecurityProtocolOutCdb,
    information_page,
)
from devemu.scsi.sense import (
    DATA_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_I_T_NEXUS,
    INVALID_FIELD_IN_CDB,
    SenseError,
    cdb_field,
)
from devemu.scsi.table import Access, CommandSpec, Data
from devemu.tape.encryption import Scope
from devemu.tape.encryption_pages import OutPage, parse_set_data_encryption, spin_page

if TYPE_CHECKING:
    from devemu.tape.drive import TapeDrive


def security_protocol_in(
    drive: TapeDrive,
    cmd: Command,
    security_protocol: int,
    security_protocol_specific: int,
    allocation_length: int,
) -> int:
    """SECURITY PROTOCOL IN (SPC-5 6.40): a page of protocol 00h or 20h."""
    specific = security_protocol_specific
    if security_protocol == SecurityProtocol.INFORMATION:
        page = information_page(specific, [int(p) for p in SecurityProtocol])
    elif security_protocol == SecurityProtocol.TAPE_DATA_ENCRYPTION:
        page = spin_page(drive, cmd.nexus, specific)
    else:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(PROTOCOL_BYTE))
    return cmd.data_in(page, allocation_length)


def security_protocol_out(
    drive: TapeDrive,
    cmd: Command,
    security_protocol: int,
    security_protocol_specific: int,
    transfer_length: int,
) -> None:
    """SECURITY PROTOCOL OUT (SPC-5 6.41): protocol 20h, the Set Data Encryption page."""
    if security_protocol != SecurityProtocol.TAPE_DATA_ENCRYPTION:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(PROTOCOL_BYTE))
    if security_protocol_specific != OutPage.SET_DATA_ENCRYPTION:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(SPECIFIC_BYTE))
    page = parse_set_data_encryption(cmd.data_out(transfer_length), drive.cartridge is not None)
    drive.encryption.establish(cmd.nexus, page.parameters, page.lock)
    if page.parameters.scope is Scope.ALL_I_T_NEXUS:
        drive.post_unit_attention_to_others(
            DATA_ENCRYPTION_PARAMETERS_CHANGED_BY_ANOTHER_I_T_NEXUS, cmd.nexus
        )


_FIELDS = ("security_protocol", "security_protocol_specific")

SECURITY_PROTOCOL_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "SECURITY PROTOCOL IN",
        Opcode.SECURITY_PROTOCOL_IN,
        SecurityProtocolInCdb,
        security_protocol_in,
        fields=(*_FIELDS, "allocation_length"),
        unsupported=frozenset({"flags.inc_512"}),
        data=Data.IN,
    ),
    CommandSpec(
        "SECURITY PROTOCOL OUT",
        Opcode.SECURITY_PROTOCOL_OUT,
        SecurityProtocolOutCdb,
        security_protocol_out,
        fields=(*_FIELDS, "transfer_length"),
        unsupported=frozenset({"flags.inc_512"}),
        data=Data.OUT,
        access=Access.CONTROL,
    ),
)
