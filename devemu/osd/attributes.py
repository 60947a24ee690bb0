"""Attribute pages and attribute lists (OSD-2 7.1).

Attribute page numbers (OSD-2 4.7.3 table 7) fall in four ranges by
object type: user object pages from 0h, partition pages from 30000000h,
collection pages from 60000000h, root pages from 90000000h; F0000000h up
are common to every type and FFFFFFFEh is the current command page.
Inside each range the first 80h pages are defined by the standard, and
application-defined pages start at 10000h.

Attribute lists (OSD-2 7.1.3): an 8-byte header (list type in the low
nibble of byte 0, list length in bytes 4-7) then entries. A get list
(type 1h) holds page/number pairs; a set or retrieved list (type 9h)
holds entries of page, number, six reserved bytes, a two-byte length and
the value, each padded to a multiple of eight bytes. A retrieved
attribute that is not defined has length FFFFh and no value.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum

from construct import Bytes, Int8ub, Int16ub, Int32ub, Padding
from construct import Struct as CStruct

from devemu.osd.cdb import ObjectType


class PageRange(IntEnum):
    """OSD-2 4.7.3 table 7: the first page number of each object type's pages."""

    USER = 0x00000000
    PARTITION = 0x30000000
    COLLECTION = 0x60000000
    ROOT = 0x90000000
    COMMON = 0xF0000000


class StandardPage(IntEnum):
    """OSD-2 4.7.3 table 8: pages within each range (added to the range's base)."""

    DIRECTORY = 0x0
    INFORMATION = 0x1
    QUOTAS = 0x2
    TIMESTAMPS = 0x3
    COLLECTIONS = 0x4
    POLICY_SECURITY = 0x5


#: OSD-2 7.1.2.24: the Current Command attributes page.
CURRENT_COMMAND_PAGE = 0xFFFFFFFE
#: OSD-2 7.1.3.1: "all pages" / "all attributes in the page".
ALL = 0xFFFFFFFF
#: OSD-2 4.7.3: pages from here up in each range are application-defined.
APPLICATION_DEFINED_FIRST = 0x10000
#: OSD-2 4.7.3: the standard pages of a range end before here.
STANDARD_LAST = 0x7F
#: OSD-2 7.1.2.2: attribute 0 of every page identifies the page (40 bytes).
PAGE_IDENTIFICATION = 0x0
#: OSD-2 7.1.3.3: the length of a retrieved attribute that is not defined.
UNDEFINED_LENGTH = 0xFFFF

RANGE_OF_TYPE = {
    ObjectType.USER: PageRange.USER,
    ObjectType.PARTITION: PageRange.PARTITION,
    ObjectType.COLLECTION: PageRange.COLLECTION,
    ObjectType.ROOT: PageRange.ROOT,
}


def page_object_type(page: int) -> ObjectType | None:
    """The object type whose range holds ``page``; None for common and reserved pages."""
    if page < PageRange.PARTITION:
        return ObjectType.USER
    if page < PageRange.COLLECTION:
        return ObjectType.PARTITION
    if page < PageRange.ROOT:
        return ObjectType.COLLECTION
    if page < 0xC0000000:
        return ObjectType.ROOT
    return None


class ListType(IntEnum):
    """OSD-2 7.1.3.1: attribute list types (osd2r03 table 184).

    OSD-1's 0Fh (the attributes of the objects a CREATE made) is gone
    from OSD-2: 0Eh, the multi-object retrieved list, took its place.
    """

    GET = 0x1
    SET_OR_RETRIEVED = 0x9
    MULTI_OBJECT_RETRIEVED = 0xE


# OSD-2 7.1.3.1, the attributes list format: the eight-byte header.
ListHeader = CStruct(
    "list_type" / Int8ub,
    Padding(3),
    "list_length" / Int32ub,
)
# OSD-2 7.1.3.2, list entry format for retrieving attributes.
GetEntry = CStruct("page" / Int32ub, "number" / Int32ub)
# OSD-2 7.1.3.3, list entry format for retrieved attributes and for setting them
# (before padding).
ValueEntryHead = CStruct(
    "page" / Int32ub, "number" / Int32ub, "reserved" / Bytes(6), "length" / Int16ub
)

_HEAD = struct.Struct(">B3xI")
_GET = struct.Struct(">II")
_VALUE_HEAD = struct.Struct(">II6xH")
ENTRY_HEAD_LENGTH = _VALUE_HEAD.size


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute: its page, its number and its value (None: not defined)."""

    page: int
    number: int
    value: bytes | None


class ListError(ValueError):
    """A malformed attribute list; ``offset`` is the byte in the list at fault."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.offset = offset


def padded(length: int) -> int:
    """``length`` rounded up to a multiple of eight (OSD-2 7.1.3.3)."""
    return (length + 7) & ~7


def encode_value_list(
    attributes: list[Attribute], list_type: int = ListType.SET_OR_RETRIEVED
) -> bytes:
    """A set or retrieved attributes list (OSD-2 7.1.3.3)."""
    body = bytearray()
    for attr in attributes:
        if attr.value is None:
            body += _VALUE_HEAD.pack(attr.page, attr.number, UNDEFINED_LENGTH)
            continue
        body += _VALUE_HEAD.pack(attr.page, attr.number, len(attr.value))
        body += attr.value
        body += bytes(padded(len(body)) - len(body))
    return _HEAD.pack(list_type, len(body)) + bytes(body)


#: OSD-2 7.1.3.4 (osd2r03 numbering): each object of a multi-object retrieved list.
_MULTI_HEAD = struct.Struct(">QB5xH")


def encode_multi_object_list(objects: list[tuple[int, int, list[Attribute]]]) -> bytes:
    """A multi-object retrieved attributes list, list type 0Eh (OSD-2 7.1.3.4).

    Per object: its OBJECT ID (8), OBJECT TYPE (1), five reserved bytes,
    the length of what follows (2), then its attributes as retrieved list
    entries (7.1.3.3).
    """
    body = bytearray()
    for oid, kind, attributes in objects:
        entries = encode_value_list(attributes)[_HEAD.size :]
        body += _MULTI_HEAD.pack(oid, kind, len(entries)) + entries
    return _HEAD.pack(ListType.MULTI_OBJECT_RETRIEVED, len(body)) + bytes(body)


def _header(data: bytes, expected: int) -> int:
    if len(data) < _HEAD.size:
        raise ListError("attribute list shorter than its header", 0)
    list_type, length = _HEAD.unpack_from(data)
    if list_type & 0x0F != expected or list_type & 0xF0:
        raise ListError(f"list type {list_type:#x}, expected {expected:#x}", 0)
    if _HEAD.size + length > len(data):
        raise ListError(f"list length {length} runs past the {len(data)} bytes sent", 4)
    return int(length)


def decode_get_list(data: bytes) -> list[tuple[int, int]]:
    """The (page, number) pairs of a get attributes list (OSD-2 7.1.3.2)."""
    length = _header(data, ListType.GET)
    if length % _GET.size:
        raise ListError(f"get list length {length} is not a multiple of 8", 4)
    return [_GET.unpack_from(data, at) for at in range(_HEAD.size, _HEAD.size + length, _GET.size)]


def encode_get_list(pairs: list[tuple[int, int]]) -> bytes:
    """A get attributes list (OSD-2 7.1.3.2)."""
    return _HEAD.pack(ListType.GET, _GET.size * len(pairs)) + b"".join(
        _GET.pack(p, n) for p, n in pairs
    )


def decode_value_list(data: bytes) -> list[Attribute]:
    """The entries of a set or retrieved attributes list (OSD-2 7.1.3.3)."""
    length = _header(data, ListType.SET_OR_RETRIEVED)
    return list(_entries(data, _HEAD.size, _HEAD.size + length))


def _entries(data: bytes, at: int, end: int) -> Iterator[Attribute]:
    while at < end:
        if at + ENTRY_HEAD_LENGTH > end:
            raise ListError("attribute entry runs past the list", at)
        page, number, length = _VALUE_HEAD.unpack_from(data, at)
        if length == UNDEFINED_LENGTH:
            yield Attribute(page, number, None)
            at += ENTRY_HEAD_LENGTH
            continue
        start = at + ENTRY_HEAD_LENGTH
        if start + length > end:
            raise ListError("attribute value runs past the list", at + 14)
        yield Attribute(page, number, bytes(data[start : start + length]))
        at = at + padded(ENTRY_HEAD_LENGTH + length)


# --- values -------------------------------------------------------------------------


def timestamp(seconds: float | None = None) -> bytes:
    """An OSD timestamp: milliseconds since 1970-01-01 UTC in six bytes (OSD-2 4.6)."""
    ms = int((time.time() if seconds is None else seconds) * 1000)
    return ms.to_bytes(6, "big")


def u64(value: int) -> bytes:
    return value.to_bytes(8, "big")


def u32(value: int) -> bytes:
    return value.to_bytes(4, "big")


def page_identification(vendor: bytes, name: str) -> bytes:
    """Attribute 0 of a page (OSD-2 7.1.2.2): vendor (8) and page name (32), ASCII."""
    return vendor[:8].ljust(8) + name.encode("ascii")[:32].ljust(32, b"\0")
