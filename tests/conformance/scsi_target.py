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

from devemu.cdrom.device import CdromDevice
from devemu.changer.cartridge_store import CartridgeDirectory
from devemu.changer.device import MediumChanger
from devemu.changer.elements import ElementLayout
from devemu.changer.library import Library
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.scsi.command import Status
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable
from devemu.tape.drive import TapeDrive
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


def _identity(product: str, serial: str) -> Identity:
    return Identity("DEVEMU", product, "0100", serial)


def make_minimal(tmp: Path) -> ScsiDevice:
    return MinimalDevice(_identity("MINIMAL SPC", "MIN00001"))


def make_disk(tmp: Path) -> ScsiDevice:
    create_image(tmp / "disk.img", 1 << 20, 512)
    return Disk(DiskImage(tmp / "disk.img"), _identity("VIRTUAL DISK", "DSK00001"))


def make_cdrom(tmp: Path) -> ScsiDevice:
    return CdromDevice(_identity("VIRTUAL CDROM", "CD000001"))


def make_tape(tmp: Path) -> ScsiDevice:
    return TapeDrive(_identity("TAPE DRIVE", "DRV00001"), "LTO-8", state_dir=tmp)


def make_loaded_tape(tmp: Path) -> ScsiDevice:
    store = CartridgeDirectory(tmp / "tapes")
    drive = TapeDrive(_identity("TAPE DRIVE", "DRV00002"), "LTO-8", state_dir=tmp)
    drive.load(store.path(store.create("E01001L8")))
    return drive


def make_changer(tmp: Path) -> ScsiDevice:
    drive = TapeDrive(_identity("TAPE DRIVE", "DRV00003"), "LTO-8", state_dir=tmp)
    library = Library(
        "lib0",
        ElementLayout(drives=1, slots=4, import_export=1),
        CartridgeDirectory(tmp / "tapes"),
        [drive],
        tmp / "lib0.json",
    )
    library.open(("E01001L8", "E01002L8"))
    return MediumChanger(_identity("VTL CHANGER", "LIB00001"), library)


#: Every device type in the tree, by name.
DEVICE_TYPES: dict[str, Callable[[Path], ScsiDevice]] = {
    "minimal": make_minimal,
    "disk": make_disk,
    "cdrom": make_cdrom,
    "tape": make_tape,
    "tape-loaded": make_loaded_tape,
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
