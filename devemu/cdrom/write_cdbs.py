"""The CDBs of the MMC-6 recording commands, declared once (like :mod:`devemu.cdrom.cdbs`).

SYNCHRONIZE CACHE (MMC-6 6.41), READ BUFFER CAPACITY (6.21), RESERVE
TRACK (6.32), CLOSE TRACK/SESSION (6.3), SEND CUE SHEET (6.33), BLANK
(6.2), SET STREAMING (6.40) and SEND OPC INFORMATION (6.35). WRITE (10)
and WRITE (12) are declared with the reading commands.
"""

from __future__ import annotations

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Int24ub, Int32ub, Struct

#: MMC-6 6.41 table 622: SYNCHRONIZE CACHE (10).
SynchronizeCacheCdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct("reserved" / BitsInteger(5), "obsolete" / Flag, "immed" / Flag, "reloc" / Flag),
    "lba" / Int32ub,
    "reserved" / Int8ub,
    "number_of_blocks" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.21 table 384: READ BUFFER CAPACITY.
ReadBufferCapacityCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "block" / Flag),
    "reserved" / Bytes(5),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.32 table 576: RESERVE TRACK (ARSV 0: a reservation size in blocks).
ReserveTrackCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "arsv" / Flag),
    "reserved" / Bytes(3),
    "reservation_size" / Int32ub,
    "control" / Int8ub,
)

#: MMC-6 6.3 table 38: CLOSE TRACK/SESSION.
CloseTrackSessionCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "immed" / Flag),
    "function" / BitStruct("reserved" / BitsInteger(5), "close_function" / BitsInteger(3)),
    "reserved" / Int8ub,
    "track_number" / Int16ub,
    "reserved2" / Bytes(3),
    "control" / Int8ub,
)

#: MMC-6 6.33 table 580: SEND CUE SHEET.
SendCueSheetCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Bytes(5),
    "cue_sheet_size" / Int24ub,
    "control" / Int8ub,
)

#: MMC-6 6.2 table 28: BLANK.
BlankCdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(3),
        "immed" / Flag,
        "reserved2" / Flag,
        "blanking_type" / BitsInteger(3),
    ),
    "start_address" / Int32ub,
    "reserved" / Bytes(5),
    "control" / Int8ub,
)

#: MMC-6 6.40 table 613: SET STREAMING.
SetStreamingCdb = Struct(
    "opcode" / Int8ub,
    "reserved" / Bytes(7),
    "type" / Int8ub,
    "parameter_list_length" / Int16ub,
    "control" / Int8ub,
)

#: MMC-6 6.35 table 588: SEND OPC INFORMATION.
SendOpcCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "do_opc" / Flag),
    "exclude" / Int8ub,
    "reserved" / Bytes(4),
    "parameter_list_length" / Int16ub,
    "control" / Int8ub,
)
