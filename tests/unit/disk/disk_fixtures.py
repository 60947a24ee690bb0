"""Disks over small sparse images, CDB builders, and golden-bytes checks."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.scsi.command import Command, Status, answered
from devemu.scsi.identity import Identity
from devemu.scsi.sense import SenseCode, parse_sense

IDENTITY = Identity("DEVEMU", "VIRTUAL DISK", "0100", "DISK0001")
#: Blocks of the images the tests use.
BLOCKS = 2048


@dataclass
class Answer:
    """Status, sense and data-in of one command."""

    status: Status
    sense: bytes
    data: bytes
    data_in_length: int | None

    @property
    def code(self) -> SenseCode:
        return parse_sense(self.sense)[0]

    @property
    def fields(self) -> dict[str, object]:
        return parse_sense(self.sense)[1]


def execute(
    dev: Disk, cdb: bytes, data_out: bytes | None = None, data_in: int = 0, *, pieces: int = 1
) -> Answer:
    """Run ``cdb`` with ``data_out`` or ``data_in`` bytes of buffer (split in ``pieces``)."""
    buf = bytearray(data_out) if data_out is not None else bytearray(data_in)
    view = memoryview(buf)
    step = max(1, -(-len(buf) // pieces)) if buf else 1
    iov = [view[i : i + step] for i in range(0, len(buf), step)]
    result = answered(dev.execute(Command(bytes(cdb), iov)))
    n = result.data_in_length or 0
    return Answer(Status(result.status), result.sense, bytes(buf[:n]), result.data_in_length)


Run = Callable[..., Answer]


def make_image(path: Path, block_size: int = 512, blocks: int = BLOCKS) -> Path:
    create_image(path, block_size * blocks, block_size)
    return path


def make_disk(path: Path, block_size: int = 512, **options: bool) -> Disk:
    read_only = options.pop("read_only", False)
    write_cache = options.pop("write_cache", True)
    assert not options, f"unknown options {options}"
    dev = Disk(DiskImage(path, block_size, read_only=read_only), IDENTITY, write_cache=write_cache)
    dev.unit_attentions.clear()
    return dev


# --- CDB builders -------------------------------------------------------------------


def rw6(op: int, lba: int, count: int) -> bytes:
    return bytes([op, (lba >> 16) & 0x1F, (lba >> 8) & 0xFF, lba & 0xFF, count & 0xFF, 0])


def rw10(op: int, lba: int, count: int, flags: int = 0) -> bytes:
    return bytes([op, flags]) + lba.to_bytes(4, "big") + b"\x00" + count.to_bytes(2, "big") + b"\0"


def rw12(op: int, lba: int, count: int, flags: int = 0) -> bytes:
    return bytes([op, flags]) + lba.to_bytes(4, "big") + count.to_bytes(4, "big") + b"\0\0"


def rw16(op: int, lba: int, count: int, flags: int = 0) -> bytes:
    return bytes([op, flags]) + lba.to_bytes(8, "big") + count.to_bytes(4, "big") + b"\0\0"


def sai16(action: int, lba: int, allocation_length: int) -> bytes:
    return (
        bytes([0x9E, action])
        + lba.to_bytes(8, "big")
        + allocation_length.to_bytes(4, "big")
        + b"\0\0"
    )


def unmap_cdb(length: int) -> bytes:
    return bytes([0x42, 0, 0, 0, 0, 0, 0]) + length.to_bytes(2, "big") + b"\0"


def unmap_list(*runs: tuple[int, int]) -> bytes:
    body = b"".join(lba.to_bytes(8, "big") + n.to_bytes(4, "big") + bytes(4) for lba, n in runs)
    return (len(body) + 6).to_bytes(2, "big") + len(body).to_bytes(2, "big") + bytes(4) + body
