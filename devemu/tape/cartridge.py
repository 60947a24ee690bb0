"""A tape cartridge stored in one file that survives kill -9 at any instant.

Theory of operation
-------------------
The file is a header written once (:data:`~devemu.tape.records.CartridgeHeader`)
followed by a journal of entries that is only ever appended to
(:mod:`devemu.tape.records`). The tape itself (per partition, a sequence of
logical objects: data blocks and filemarks, then end of data) is what
replaying the journal produces. Overwriting in the middle of a tape is an
append too: a ``DATA`` entry at position 5 replaces objects 5 onwards, an
``END`` entry at 5 erases them. Nothing is ever rewritten in place, so a
crash can only leave a damaged *tail*.

The file's format version (:mod:`devemu.tape.records`) fixes its checksum
(CRC-32C in version 2, the checksum of SSC-5 logical block protection) and
where payloads go (version 2: a block of a page or more starts on a page).
A file stays in the version it was made in; ``devemu tape upgrade``
(:mod:`devemu.tape.upgrade`) rewrites a version 1 file as version 2.

Writes cost one ``pwritev`` each (entry header, padding and payload
together, straight from the command's buffers) and at most one
``fdatasync`` per flush; nothing is held back in memory, so what a WRITE
acknowledged is in the file (the page cache) before its status goes back,
and a kill -9 of the daemon loses none of it.

When the cartridge is opened the journal is read header by header (payloads
are not read: the in-memory index keeps, per partition, each object's file
offset and length, the running byte count and the sorted filemark
positions, so LOCATE, SPACE and READ POSITION never touch the file).

Durability. :meth:`Cartridge.flush` calls ``fdatasync``, then records in
the header's sync mark (:mod:`devemu.tape.records`) how many entries are
now on stable storage and where they end, and appends a ``SYNC`` entry:
everything before a ``SYNC`` was on stable storage before the ``SYNC``
itself was written. The drive flushes on every synchronising command
(WRITE FILEMARKS with IMMED=0, REWIND, LOAD UNLOAD, an unload by the
library, WRITE ATTRIBUTE, FORMAT MEDIUM) and on close. Opening applies:

- entries up to the last ``SYNC`` are durable; their payload CRCs are not
  re-read (``devemu tape info --verify`` checks them all);
- entries after it are the unsynchronised tail: each one's payload CRC is
  checked, and the first entry that is short, has a bad header CRC, a
  sequence number out of order or a bad payload CRC ends the tape there;
  the file is truncated back to the last good entry (unless opened read
  only) so that new entries follow good ones, and the cut is logged;
- but an entry the sync mark counts as durable that is missing (the file
  was cut inside acknowledged data) or damaged, or a damaged entry
  *followed somewhere by a valid later* ``SYNC``, is not a torn tail: it
  is lost acknowledged data, an :class:`~devemu.errors.ImageError` naming
  the record number and offset, never a silent truncation.

The sync mark only ever claims entries that an ``fdatasync`` had already
made durable, so a crash at any instant (the mark lost, or written before
the ``SYNC`` entry reached the disk) leaves a mark that claims no more than
is there. So a kill -9 reopens to the last entry that made it to the file
intact, and never loses what a synchronising command acknowledged.

The tape position is not part of the file: a cartridge is opened at the
beginning of partition 0, like a freshly threaded tape.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import time
import uuid
from array import array
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from construct import ConstructError

from devemu.errors import ImageError
from devemu.image_files import regular_file
from devemu.tape import mam
from devemu.tape.media import MediumType, medium_type
from devemu.tape.records import (
    ENTRY_HEADER_SIZE,
    ENTRY_MAGIC,
    FORMAT_VERSION,
    FORMATS,
    HEADER_SIZE,
    MAGIC,
    SYNC_MARK_SIZE,
    SYNC_MARKS_OFFSET,
    WHOLE_CARTRIDGE,
    CartridgeHeader,
    EntryKind,
    FormatPayload,
    JournalFormat,
    header_crc,
    header_version,
)

log = logging.getLogger(__name__)

#: The length recorded for a filemark in the index.
FILEMARK = -1

_DATA = int(EntryKind.DATA)
_FILEMARKS = int(EntryKind.FILEMARKS)
_END = int(EntryKind.END)
_SYNC = int(EntryKind.SYNC)
_ATTRIBUTES = int(EntryKind.ATTRIBUTES)
_FORMAT = int(EntryKind.FORMAT)
_ENCRYPTED_DATA = int(EntryKind.ENCRYPTED_DATA)
_RESYNC_CHUNK = 1 << 20


class PartitionIndex:
    """The objects of one partition, as arrays (no file access)."""

    __slots__ = ("capacity", "cum", "filemarks", "lengths", "offsets", "sealed")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        #: File offset of each object's payload (of its entry for a filemark).
        self.offsets = array("q")
        #: Length of each data block; FILEMARK for filemarks.
        self.lengths = array("q")
        #: cum[i] = bytes of data in objects 0 .. i-1; len(cum) = eod + 1.
        self.cum = array("q", [0])
        #: Positions of the filemarks, ascending.
        self.filemarks: list[int] = []
        #: Encrypted blocks (SSC-5 4.2, data encryption): position -> length of the envelope
        #: stored at ``offsets[position]``; ``lengths`` has the plaintext's.
        self.sealed: dict[int, int] = {}

    @property
    def eod(self) -> int:
        """The logical object number of end of data (= number of objects)."""
        return len(self.lengths)

    @property
    def used(self) -> int:
        """Bytes of data between BOP and EOD."""
        return self.cum[-1]

    def truncate(self, n: int) -> None:
        if n < len(self.lengths):
            del self.offsets[n:]
            del self.lengths[n:]
            del self.cum[n + 1 :]
            del self.filemarks[bisect_left(self.filemarks, n) :]
            if self.sealed:
                for position in [p for p in self.sealed if p >= n]:
                    del self.sealed[position]

    def add_block(self, offset: int, length: int) -> None:
        self.offsets.append(offset)
        self.lengths.append(length)
        self.cum.append(self.cum[-1] + length)

    def add_filemarks(self, offset: int, count: int) -> None:
        total = self.cum[-1]
        for _ in range(count):
            self.filemarks.append(len(self.lengths))
            self.offsets.append(offset)
            self.lengths.append(FILEMARK)
            self.cum.append(total)

    def file_number(self, position: int) -> int:
        """Filemarks between BOP and ``position`` (the logical file identifier)."""
        return bisect_left(self.filemarks, position)


@dataclass(frozen=True, slots=True)
class JournalEntry:
    """One entry of the journal, for listings (``devemu tape dump``)."""

    offset: int
    seq: int
    kind: EntryKind
    partition: int
    position: int
    length: int
    count: int
    #: Zeros between the entry's header and its payload (format version 2).
    pad: int
    payload_crc: int

    @property
    def payload_offset(self) -> int:
        return self.offset + ENTRY_HEADER_SIZE + self.pad


@dataclass(slots=True)
class _Pending:
    """An entry read after the last SYNC, applied once its payload checks out."""

    offset: int
    seq: int
    kind: int
    partition: int
    position: int
    length: int
    crc: int
    count: int
    pad: int
    payload: bytes | None

    @property
    def payload_offset(self) -> int:
        return self.offset + ENTRY_HEADER_SIZE + self.pad

    @property
    def end(self) -> int:
        return self.payload_offset + self.length


def _check_barcode(barcode: str) -> str:
    if not 1 <= len(barcode) <= 32:
        raise ValueError(f"barcode {barcode!r} must be 1 to 32 characters")
    if not all(0x21 <= ord(c) <= 0x7E for c in barcode):
        raise ValueError(f"barcode {barcode!r} must be printable ASCII without spaces")
    return barcode


def _fsync_dir(path: Path) -> None:
    fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _mam_medium_type(medium: MediumType, worm: bool) -> int:
    """The MEDIUM TYPE attribute (0408h, SPC-5 7.4.2.3): data, WORM or cleaning."""
    if medium.cleaning:
        return mam.MEDIUM_TYPE_CLEANING
    return mam.MEDIUM_TYPE_WORM if worm else mam.MEDIUM_TYPE_DATA


def _initial_attributes(
    barcode: str, medium: MediumType, worm: bool, ident: bytes, made: float
) -> list[mam.Attribute]:
    """Medium type attributes of a new cartridge (SPC-5 7.4.2.3) and its barcode."""
    std = mam.standard
    serial = ident.hex()[:10].upper()
    return [
        std(0x0400, "DEVEMU"),
        std(0x0401, serial),
        std(0x0402, medium.length_m),
        std(0x0403, medium.width),
        std(0x0404, medium.assigning_organization),
        std(0x0405, medium.density_code),
        std(0x0406, time.strftime("%Y%m%d", time.gmtime(made))),
        std(0x0407, medium.mam_capacity),
        std(0x0408, _mam_medium_type(medium, worm)),
        std(0x0409, 0),
        std(0x0806, barcode, read_only=False),
    ]


class Cartridge:
    """An open cartridge file: header facts, the index, and tape operations.

    Operations take partitions and logical object positions, never CDBs;
    the caller (the drive) checks positions against :meth:`eod` first.
    """

    def __init__(
        self,
        path: Path,
        fd: int,
        *,
        barcode: str,
        medium: MediumType,
        worm: bool,
        capacity: int,
        created: int,
        ident: bytes,
        header_attributes: list[mam.Attribute],
        read_only: bool,
        fmt: JournalFormat,
    ) -> None:
        self.path = path
        self._fd = fd
        #: The file's format version: its checksum and payload alignment.
        self.journal_format = fmt
        self.barcode = barcode
        self.medium = medium
        self.worm = worm
        self.capacity = capacity
        self.created = created
        self.uuid = ident
        self.read_only = read_only
        self.partitions: list[PartitionIndex] = [PartitionIndex(capacity)]
        self._header_attributes = {a.identifier: a for a in header_attributes}
        self._attributes: dict[int, dict[int, mam.Attribute]] = {}
        self._end = HEADER_SIZE
        self._seq = 1
        self._dirty = False
        self._closed = False
        #: Journal entries replayed or written since opening.
        self.entries = 0
        #: Entries that changed the recorded data (blocks, filemarks, erases, formats):
        #: what the MAM's VOLUME CHANGE REFERENCE reports (SPC-5 7.4.2.2).
        self.data_changes = 0
        #: Bytes of a torn tail found (and, read-write, cut off) when opening.
        self.truncated_tail = 0
        #: (entries, end offset) the header's sync mark counts as durable.
        self.durable: tuple[int, int] = (0, HEADER_SIZE)
        self._mark_slot = 0

    # --- making and opening --------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        barcode: str,
        media_type: str = "LTO-8",
        worm: bool = False,
        *,
        capacity: int | None = None,
        version: int = FORMAT_VERSION,
    ) -> Cartridge:
        """Make a new, blank cartridge file; FileExistsError if ``path`` exists.

        ``capacity`` (bytes) overrides the medium's native capacity: small
        cartridges make end-of-medium behaviour easy to exercise.
        ``version`` is the format version (an older one only to test
        reading and upgrading it).
        """
        if version not in FORMATS:
            raise ValueError(f"format version {version} is not supported")
        path = Path(path)
        medium = medium_type(media_type)
        _check_barcode(barcode)
        if capacity is None:
            capacity = medium.capacity
        if capacity <= 0 and not medium.cleaning:
            raise ValueError("capacity must be positive")
        made = time.time()
        ident = uuid.uuid4().bytes
        attrs = _initial_attributes(barcode, medium, worm, ident, made)
        header: bytes = CartridgeHeader.build(
            {
                "body": {
                    "value": {
                        "version": version,
                        "barcode": barcode,
                        "media_type": medium.name,
                        "density_code": medium.density_code,
                        "worm": worm,
                        "capacity": capacity,
                        "created": int(made),
                        "uuid": ident,
                        "attributes": mam.encode_attributes(attrs),
                    }
                }
            }
        )
        tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            os.write(fd, header)
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # fails if path exists: never replaces a cartridge
        finally:
            tmp.unlink()
        _fsync_dir(path)
        return cls.open(path)

    @classmethod
    def open(cls, path: str | Path, *, read_only: bool = False) -> Cartridge:
        """Open a cartridge, recovering from a torn tail (see the module notes).

        A read-write open takes an exclusive lock: one drive at a time.
        """
        path = Path(path)
        regular_file(path, "a cartridge file")
        try:
            fd = os.open(path, (os.O_RDONLY if read_only else os.O_RDWR) | os.O_CLOEXEC)
        except OSError as err:
            raise ImageError(path, None, f"cannot open: {err.strerror}") from err
        try:
            if not read_only:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    raise ImageError(path, None, "cartridge is in use by another drive") from None
            cart = cls._read_header(path, fd, read_only)
            cart._replay()
        except OSError as err:
            os.close(fd)
            raise ImageError(path, None, f"cannot read: {err.strerror}") from None
        except BaseException:
            os.close(fd)
            raise
        return cart

    @classmethod
    def _read_header(cls, path: Path, fd: int, read_only: bool) -> Cartridge:
        raw = os.pread(fd, HEADER_SIZE, 0)
        if raw[: len(MAGIC)] != MAGIC:
            raise ImageError(path, "offset 0", "not a devemu cartridge (bad magic)")
        if len(raw) < HEADER_SIZE:
            raise ImageError(path, f"offset {len(raw)}", "header cut short")
        version = header_version(raw)
        fmt = FORMATS.get(version)
        if fmt is None:
            raise ImageError(path, "offset 8", f"format version {version} is not supported")
        stored = int.from_bytes(raw[HEADER_SIZE - 4 :], "big")
        if stored != header_crc(raw):
            raise ImageError(
                path,
                f"offset {HEADER_SIZE - 4}",
                f"bad header: CRC 0x{stored:08x} stored, 0x{header_crc(raw):08x} computed",
            )
        try:
            head = CartridgeHeader.parse(raw).body.value
        except (ConstructError, ValueError) as err:
            reason = " ".join(str(err).split())[:200]
            raise ImageError(path, "offset 12", f"bad header: {reason}") from None
        try:
            medium = medium_type(head.media_type)
        except ValueError as err:
            raise ImageError(path, "offset 44", str(err)) from None
        try:
            attrs = mam.decode_attributes(head.attributes)
        except Exception as err:  # any failure to decode is a damaged header
            raise ImageError(path, "offset 96", f"bad attributes: {err}") from None
        cart = cls(
            path,
            fd,
            barcode=head.barcode,
            medium=medium,
            worm=bool(head.worm),
            capacity=head.capacity,
            created=head.created,
            ident=bytes(head.uuid),
            header_attributes=attrs,
            read_only=read_only,
            fmt=fmt,
        )
        marks = fmt.sync_marks(raw)
        best = max(range(len(marks)), key=lambda i: marks[i] or (-1, 0))
        cart.durable = marks[best] or (0, HEADER_SIZE)
        cart._mark_slot = 1 - best if marks[best] else 0
        return cart

    # --- replaying the journal -----------------------------------------------------

    def _replay(self) -> None:
        fd, size = self._fd, os.fstat(self._fd).st_size
        unpack = self.journal_format.unpack_entry
        pos, seq = HEADER_SIZE, 1
        pending: list[_Pending] = []
        broken: tuple[int, int, str] | None = None  # (record, offset, what is wrong)
        while pos < size:
            raw = os.pread(fd, ENTRY_HEADER_SIZE, pos)
            entry = unpack(raw)
            if entry is None:
                what = "is cut short" if len(raw) < ENTRY_HEADER_SIZE else "has a damaged header"
                broken = (seq, pos, what)
                break
            if entry.seq != seq:
                broken = (seq, pos, f"has sequence number {entry.seq}")
                break
            if pos + entry.size > size:
                broken = (seq, pos, "is cut short")
                break
            self._check_mark(seq, pos, pos + entry.size)
            kind = entry.kind
            payload = None
            if kind in (_ATTRIBUTES, _FORMAT):
                payload = os.pread(fd, entry.length, pos + ENTRY_HEADER_SIZE + entry.pad)
            if kind == _SYNC:
                for p in pending:
                    self._apply(p)
                pending.clear()
                self._end, self._seq = pos + entry.size, seq + 1
            else:
                pending.append(
                    _Pending(
                        pos,
                        seq,
                        kind,
                        entry.partition,
                        entry.position,
                        entry.length,
                        entry.payload_crc,
                        entry.count,
                        entry.pad,
                        payload,
                    )
                )
            pos += entry.size
            seq += 1
        for p in pending:
            data = p.payload
            if data is None and p.length:
                data = os.pread(fd, p.length, p.payload_offset)
            if self.journal_format.crc(data or b"", 0) != p.crc:
                broken = (p.seq, p.offset, "has a payload CRC mismatch")
                break
            self._apply(p)
            self._end, self._seq = p.end, self._seq + 1
        if broken is None and self._seq - 1 < self.durable[0]:
            broken = (self._seq, size, "is missing: the file ends there")
        if broken is not None:
            record, offset, what = broken
            if record <= self.durable[0]:
                raise self._lost(record, offset, what)
            if self._later_sync(offset, size):
                raise self._lost(record, offset, f"{what}, and a later SYNC follows it")
        self.entries = self._seq - 1
        if self._end < size:
            self.truncated_tail = size - self._end
            if not self.read_only:
                os.ftruncate(fd, self._end)
                os.fsync(fd)
                log.warning(
                    "%s: cut a torn tail at offset %d: %d bytes never synchronised dropped",
                    self.path,
                    self._end,
                    self.truncated_tail,
                )

    def _lost(self, record: int, offset: int, what: str) -> ImageError:
        """The error for a damaged or missing entry that had been synchronised."""
        entries, end = self.durable
        since = f"; the sync mark counts {entries} records to offset {end}" if entries else ""
        return ImageError(
            self.path,
            f"record {record} at offset {offset}",
            f"synchronised record {what}: acknowledged data is lost{since}",
        )

    def _check_mark(self, seq: int, offset: int, end: int) -> None:
        """The entry the sync mark counts last must end where the mark says."""
        entries, mark_end = self.durable
        if seq == entries and end != mark_end:
            raise ImageError(
                self.path,
                f"record {seq} at offset {offset}",
                f"the record ends at offset {end} but the sync mark says {mark_end}: "
                "the journal is not the one the mark was written for",
            )

    def _later_sync(self, start: int, size: int) -> bool:
        """True when a valid SYNC entry lies after ``start`` (scan for its magic)."""
        pos = start + 1
        while pos < size:
            chunk = os.pread(self._fd, _RESYNC_CHUNK + ENTRY_HEADER_SIZE, pos)
            at = chunk.find(ENTRY_MAGIC)
            while at != -1 and at < _RESYNC_CHUNK:
                entry = self.journal_format.unpack_entry(chunk[at : at + ENTRY_HEADER_SIZE])
                if entry is not None and entry.kind == _SYNC and entry.seq >= self._seq:
                    return True
                at = chunk.find(ENTRY_MAGIC, at + 1)
            pos += _RESYNC_CHUNK
        return False

    def _apply(self, p: _Pending) -> None:
        kind, part = p.kind, p.partition
        if kind == _ATTRIBUTES:
            try:
                attrs = mam.decode_attributes(p.payload or b"")
            except Exception as err:  # any failure to decode is a damaged entry
                raise ImageError(self.path, _place(p), f"bad attributes: {err}") from None
            self._merge_attributes(part, attrs)
            return
        self.data_changes += 1
        if kind == _FORMAT:
            try:
                caps = list(FormatPayload.parse(p.payload or b""))
            except (ConstructError, ValueError) as err:
                reason = " ".join(str(err).split())[:200]
                raise ImageError(self.path, _place(p), f"bad format entry: {reason}") from None
            if not caps:
                raise ImageError(self.path, _place(p), "format entry without partitions")
            self.partitions = [PartitionIndex(c) for c in caps]
            return
        if part >= len(self.partitions):
            raise ImageError(self.path, _place(p), f"partition {part} does not exist")
        index = self.partitions[part]
        if p.position > index.eod:
            raise ImageError(
                self.path,
                _place(p),
                f"entry at position {p.position} beyond end of data {index.eod}",
            )
        index.truncate(p.position)
        if kind == _DATA:
            index.add_block(p.payload_offset, p.length)
        elif kind == _ENCRYPTED_DATA:
            if p.count >= p.length:
                raise ImageError(
                    self.path, _place(p), "encrypted block claims more data than its envelope"
                )
            index.add_block(p.payload_offset, p.count)
            index.sealed[p.position] = p.length
        elif kind == _FILEMARKS:
            index.add_filemarks(p.offset, p.count)

    def _merge_attributes(self, part: int, attrs: list[mam.Attribute]) -> None:
        table = self._attributes.setdefault(part, {})
        for a in attrs:
            if a.value:
                table[a.identifier] = a
            else:
                table.pop(a.identifier, None)

    # --- facts -----------------------------------------------------------------------

    @property
    def media_type(self) -> str:
        """The medium name, ``"LTO-8"``."""
        return self.medium.name

    @property
    def partition_count(self) -> int:
        return len(self.partitions)

    def eod(self, partition: int) -> int:
        return self.partitions[partition].eod

    def block_length(self, partition: int, position: int) -> int:
        """Length of the data block at ``position``, or FILEMARK."""
        return self.partitions[partition].lengths[position]

    @property
    def file_size(self) -> int:
        return self._end

    def header_block(self) -> bytes:
        """The header block as stored (:data:`~devemu.tape.records.CartridgeHeader`)."""
        return os.pread(self._fd, HEADER_SIZE, 0)

    # --- tape operations -----------------------------------------------------------

    def _append(self, parts: Sequence[bytes | memoryview], total: int) -> int:
        """Write one entry at the end; return its offset."""
        if self.read_only:
            raise OSError(errno.EROFS, "cartridge opened read only", str(self.path))
        offset = self._end
        try:
            written = os.pwritev(self._fd, parts, offset)
            if written != total:
                raise OSError(errno.ENOSPC, "short write", str(self.path))
        except OSError:
            with contextlib.suppress(OSError):
                os.ftruncate(self._fd, offset)
            raise
        self._end = offset + total
        self._seq += 1
        self.entries += 1
        self._dirty = True
        return offset

    def _append_payload(self, kind: int, partition: int, payload: bytes) -> None:
        """Append an entry with a payload (not a data block) at position 0."""
        fmt = self.journal_format
        pad = fmt.pad(self._end, len(payload))
        crc = fmt.crc(payload, 0)
        header = fmt.pack_entry(kind, partition, self._seq, 0, len(payload), crc, 0, pad)
        self._append([header, fmt.padding(pad), payload], ENTRY_HEADER_SIZE + pad + len(payload))

    def write_block(
        self, partition: int, position: int, data: Sequence[bytes | memoryview]
    ) -> None:
        """Write one data block at ``position`` (ending the data after it)."""
        index = self.partitions[partition]
        self._check_position(index, position)
        length = sum(len(piece) for piece in data)
        fmt = self.journal_format
        pad = fmt.pad(self._end, length)
        header = fmt.pack_entry(
            _DATA, partition, self._seq, position, length, fmt.payload_crc(data), 0, pad
        )
        offset = self._append([header, fmt.padding(pad), *data], ENTRY_HEADER_SIZE + pad + length)
        index.truncate(position)
        index.add_block(offset + ENTRY_HEADER_SIZE + pad, length)
        self.data_changes += 1

    def write_sealed_block(
        self, partition: int, position: int, envelope: Sequence[bytes], plaintext_length: int
    ) -> None:
        """Write one encrypted block at ``position``: its envelope, and its plaintext length.

        The envelope (:mod:`devemu.tape.encryption`) is all that reaches the file.
        """
        index = self.partitions[partition]
        self._check_position(index, position)
        length = sum(len(piece) for piece in envelope)
        fmt = self.journal_format
        pad = fmt.pad(self._end, length)
        crc = fmt.payload_crc(envelope)
        header = fmt.pack_entry(
            _ENCRYPTED_DATA, partition, self._seq, position, length, crc, plaintext_length, pad
        )
        total = ENTRY_HEADER_SIZE + pad + length
        offset = self._append([header, fmt.padding(pad), *envelope], total)
        index.truncate(position)
        index.add_block(offset + ENTRY_HEADER_SIZE + pad, plaintext_length)
        index.sealed[position] = length

    def read_envelope(self, partition: int, position: int) -> bytes:
        """The stored envelope of the encrypted block at ``position``."""
        index = self.partitions[partition]
        return os.pread(self._fd, index.sealed[position], index.offsets[position])

    def write_filemarks(self, partition: int, position: int, count: int) -> None:
        """Write ``count`` filemarks at ``position`` (ending the data after them)."""
        index = self.partitions[partition]
        self._check_position(index, position)
        header = self.journal_format.pack_entry(
            _FILEMARKS, partition, self._seq, position, 0, 0, count
        )
        offset = self._append([header], ENTRY_HEADER_SIZE)
        index.truncate(position)
        index.add_filemarks(offset, count)
        self.data_changes += 1

    def erase(self, partition: int, position: int) -> None:
        """Make ``position`` the end of data of ``partition``."""
        index = self.partitions[partition]
        self._check_position(index, position)
        header = self.journal_format.pack_entry(_END, partition, self._seq, position, 0, 0, 0)
        self._append([header], ENTRY_HEADER_SIZE)
        index.truncate(position)
        self.data_changes += 1

    def format(self, capacities: Sequence[int]) -> None:
        """Repartition: every partition empty, with these capacities (bytes); durable."""
        if not 1 <= len(capacities) <= 255 or any(c < 0 for c in capacities):
            raise ValueError(f"bad partition layout {list(capacities)}")
        payload: bytes = FormatPayload.build(list(capacities))
        self._append_payload(_FORMAT, 0, payload)
        self.partitions = [PartitionIndex(c) for c in capacities]
        self.data_changes += 1
        self.flush()

    def read_block(self, partition: int, position: int, into: Sequence[memoryview]) -> int:
        """Read the block at ``position`` into the buffers; bytes placed.

        Stops at the end of the buffers or of the block, whichever is first.
        """
        index = self.partitions[partition]
        length = index.lengths[position]
        if length <= 0:
            return 0
        if len(into) != 1 or len(into[0]) > length:
            into = _window(into, length)
        return os.preadv(self._fd, into, index.offsets[position])

    def read_block_bytes(self, partition: int, position: int) -> bytes:
        """The whole block at ``position`` as stored (listings and tests): an encrypted
        block's envelope."""
        index = self.partitions[partition]
        if position in index.sealed:
            return self.read_envelope(partition, position)
        length = index.lengths[position]
        if length <= 0:
            return b""
        return os.pread(self._fd, length, index.offsets[position])

    def _check_position(self, index: PartitionIndex, position: int) -> None:
        if not 0 <= position <= index.eod:
            raise ValueError(f"position {position} is beyond end of data {index.eod}")

    # --- MAM -------------------------------------------------------------------------

    def attributes(self, partition: int) -> dict[int, mam.Attribute]:
        """The stored attributes seen from ``partition``: medium, cartridge-wide, own."""
        merged = dict(self._header_attributes)
        merged.update(self._attributes.get(WHOLE_CARTRIDGE, {}))
        merged.update(self._attributes.get(partition, {}))
        return merged

    def set_attributes(self, partition: int, attrs: Sequence[mam.Attribute]) -> None:
        """Store attribute changes (an empty value deletes) durably.

        ``partition`` WHOLE_CARTRIDGE applies them to every partition.
        """
        payload = mam.encode_attributes(list(attrs))
        self._append_payload(_ATTRIBUTES, partition, payload)
        self._merge_attributes(partition, list(attrs))
        self.flush()

    # --- durability ------------------------------------------------------------------

    def flush(self) -> None:
        """Make everything written so far durable (fdatasync, then a SYNC entry)."""
        if not self._dirty or self.read_only:
            return
        os.fdatasync(self._fd)
        self._dirty = False
        self._write_mark(self._seq - 1, self._end)
        header = self.journal_format.pack_entry(_SYNC, 0, self._seq, 0, 0, 0, 0)
        self._append([header], ENTRY_HEADER_SIZE)
        self._dirty = False

    def _write_mark(self, entries: int, end: int) -> None:
        """Mark ``entries`` entries, to ``end``, durable; the other slot keeps the last mark."""
        slot = SYNC_MARKS_OFFSET + self._mark_slot * SYNC_MARK_SIZE
        os.pwrite(self._fd, self.journal_format.pack_sync_mark(entries, end), slot)
        self._mark_slot ^= 1
        self.durable = (entries, end)

    def close(self) -> None:
        """Flush and release the file (idempotent)."""
        if self._closed:
            return
        try:
            self.flush()
        finally:
            self._closed = True
            os.close(self._fd)

    @property
    def closed(self) -> bool:
        return self._closed

    def __enter__(self) -> Cartridge:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- inspection ------------------------------------------------------------------

    def journal(self) -> Iterator[JournalEntry]:
        """The entries of the journal as stored (up to the recovered end)."""
        pos = HEADER_SIZE
        while pos < self._end:
            entry = self.journal_format.unpack_entry(os.pread(self._fd, ENTRY_HEADER_SIZE, pos))
            if entry is None:
                return
            yield JournalEntry(
                pos,
                entry.seq,
                EntryKind(entry.kind),
                entry.partition,
                entry.position,
                entry.length,
                entry.count,
                entry.pad,
                entry.payload_crc,
            )
            pos += entry.size

    def payload(self, entry: JournalEntry) -> bytes:
        """The payload of a journal entry as stored."""
        return os.pread(self._fd, entry.length, entry.payload_offset)

    def verify(self) -> list[str]:
        """Re-read every payload and check its CRC; a list of problems (empty: good)."""
        problems = []
        for e in self.journal():
            if e.length and self.journal_format.crc(self.payload(e), 0) != e.payload_crc:
                problems.append(f"offset {e.offset}: {e.kind.name} entry payload CRC mismatch")
        return problems


def is_cartridge_file(path: Path) -> bool:
    """Whether ``path`` starts like a cartridge file (its magic), without judging the rest."""
    try:
        with path.open("rb") as f:
            return f.read(len(MAGIC)) == MAGIC
    except (OSError, ValueError):
        return False


def _place(p: _Pending) -> str:
    return f"record {p.seq} at offset {p.offset}"


def _window(iov: Sequence[memoryview], length: int) -> list[memoryview]:
    """The first ``length`` bytes of a buffer list, as a buffer list."""
    if len(iov) == 1:
        return [iov[0][:length]]
    out = []
    for buf in iov:
        if length <= 0:
            break
        take = buf[:length]
        out.append(take)
        length -= len(take)
    return out
