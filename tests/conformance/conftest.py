"""The SCSI target every conformance test talks to, one per device type.

A test gets ``target`` and calls ``target.execute(cdb, data_out=None,
data_in_length=0) -> (status, sense, data)``. Nothing else of the device
is needed, so the same suite can run over any transport: today the ring
simulator of :mod:`devemu.testing` (the real ring code, READ_LEN
included), later the kernel ring. ``target.commands`` is the device's
command table when the transport can see it (None otherwise).

Adding a device type is one entry in ``DEVICE_TYPES``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, NamedTuple

import pytest

from devemu.cdrom.device import CdromDevice
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.scsi.command import Status
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable
from devemu.tape.cartridge_store import CartridgeDirectory
from devemu.tape.changer import MediumChanger
from devemu.tape.elements import ElementLayout
from devemu.tape.library import Library
from devemu.testing import RingSimulator


class Answer(NamedTuple):
    """Status, sense data and data-in of one command, as the initiator sees them."""

    status: int
    sense: bytes
    data: bytes


class MinimalDevice(ScsiDevice):
    """A logical unit with nothing but the shared SPC commands."""

    peripheral_type: ClassVar[int] = 0x1F  # unknown or no device type
    commands: ClassVar[CommandTable] = CommandTable(SPC_COMMANDS)


class StandInDrive:
    """The data transfer element a library needs, until a drive is wired in here."""

    def __init__(self, serial: str) -> None:
        self.identity = Identity("DEVEMU", "TAPE DRIVE", "0100", serial)
        self.loaded_path: Path | None = None
        self.ejected = False
        self.removal_prevented = False

    def load(self, path: Path) -> None:
        self.loaded_path = path
        self.ejected = False

    def unload(self) -> Path | None:
        path, self.loaded_path = self.loaded_path, None
        return path


def _identity(product: str, serial: str) -> Identity:
    return Identity("DEVEMU", product, "0100", serial)


def make_minimal(tmp: Path) -> ScsiDevice:
    return MinimalDevice(_identity("MINIMAL SPC", "MIN00001"))


def make_disk(tmp: Path) -> ScsiDevice:
    create_image(tmp / "disk.img", 1 << 20, 512)
    return Disk(DiskImage(tmp / "disk.img"), _identity("VIRTUAL DISK", "DSK00001"))


def make_cdrom(tmp: Path) -> ScsiDevice:
    return CdromDevice(_identity("VIRTUAL CDROM", "CD000001"))


def make_changer(tmp: Path) -> ScsiDevice:
    library = Library(
        "lib0",
        ElementLayout(drives=1, slots=4, import_export=1),
        CartridgeDirectory(tmp / "tapes"),
        [StandInDrive("DRV00001")],
        tmp / "lib0.json",
    )
    library.open(("E01001L8", "E01002L8"))
    return MediumChanger(_identity("VTL CHANGER", "LIB00001"), library)


#: Every device type in the tree, by name.
DEVICE_TYPES: dict[str, Callable[[Path], ScsiDevice]] = {
    "minimal": make_minimal,
    "disk": make_disk,
    "cdrom": make_cdrom,
    "changer": make_changer,
}


class SimulatorTarget:
    """A device served through the in-process TCMU ring simulator."""

    def __init__(self, name: str, device: ScsiDevice) -> None:
        self.name = name
        self.device = device
        self.commands: CommandTable | None = device.commands
        self.sim = RingSimulator()
        self.loop = self.sim.attach(device)

    def execute(
        self,
        cdb: bytes | bytearray | list[int],
        data_out: bytes | None = None,
        data_in_length: int = 0,
    ) -> Answer:
        done = self.sim.execute(bytes(cdb), data_out, data_in_length)
        return Answer(done.status, bytes(done.sense), bytes(done.data))


def settle(target: SimulatorTarget) -> None:
    """Clear the power-on unit attention the way an initiator does: TEST UNIT READY."""
    for _ in range(8):
        status, sense, _ = target.execute(bytes(6))
        if status != Status.CHECK_CONDITION or (sense[2] & 0xF) != 0x6:
            return
    raise AssertionError(f"{target.name}: unit attentions never end")


@pytest.fixture(params=sorted(DEVICE_TYPES))
def target(request: pytest.FixtureRequest, tmp_path: Path) -> SimulatorTarget:
    name: str = request.param
    t = SimulatorTarget(name, DEVICE_TYPES[name](tmp_path))
    settle(t)
    return t
