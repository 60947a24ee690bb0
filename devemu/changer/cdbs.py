"""The CDBs of the SMC-3 commands the medium changer implements (SMC-3 6).

Each CDB is declared once with construct, named after its command; the
table in :mod:`devemu.changer.commands` derives the usage data and the
decoders of the fields each handler takes from these declarations, and
the golden-bytes tests in ``tests/unit/changer/test_changer_cdbs.py``
check them both ways. Bits 7-5 of byte 1 are the obsolete SCSI-2 LUN
field, which the Linux ch driver still sets, and bits 7-6 of the CONTROL
byte of MOVE MEDIUM and EXCHANGE MEDIUM are vendor specific (SAM-5 5.2)
and set by mtx: both are accepted and ignored (see
:mod:`devemu.changer.device`).
"""

from __future__ import annotations

from construct import BitsInteger, BitStruct, Flag, Int8ub, Int16ub, Int24ub, Padding, Struct

#: Byte 1 of the SMC-3 CDBs: the obsolete LUN field, then reserved bits.
_LUN = BitStruct("obsolete_lun" / BitsInteger(3), Padding(5))
#: The CONTROL byte of MOVE and EXCHANGE MEDIUM with its vendor-specific bits.
_VENDOR_CONTROL = BitStruct("vendor_specific" / BitsInteger(2), "reserved" / BitsInteger(6))

#: SMC-3 6.4 table 15: INITIALIZE ELEMENT STATUS.
InitializeElementStatusCdb = Struct(
    "opcode" / Int8ub,
    "byte1" / _LUN,
    Padding(3),
    "control" / Int8ub,
)

#: SMC-3 6.6 table 19: MOVE MEDIUM.
MoveMediumCdb = Struct(
    "opcode" / Int8ub,
    "byte1" / _LUN,
    "transport" / Int16ub,
    "source" / Int16ub,
    "destination" / Int16ub,
    Padding(2),
    "byte10" / BitStruct(Padding(7), "invert" / Flag),
    "control" / _VENDOR_CONTROL,
)

#: SMC-3 6.3 table 13: EXCHANGE MEDIUM.
ExchangeMediumCdb = Struct(
    "opcode" / Int8ub,
    "byte1" / _LUN,
    "transport" / Int16ub,
    "source" / Int16ub,
    "first_destination" / Int16ub,
    "second_destination" / Int16ub,
    "byte10" / BitStruct(Padding(6), "inv1" / Flag, "inv2" / Flag),
    "control" / _VENDOR_CONTROL,
)

#: SMC-3 6.8 table 23: POSITION TO ELEMENT.
PositionToElementCdb = Struct(
    "opcode" / Int8ub,
    "byte1" / _LUN,
    "transport" / Int16ub,
    "destination" / Int16ub,
    Padding(2),
    "byte8" / BitStruct(Padding(7), "invert" / Flag),
    "control" / Int8ub,
)

#: SMC-3 6.5 table 16: INITIALIZE ELEMENT STATUS WITH RANGE.
InitializeElementStatusWithRangeCdb = Struct(
    "opcode" / Int8ub,
    "byte1" / BitStruct("obsolete_lun" / BitsInteger(3), Padding(3), "fast" / Flag, "range" / Flag),
    "starting_address" / Int16ub,
    Padding(2),
    "number_of_elements" / Int16ub,
    Padding(1),
    "control" / Int8ub,
)

#: SMC-3 6.13 table 27 (SPC-5 6.15): PREVENT ALLOW MEDIUM REMOVAL.
PreventAllowMediumRemovalCdb = Struct(
    "opcode" / Int8ub,
    "byte1" / _LUN,
    Padding(2),
    "prevent" / BitStruct(Padding(6), "prevent" / BitsInteger(2)),
    "control" / Int8ub,
)

#: SMC-3 6.11.1 table 32: the READ ELEMENT STATUS CDB.
ReadElementStatusCdb = Struct(
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
