"""Profiles: what kind of medium the drive says is loaded (MMC-6 5.3.1).

The drive can read CD-ROM, DVD-ROM and BD-ROM media. The current profile
follows the loaded image: a CUE sheet (or an NRG, MDS, CloneCD or cdrdao TOC
image) is always a CD; an ISO image is a
CD up to 900 MB, a DVD up to two layers of 4.7 GB, a BD above that,
unless the configuration names the profile.
"""

from __future__ import annotations

from enum import IntEnum

from devemu.cdrom.disc import Disc

CD_LIMIT = 900 * 1000 * 1000
DVD_LIMIT = 2 * 4_700_000_000
#: Disc kinds (image formats) that are CDs whatever their size: all but a plain ISO.
CD_IMAGE_KINDS = frozenset(("cue", "nrg", "mds", "ccd", "toc"))


class Profile(IntEnum):
    """Profile numbers, MMC-6 table 91."""

    NONE = 0x0000
    CD_ROM = 0x0008
    CD_R = 0x0009
    CD_RW = 0x000A
    DVD_ROM = 0x0010
    DVD_R = 0x0011
    DVD_RW_RESTRICTED_OVERWRITE = 0x0013
    DVD_RW_SEQUENTIAL = 0x0014
    DVD_PLUS_RW = 0x001A
    DVD_PLUS_R = 0x001B
    BD_ROM = 0x0040
    BD_R = 0x0041
    BD_RE = 0x0043

    @property
    def is_cd(self) -> bool:
        return self in (Profile.CD_ROM, Profile.CD_R, Profile.CD_RW)

    @property
    def is_dvd(self) -> bool:
        """A DVD profile (0010h to 002Fh, MMC-6 table 91)."""
        return 0x0010 <= self < 0x0030

    @property
    def is_bd(self) -> bool:
        """A BD profile (0040h to 004Fh)."""
        return 0x0040 <= self < 0x0050

    @property
    def kilobytes_per_second_1x(self) -> int:
        """Read speed of 1x on this medium (CD 176.4, DVD 1385, BD 4496 kB/s)."""
        if self.is_cd:
            return 176
        return 4496 if self >= Profile.BD_ROM else 1385


#: Every profile the drive supports, in the order of the profile list feature.
SUPPORTED = (Profile.BD_ROM, Profile.DVD_ROM, Profile.CD_ROM)
#: The profiles of a drive that records (MMC-6 5.3.1: highest first).
SUPPORTED_WRITER = (
    Profile.BD_R,
    Profile.BD_ROM,
    Profile.DVD_PLUS_R,
    Profile.DVD_R,
    Profile.DVD_ROM,
    Profile.CD_RW,
    Profile.CD_R,
    Profile.CD_ROM,
)
#: The rewritable DVD and BD profiles it records too (:mod:`devemu.cdrom.overwrite`).
REWRITABLE = (
    Profile.BD_RE,
    Profile.DVD_PLUS_RW,
    Profile.DVD_RW_SEQUENTIAL,
    Profile.DVD_RW_RESTRICTED_OVERWRITE,
)

SETTINGS = {"auto": None, "cd": Profile.CD_ROM, "dvd": Profile.DVD_ROM, "bd": Profile.BD_ROM}


def profile_for(disc: Disc | None, setting: str = "auto") -> Profile:
    """The current profile with ``disc`` loaded (``setting``: auto, cd, dvd or bd)."""
    if disc is None:
        return Profile.NONE
    if disc.kind in CD_IMAGE_KINDS:
        return Profile.CD_ROM
    forced = SETTINGS[setting]
    if forced is not None:
        return forced
    size = disc.size_bytes
    if size > DVD_LIMIT:
        return Profile.BD_ROM
    if size > CD_LIMIT:
        return Profile.DVD_ROM
    return Profile.CD_ROM
