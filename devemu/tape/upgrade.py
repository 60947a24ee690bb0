"""Rewriting a cartridge file in the current format version, atomically (``devemu tape upgrade``).

The cartridge is opened as a drive opens it (exclusive lock, a torn tail
cut), and its journal is copied entry by entry, in order and with the same
sequence numbers, into a new file beside it (``.NAME.tmp``, :mod:`devemu.atomic_file`): each
payload is read once, checked against its old checksum and written with
the new one, at the new format's place (:mod:`devemu.tape.records`). The
new file is then made durable (``fsync``), given a sync mark that counts
every entry, made durable again, renamed over the old one (``rename(2)``
replaces a name atomically) and the folder is synced.

So a kill -9 at any instant leaves the old file whole (before the rename)
or the new one whole (after it), never a mixture; what can be left is
the temporary file, which the next upgrade of that cartridge overwrites
(the lock on the cartridge keeps two upgrades of it apart). A payload
whose old checksum does not match stops the upgrade with an
:class:`~devemu.errors.ImageError` naming the record, the old file
untouched.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from devemu.atomic_file import replacing, temporary_path
from devemu.errors import ImageError
from devemu.tape.cartridge import Cartridge
from devemu.tape.records import (
    CURRENT,
    ENTRY_HEADER_SIZE,
    HEADER_SIZE,
    SYNC_MARKS_OFFSET,
    CartridgeHeader,
)


@dataclass(frozen=True, slots=True)
class Upgrade:
    """What an upgrade did: versions, entries copied, file sizes."""

    path: Path
    old_version: int
    new_version: int
    entries: int
    old_size: int
    new_size: int

    @property
    def changed(self) -> bool:
        return self.old_version != self.new_version


def upgrade(path: Path) -> Upgrade:
    """Rewrite the cartridge at ``path`` in the current format version (no-op if it is)."""
    with Cartridge.open(path) as cart:
        old = cart.journal_format.version
        if old == CURRENT.version:
            size = cart.file_size
            return Upgrade(path, old, old, cart.entries, size, size)
        with replacing(path) as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                entries, end = _copy(cart, fd)
                os.fsync(fd)  # the mark counts only what is on stable storage
                os.pwrite(fd, CURRENT.pack_sync_mark(entries, end), SYNC_MARKS_OFFSET)
            finally:
                os.close(fd)
        return Upgrade(path, old, CURRENT.version, entries, cart.file_size, end)


def _copy(cart: Cartridge, fd: int) -> tuple[int, int]:
    """Write the new header and every entry of ``cart`` to ``fd``; (entries, end offset)."""
    old = cart.journal_format
    head = CartridgeHeader.parse(cart.header_block()).body.value
    fields = (
        "barcode",
        "media_type",
        "density_code",
        "worm",
        "capacity",
        "created",
        "uuid",
        "attributes",
    )
    value = {name: head[name] for name in fields}
    value["version"] = CURRENT.version
    header: bytes = CartridgeHeader.build({"body": {"value": value}})
    os.pwrite(fd, header, 0)
    end, entries = HEADER_SIZE, 0
    for e in cart.journal():
        payload = cart.payload(e) if e.length else b""
        if len(payload) != e.length or old.crc(payload, 0) != e.payload_crc:
            raise ImageError(
                cart.path,
                f"record {e.seq} at offset {e.offset}",
                "payload CRC mismatch: not upgraded (the file is unchanged)",
            )
        pad = CURRENT.pad(end, e.length)
        crc = CURRENT.crc(payload, 0) if e.length else 0
        entry = CURRENT.pack_entry(
            int(e.kind), e.partition, e.seq, e.position, e.length, crc, e.count, pad
        )
        size = ENTRY_HEADER_SIZE + pad + e.length
        if os.pwritev(fd, [entry, CURRENT.padding(pad), payload], end) != size:
            raise ImageError(temporary_path(cart.path), None, "short write")
        end += size
        entries += 1
    return entries, end
