"""The profiles of devemu's own device types, by the name the runner takes.

The peripheral types and RMB bits are the standards' (SPC-5 table 148;
every devemu type but the disk has removable media); the VPD pages are
those SPC-5 and the device type's command set define and devemu serves:
Block Limits, Block Device Characteristics and Logical Block
Provisioning for the disk (SBC-4 6.6.4-6.6.6); Sequential-Access Device
Capabilities, Manufacturer-assigned Serial Number and TapeAlert Supported
Flags for the tape drive (SSC-5 8.7); OSD Information for the
object-based storage device (OSD-2 7.6). The command tables are the
devices' own, so REPORT SUPPORTED OPERATION CODES is compared with them.
"""

from __future__ import annotations

from devemu.cdrom.device import CdromDevice
from devemu.changer.device import MediumChanger
from devemu.disk.device import Disk
from devemu.osd.device import OsdDevice
from devemu.tape.drive import TapeDrive
from devemu.testing.conformance.profile import SPC_VPD_PAGES, Profile

DIRECT_ACCESS = 0x00
SEQUENTIAL_ACCESS = 0x01
MMC = 0x05
MEDIUM_CHANGER = 0x08
OBJECT_BASED_STORAGE = 0x11

DISK = Profile(
    "disk",
    DIRECT_ACCESS,
    removable=False,
    vpd_pages=SPC_VPD_PAGES | {0xB0, 0xB1, 0xB2},
    ready=True,
    commands=Disk.commands,
)
CDROM = Profile("cdrom", MMC, removable=True, ready=False, commands=CdromDevice.commands)
CDROM_WITH_DISC = Profile(
    "cdrom-disc", MMC, removable=True, ready=True, commands=CdromDevice.commands
)
TAPE = Profile(
    "tape",
    SEQUENTIAL_ACCESS,
    removable=True,
    vpd_pages=SPC_VPD_PAGES | {0xB0, 0xB1, 0xB2},
    ready=False,
    commands=TapeDrive.commands,
)
TAPE_LOADED = Profile(
    "tape-loaded",
    SEQUENTIAL_ACCESS,
    removable=True,
    vpd_pages=SPC_VPD_PAGES | {0xB0, 0xB1, 0xB2},
    ready=True,
    commands=TapeDrive.commands,
)
CHANGER = Profile(
    "changer", MEDIUM_CHANGER, removable=True, ready=True, commands=MediumChanger.commands
)
OSD = Profile(
    "osd",
    OBJECT_BASED_STORAGE,
    removable=False,
    vpd_pages=SPC_VPD_PAGES | {0xB0},
    ready=True,
    commands=OsdDevice.commands,
)

#: Every profile by name: ``cdrom`` and ``tape`` are the empty drives.
PROFILES: dict[str, Profile] = {
    p.name: p for p in (DISK, CDROM, CDROM_WITH_DISC, TAPE, TAPE_LOADED, CHANGER, OSD)
}
