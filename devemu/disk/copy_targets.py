"""Where EXTENDED COPY finds the disks it copies between: the daemon's disks by designator.

Theory of operation
-------------------
An identification CSCD descriptor (SPC-4 6.3.6.5) names a logical unit
by a designator of its Device Identification VPD page (0x83, SPC-5
7.7.6): here the NAA designator every disk reports. :class:`CopyPeers`
maps those designators to :class:`CopyPeer` values, one per disk the
daemon serves (:func:`devemu.disk.copy_offload.link_copy_peers` builds one registry for the
daemon's whole served-device set; a disk on its own knows only itself).

A copy never reaches into another disk's state. What it needs from a
peer goes through the narrow :class:`CopyPeer` interface:

- :meth:`CopyPeer.medium`: the image file the peer serves now (its path,
  the file's identity, block length, capacity, whether it is read-only),
  or None when it has no medium;
- :meth:`CopyPeer.refusal`: whether the peer would refuse a read or a
  write from this I_T nexus right now (stopped, sanitizing or without a
  medium: NOT READY, as the peer's own readiness check says; write
  protected: DATA PROTECT; a reservation held by another nexus:
  RESERVATION CONFLICT, SPC-5 5.13), as the peer itself would answer;
- :meth:`CopyPeer.durable`: whether a write must reach stable storage
  before it counts (the peer's write cache is off).

The data itself moves through a file descriptor of the copy's own
(:func:`open_medium`): the image is opened again by the path its owner
serves, and used only if the file opened is the very file the owner has
open (same device and inode) and a regular file, so nothing outside the
configured images is ever read or written, even if the path was
replaced behind the daemon's back. The page cache keeps this descriptor
and the owner's coherent. The owner's ``flock`` is advisory and stays
the owner's: the copy takes none.

When the peer is served by another worker: a thread per device works
as is (the peer's attributes change only between its own commands, and
SPC-4 6.3.1 does not make EXTENDED COPY atomic with respect to other
commands to the copy target: a real copy manager writes through WRITE
commands of its own that interleave with everyone else's). A process
per device needs, in each worker's registry, a peer whose three methods
ask the owning worker (one request per CSCD per EXTENDED COPY); the data
still moves through this worker's own descriptor. A designator with no
peer in the registry is COPY TARGET DEVICE NOT REACHABLE, never a guess.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from devemu.disk.opcodes import Opcode
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    WRITE_PROTECTED,
    SenseError,
)

if TYPE_CHECKING:
    from devemu.disk.device import Disk


@dataclass(frozen=True, slots=True)
class Medium:
    """The image file a peer serves, as a copy may open it."""

    path: Path
    #: (st_dev, st_ino) of the file the peer has open.
    file_id: tuple[int, int]
    block_size: int
    capacity: int
    read_only: bool


@dataclass(frozen=True, slots=True)
class Refusal:
    """How a peer would answer a read or write now: RESERVATION CONFLICT, or a CHECK CONDITION."""

    error: SenseError | None = None

    @property
    def reservation_conflict(self) -> bool:
        return self.error is None


class CopyPeer(Protocol):
    """What a copy may ask of a disk it reads or writes (see the module docstring)."""

    @property
    def designator(self) -> bytes: ...

    def medium(self) -> Medium | None: ...

    def refusal(self, nexus: str, *, write: bool) -> Refusal | None: ...

    def durable(self) -> bool: ...


class LocalPeer:
    """A :class:`CopyPeer` for a disk served by this process."""

    __slots__ = ("_disk",)

    def __init__(self, disk: Disk) -> None:
        self._disk = disk

    @property
    def designator(self) -> bytes:
        return self._disk.identity.naa

    def medium(self) -> Medium | None:
        disk = self._disk
        image = disk.image
        if image.fd < 0:
            return None
        st = os.fstat(image.fd)
        return Medium(
            image.path, (st.st_dev, st.st_ino), disk.block_size, disk.capacity, image.read_only
        )

    def refusal(self, nexus: str, *, write: bool) -> Refusal | None:
        """What the disk answers a READ(16) or WRITE(16) from ``nexus`` before running it."""
        disk = self._disk
        spec = disk.commands.get(Opcode.WRITE_16 if write else Opcode.READ_16)
        if spec is not None and disk.reservations.conflict(Command(b"", nexus=nexus), spec):
            return Refusal()
        try:
            disk.check_ready()
        except SenseError as err:
            return Refusal(err)
        if write and disk.write_protected:
            return Refusal(SenseError(WRITE_PROTECTED))
        return None

    def durable(self) -> bool:
        return not self._disk.write_cache


class CopyPeers:
    """The disks a copy manager can reach, by NAA designator."""

    __slots__ = ("_by_designator",)

    def __init__(self, peers: Iterable[CopyPeer] = ()) -> None:
        self._by_designator: dict[bytes, CopyPeer] = {p.designator: p for p in peers}

    def find(self, designator: bytes) -> CopyPeer | None:
        return self._by_designator.get(bytes(designator))

    def __len__(self) -> int:
        return len(self._by_designator)


class OpenMedium:
    """A copy's own descriptor on a peer's image file: reads and writes of byte ranges."""

    __slots__ = ("block_size", "capacity", "fd", "file_id", "shift")

    def __init__(self, fd: int, medium: Medium) -> None:
        self.fd = fd
        self.file_id = medium.file_id
        self.block_size = medium.block_size
        self.shift = medium.block_size.bit_length() - 1
        self.capacity = medium.capacity

    def read_into(self, offset: int, buf: memoryview) -> None:
        """Fill ``buf`` from ``offset``; a file shorter than the capacity reads as zeros."""
        done = 0
        while done < len(buf):
            n = os.preadv(self.fd, [buf[done:]], offset + done)
            if n == 0:
                buf[done:] = bytes(len(buf) - done)
                return
            done += n

    def write_from(self, offset: int, buf: memoryview, *, durable: bool) -> None:
        flags = os.RWF_DSYNC if durable else 0
        done = 0
        while done < len(buf):
            done += os.pwritev(self.fd, [buf[done:]], offset + done, flags)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def open_medium(peer: CopyPeer) -> OpenMedium | None:
    """Open the image ``peer`` serves, or None when it has none or the file is not that image."""
    medium = peer.medium()
    if medium is None:
        return None
    flags = (os.O_RDONLY if medium.read_only else os.O_RDWR) | os.O_CLOEXEC | os.O_NOCTTY
    try:
        fd = os.open(medium.path, flags)
    except OSError:
        return None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or (st.st_dev, st.st_ino) != medium.file_id:
        os.close(fd)
        return None
    return OpenMedium(fd, medium)
