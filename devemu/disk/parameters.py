"""Parameter data of the SBC-4 commands: what goes with the CDB.

READ CAPACITY data (SBC-4 5.20.2, 5.21.2), the UNMAP parameter list
(SBC-4 5.32.2) and GET LBA STATUS parameter data (SBC-4 5.8.2).
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Flag,
    GreedyRange,
    Int16ub,
    Int32ub,
    Int64ub,
    Padding,
    Struct,
)

#: READ CAPACITY (10) parameter data, SBC-4 5.20.2 table 71.
ReadCapacity10Data = Struct(
    "returned_lba" / Int32ub,
    "block_length" / Int32ub,
)

#: READ CAPACITY (16) parameter data, SBC-4 5.21.2 table 73.
ReadCapacity16Data = Struct(
    "returned_lba" / Int64ub,
    "block_length" / Int32ub,
    "protection"
    / BitStruct(
        "reserved" / BitsInteger(4),
        "p_type" / BitsInteger(3),
        "prot_en" / Flag,
    ),
    "exponents"
    / BitStruct(
        "p_i_exponent" / BitsInteger(4),
        "lbppbe" / BitsInteger(4),
    ),
    "provisioning"
    / BitStruct(
        "lbpme" / Flag,
        "lbprz" / Flag,
        "lowest_aligned_lba" / BitsInteger(14),
    ),
    Padding(16),
)

#: UNMAP parameter list header, SBC-4 5.32.2 table 85.
UnmapHeader = Struct(
    "unmap_data_length" / Int16ub,
    "block_descriptor_data_length" / Int16ub,
    Padding(4),
)
UNMAP_HEADER_LENGTH = 8

#: UNMAP block descriptor, SBC-4 5.32.2 table 86.
UnmapDescriptor = Struct(
    "lba" / Int64ub,
    "count" / Int32ub,
    Padding(4),
)
UNMAP_DESCRIPTOR_LENGTH = 16
UnmapDescriptors = GreedyRange(UnmapDescriptor)

#: GET LBA STATUS parameter data header, SBC-4 5.8.2 table 48.
LbaStatusHeader = Struct(
    "parameter_data_length" / Int32ub,
    Padding(4),
)
LBA_STATUS_HEADER_LENGTH = 8

#: LBA status descriptor, SBC-4 5.8.2 table 49.
LbaStatusDescriptor = Struct(
    "lba" / Int64ub,
    "count" / Int32ub,
    "provisioning_status" / BitStruct("reserved" / BitsInteger(4), "status" / BitsInteger(4)),
    Padding(3),
)
LBA_STATUS_DESCRIPTOR_LENGTH = 16

#: PROVISIONING STATUS values, SBC-4 5.8.2 table 50.
MAPPED = 0x0
DEALLOCATED = 0x1
ANCHORED = 0x2
