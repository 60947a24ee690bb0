"""The CDBs of the SMC-3 commands the medium changer implements (SMC-3 6).

Each CDB is declared once with construct, named after its command; the
handlers in :mod:`devemu.changer.commands` parse them and the golden-bytes
tests in ``tests/unit/changer/test_changer_cdbs.py`` check them both ways.
Bits 7-5 of byte 1 are the obsolete SCSI-2 LUN field (see
:mod:`devemu.changer.device`).
"""

from __future__ import annotations

from construct import BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Int24ub, Padding, Struct

#: SMC-3 6.6 table 19: MOVE MEDIUM.
MoveMedium = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "transport" / Int16ub,
    "source" / Int16ub,
    "destination" / Int16ub,
    Padding(2),
    "byte10" / BitStruct(Padding(7), "invert" / Flag),
    "control" / Int8ub,
)

#: SMC-3 6.3 table 13: EXCHANGE MEDIUM.
ExchangeMedium = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "transport" / Int16ub,
    "source" / Int16ub,
    "first_destination" / Int16ub,
    "second_destination" / Int16ub,
    "byte10" / BitStruct(Padding(6), "inv1" / Flag, "inv2" / Flag),
    "control" / Int8ub,
)

#: SMC-3 6.8 table 23: POSITION TO ELEMENT.
PositionToElement = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "transport" / Int16ub,
    "destination" / Int16ub,
    Padding(2),
    "byte8" / BitStruct(Padding(7), "invert" / Flag),
    "control" / Int8ub,
)

#: SMC-3 6.5 table 16: INITIALIZE ELEMENT STATUS WITH RANGE.
InitializeElementStatusWithRange = Struct(
    "opcode" / Int8ub,
    "byte1" / BitStruct("obsolete_lun" / BitsInteger(3), Padding(3), "fast" / Flag, "range" / Flag),
    "starting_address" / Int16ub,
    Padding(2),
    "number_of_elements" / Int16ub,
    Padding(1),
    "control" / Int8ub,
)

#: SMC-3 6.13 table 27 (SPC-5 6.15): PREVENT ALLOW MEDIUM REMOVAL.
PreventAllowMediumRemoval = Struct(
    "opcode" / Int8ub,
    "byte1" / BitStruct("obsolete_lun" / BitsInteger(3), Padding(5)),
    Padding(2),
    "prevent" / BitStruct(Padding(6), "prevent" / BitsInteger(2)),
    "control" / Int8ub,
)

#: SMC-3 6.11.1 table 32: the READ ELEMENT STATUS CDB.
ReadElementStatus = Struct(
    "opcode" / Int8ub,
    "byte1"
    / BitStruct(
        "obsolete_lun" / BitsInteger(3),
        "voltag" / Flag,
        "element_type" / BitsInteger(4),
    ),
    "starting_address" / Int16ub,
    "number_of_elements" / Int16ub,
    "byte6" / BitStruct(Padding(6), "curdata" / Flag, "dvcid" / Flag),
    "allocation_length" / Int24ub,
    Padding(1),
    "control" / Int8ub,
)
