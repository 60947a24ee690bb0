"""The OSD-2 CDB, its data-buffer offsets and the capability (OSD-2 5.2, 4.11.2.2).

Every OSD-2 command is a 236-byte variable-length CDB (SPC-5 4.2.3,
ADDITIONAL CDB LENGTH E4h). The fields common to all service actions sit
at the same places (OSD-2 5.2.1 table 33); what bytes 32-51 and the
command-specific bits of byte 11 mean depends on the service action, so
each command names the fields it does not use as unsupported in its table
entry (:mod:`devemu.osd.commands`) and the dispatcher refuses them when
they are not zero.

Bytes 52-79 hold the get and set attributes parameters in one of three
formats chosen by GET/SET CDBFMT (OSD-2 5.2.4): :class:`AttributeParameters`
decodes them. Their data-in and data-out offsets use the OSD-2 encoding of
5.2.6 (:func:`decode_offset`). Bytes 80-183 are the capability (4.11.2.2),
checked for format by :func:`check_capability`; only the NOSEC security
method is answered (4.12.4.1).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Int32ub, Int64ub
from construct import Struct as CStruct

from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field

#: SPC-5 4.2.3: ADDITIONAL CDB LENGTH of every OSD-2 CDB.
ADDITIONAL_CDB_LENGTH = 0xE4
CDB_LENGTH = 8 + ADDITIONAL_CDB_LENGTH

# OSD-2 5.2.1 table 33: the CDB of every OSD-2 command.
OsdCdb = CStruct(
    "opcode" / Int8ub,
    "control" / Int8ub,
    "reserved" / Bytes(5),
    "additional_cdb_length" / Int8ub,
    "service_action" / Int16ub,
    "options"
    / BitStruct(
        "reserved" / BitsInteger(3),
        "dpo" / Flag,
        "fua" / Flag,
        "isolation" / BitsInteger(3),
    ),
    "command_options"
    / BitStruct(
        "reserved" / BitsInteger(1),
        "list_attr" / Flag,
        "cdbfmt" / BitsInteger(2),
        "command_specific" / BitsInteger(4),
    ),
    "timestamps_control" / Int8ub,
    "reserved2" / Bytes(3),
    "partition_id" / Int64ub,
    "object_id" / Int64ub,
    "length" / Int64ub,
    "starting_address" / Int64ub,
    "list_identifier" / Int32ub,
    "attribute_parameters" / Bytes(28),
    "capability" / Bytes(104),
    "security_parameters" / Bytes(52),
)

#: Byte offsets of the fields sense data points at (OSD-2 5.2.1 table 33).
PARTITION_ID_BYTE = 16
OBJECT_ID_BYTE = 24
LENGTH_BYTE = 32
STARTING_ADDRESS_BYTE = 40
ATTRIBUTE_PARAMETERS_BYTE = 52
CAPABILITY_BYTE = 80

#: OSD-2 5.2.10: TIMESTAMPS CONTROL values.
TIMESTAMPS_NORMAL = 0x00
TIMESTAMPS_BYPASS = 0x7F


class CdbFormat(IntEnum):
    """OSD-2 5.2.4.1 table 34: GET/SET CDBFMT."""

    RESERVED = 0
    SET_ONE_ATTRIBUTE = 1
    PAGE = 2
    LIST = 3


#: OSD-2 5.2.6: an offset field that names no offset.
OFFSET_UNUSED = 0xFFFFFFFF


#: OSD-2 4.15.5: the smallest exponent; -8 to -6 (8h-Ah) are reserved.
MIN_EXPONENT = -5


def decode_offset(value: int, byte: int = ATTRIBUTE_PARAMETERS_BYTE) -> int | None:
    """A data-in or data-out buffer offset (OSD-2 4.15.5): mantissa x 2^(exponent+8).

    Bits 31-28 are a signed exponent, bits 27-0 the mantissa. FFFFFFFFh
    means no offset (None). A reserved exponent is INVALID FIELD IN CDB at
    ``byte``, where the offset field starts.
    """
    if value == OFFSET_UNUSED:
        return None
    exponent = value >> 28
    if exponent >= 8:
        exponent -= 16
    if exponent < MIN_EXPONENT:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(byte, 7))
    return (value & 0x0FFFFFFF) << (exponent + 8)


@dataclass(frozen=True, slots=True)
class AttributeParameters:
    """Bytes 52-79 of the CDB, decoded by GET/SET CDBFMT (OSD-2 5.2.4).

    ``get_page``/``set_page`` formats (5.2.4.3): one page retrieved into
    data-in at ``retrieved_offset``, one attribute set from data-out at
    ``set_offset``. List format (5.2.4.4): a get list in data-out, the
    retrieved list in data-in, a set list in data-out. One-attribute format
    (5.2.4.2): the value is in the CDB itself.
    """

    fmt: CdbFormat
    get_page: int = 0
    get_list_length: int = 0
    get_list_offset: int | None = None
    allocation_length: int = 0
    retrieved_offset: int | None = None
    set_page: int = 0
    set_number: int = 0
    set_length: int = 0
    set_offset: int | None = None
    set_list_length: int = 0
    set_list_offset: int | None = None
    #: The value of a one-attribute set (CDBFMT 1), at most 18 bytes.
    set_value: bytes = b""

    @property
    def wants_data_in(self) -> bool:
        """Does a retrieval land in data-in?"""
        if self.fmt is CdbFormat.PAGE:
            return self.get_page != 0 and self.allocation_length != 0
        if self.fmt is CdbFormat.LIST:
            return self.get_list_length != 0
        return False

    @property
    def wants_data_out(self) -> bool:
        """Does an attribute list or value come from data-out?"""
        if self.fmt is CdbFormat.PAGE:
            return self.set_page != 0
        if self.fmt is CdbFormat.LIST:
            return self.get_list_length != 0 or self.set_list_length != 0
        return False


_PAGE = struct.Struct(">IIIIIII")
_ONE = struct.Struct(">IIH")
_P = ATTRIBUTE_PARAMETERS_BYTE


def attribute_parameters(cdb: bytes, fmt: int) -> AttributeParameters:
    """Decode bytes 52-79 as GET/SET CDBFMT ``fmt`` says (OSD-2 5.2.4)."""
    raw = cdb[_P : _P + 28]
    if fmt == CdbFormat.PAGE:
        page, alloc, roff, spage, snum, slen, soff = _PAGE.unpack(raw)
        return AttributeParameters(
            CdbFormat.PAGE,
            get_page=page,
            allocation_length=alloc,
            retrieved_offset=decode_offset(roff, _P + 8),
            set_page=spage,
            set_number=snum,
            set_length=slen,
            set_offset=decode_offset(soff, _P + 24),
        )
    if fmt == CdbFormat.LIST:
        glen, goff, alloc, roff, slen, soff, reserved = _PAGE.unpack(raw)
        if reserved:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_P + 24))
        return AttributeParameters(
            CdbFormat.LIST,
            get_list_length=glen,
            get_list_offset=decode_offset(goff, _P + 4),
            allocation_length=alloc,
            retrieved_offset=decode_offset(roff, _P + 12),
            set_list_length=slen,
            set_list_offset=decode_offset(soff, _P + 20),
        )
    if fmt == CdbFormat.SET_ONE_ATTRIBUTE:
        page, number, length = _ONE.unpack(raw[:10])
        if length > 18:
            raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_P + 8))
        return AttributeParameters(
            CdbFormat.SET_ONE_ATTRIBUTE,
            set_page=page,
            set_number=number,
            set_length=length,
            set_value=bytes(raw[10 : 10 + length]),
        )
    raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(11, 5))


class SecurityMethod(IntEnum):
    """OSD-2 4.12.1 table 22: security methods."""

    NOSEC = 0
    CAPKEY = 1
    CMDRSP = 2
    ALLDATA = 3


class CapabilityFormat(IntEnum):
    """OSD-2 4.11.2.2: CAPABILITY FORMAT (low nibble of capability byte 0)."""

    NO_CAPABILITY = 0
    OSD2 = 2


class ObjectType(IntEnum):
    """OSD-2 4.11.2.2 table 15: the object type of a capability (and of attributes)."""

    ROOT = 0x01
    PARTITION = 0x02
    COLLECTION = 0x40
    USER = 0x80


# OSD-2 4.11.2.2 table 14: the capability (bytes 80-183 of the CDB).
Capability = CStruct(
    "format" / BitStruct("reserved" / BitsInteger(4), "capability_format" / BitsInteger(4)),
    "key" / BitStruct("key_version" / BitsInteger(4), "integrity_algorithm" / BitsInteger(4)),
    "security_method" / BitStruct("reserved" / BitsInteger(4), "method" / BitsInteger(4)),
    "reserved" / Int8ub,
    "expiration_time" / Bytes(6),
    "audit" / Bytes(20),
    "discriminator" / Bytes(12),
    "object_created_time" / Bytes(6),
    "object_type" / Int8ub,
    "permissions" / Bytes(5),
    "reserved2" / Int8ub,
    "descriptor_type" / BitStruct("type" / BitsInteger(4), "reserved" / BitsInteger(4)),
    "allowed_attributes_access" / Int32ub,
    "policy_access_tag" / Int32ub,
    "boot_epoch" / Int16ub,
    "reserved3" / Bytes(6),
    "allowed_partition_id" / Int64ub,
    "allowed_object_id" / Int64ub,
    "allowed_range_length" / Int64ub,
    "allowed_range_start" / Int64ub,
)

_C = CAPABILITY_BYTE
#: Object descriptor types of OSD-2 4.11.2.2 table 16 (high nibble of byte 55).
_DESCRIPTOR_TYPES = frozenset({0, 1, 2, 3})


def check_capability(cdb: bytes) -> None:
    """Check the capability's format; refuse every security method but NOSEC.

    OSD-2 4.11.2.2: the format, the object type and the object descriptor
    type must hold defined values; reserved nibbles must be zero. OSD-2
    4.12.1: a security method the device does not support ends the command
    with ILLEGAL REQUEST / INVALID FIELD IN CDB pointing at the SECURITY
    METHOD field (CAPKEY, CMDRSP and ALLDATA need keys this device does not
    keep yet).
    """
    fmt_byte = cdb[_C]
    if fmt_byte & 0xF0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C, 7))
    capability_format = fmt_byte & 0x0F
    if capability_format == CapabilityFormat.NO_CAPABILITY:
        return
    if capability_format != CapabilityFormat.OSD2:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C, 3))
    method_byte = cdb[_C + 2]
    if method_byte & 0xF0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C + 2, 7))
    if method_byte != SecurityMethod.NOSEC:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C + 2, 3))
    if cdb[_C + 3] or cdb[_C + 54]:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C + (3 if cdb[_C + 3] else 54)))
    object_type = cdb[_C + 48]
    if object_type not in ObjectType._value2member_map_:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C + 48))
    descriptor = cdb[_C + 55]
    if descriptor & 0x0F:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C + 55, 3))
    if descriptor >> 4 not in _DESCRIPTOR_TYPES:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C + 55, 7))
    if any(cdb[_C + 66 : _C + 72]):
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(_C + 66))
