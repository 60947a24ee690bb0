"""One devemu device per profile, built in a temporary folder, for the suite to judge.

Adding a device type is one entry in ``DEVICES``: a profile of
:mod:`devemu.testing.conformance.device_profiles` (or one written here)
and a function that builds the device in that state.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from devemu.cdrom.device import CdromDevice
from devemu.cdrom.image import load_image
from devemu.cdrom.iso_writer import make_iso
from devemu.changer.cartridge_store import CartridgeDirectory
from devemu.changer.device import MediumChanger
from devemu.changer.elements import ElementLayout
from devemu.changer.library import Library
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.osd.device import OsdDevice
from devemu.osd.store import ObjectStore
from devemu.scsi.device import ScsiDevice
from devemu.scsi.identity import Identity
from devemu.scsi.spc import SPC_COMMANDS
from devemu.scsi.table import CommandTable
from devemu.tape.drive import TapeDrive
from devemu.testing.conformance import PROFILES, Profile


class MinimalDevice(ScsiDevice):
    """A logical unit with nothing but the shared SPC commands."""

    peripheral_type: ClassVar[int] = 0x1F  # unknown or no device type
    commands: ClassVar[CommandTable] = CommandTable(SPC_COMMANDS)


MINIMAL = Profile("minimal", 0x1F, removable=False, ready=True, commands=MinimalDevice.commands)


def _identity(product: str, serial: str) -> Identity:
    return Identity("DEVEMU", product, "0100", serial)


def make_minimal(tmp: Path) -> ScsiDevice:
    return MinimalDevice(_identity("MINIMAL SPC", "MIN00001"))


def make_disk(tmp: Path) -> ScsiDevice:
    create_image(tmp / "disk.img", 1 << 20, 512)
    return Disk(DiskImage(tmp / "disk.img"), _identity("VIRTUAL DISK", "DSK00001"))


def make_cdrom(tmp: Path) -> ScsiDevice:
    return CdromDevice(_identity("VIRTUAL CDROM", "CD000001"))


def make_cdrom_with_disc(tmp: Path) -> ScsiDevice:
    (tmp / "tree").mkdir()
    (tmp / "tree" / "README.TXT").write_text("conformance\n")
    make_iso(tmp / "tree", tmp / "disc.iso", label="CONFORMANCE")
    drive = CdromDevice(_identity("VIRTUAL CDROM", "CD000002"))
    drive.insert(load_image(tmp / "disc.iso"))
    return drive


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


def make_osd(tmp: Path) -> ScsiDevice:
    return OsdDevice(ObjectStore(tmp / "osd"), _identity("OBJECT STORE", "OSD00001"))


#: Every device type in the tree, in each state the suite judges: its profile and builder.
DEVICES: dict[str, tuple[Profile, Callable[[Path], ScsiDevice]]] = {
    "minimal": (MINIMAL, make_minimal),
    "disk": (PROFILES["disk"], make_disk),
    "cdrom": (PROFILES["cdrom"], make_cdrom),
    "cdrom-disc": (PROFILES["cdrom-disc"], make_cdrom_with_disc),
    "tape": (PROFILES["tape"], make_tape),
    "tape-loaded": (PROFILES["tape-loaded"], make_loaded_tape),
    "changer": (PROFILES["changer"], make_changer),
    "osd": (PROFILES["osd"], make_osd),
}
