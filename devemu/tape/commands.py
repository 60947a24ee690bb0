"""The SSC-5 command table of the tape drive, and its replay policy.

One entry per command: its name, the usage mask the dispatcher checks
reserved bits against (and REPORT SUPPORTED OPERATION CODES reports), its
handler and timeout, and whether it needs a medium. The handlers live in
:mod:`~devemu.tape.io_commands` (READ, WRITE, WRITE FILEMARKS, ERASE),
:mod:`~devemu.tape.motion` (REWIND, SPACE, LOCATE, READ POSITION, LOAD
UNLOAD, PREVENT ALLOW MEDIUM REMOVAL), :mod:`~devemu.tape.format_commands`
(FORMAT MEDIUM, READ BLOCK LIMITS, REPORT DENSITY SUPPORT) and
:mod:`~devemu.tape.attribute_commands` (READ and WRITE ATTRIBUTE); the
CDB declarations in :mod:`~devemu.tape.cdbs`.
"""

from __future__ import annotations

from devemu.scsi.command import Command
from devemu.scsi.table import SERVICE_ACTION_IN_BYTE1, CommandSpec
from devemu.tape import attribute_commands
from devemu.tape.format_commands import format_medium, read_block_limits, report_density_support
from devemu.tape.io_commands import erase6, read6, write6, write_filemarks6, write_filemarks16
from devemu.tape.motion import (
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


def _usage(*data: int) -> bytes:
    return bytes(data)


def _write_attribute_specs() -> tuple[CommandSpec, ...]:
    """WRITE ATTRIBUTE has WTC in byte 1, not a service action; fit the table's view."""
    usage = _usage(
        Opcode.WRITE_ATTRIBUTE, 0x01, 0, 0, 0, 0xFF, 0, 0xFF, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0
    )
    handler = attribute_commands.write_attribute
    if Opcode.WRITE_ATTRIBUTE in SERVICE_ACTION_IN_BYTE1:
        return tuple(
            CommandSpec("WRITE ATTRIBUTE", usage, handler, service_action=sa) for sa in (0, 1)
        )
    return (CommandSpec("WRITE ATTRIBUTE", usage, handler),)


def _read_attribute_specs() -> tuple[CommandSpec, ...]:
    usage = _usage(
        Opcode.READ_ATTRIBUTE,
        0x1F,
        0,
        0,
        0,
        0xFF,
        0,
        0xFF,
        0xFF,
        0xFF,
        0xFF,
        0xFF,
        0xFF,
        0xFF,
        0x01,
        0,
    )
    return tuple(
        CommandSpec(
            "READ ATTRIBUTE", usage, attribute_commands.read_attribute, service_action=int(sa)
        )
        for sa in attribute_commands.ReadAttributeAction
    )


SSC_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "REWIND", _usage(Opcode.REWIND, 0x01, 0, 0, 0, 0), rewind, timeout=600, needs_medium=True
    ),
    CommandSpec(
        "FORMAT MEDIUM",
        _usage(Opcode.FORMAT_MEDIUM, 0x03, 0x0F, 0, 0, 0),
        format_medium,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "READ BLOCK LIMITS", _usage(Opcode.READ_BLOCK_LIMITS, 0x01, 0, 0, 0, 0), read_block_limits
    ),
    CommandSpec(
        "READ(6)", _usage(Opcode.READ_6, 0x03, 0xFF, 0xFF, 0xFF, 0), read6, needs_medium=True
    ),
    CommandSpec(
        "WRITE(6)", _usage(Opcode.WRITE_6, 0x01, 0xFF, 0xFF, 0xFF, 0), write6, needs_medium=True
    ),
    CommandSpec(
        "WRITE FILEMARKS(6)",
        _usage(Opcode.WRITE_FILEMARKS_6, 0x01, 0xFF, 0xFF, 0xFF, 0),
        write_filemarks6,
        needs_medium=True,
    ),
    CommandSpec(
        "SPACE(6)",
        _usage(Opcode.SPACE_6, 0x0F, 0xFF, 0xFF, 0xFF, 0),
        space6,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "ERASE(6)", _usage(Opcode.ERASE_6, 0x03, 0, 0, 0, 0), erase6, timeout=600, needs_medium=True
    ),
    CommandSpec(
        "LOAD UNLOAD", _usage(Opcode.LOAD_UNLOAD, 0x01, 0, 0, 0x0F, 0), load_unload, timeout=600
    ),
    CommandSpec(
        "PREVENT ALLOW MEDIUM REMOVAL",
        _usage(Opcode.PREVENT_ALLOW_MEDIUM_REMOVAL, 0, 0, 0, 0x03, 0),
        prevent_allow_medium_removal,
    ),
    CommandSpec(
        "LOCATE(10)",
        _usage(Opcode.LOCATE_10, 0x07, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0, 0xFF, 0),
        locate10,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "READ POSITION",
        _usage(Opcode.READ_POSITION, 0x1F, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        read_position,
        needs_medium=True,
    ),
    CommandSpec(
        "REPORT DENSITY SUPPORT",
        _usage(Opcode.REPORT_DENSITY_SUPPORT, 0x01, 0, 0, 0, 0, 0, 0xFF, 0xFF, 0),
        report_density_support,
    ),
    CommandSpec(
        "WRITE FILEMARKS(16)",
        _usage(Opcode.WRITE_FILEMARKS_16, 0x01, 0, 0xFF, *([0xFF] * 8), 0xFF, 0xFF, 0xFF, 0),
        write_filemarks16,
        needs_medium=True,
    ),
    *_read_attribute_specs(),
    *_write_attribute_specs(),
    CommandSpec(
        "SPACE(16)",
        _usage(Opcode.SPACE_16, 0x0F, 0, 0, *([0xFF] * 8), 0, 0, 0, 0),
        space16,
        timeout=600,
        needs_medium=True,
    ),
    CommandSpec(
        "LOCATE(16)",
        _usage(Opcode.LOCATE_16, 0x3B, 0x01, 0xFF, *([0xFF] * 8), 0, 0, 0, 0),
        locate16,
        timeout=600,
        needs_medium=True,
    ),
)


#: Commands that neither move the tape nor change it or the drive: the only
#: ones a restarted daemon may run again when it finds them half done.
REPLAYABLE_OPCODES = frozenset(
    {
        0x00,  # TEST UNIT READY
        0x03,  # REQUEST SENSE
        Opcode.READ_BLOCK_LIMITS,
        0x12,  # INQUIRY
        0x1A,  # MODE SENSE(6)
        0x1C,  # RECEIVE DIAGNOSTIC RESULTS
        Opcode.READ_POSITION,
        Opcode.REPORT_DENSITY_SUPPORT,
        0x4D,  # LOG SENSE
        0x5A,  # MODE SENSE(10)
        0x5E,  # PERSISTENT RESERVE IN
        Opcode.READ_ATTRIBUTE,
        0xA0,  # REPORT LUNS
        0xA3,  # MAINTENANCE IN (REPORT SUPPORTED OPERATION CODES)
    }
)


def may_replay(cmd: Command) -> bool:
    """Replay policy for a restarted daemon: only commands that change nothing.

    READ, WRITE, WRITE FILEMARKS, SPACE, LOCATE, REWIND, ERASE, LOAD UNLOAD,
    FORMAT MEDIUM and every other command that moves the tape or changes
    state must not run twice: the daemon completes them with an error.
    """
    return bool(cmd.cdb) and cmd.cdb[0] in REPLAYABLE_OPCODES
