"""One instance of every device type, for tests that run over all of their tables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from devemu.cdrom.device import CdromDevice
from devemu.changer.cartridge_store import CartridgeDirectory
from devemu.changer.device import MediumChanger
from devemu.changer.elements import ElementLayout
from devemu.changer.library import Library
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.tape.drive import TapeDrive


def _identity(product: str, serial: str) -> Identity:
    return Identity("DEVEMU", product, "0100", serial)


def make_disk(tmp: Path) -> ScsiDevice:
    create_image(tmp / "disk.img", 1 << 20, 512)
    return Disk(DiskImage(tmp / "disk.img"), _identity("VIRTUAL DISK", "DSK00001"))


def make_cdrom(tmp: Path) -> ScsiDevice:
    return CdromDevice(_identity("VIRTUAL CDROM", "CD000001"))


def make_tape(tmp: Path) -> ScsiDevice:
    store = CartridgeDirectory(tmp / "tapes")
    drive = TapeDrive(_identity("TAPE DRIVE", "DRV00002"), "LTO-8", state_dir=tmp)
    drive.load(store.path(store.create("E01001L8")))
    return drive


def make_changer(tmp: Path) -> ScsiDevice:
    drive = TapeDrive(_identity("TAPE DRIVE", "DRV00003"), "LTO-8", state_dir=tmp)
    library = Library(
        "lib0",
        ElementLayout(drives=1, slots=4, import_export=1),
        CartridgeDirectory(tmp / "changer-tapes"),
        [drive],
        tmp / "lib0.json",
    )
    library.open(("E01001L8", "E01002L8"))
    return MediumChanger(_identity("VTL CHANGER", "LIB00001"), library)


#: A factory per device type, by its class.
FACTORIES: dict[type[ScsiDevice], Callable[[Path], ScsiDevice]] = {
    Disk: make_disk,
    CdromDevice: make_cdrom,
    TapeDrive: make_tape,
    MediumChanger: make_changer,
}
ALL_DEVICE_TYPES = tuple(FACTORIES)
