"""The cartridge file format: one header, then an append-only journal.

Layout::

    offset 0      header, HEADER_SIZE bytes, written once when the cartridge is made
    HEADER_SIZE   entry, entry, entry, ...   (appended, never rewritten)

An entry is a 40-byte :data:`EntryHeader` followed by ``length`` bytes of
payload. The header carries a sequence number (one more than the entry
before), the partition and logical object position it applies to, the
CRC-32 of the payload and a CRC-32 of its own first 36 bytes. Kinds:

- ``DATA``: one logical block at ``position``; everything from
  ``position`` on in that partition is replaced (tape semantics: a write
  ends the partition's data where it lands).
- ``FILEMARKS``: ``count`` filemarks starting at ``position``, likewise
  ending the data after them.
- ``END``: end of data at ``position`` (ERASE, or a write that
  truncates without adding anything).
- ``SYNC``: appended right after an fdatasync: every entry before it was
  on stable storage when it was written.
- ``ATTRIBUTES``: MAM attribute changes (SPC-5 7.4 encoding; an empty
  value deletes) for ``partition`` (0xFF: the whole cartridge).
- ``FORMAT``: a new partition layout (payload: :data:`FormatPayload`);
  every partition becomes empty.

Reading the journal from the start replays the tape; a torn or damaged
tail (a short header, a header CRC mismatch, a wrong sequence number, a
payload CRC mismatch in the entries after the last ``SYNC``) ends it, and
the file is cut back to the last good entry. See
:mod:`devemu.tape.cartridge` for the recovery rules.
"""

from __future__ import annotations

import importlib
import struct
import zlib
from collections.abc import Callable
from enum import IntEnum
from typing import cast

from construct import (
    Bytes,
    Checksum,
    Const,
    Flag,
    GreedyBytes,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    Padded,
    PaddedString,
    Padding,
    Prefixed,
    PrefixedArray,
    RawCopy,
    Struct,
    this,
)

MAGIC = b"DEVEMUT\x00"
FORMAT_VERSION = 1
HEADER_SIZE = 4096
ENTRY_MAGIC = b"RC"
#: Partition number of ATTRIBUTES entries that apply to the whole cartridge.
WHOLE_CARTRIDGE = 0xFF


class EntryKind(IntEnum):
    DATA = 1
    FILEMARKS = 2
    END = 3
    SYNC = 4
    ATTRIBUTES = 5
    FORMAT = 6


# The cartridge header: fixed fields, then the MAM attributes set when the
# cartridge was made (medium type attributes, SPC-5 7.4 encoding), padded
# to HEADER_SIZE - 4 bytes and followed by the CRC-32 of all of that.
CartridgeHeader = Struct(
    "body"
    / RawCopy(
        Padded(
            HEADER_SIZE - 4,
            Struct(
                "magic" / Const(MAGIC),
                "version" / Const(FORMAT_VERSION, Int16ub),
                "header_size" / Const(HEADER_SIZE, Int16ub),
                "barcode" / PaddedString(32, "ascii"),
                "media_type" / PaddedString(16, "ascii"),
                "density_code" / Int8ub,
                "worm" / Flag,
                Padding(2),
                "capacity" / Int64ub,
                "created" / Int64ub,
                "uuid" / Bytes(16),
                "attributes" / Prefixed(Int16ub, GreedyBytes),
            ),
        )
    ),
    "crc" / Checksum(Int32ub, zlib.crc32, this.body.data),
)

# Journal entry header. header_crc covers the 36 bytes before it.
EntryHeader = Struct(
    "magic" / Const(ENTRY_MAGIC),
    "kind" / Int8ub,
    "partition" / Int8ub,
    "seq" / Int64ub,
    "position" / Int64ub,
    "length" / Int32ub,
    "payload_crc" / Int32ub,
    "count" / Int32ub,
    "reserved" / Const(0, Int32ub),
    "header_crc" / Int32ub,
)
ENTRY_HEADER_SIZE = 40
#: The precompiled equivalent of :data:`EntryHeader` for the per-block path.
ENTRY_CRC_STRUCT = struct.Struct(">I")
_ENTRY_BODY = struct.Struct(">2sBBQQIIII")  # magic .. reserved: 36 bytes
_ENTRY_BODY_SIZE = 36

#: A CRC-32 function with ``zlib.crc32``'s signature and results.
Crc32 = Callable[[bytes | bytearray | memoryview, int], int]


def _payload_crc32() -> Crc32:
    """The CRC-32 (ISO-HDLC, as ``zlib.crc32``) used for entry payloads.

    A streaming WRITE computes it over every block, which costs about as
    much as the write itself with zlib's table-driven code. Intel ISA-L
    (the optional ``isal`` package) computes the same CRC with carry-less
    multiplication at over ten times the speed; zlib serves without it.
    """
    try:
        fast = importlib.import_module("isal.isal_zlib")
    except ImportError:
        return zlib.crc32
    return cast(Crc32, fast.crc32)


#: CRC-32 of entry payloads (same values as ``zlib.crc32``, faster with ISA-L).
payload_crc32: Crc32 = _payload_crc32()

# FORMAT payload: the capacity of each partition, in bytes.
FormatPayload = PrefixedArray(Int8ub, Int64ub)


def pack_entry(
    kind: int, partition: int, seq: int, position: int, length: int, payload_crc: int, count: int
) -> bytes:
    """Build an entry header (fast path equal to ``EntryHeader.build``)."""
    body = _ENTRY_BODY.pack(
        ENTRY_MAGIC, kind, partition, seq, position, length, payload_crc, count, 0
    )
    return body + ENTRY_CRC_STRUCT.pack(zlib.crc32(body))


def unpack_entry(raw: bytes) -> tuple[int, int, int, int, int, int, int] | None:
    """(kind, partition, seq, position, length, payload_crc, count), or None if damaged."""
    if len(raw) < ENTRY_HEADER_SIZE or raw[:2] != ENTRY_MAGIC:
        return None
    body = raw[:_ENTRY_BODY_SIZE]
    (crc,) = ENTRY_CRC_STRUCT.unpack_from(raw, _ENTRY_BODY_SIZE)
    if zlib.crc32(body) != crc:
        return None
    _magic, kind, part, seq, pos, length, pcrc, count, reserved = _ENTRY_BODY.unpack(body)
    if reserved != 0 or kind not in _KINDS:
        return None
    return kind, part, seq, pos, length, pcrc, count


_KINDS = frozenset(int(k) for k in EntryKind)
