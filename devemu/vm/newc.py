"""The "newc" cpio archive the kernel unpacks as its initial root.

Format: the kernel's Documentation/driver-api/early-userspace/
buffer-format.rst. Each member is a 110-byte ASCII header (magic
``070701`` then thirteen 8-digit hex fields), the NUL-terminated name
padded to a multiple of four, then the data padded the same way; the
archive ends with a member named ``TRAILER!!!``. Members are written with
fixed owners, times and inode numbers so that the same inputs always give
the same bytes (the cache is keyed by their hash).
"""

from __future__ import annotations

import stat
from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
_FIELDS = (
    "ino",
    "mode",
    "uid",
    "gid",
    "nlink",
    "mtime",
    "filesize",
    "devmajor",
    "devminor",
    "rdevmajor",
    "rdevminor",
    "namesize",
    "check",
)
HEADER_SIZE = len(MAGIC) + 8 * len(_FIELDS)


@dataclass(frozen=True)
class Member:
    """One archive member: a directory, regular file, symlink or device node."""

    name: str
    mode: int
    data: bytes = b""
    rdev: tuple[int, int] = (0, 0)

    @classmethod
    def directory(cls, name: str, perm: int = 0o755) -> Member:
        return cls(name, stat.S_IFDIR | perm)

    @classmethod
    def file(cls, name: str, data: bytes, perm: int = 0o644) -> Member:
        return cls(name, stat.S_IFREG | perm, data)

    @classmethod
    def symlink(cls, name: str, target: str) -> Member:
        return cls(name, stat.S_IFLNK | 0o777, target.encode())

    @classmethod
    def char_device(cls, name: str, major: int, minor: int, perm: int = 0o600) -> Member:
        return cls(name, stat.S_IFCHR | perm, rdev=(major, minor))


def _pad4(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _header(member: Member, ino: int) -> bytes:
    name = member.name.encode() + b"\0"
    values = {
        "ino": ino,
        "mode": member.mode,
        "uid": 0,
        "gid": 0,
        "nlink": 2 if stat.S_ISDIR(member.mode) else 1,
        "mtime": 0,
        "filesize": len(member.data),
        "devmajor": 0,
        "devminor": 0,
        "rdevmajor": member.rdev[0],
        "rdevminor": member.rdev[1],
        "namesize": len(name),
        "check": 0,
    }
    header = MAGIC + b"".join(b"%08X" % values[field] for field in _FIELDS)
    return header + name + _pad4(HEADER_SIZE + len(name))


def build(members: list[Member]) -> bytes:
    """Serialise ``members`` in order, followed by the trailer."""
    out = bytearray()
    for ino, member in enumerate(members, start=1):
        out += _header(member, ino)
        out += member.data + _pad4(len(member.data))
    out += _header(Member(TRAILER, 0), 0)
    return bytes(out)


def parse(archive: bytes) -> list[Member]:
    """Read back an archive written by :func:`build` (used to inspect initramfs images)."""
    members: list[Member] = []
    offset = 0
    while True:
        if archive[offset : offset + 6] != MAGIC:
            raise ValueError(f"newc archive: bad magic at offset {offset}")
        raw = archive[offset + 6 : offset + HEADER_SIZE]
        fields = {f: int(raw[i * 8 : i * 8 + 8], 16) for i, f in enumerate(_FIELDS)}
        name_start = offset + HEADER_SIZE
        name_end = name_start + fields["namesize"]
        name = archive[name_start : name_end - 1].decode()
        data_start = name_end + (-(HEADER_SIZE + fields["namesize"]) % 4)
        data_end = data_start + fields["filesize"]
        if name == TRAILER:
            return members
        members.append(
            Member(
                name,
                fields["mode"],
                archive[data_start:data_end],
                (fields["rdevmajor"], fields["rdevminor"]),
            )
        )
        offset = data_end + (-fields["filesize"] % 4)
