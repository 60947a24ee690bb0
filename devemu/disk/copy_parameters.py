"""The bytes of copy offload: CDBs, the parameter list, the results and the VPD page.

Declared with construct after SPC-4 (the list identifier 1 forms, which
SPC-5 keeps in 6.4 and 6.19 as EXTENDED COPY (LID1) and RECEIVE COPY
RESULTS (LID1)):

- the EXTENDED COPY (LID1) CDB (SPC-4 6.3.1 table 106) and its parameter
  list: the header (table 109), the identification CSCD descriptor E4h
  (6.3.6.5 table 134) with the block device parameters (6.3.6.9.2
  table 145), and the block device to block device segment descriptor
  02h (6.3.7.5 table 150);
- the RECEIVE COPY RESULTS CDB (SPC-4 6.18.1 table 243) and its parameter
  data: COPY STATUS (6.18.2 table 245), OPERATING PARAMETERS (6.18.4
  table 249) and FAILED SEGMENT DETAILS (6.18.5 table 251);
- the third-party copy descriptors of the Third-party Copy VPD page
  (SPC-5 7.7.18): Supported Commands (0001h), Parameter Data (0004h),
  Supported Descriptors (0008h) and General Copy Operations (8001h).

Nothing else decodes these bytes: :mod:`devemu.disk.copy_offload` parses
and builds with these declarations.
"""

from __future__ import annotations

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Const,
    Flag,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    Padding,
    Struct,
)

_SERVICE_ACTION = BitStruct("reserved" / BitsInteger(3), "service_action" / BitsInteger(5))

# --- CDBs -----------------------------------------------------------------------------

#: EXTENDED COPY (LID1), SPC-4 6.3.1 table 106 (opcode 83h, service action 00h).
ExtendedCopyCdb = Struct(
    "opcode" / Int8ub,
    "action" / _SERVICE_ACTION,
    Padding(8),
    "parameter_list_length" / Int32ub,
    Padding(1),
    "control" / Int8ub,
)

#: RECEIVE COPY RESULTS, SPC-4 6.18.1 table 243 (opcode 84h).
ReceiveCopyResultsCdb = Struct(
    "opcode" / Int8ub,
    "action" / _SERVICE_ACTION,
    "list_identifier" / Int8ub,
    Padding(7),
    "allocation_length" / Int32ub,
    Padding(1),
    "control" / Int8ub,
)

# --- the EXTENDED COPY (LID1) parameter list --------------------------------------------

#: Parameter list header, SPC-4 6.3.1 table 109.
ParameterListHeader = Struct(
    "list_identifier" / Int8ub,
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(2),
        "str" / Flag,
        "list_id_usage" / BitsInteger(2),
        "priority" / BitsInteger(3),
    ),
    "cscd_descriptor_list_length" / Int16ub,
    Padding(4),
    "segment_descriptor_list_length" / Int32ub,
    "inline_data_length" / Int32ub,
)
HEADER_LENGTH = 16

#: LIST ID USAGE, SPC-4 6.3.1 table 110.
LIST_ID_HELD = 0b00
LIST_ID_RESERVED = 0b01
LIST_ID_NOT_HELD = 0b10
LIST_ID_NONE = 0b11

#: DESCRIPTOR TYPE CODE of the identification CSCD descriptor (SPC-4 table 112).
IDENTIFICATION_CSCD = 0xE4

#: Identification CSCD descriptor, SPC-4 6.3.6.5 table 134, with the block
#: device type specific parameters of 6.3.6.9.2 table 145 in its last bytes.
IdentificationCscd = Struct(
    "descriptor_type_code" / Const(IDENTIFICATION_CSCD, Int8ub),
    "device"
    / BitStruct(
        "lu_id_type" / BitsInteger(2),
        "nul" / Flag,
        "peripheral_device_type" / BitsInteger(5),
    ),
    "relative_initiator_port_identifier" / Int16ub,
    "code_set" / BitStruct("reserved" / BitsInteger(4), "code_set" / BitsInteger(4)),
    "designator_kind"
    / BitStruct(
        "reserved" / BitsInteger(2),
        "association" / BitsInteger(2),
        "designator_type" / BitsInteger(4),
    ),
    "reserved" / Int8ub,
    "designator_length" / Int8ub,
    "designator" / Bytes(20),
    "block"
    / BitStruct(
        "reserved" / BitsInteger(5),
        "pad" / Flag,
        "reserved2" / BitsInteger(2),
    ),
    "disk_block_length" / BitStruct("value" / BitsInteger(24)),
)
CSCD_DESCRIPTOR_LENGTH = 32
#: Offset of DESIGNATOR LENGTH in the descriptor (the rest: IdentificationCscd).
DESIGNATOR_LENGTH_AT = 7
DESIGNATOR_AT = 8
BLOCK_PARAMETERS_AT = 28

#: DESCRIPTOR TYPE CODE of the block to block segment descriptor (SPC-4 table 111).
BLOCK_TO_BLOCK = 0x02

#: Block device to block device segment descriptor, SPC-4 6.3.7.5 table 150.
BlockToBlockSegment = Struct(
    "descriptor_type_code" / Const(BLOCK_TO_BLOCK, Int8ub),
    "flags"
    / BitStruct(
        "reserved" / BitsInteger(6),
        "dc" / Flag,
        "cat" / Flag,
    ),
    "descriptor_length" / Const(0x18, Int16ub),
    "source_cscd_descriptor_id" / Int16ub,
    "destination_cscd_descriptor_id" / Int16ub,
    "reserved" / Bytes(2),
    "number_of_blocks" / Int16ub,
    "source_lba" / Int64ub,
    "destination_lba" / Int64ub,
)
SEGMENT_DESCRIPTOR_LENGTH = 28
#: Field offsets inside the segment descriptor, for the sense field pointer.
SEGMENT_FLAGS_AT = 1
SEGMENT_LENGTH_AT = 2
SEGMENT_SOURCE_AT = 4
SEGMENT_DESTINATION_AT = 6
SEGMENT_RESERVED_AT = 8
SEGMENT_BLOCKS_AT = 10

# --- RECEIVE COPY RESULTS parameter data -------------------------------------------------

#: COPY STATUS parameter data, SPC-4 6.18.2 table 245.
CopyStatusData = Struct(
    "available_data" / Const(8, Int32ub),
    "status" / BitStruct("hdd" / Flag, "copy_manager_status" / BitsInteger(7)),
    "segments_processed" / Int16ub,
    "transfer_count_units" / Int8ub,
    "transfer_count" / Int32ub,
)

#: COPY MANAGER STATUS, SPC-4 6.18.2 table 246.
OPERATION_IN_PROGRESS = 0x00
COMPLETED_WITHOUT_ERRORS = 0x01
COMPLETED_WITH_ERRORS = 0x02

#: TRANSFER COUNT UNITS, SPC-4 6.18.2 table 247: bytes, then powers of 1024.
TRANSFER_COUNT_UNIT_SHIFTS = (0, 10, 20, 30, 40, 50, 60)

#: RECEIVE DATA parameter data header, SPC-4 6.18.3 table 248 (held data follows).
ReceiveDataHeader = Struct("available_data" / Int32ub)

#: OPERATING PARAMETERS parameter data before the implemented descriptor
#: list, SPC-4 6.18.4 table 249.
OperatingParameters = Struct(
    "available_data" / Int32ub,
    "flags" / BitStruct("reserved" / BitsInteger(7), "snlid" / Flag),
    Padding(3),
    "maximum_cscd_descriptor_count" / Int16ub,
    "maximum_segment_descriptor_count" / Int16ub,
    "maximum_descriptor_list_length" / Int32ub,
    "maximum_segment_length" / Int32ub,
    "maximum_inline_data_length" / Int32ub,
    "held_data_limit" / Int32ub,
    "maximum_stream_device_transfer_size" / Int32ub,
    Padding(2),
    "total_concurrent_copies" / Int16ub,
    "maximum_concurrent_copies" / Int8ub,
    "data_segment_granularity" / Int8ub,
    "inline_data_granularity" / Int8ub,
    "held_data_granularity" / Int8ub,
    Padding(3),
    "implemented_descriptor_list_length" / Int8ub,
)
OPERATING_PARAMETERS_LENGTH = 44

#: FAILED SEGMENT DETAILS parameter data before the sense data, SPC-4 6.18.5 table 251.
FailedSegmentDetails = Struct(
    "available_data" / Int32ub,
    Padding(52),
    "copy_command_status" / Int8ub,
    Padding(1),
    "sense_data_length" / Int16ub,
)
FAILED_SEGMENT_DETAILS_LENGTH = 60

# --- the Third-party Copy VPD page ------------------------------------------------------

#: Third-party copy descriptor header, SPC-5 7.7.18.1 table 630.
TpcDescriptorHeader = Struct("descriptor_type" / Int16ub, "descriptor_length" / Int16ub)

#: THIRD-PARTY COPY DESCRIPTOR TYPE, SPC-5 7.7.18.1 table 631.
SUPPORTED_COMMANDS = 0x0001
PARAMETER_DATA = 0x0004
SUPPORTED_DESCRIPTORS = 0x0008
GENERAL_COPY_OPERATIONS = 0x8001

#: Parameter Data third-party copy descriptor, SPC-5 7.7.18.4 table 634.
ParameterDataDescriptor = Struct(
    "descriptor_type" / Const(PARAMETER_DATA, Int16ub),
    "descriptor_length" / Const(0x1C, Int16ub),
    Padding(4),
    "maximum_cscd_descriptor_count" / Int16ub,
    "maximum_segment_descriptor_count" / Int16ub,
    "maximum_descriptor_list_length" / Int32ub,
    "maximum_inline_data_length" / Int32ub,
    Padding(12),
)

#: General Copy Operations third-party copy descriptor, SPC-5 7.7.18.7 table 638.
GeneralCopyOperationsDescriptor = Struct(
    "descriptor_type" / Const(GENERAL_COPY_OPERATIONS, Int16ub),
    "descriptor_length" / Const(0x20, Int16ub),
    "total_concurrent_copies" / Int32ub,
    "maximum_identified_concurrent_copies" / Int32ub,
    "maximum_segment_length" / Int32ub,
    "data_segment_granularity" / Int8ub,
    "inline_data_granularity" / Int8ub,
    Padding(18),
)
