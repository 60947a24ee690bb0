"""Finding and opening the UIO devices TCMU registers for its backstores.

Every enabled TCMU backstore is a UIO device (``/sys/class/uio/uioN``)
named ``tcm-user/<hba>/<backstore>/<dev_config>``, where ``dev_config`` is
``<subtype>/<path>``; devemu's subtype is ``devemu``. Its single memory map
(``maps/map0/size``) holds the mailbox, the command ring and the data
area, and is mapped by ``mmap`` on ``/dev/uioN`` at offset 0.

The doorbell (``Documentation/driver-api/uio-howto.rst`` and
``Documentation/target/tcmu-design.rst``): a 4-byte ``read`` blocks until
the kernel has queued something and returns the event count; a 4-byte
``write`` tells the kernel that completions are in the ring. With the file
descriptor in a selector, readability means a read will not block.

The open device is locked (``flock``, exclusive): one process serves a
ring, and a second daemon that finds the backstore (a device of the same
name) is refused instead of answering its commands too. The lock goes with
the process, ``kill -9`` included.

``sysfs`` and ``dev`` are parameters so tests can point them at a fake tree.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import mmap
import os
import struct
from dataclasses import dataclass
from pathlib import Path

from devemu.errors import DevemuError
from devemu.tcmu.configfs import SUBTYPE

DEFAULT_SYSFS = Path("/sys")
DEFAULT_DEV = Path("/dev")

_COUNT = struct.Struct("=I")
_NAME_PREFIX = "tcm-user"


class UioError(DevemuError):
    """A UIO device that cannot be found, opened or mapped."""


@dataclass(frozen=True, slots=True)
class UioName:
    """The parts of a TCMU UIO device name."""

    hba: int
    backstore: str
    subtype: str
    path: str

    @classmethod
    def parse(cls, name: str) -> UioName | None:
        """Split ``tcm-user/<hba>/<backstore>/<subtype>/<path>``; None if not TCMU.

        A backstore without ``dev_config`` is named ``tcm-user/<hba>/<backstore>``
        and gets empty subtype and path. The path may itself contain slashes.
        """
        parts = name.strip().split("/", 4)
        if len(parts) < 3 or parts[0] != _NAME_PREFIX or not parts[1].isdigit():
            return None
        subtype = parts[3] if len(parts) > 3 else ""
        path = parts[4] if len(parts) > 4 else ""
        return cls(int(parts[1]), parts[2], subtype, path)

    def __str__(self) -> str:
        base = f"{_NAME_PREFIX}/{self.hba}/{self.backstore}"
        return f"{base}/{self.subtype}/{self.path}" if self.subtype else base


@dataclass(frozen=True, slots=True)
class UioDevice:
    """One UIO device as sysfs describes it."""

    index: int
    name: UioName
    map_size: int
    dev: Path

    @property
    def minor(self) -> int:
        return self.index


def _read_int(path: Path) -> int:
    return int(path.read_text().strip(), 0)


def describe(uio_dir: Path, dev: Path = DEFAULT_DEV) -> UioDevice | None:
    """The TCMU device behind ``/sys/class/uio/uioN``, or None if it is not one."""
    try:
        raw_name = (uio_dir / "name").read_text()
        name = UioName.parse(raw_name)
        if name is None:
            return None
        size = _read_int(uio_dir / "maps" / "map0" / "size")
    except (OSError, ValueError):
        return None
    index = int(uio_dir.name.removeprefix("uio"))
    return UioDevice(index, name, size, dev / uio_dir.name)


def find_devices(
    subtype: str | None = SUBTYPE,
    *,
    sysfs: Path = DEFAULT_SYSFS,
    dev: Path = DEFAULT_DEV,
) -> list[UioDevice]:
    """Every TCMU UIO device (of ``subtype``, unless None), lowest index first."""
    root = sysfs / "class" / "uio"
    if not root.is_dir():
        return []
    found = []
    for entry in root.iterdir():
        if not entry.name.startswith("uio") or not entry.name[3:].isdigit():
            continue
        device = describe(entry, dev)
        if device is None:
            continue
        if subtype is not None and device.name.subtype != subtype:
            continue
        found.append(device)
    return sorted(found, key=lambda d: d.index)


def find_device(
    backstore: str,
    subtype: str = SUBTYPE,
    *,
    sysfs: Path = DEFAULT_SYSFS,
    dev: Path = DEFAULT_DEV,
) -> UioDevice | None:
    """The UIO device of the backstore called ``backstore``, if it is enabled."""
    for device in find_devices(subtype, sysfs=sysfs, dev=dev):
        if device.name.backstore == backstore:
            return device
    return None


class UioMapping:
    """An open ``/dev/uioN`` and its shared mapping; the kernel ring lives in ``mem``."""

    def __init__(self, device: UioDevice) -> None:
        self.device = device
        try:
            self.fd = os.open(device.dev, os.O_RDWR | os.O_CLOEXEC)
        except OSError as err:
            raise UioError(f"{device.dev} ({device.name}): cannot open: {err.strerror}") from err
        try:
            # One server per ring: a second daemon whose device has the same
            # name would find this backstore and answer its commands too.
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            os.close(self.fd)
            if err.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UioError(
                    f"{device.dev} ({device.name}): another process serves it "
                    "(a second devemu serve with a device of that name?)"
                ) from err
            raise UioError(f"{device.dev} ({device.name}): cannot lock: {err.strerror}") from err
        try:
            self.mem = mmap.mmap(
                self.fd, device.map_size, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE
            )
        except OSError as err:
            os.close(self.fd)
            raise UioError(
                f"{device.dev} ({device.name}): cannot map {device.map_size} bytes: {err.strerror}"
            ) from err

    def fileno(self) -> int:
        return self.fd

    def wait(self) -> int:
        """Block until the kernel rings; return its event count."""
        data = os.read(self.fd, _COUNT.size)
        if len(data) != _COUNT.size:
            raise UioError(f"{self.device.dev}: short doorbell read ({len(data)} bytes)")
        count: int = _COUNT.unpack(data)[0]
        return count

    def notify(self) -> None:
        """Tell the kernel completions are waiting in the ring."""
        os.write(self.fd, _COUNT.pack(0))

    def close(self) -> None:
        if self.fd < 0:
            return
        # Views into the mapping may still be alive; the mapping then goes with them.
        with contextlib.suppress(BufferError):
            self.mem.close()
        os.close(self.fd)
        self.fd = -1
