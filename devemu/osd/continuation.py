"""The CDB continuation segment (OSD-2 5.3, 5.4; osd2r05 numbering).

An OSD-2 command whose parameters do not fit in 236 bytes carries the
rest at the start of its data-out buffer, as long as CDB CONTINUATION
LENGTH (bytes 48-51 of the CDB, where LIST and LIST COLLECTION keep the
LIST IDENTIFIER) says. The segment is a 40-byte header (CDB CONTINUATION
FORMAT 01h, the service action it continues, and an integrity check
value that only the CMDRSP and ALLDATA security methods use) and
descriptors, each a type, a pad length, a length and its body, padded to
a multiple of eight bytes. OSD-2 defines descriptors for scatter/gather
lists (READ, WRITE, CREATE AND WRITE), query lists (QUERY), user object
lists and copy sources (the member and copy commands) and extension
capabilities; attribute lists are never in it: they sit in the data-out
buffer at the offsets the CDB's attribute parameters give, however long.

This device takes the scatter/gather list, the only descriptor of the
commands it serves, and answers any other type as unsupported.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from enum import IntEnum

from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseError,
    cdb_field,
    param_field,
)

#: CDB CONTINUATION LENGTH: bytes 48-51 of the CDB.
CONTINUATION_LENGTH_BYTE = 48
#: CDB CONTINUATION FORMAT of OSD-2.
FORMAT_OSD2 = 0x01
HEADER = struct.Struct(">BxH4x32x")
DESCRIPTOR_HEAD = struct.Struct(">HxBI")
SG_ENTRY = struct.Struct(">QQ")
#: The longest segment this device takes (root information attribute Ah).
MAXIMUM_LENGTH = 0x10000


class DescriptorType(IntEnum):
    """CDB continuation descriptor types (OSD-2 5.4.1)."""

    NO_MORE_DESCRIPTORS = 0x0000
    SCATTER_GATHER_LIST = 0x0001
    QUERY_LIST = 0x0002
    USER_OBJECT = 0x0100
    COPY_USER_OBJECT_SOURCE = 0x0101
    EXTENSION_CAPABILITIES = 0xFFEE


@dataclass(frozen=True, slots=True)
class Continuation:
    """What a CDB continuation segment carried."""

    #: Bytes of data-out the segment takes; the command's data follows it.
    length: int
    #: The scatter/gather list (OSD-2 5.4.2): (offset from the starting byte
    #: address, bytes) pairs, in the order the data buffer holds them.
    ranges: tuple[tuple[int, int], ...] | None = None


def check_length(length: int) -> None:
    """CDB CONTINUATION LENGTH: whole eight-byte units, a header at least, not too long."""
    if length % 8 or length < HEADER.size or length > MAXIMUM_LENGTH:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(CONTINUATION_LENGTH_BYTE))


def parse(segment: bytes, service_action: int) -> Continuation:
    """Check a segment of data-out and return what it carries.

    Faults inside the segment are INVALID FIELD IN PARAMETER LIST with
    the byte of data-out at fault; a segment longer than data-out is
    PARAMETER LIST LENGTH ERROR (the caller cut ``segment`` to what came).
    """
    check_length(len(segment))
    fmt, action = HEADER.unpack_from(segment)
    if fmt != FORMAT_OSD2:
        raise _bad(0)
    if action != service_action:
        raise _bad(2)
    if any(segment[1:2]) or any(segment[4:8]):
        raise _bad(1 if segment[1] else 4)
    ranges: tuple[tuple[int, int], ...] | None = None
    at = HEADER.size
    end = len(segment)
    while at < end:
        if at + DESCRIPTOR_HEAD.size > end:
            raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
        kind, pad, length = DESCRIPTOR_HEAD.unpack_from(segment, at)
        if kind == DescriptorType.NO_MORE_DESCRIPTORS:
            break
        if pad & 0xF8:
            raise _bad(at + 3)
        body = at + DESCRIPTOR_HEAD.size
        if (length + pad) % 8 or body + length + pad > end:
            raise _bad(at + 4)
        if kind != DescriptorType.SCATTER_GATHER_LIST:
            raise _bad(at)
        if ranges is not None or pad or length % SG_ENTRY.size:
            raise _bad(at if ranges is not None else at + 3 if pad else at + 4)
        ranges = tuple(SG_ENTRY.iter_unpack(segment[body : body + length]))
        at = body + length + pad
    return Continuation(end, ranges)


def _bad(byte: int) -> SenseError:
    return SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(byte))
