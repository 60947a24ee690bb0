"""Operation codes of the SSC-5 commands a tape drive answers.

SSC-5 6.1 table 22 (commands for sequential-access devices) lists them,
with READ ATTRIBUTE, WRITE ATTRIBUTE and READ BUFFER from SPC-5; the values here are
the ones :mod:`devemu.tape.commands` implements.
"""

from __future__ import annotations

from enum import IntEnum


class Opcode(IntEnum):
    """SSC-5 operation codes (SSC-5 6.1 table 22) this drive answers."""

    REWIND = 0x01
    FORMAT_MEDIUM = 0x04
    READ_BLOCK_LIMITS = 0x05
    READ_6 = 0x08
    SET_CAPACITY = 0x0B
    WRITE_6 = 0x0A
    WRITE_FILEMARKS_6 = 0x10
    SPACE_6 = 0x11
    ERASE_6 = 0x19
    LOAD_UNLOAD = 0x1B
    PREVENT_ALLOW_MEDIUM_REMOVAL = 0x1E
    LOCATE_10 = 0x2B
    READ_POSITION = 0x34
    READ_BUFFER = 0x3C
    REPORT_DENSITY_SUPPORT = 0x44
    WRITE_FILEMARKS_16 = 0x80
    ALLOW_OVERWRITE = 0x82
    READ_ATTRIBUTE = 0x8C
    WRITE_ATTRIBUTE = 0x8D
    SPACE_16 = 0x91
    LOCATE_16 = 0x92
