"""The CDBs of the SSC-5 commands a tape drive implements (SSC-5 7, SPC-5 6).

Each CDB is declared once with construct and named after its command
(``Space6Cdb``, ``Locate16Cdb``, ``ReadPositionCdb``); READ(6) and WRITE(6) run for
every block and also have a precompiled :class:`struct.Struct` twin (a
test proves the two agree). The opcodes are in :mod:`devemu.tape.opcodes`;
the usage masks the dispatcher checks live with the command table in
:mod:`devemu.tape.commands`; ``tests/unit/tape/test_tape_cdbs.py`` checks
every declaration against golden bytes both ways.
"""

from __future__ import annotations

from enum import IntEnum

from construct import (
    BitsInteger,
    BitStruct,
    Flag,
    Int8ub,
    Int16ub,
    Int24sb,
    Int24ub,
    Int32ub,
    Int64sb,
    Int64ub,
    Padding,
    Struct,
)


class SpaceCode(IntEnum):
    """The CODE field of SPACE, SSC-5 7.9 table 50."""

    BLOCKS = 0
    FILEMARKS = 1
    SEQUENTIAL_FILEMARKS = 2
    END_OF_DATA = 3


class DestType(IntEnum):
    """DEST_TYPE of LOCATE(16), SSC-5 7.5 table 42."""

    LOGICAL_OBJECT = 0
    LOGICAL_FILE = 1
    END_OF_DATA = 3


class ReadPositionForm(IntEnum):
    """READ POSITION service actions, SSC-5 7.7 table 45."""

    SHORT = 0x00
    SHORT_VENDOR = 0x01
    LONG = 0x06
    EXTENDED = 0x08


# SSC-5 7.6 (READ(6)) and 7.13 (WRITE(6)): byte 1 SILI and FIXED, 24-bit length.
ReadWrite6Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(6), "sili" / Flag, "fixed" / Flag),
    "transfer_length" / Int24ub,
    "control" / Int8ub,
)
# SSC-5 7.9: SPACE(6), count is a signed 24-bit number.
Space6Cdb = Struct(
    "opcode" / Int8ub,
    "code" / BitStruct(Padding(4), "code" / BitsInteger(4)),
    "count" / Int24sb,
    "control" / Int8ub,
)

# SSC-5 7.10: SPACE(16).
Space16Cdb = Struct(
    "opcode" / Int8ub,
    "code" / BitStruct(Padding(4), "code" / BitsInteger(4)),
    Padding(2),
    "count" / Int64sb,
    "parameter_length" / Int16ub,
    Padding(1),
    "control" / Int8ub,
)

# SSC-5 7.12: WRITE FILEMARKS(6).
WriteFilemarks6Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(6), "wsmk" / Flag, "immed" / Flag),
    "count" / Int24ub,
    "control" / Int8ub,
)

# SSC-5 7.13: WRITE FILEMARKS(16).
WriteFilemarks16Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(4), "fcs" / Flag, "lcs" / Flag, Padding(1), "immed" / Flag),
    Padding(1),
    "partition" / Int8ub,
    "logical_object_identifier" / Int64ub,
    "count" / Int24ub,
    "control" / Int8ub,
)

# SSC-5 7.4: LOCATE(10).
Locate10Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(5), "bt" / Flag, "cp" / Flag, "immed" / Flag),
    Padding(1),
    "logical_object_identifier" / Int32ub,
    Padding(1),
    "partition" / Int8ub,
    "control" / Int8ub,
)

# SSC-5 7.5: LOCATE(16).
Locate16Cdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(Padding(2), "dest_type" / BitsInteger(3), Padding(1), "cp" / Flag, "immed" / Flag),
    "bam" / BitStruct(Padding(7), "bam" / Flag),
    "partition" / Int8ub,
    "logical_identifier" / Int64ub,
    Padding(3),
    "control" / Int8ub,
)

# SSC-5 7.7: READ POSITION.
ReadPositionCdb = Struct(
    "opcode" / Int8ub,
    "service_action" / BitStruct(Padding(3), "service_action" / BitsInteger(5)),
    Padding(5),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

# SSC-5 7.8: REWIND; 7.2: ERASE(6); 7.3: LOAD UNLOAD; 7.1: FORMAT MEDIUM.
RewindCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(7), "immed" / Flag),
    Padding(3),
    "control" / Int8ub,
)
Erase6Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(6), "immed" / Flag, "long" / Flag),
    Padding(3),
    "control" / Int8ub,
)
LoadUnloadCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(7), "immed" / Flag),
    Padding(2),
    "action" / BitStruct(Padding(4), "hold" / Flag, "eot" / Flag, "reten" / Flag, "load" / Flag),
    "control" / Int8ub,
)
FormatMediumCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(6), "verify" / Flag, "immed" / Flag),
    "format" / BitStruct(Padding(4), "format" / BitsInteger(4)),
    "transfer_length" / Int16ub,
    "control" / Int8ub,
)


class AllowOverwrite(IntEnum):
    """The ALLOW OVERWRITE field of the ALLOW OVERWRITE command (SSC-5, ALLOW OVERWRITE command)."""

    DISABLED = 0x0
    CURRENT_POSITION = 0x1
    FORMAT = 0x2


# SSC-5, ALLOW OVERWRITE command: the CDB.
AllowOverwriteCdb = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "allow" / BitStruct(Padding(4), "allow_overwrite" / BitsInteger(4)),
    "partition" / Int8ub,
    "logical_object_identifier" / Int64ub,
    Padding(3),
    "control" / Int8ub,
)

# SPC-5 6.19: READ BUFFER(10) (the drive dump, :mod:`devemu.tape.drive_dump`).
ReadBufferCdb = Struct(
    "opcode" / Int8ub,
    "mode" / BitStruct("mode_specific" / BitsInteger(3), "mode" / BitsInteger(5)),
    "buffer_id" / Int8ub,
    "buffer_offset" / Int24ub,
    "allocation_length" / Int24ub,
    "control" / Int8ub,
)

# SSC-5, SET CAPACITY command: the CDB.
SetCapacityCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(7), "immed" / Flag),
    Padding(1),
    "capacity_proportion_value" / Int16ub,
    "control" / Int8ub,
)

# SSC-5 7.6 READ BLOCK LIMITS and 6.6 REPORT DENSITY SUPPORT.
ReadBlockLimitsCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(7), "mloi" / Flag),
    Padding(3),
    "control" / Int8ub,
)
ReportDensitySupportCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(6), "medium_type" / Flag, "media" / Flag),
    Padding(5),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

# SPC-5 6.15 (PREVENT ALLOW MEDIUM REMOVAL, as SSC-5 6.x keeps it).
PreventAllowMediumRemovalCdb = Struct(
    "opcode" / Int8ub,
    Padding(3),
    "prevent" / BitStruct(Padding(6), "prevent" / BitsInteger(2)),
    "control" / Int8ub,
)

# SPC-5 6.18: READ ATTRIBUTE; 6.50: WRITE ATTRIBUTE.
ReadAttributeCdb = Struct(
    "opcode" / Int8ub,
    "service_action" / BitStruct(Padding(3), "service_action" / BitsInteger(5)),
    Padding(3),
    "logical_volume" / Int8ub,
    Padding(1),
    "partition" / Int8ub,
    "first_attribute" / Int16ub,
    "allocation_length" / Int32ub,
    "cache" / BitStruct(Padding(7), "cache" / Flag),
    "control" / Int8ub,
)
WriteAttributeCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct(Padding(7), "wtc" / Flag),
    Padding(3),
    "logical_volume" / Int8ub,
    Padding(1),
    "partition" / Int8ub,
    Padding(2),
    "parameter_list_length" / Int32ub,
    Padding(1),
    "control" / Int8ub,
)
