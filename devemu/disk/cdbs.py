"""The CDBs of the SBC-4 commands, declared with construct.

Each declaration follows the CDB table of its clause in SBC-4 5.x and is
named by the entry of :mod:`devemu.disk.commands` that uses it. Nothing
else decodes a disk CDB: the usage data, the reserved-bit checks and the
precompiled decoders of the fields each handler takes are derived from
these declarations (:mod:`devemu.scsi.layout`).
"""

from __future__ import annotations

from typing import Any

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Flag,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    Padding,
    Struct,
)

# --- byte 1 of the data transfer commands ------------------------------------------

#: READ (10/12/16) byte 1, SBC-4 5.13 table 60.
ReadFlags = BitStruct(
    "rdprotect" / BitsInteger(3),
    "dpo" / Flag,
    "fua" / Flag,
    "rarc" / Flag,
    "obsolete" / BitsInteger(2),
)

#: WRITE (10/12/16) byte 1, SBC-4 5.42 table 104.
WriteFlags = BitStruct(
    "wrprotect" / BitsInteger(3),
    "dpo" / Flag,
    "fua" / Flag,
    "reserved" / BitsInteger(1),
    "obsolete" / BitsInteger(2),
)

#: VERIFY and WRITE AND VERIFY byte 1, SBC-4 5.34 table 87 and 5.46 table 114.
VerifyFlags = BitStruct(
    "protect" / BitsInteger(3),
    "dpo" / Flag,
    "reserved" / BitsInteger(1),
    "bytchk" / BitsInteger(2),
    "obsolete" / BitsInteger(1),
)

#: ORWRITE (16) byte 1, SBC-4 ORWRITE (16) command.
OrWriteFlags = BitStruct(
    "orprotect" / BitsInteger(3),
    "dpo" / Flag,
    "fua" / Flag,
    "reserved" / BitsInteger(1),
    "obsolete" / BitsInteger(1),
    "reserved2" / BitsInteger(1),
)

#: WRITE SAME byte 1, SBC-4 5.49 table 121 (NDOB is reserved in the 10-byte CDB).
WriteSameFlags = BitStruct(
    "wrprotect" / BitsInteger(3),
    "anchor" / Flag,
    "unmap" / Flag,
    "obsolete" / BitsInteger(2),
    "ndob" / Flag,
)

#: COMPARE AND WRITE byte 1, SBC-4 5.3 table 32.
CompareAndWriteFlags = BitStruct(
    "wrprotect" / BitsInteger(3),
    "dpo" / Flag,
    "fua" / Flag,
    "reserved" / BitsInteger(1),
    "fua_nv" / Flag,
    "reserved2" / BitsInteger(1),
)

#: SYNCHRONIZE CACHE byte 1, SBC-4 5.31 table 82.
SyncCacheFlags = BitStruct(
    "reserved" / BitsInteger(5),
    "sync_nv" / Flag,
    "immed" / Flag,
    "obsolete" / BitsInteger(1),
)

#: PRE-FETCH byte 1, SBC-4 5.10 table 53.
PrefetchFlags = BitStruct(
    "reserved" / BitsInteger(6),
    "immed" / Flag,
    "obsolete" / BitsInteger(1),
)

#: The GROUP NUMBER byte, SBC-4 4.22.
GroupNumber = BitStruct("reserved" / BitsInteger(2), "group_number" / BitsInteger(6))


def cdb10(flags: Any) -> Struct:
    """The 10-byte LBA + 16-bit length layout (READ (10), SBC-4 5.13)."""
    return Struct(
        "opcode" / Int8ub,
        "flags" / flags,
        "lba" / Int32ub,
        "group" / GroupNumber,
        "transfer_length" / Int16ub,
        "control" / Int8ub,
    )


def cdb12(flags: Any) -> Struct:
    """The 12-byte LBA + 32-bit length layout (READ (12), SBC-4 5.14)."""
    return Struct(
        "opcode" / Int8ub,
        "flags" / flags,
        "lba" / Int32ub,
        "transfer_length" / Int32ub,
        "group" / GroupNumber,
        "control" / Int8ub,
    )


def cdb16(flags: Any) -> Struct:
    """The 16-byte 64-bit LBA + 32-bit length layout (READ (16), SBC-4 5.15)."""
    return Struct(
        "opcode" / Int8ub,
        "flags" / flags,
        "lba" / Int64ub,
        "transfer_length" / Int32ub,
        "group" / GroupNumber,
        "control" / Int8ub,
    )


#: READ (6) and WRITE (6), SBC-4 5.12 table 58 and 5.41 table 102:
#: a 21-bit LBA and an 8-bit length where 0 means 256 blocks.
Rw6Cdb = Struct(
    "opcode" / Int8ub,
    "address" / BitStruct("reserved" / BitsInteger(3), "lba" / BitsInteger(21)),
    "transfer_length" / Int8ub,
    "control" / Int8ub,
)

Read10Cdb = cdb10(ReadFlags)
Read12Cdb = cdb12(ReadFlags)
Read16Cdb = cdb16(ReadFlags)
Write10Cdb = cdb10(WriteFlags)
Write12Cdb = cdb12(WriteFlags)
Write16Cdb = cdb16(WriteFlags)
Verify10Cdb = cdb10(VerifyFlags)
Verify16Cdb = cdb16(VerifyFlags)
WriteAndVerify10Cdb = cdb10(VerifyFlags)
WriteAndVerify16Cdb = cdb16(VerifyFlags)
Verify12Cdb = cdb12(VerifyFlags)
WriteAndVerify12Cdb = cdb12(VerifyFlags)
OrWrite16Cdb = cdb16(OrWriteFlags)
WriteSame10Cdb = cdb10(WriteSameFlags)
WriteSame16Cdb = cdb16(WriteSameFlags)
SynchronizeCache10Cdb = cdb10(SyncCacheFlags)
SynchronizeCache16Cdb = cdb16(SyncCacheFlags)
PreFetch10Cdb = cdb10(PrefetchFlags)
PreFetch16Cdb = cdb16(PrefetchFlags)

#: COMPARE AND WRITE, SBC-4 5.3 table 32.
CompareAndWriteCdb = Struct(
    "opcode" / Int8ub,
    "flags" / CompareAndWriteFlags,
    "lba" / Int64ub,
    Padding(3),
    "number_of_blocks" / Int8ub,
    "group" / GroupNumber,
    "control" / Int8ub,
)

#: WRITE ATOMIC (16), SBC-4 WRITE ATOMIC (16) command: a 16-bit ATOMIC
#: BOUNDARY and a 16-bit TRANSFER LENGTH where READ (16) has 32 bits of length.
WriteAtomic16Cdb = Struct(
    "opcode" / Int8ub,
    "flags" / WriteFlags,
    "lba" / Int64ub,
    "atomic_boundary" / Int16ub,
    "transfer_length" / Int16ub,
    "group" / GroupNumber,
    "control" / Int8ub,
)

#: REQ_PLIST, REQ_GLIST and DEFECT LIST FORMAT of READ DEFECT DATA,
#: SBC-4 READ DEFECT DATA (10) and (12) commands.
DefectListRequest = BitStruct(
    "reserved" / BitsInteger(3),
    "req_plist" / Flag,
    "req_glist" / Flag,
    "defect_list_format" / BitsInteger(3),
)

#: READ DEFECT DATA (10), SBC-4 READ DEFECT DATA (10) command.
ReadDefectData10Cdb = Struct(
    "opcode" / Int8ub,
    Padding(1),
    "request" / DefectListRequest,
    Padding(4),
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: READ DEFECT DATA (12), SBC-4 READ DEFECT DATA (12) command.
ReadDefectData12Cdb = Struct(
    "opcode" / Int8ub,
    "request" / DefectListRequest,
    "address_descriptor_index" / Int32ub,
    "allocation_length" / Int32ub,
    Padding(1),
    "control" / Int8ub,
)

#: READ CAPACITY (10), SBC-4 5.20 table 70.
ReadCapacity10Cdb = Struct(
    "opcode" / Int8ub,
    "obsolete" / Int8ub,
    "lba" / Int32ub,
    Padding(2),
    "pmi" / Int8ub,
    "control" / Int8ub,
)

_SERVICE_ACTION = BitStruct("reserved" / BitsInteger(3), "service_action" / BitsInteger(5))

#: READ CAPACITY (16) under SERVICE ACTION IN (16), SBC-4 5.21 table 72
#: (LOGICAL BLOCK ADDRESS and PMI are obsolete).
ReadCapacity16Cdb = Struct(
    "opcode" / Int8ub,
    "action" / _SERVICE_ACTION,
    "lba" / Int64ub,
    "allocation_length" / Int32ub,
    "pmi" / Int8ub,
    "control" / Int8ub,
)

#: GET LBA STATUS under SERVICE ACTION IN (16), SBC-4 5.8 table 47.
GetLbaStatusCdb = Struct(
    "opcode" / Int8ub,
    "action" / _SERVICE_ACTION,
    "lba" / Int64ub,
    "allocation_length" / Int32ub,
    "report_type" / Int8ub,
    "control" / Int8ub,
)

#: UNMAP, SBC-4 5.32 table 84.
UnmapCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "anchor" / Flag),
    Padding(4),
    "group" / GroupNumber,
    "parameter_list_length" / Int16ub,
    "control" / Int8ub,
)

#: START STOP UNIT, SBC-4 5.25 table 77.
StartStopUnitCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "immed" / Flag),
    Padding(1),
    "modifier"
    / BitStruct("reserved" / BitsInteger(4), "power_condition_modifier" / BitsInteger(4)),
    "action"
    / BitStruct(
        "power_condition" / BitsInteger(4),
        "reserved" / BitsInteger(1),
        "no_flush" / Flag,
        "loej" / Flag,
        "start" / Flag,
    ),
    "control" / Int8ub,
)

#: FORMAT UNIT, SBC-4 5.4 table 34.
FormatUnitCdb = Struct(
    "opcode" / Int8ub,
    "flags"
    / BitStruct(
        "fmtpinfo" / BitsInteger(2),
        "longlist" / Flag,
        "fmtdata" / Flag,
        "cmplst" / Flag,
        "defect_list_format" / BitsInteger(3),
    ),
    "vendor_specific" / Int8ub,
    "obsolete" / Bytes(2),
    "control" / Int8ub,
)
