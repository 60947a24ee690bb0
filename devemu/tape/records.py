"""The cartridge file format: one header, then an append-only journal.

Layout::

    offset 0      header, HEADER_SIZE bytes, written once when the cartridge is made,
                  except its two sync marks (SYNC_MARKS_OFFSET, 2 x SYNC_MARK_SIZE)
    HEADER_SIZE   entry, entry, entry, ...   (appended, never rewritten)

A sync mark records how far the journal was on stable storage at the last
flush: the number of entries and the offset where they end. It is the one
thing that survives a file cut short, so it tells a torn, never
acknowledged tail (entries past the mark) from lost acknowledged data
(entries the mark counts that are missing or damaged). The two marks are
written alternately, each with its own CRC, so a torn write of one leaves
the other; the higher valid one counts. The header CRC is computed with the
marks read as zeros, so writing a mark never touches the fixed header, and a
cartridge made before sync marks existed (both slots zero) opens as it did:
its first flush gives it a mark.

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
    Default,
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


#: One sync mark: magic, entries on stable storage, the offset where they end, CRC-32.
SYNC_MARK_SIZE = 32
SYNC_MARK_MAGIC = b"SYNC"
_SYNC_MARK = struct.Struct(">4sQQ")
#: Where the two sync marks sit in the header block: just before its CRC.
SYNC_MARKS_OFFSET = HEADER_SIZE - 4 - 2 * SYNC_MARK_SIZE
_BLANK_MARKS = bytes(2 * SYNC_MARK_SIZE)


def header_crc(body: bytes) -> int:
    """CRC-32 of the header block, the sync marks read as zeros."""
    return zlib.crc32(body[:SYNC_MARKS_OFFSET] + _BLANK_MARKS)


# The cartridge header: fixed fields, then the MAM attributes set when the
# cartridge was made (medium type attributes, SPC-5 7.4 encoding), padded
# to SYNC_MARKS_OFFSET bytes, the two sync marks, and the CRC-32 of all of
# that with the marks read as zeros.
CartridgeHeader = Struct(
    "body"
    / RawCopy(
        Padded(
            SYNC_MARKS_OFFSET,
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
    "sync_marks" / Default(Bytes(2 * SYNC_MARK_SIZE), _BLANK_MARKS),
    "crc" / Checksum(Int32ub, header_crc, this.body.data),
)


def pack_sync_mark(entries: int, end: int) -> bytes:
    """A sync mark: ``entries`` journal entries, ending at file offset ``end``, are durable."""
    body = _SYNC_MARK.pack(SYNC_MARK_MAGIC, entries, end)
    return (body + ENTRY_CRC_STRUCT.pack(zlib.crc32(body))).ljust(SYNC_MARK_SIZE, b"\0")


def unpack_sync_mark(raw: bytes) -> tuple[int, int] | None:
    """(entries, end) of a sync mark, or None if blank or damaged."""
    if len(raw) < _SYNC_MARK.size + 4 or raw[:4] != SYNC_MARK_MAGIC:
        return None
    body = raw[: _SYNC_MARK.size]
    if zlib.crc32(body) != ENTRY_CRC_STRUCT.unpack_from(raw, _SYNC_MARK.size)[0]:
        return None
    _magic, entries, end = _SYNC_MARK.unpack(body)
    return entries, end


def sync_marks(header: bytes) -> list[tuple[int, int] | None]:
    """Both sync marks of a header block, in slot order."""
    return [
        unpack_sync_mark(header[o : o + SYNC_MARK_SIZE])
        for o in (SYNC_MARKS_OFFSET, SYNC_MARKS_OFFSET + SYNC_MARK_SIZE)
    ]


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
