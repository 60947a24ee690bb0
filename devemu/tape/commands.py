"""The SSC-5 command table of the tape drive.

One entry per command: its name, opcode and CDB declaration
(:mod:`devemu.tape.cdbs`), from which the usage data and the decoder of
the fields its handler takes are derived, and its facts. The handlers
live in :mod:`~devemu.tape.io_commands` (READ, WRITE, WRITE FILEMARKS,
ERASE), :mod:`~devemu.tape.motion` (REWIND, SPACE, LOCATE, READ
POSITION, LOAD UNLOAD, PREVENT ALLOW MEDIUM REMOVAL, ALLOW OVERWRITE),
:mod:`~devemu.tape.drive_dump` (READ BUFFER),
:mod:`~devemu.tape.format_commands` (FORMAT MEDIUM, READ BLOCK LIMITS,
REPORT DENSITY SUPPORT) and :mod:`~devemu.tape.attribute_commands` (READ
and WRITE ATTRIBUTE).

Every command that moves the tape is :attr:`Access.CONTROL` (a Write
Exclusive reservation refuses it), READ is :attr:`Access.READ`, and the
drive replays after a restart only what changes nothing
(:attr:`TapeDrive.replays_only_unchanging`): a READ, a SPACE or a WRITE
found half done must not run twice.
"""

from __future__ import annotations

from devemu.scsi.table import Access, CommandSpec, Data
from devemu.tape import attribute_commands, cdbs, drive_dump
from devemu.tape.format_commands import (
    format_medium,
    read_block_limits,
    report_density_support,
    set_capacity,
)
from devemu.tape.io_commands import erase6, read6, write6, write_filemarks6, write_filemarks16
from devemu.tape.motion import (
    allow_overwrite,
    load_unload,
    locate10,
    locate16,
    prevent_allow_medium_removal,
    read_position,
    rewind,
    space6,
    space16,
)
from devemu.tape.opcodes import Opcode

_O = Opcode

SSC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "REWIND",
        _O.REWIND,
        cdbs.RewindCdb,
        rewind,
        access=Access.CONTROL,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "FORMAT MEDIUM",
        _O.FORMAT_MEDIUM,
        cdbs.FormatMediumCdb,
        format_medium,
        fields=("format.format",),
        unsupported=frozenset({"transfer_length"}),
        access=Access.WRITE,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "SET CAPACITY",
        _O.SET_CAPACITY,
        cdbs.SetCapacityCdb,
        set_capacity,
        fields=("flags.immed", "capacity_proportion_value"),
        access=Access.WRITE,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "READ BLOCK LIMITS",
        _O.READ_BLOCK_LIMITS,
        cdbs.ReadBlockLimitsCdb,
        read_block_limits,
        fields=("flags.mloi",),
        data=Data.IN,
    ),
    CommandSpec(
        "READ(6)",
        _O.READ_6,
        cdbs.ReadWrite6Cdb,
        read6,
        fields=("flags.sili", "flags.fixed", "transfer_length"),
        data=Data.IN,
        access=Access.READ,
        idempotent=False,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE(6)",
        _O.WRITE_6,
        cdbs.ReadWrite6Cdb,
        write6,
        fields=("flags.fixed", "transfer_length"),
        unsupported=frozenset({"flags.sili"}),
        data=Data.OUT,
        access=Access.WRITE,
        needs_medium=True,
    ),
    CommandSpec(
        "WRITE FILEMARKS(6)",
        _O.WRITE_FILEMARKS_6,
        cdbs.WriteFilemarks6Cdb,
        write_filemarks6,
        fields=("flags.immed", "count"),
        unsupported=frozenset({"flags.wsmk"}),
        access=Access.WRITE,
        needs_medium=True,
    ),
    CommandSpec(
        "SPACE(6)",
        _O.SPACE_6,
        cdbs.Space6Cdb,
        space6,
        fields=("code.code", "count"),
        access=Access.CONTROL,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "ERASE(6)",
        _O.ERASE_6,
        cdbs.Erase6Cdb,
        erase6,
        access=Access.WRITE,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "LOAD UNLOAD",
        _O.LOAD_UNLOAD,
        cdbs.LoadUnloadCdb,
        load_unload,
        fields=("action.hold", "action.eot", "action.load"),
        access=Access.CONTROL,
        timeout=600,
    ),
    CommandSpec(
        "PREVENT ALLOW MEDIUM REMOVAL",
        _O.PREVENT_ALLOW_MEDIUM_REMOVAL,
        cdbs.PreventAllowMediumRemovalCdb,
        prevent_allow_medium_removal,
        fields=("prevent.prevent",),
        access=Access.CONTROL,
    ),
    CommandSpec(
        "LOCATE(10)",
        _O.LOCATE_10,
        cdbs.Locate10Cdb,
        locate10,
        fields=("flags.cp", "logical_object_identifier", "partition"),
        access=Access.CONTROL,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "READ POSITION",
        _O.READ_POSITION,
        cdbs.ReadPositionCdb,
        read_position,
        fields=("service_action.service_action", "allocation_length"),
        data=Data.IN,
        needs_medium=True,
    ),
    CommandSpec(
        "READ BUFFER",
        _O.READ_BUFFER,
        cdbs.ReadBufferCdb,
        drive_dump.read_buffer,
        fields=("mode.mode", "buffer_id", "buffer_offset", "allocation_length"),
        unsupported=frozenset({"mode.mode_specific"}),
        data=Data.IN,
    ),
    CommandSpec(
        "ALLOW OVERWRITE",
        _O.ALLOW_OVERWRITE,
        cdbs.AllowOverwriteCdb,
        allow_overwrite,
        fields=("allow.allow_overwrite", "partition", "logical_object_identifier"),
        access=Access.WRITE,
        needs_medium=True,
    ),
    CommandSpec(
        "REPORT DENSITY SUPPORT",
        _O.REPORT_DENSITY_SUPPORT,
        cdbs.ReportDensitySupportCdb,
        report_density_support,
        fields=("flags.medium_type", "flags.media", "allocation_length"),
        data=Data.IN,
    ),
    CommandSpec(
        "WRITE FILEMARKS(16)",
        _O.WRITE_FILEMARKS_16,
        cdbs.WriteFilemarks16Cdb,
        write_filemarks16,
        fields=("flags.immed", "partition", "logical_object_identifier", "count"),
        unsupported=frozenset({"flags.fcs", "flags.lcs"}),
        access=Access.WRITE,
        needs_medium=True,
    ),
    *(
        CommandSpec(
            "READ ATTRIBUTE",
            _O.READ_ATTRIBUTE,
            cdbs.ReadAttributeCdb,
            attribute_commands.read_attribute,
            service_action=int(action),
            fields=(
                "service_action.service_action",
                "logical_volume",
                "partition",
                "first_attribute",
                "allocation_length",
            ),
            data=Data.IN,
        )
        for action in attribute_commands.ReadAttributeAction
    ),
    CommandSpec(
        "WRITE ATTRIBUTE",
        _O.WRITE_ATTRIBUTE,
        cdbs.WriteAttributeCdb,
        attribute_commands.write_attribute,
        fields=("logical_volume", "partition", "parameter_list_length"),
        data=Data.OUT,
        access=Access.WRITE,
    ),
    CommandSpec(
        "SPACE(16)",
        _O.SPACE_16,
        cdbs.Space16Cdb,
        space16,
        fields=("code.code", "count"),
        unsupported=frozenset({"parameter_length"}),
        access=Access.CONTROL,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "LOCATE(16)",
        _O.LOCATE_16,
        cdbs.Locate16Cdb,
        locate16,
        fields=("flags.dest_type", "flags.cp", "partition", "logical_identifier"),
        access=Access.CONTROL,
        timeout=600,
        needs_medium=True,
    ),
)
