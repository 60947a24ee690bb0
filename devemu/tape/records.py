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

An entry is a 40-byte :data:`EntryHeader`, ``pad`` bytes of zeros, then
``length`` bytes of payload. The header carries a sequence number (one
more than the entry before), the partition and logical object position it
applies to, the checksum of the payload, the padding and a checksum of its
own first 36 bytes. Kinds:

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
- ``ENCRYPTED_DATA``: one logical block written with data encryption on
  (SSC-5 4.2, data encryption), like ``DATA``; the payload is the block's envelope
  (:mod:`devemu.tape.encryption`: header, ciphertext, tag) and ``count``
  is the length of the plaintext, the block's length on the tape.

Versions (:class:`JournalFormat`; a file is one version throughout):

- **2**: every checksum (header, sync marks, entry headers, payloads) is
  CRC-32C (Castagnoli, RFC 3720 B.4), the checksum of SSC-5 logical block
  protection (SSC-5 4.2.x, LBP method CRC32C), so the stored checksum of a
  block is the protection information an initiator would ask for. A
  payload of :data:`PAYLOAD_ALIGNMENT` bytes or more starts on a multiple
  of :data:`PAYLOAD_ALIGNMENT` in the file: its header says how many bytes
  of zeros (``pad``) lie between the header and the payload, so a large
  block is written and read as whole pages. Smaller payloads follow their
  header directly (a 512-byte fixed block does not cost a page).
- **1**: every checksum is CRC-32 (ISO-HDLC, as ``zlib.crc32``); no
  padding (the ``pad`` field is zero, "reserved" then). Still read, and
  appended to as version 1; ``devemu tape upgrade`` rewrites such a file
  as version 2 (:mod:`devemu.tape.upgrade`).

Reading the journal from the start replays the tape; a torn or damaged
tail (a short header, a header CRC mismatch, a wrong sequence number, a
payload CRC mismatch in the entries after the last ``SYNC``) ends it, and
the file is cut back to the last good entry. See
:mod:`devemu.tape.cartridge` for the recovery rules.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import IntEnum

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

from devemu.tape.castagnoli import CrcFunction, crc32c_of

MAGIC = b"DEVEMUT\x00"
#: The format version new cartridges are made in.
FORMAT_VERSION = 2
HEADER_SIZE = 4096
ENTRY_MAGIC = b"RC"
#: Partition number of ATTRIBUTES entries that apply to the whole cartridge.
WHOLE_CARTRIDGE = 0xFF
#: Version 2 places a payload of at least this many bytes at a multiple of it.
PAYLOAD_ALIGNMENT = 4096


def crc32_of(data: bytes | bytearray | memoryview, value: int = 0) -> int:
    """CRC-32 (ISO-HDLC, ``zlib.crc32``) of ``data``, continuing from ``value``."""
    return zlib.crc32(data, value)


class EntryKind(IntEnum):
    DATA = 1
    FILEMARKS = 2
    END = 3
    SYNC = 4
    ATTRIBUTES = 5
    FORMAT = 6
    ENCRYPTED_DATA = 7


_KINDS = frozenset(int(k) for k in EntryKind)

#: One sync mark: magic, entries on stable storage, the offset where they end, checksum.
SYNC_MARK_SIZE = 32
SYNC_MARK_MAGIC = b"SYNC"
_SYNC_MARK = struct.Struct(">4sQQ")
_CRC_FIELD = struct.Struct(">I")
#: Where the two sync marks sit in the header block: just before its CRC.
SYNC_MARKS_OFFSET = HEADER_SIZE - 4 - 2 * SYNC_MARK_SIZE
_BLANK_MARKS = bytes(2 * SYNC_MARK_SIZE)

ENTRY_HEADER_SIZE = 40
#: The precompiled equivalent of :data:`EntryHeader` before its CRC: 36 bytes.
_ENTRY_BODY = struct.Struct(">2sBBQQIIII")
_ENTRY_BODY_SIZE = 36
#: Zeros written between an entry header and an aligned payload.
_ZEROS = memoryview(bytes(PAYLOAD_ALIGNMENT))


@dataclass(frozen=True, slots=True)
class Entry:
    """An entry header as read; its payload is at ``offset + ENTRY_HEADER_SIZE + pad``."""

    kind: int
    partition: int
    seq: int
    position: int
    length: int
    payload_crc: int
    count: int
    pad: int

    @property
    def size(self) -> int:
        """Header, padding and payload: the distance to the next entry."""
        return ENTRY_HEADER_SIZE + self.pad + self.length


@dataclass(frozen=True, slots=True)
class JournalFormat:
    """What one format version fixes: its checksum and where payloads go."""

    version: int
    #: The checksum of the header, the sync marks, entry headers and payloads.
    crc: CrcFunction
    #: Payloads of at least this many bytes start at a multiple of it (0: never).
    alignment: int

    def pad(self, offset: int, length: int) -> int:
        """Zeros between the header of an entry written at ``offset`` and its payload."""
        if not self.alignment or length < self.alignment:
            return 0
        return -(offset + ENTRY_HEADER_SIZE) % self.alignment

    @staticmethod
    def padding(pad: int) -> memoryview:
        """``pad`` bytes of zeros to write after an entry header."""
        return _ZEROS[:pad]

    def pack_entry(
        self,
        kind: int,
        partition: int,
        seq: int,
        position: int,
        length: int,
        payload_crc: int,
        count: int,
        pad: int = 0,
    ) -> bytes:
        """Build an entry header (fast path equal to ``EntryHeader.build``)."""
        body = _ENTRY_BODY.pack(
            ENTRY_MAGIC, kind, partition, seq, position, length, payload_crc, count, pad
        )
        return body + _CRC_FIELD.pack(self.crc(body, 0))

    def unpack_entry(self, raw: bytes) -> Entry | None:
        """The entry header at the start of ``raw``, or None if short or damaged."""
        if len(raw) < ENTRY_HEADER_SIZE or raw[:2] != ENTRY_MAGIC:
            return None
        body = raw[:_ENTRY_BODY_SIZE]
        (crc,) = _CRC_FIELD.unpack_from(raw, _ENTRY_BODY_SIZE)
        if self.crc(body, 0) != crc:
            return None
        _magic, kind, part, seq, pos, length, pcrc, count, pad = _ENTRY_BODY.unpack(body)
        if kind not in _KINDS or not self._valid_pad(length, pad):
            return None
        return Entry(kind, part, seq, pos, length, pcrc, count, pad)

    def _valid_pad(self, length: int, pad: int) -> bool:
        if self.alignment and length >= self.alignment:
            return pad < self.alignment
        return pad == 0

    def payload_crc(self, data: Sequence[bytes | bytearray | memoryview]) -> int:
        """The checksum of a payload given in pieces."""
        if len(data) == 1:
            return self.crc(data[0], 0)
        value = 0
        for piece in data:
            value = self.crc(piece, value)
        return value

    def pack_sync_mark(self, entries: int, end: int) -> bytes:
        """A sync mark: ``entries`` journal entries, ending at file offset ``end``, are durable."""
        body = _SYNC_MARK.pack(SYNC_MARK_MAGIC, entries, end)
        return (body + _CRC_FIELD.pack(self.crc(body, 0))).ljust(SYNC_MARK_SIZE, b"\0")

    def unpack_sync_mark(self, raw: bytes) -> tuple[int, int] | None:
        """(entries, end) of a sync mark, or None if blank or damaged."""
        if len(raw) < _SYNC_MARK.size + 4 or raw[:4] != SYNC_MARK_MAGIC:
            return None
        body = raw[: _SYNC_MARK.size]
        if self.crc(body, 0) != _CRC_FIELD.unpack_from(raw, _SYNC_MARK.size)[0]:
            return None
        _magic, entries, end = _SYNC_MARK.unpack(body)
        return entries, end

    def sync_marks(self, header: bytes) -> list[tuple[int, int] | None]:
        """Both sync marks of a header block, in slot order."""
        return [
            self.unpack_sync_mark(header[o : o + SYNC_MARK_SIZE])
            for o in (SYNC_MARKS_OFFSET, SYNC_MARKS_OFFSET + SYNC_MARK_SIZE)
        ]


#: Every format version still read, by number.
FORMATS = {
    1: JournalFormat(1, crc32_of, 0),
    2: JournalFormat(2, crc32c_of, PAYLOAD_ALIGNMENT),
}
#: The format of new cartridges.
CURRENT = FORMATS[FORMAT_VERSION]


def header_version(raw: bytes) -> int:
    """The format version a header block declares (bytes 8-9)."""
    return int.from_bytes(raw[8:10], "big")


def header_crc(body: bytes) -> int:
    """The checksum of a header block, its sync marks read as zeros.

    The checksum of the version the block declares (version 1's for a
    version it does not know, which is refused before this matters).
    """
    fmt = FORMATS.get(header_version(body), FORMATS[1])
    return fmt.crc(body[:SYNC_MARKS_OFFSET] + _BLANK_MARKS, 0)


# The cartridge header: fixed fields, then the MAM attributes set when the
# cartridge was made (medium type attributes, SPC-5 7.4 encoding), padded
# to SYNC_MARKS_OFFSET bytes, the two sync marks, and the checksum of all
# of that with the marks read as zeros.
CartridgeHeader = Struct(
    "body"
    / RawCopy(
        Padded(
            SYNC_MARKS_OFFSET,
            Struct(
                "magic" / Const(MAGIC),
                "version" / Default(Int16ub, FORMAT_VERSION),
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

# Journal entry header. header_crc covers the 36 bytes before it ("pad" is
# "reserved", always zero, in version 1).
EntryHeader = Struct(
    "magic" / Const(ENTRY_MAGIC),
    "kind" / Int8ub,
    "partition" / Int8ub,
    "seq" / Int64ub,
    "position" / Int64ub,
    "length" / Int32ub,
    "payload_crc" / Int32ub,
    "count" / Int32ub,
    "pad" / Int32ub,
    "header_crc" / Int32ub,
)

# FORMAT payload: the capacity of each partition, in bytes.
FormatPayload = PrefixedArray(Int8ub, Int64ub)
