"""Recordable media types: what ``--blank TYPE`` and ``blank = "TYPE"`` put in a drive.

Each :class:`BlankMedium` names its MMC-6 profile (MMC-6 5.3.1 table 91),
whether it can be erased (BLANK, MMC-6 6.2) and its nominal capacity in
2048-byte user data blocks. The capacity of a CD is its ATIP "last
possible start of lead-out" (MMC-6 6.26.3.6): 79:59:74, that is
359 849 frames from 00:00:00 or 359 699 LBAs after the 150-block pregap.

Writing is implemented for CD-R and CD-RW (:mod:`devemu.cdrom.recording`)
and for the DVD and BD media: the write-once DVD+R, DVD-R and BD-R are
written sequentially (:mod:`devemu.cdrom.sequential`), the rewritable
DVD+RW, DVD-RW (restricted overwrite) and BD-RE at random once formatted
(:mod:`devemu.cdrom.overwrite`); a DVD-RW not formatted is in sequential
recording, written like a DVD-R. The capacity of a BD-RE is its capacity
without spare areas (format type 31h); the default formats keep some of it
as spares.
"""

from __future__ import annotations

from enum import Enum

#: 80-minute CD: the last possible lead-out start (79:59:74) as an LBA.
CD_SECTORS = 79 * 60 * 75 + 59 * 75 + 74 - 150


class BlankMedium(Enum):
    """A recordable medium: (name, profile number, erasable, sectors)."""

    CD_R = ("cd-r", 0x0009, False, CD_SECTORS)
    CD_RW = ("cd-rw", 0x000A, True, CD_SECTORS)
    DVD_R = ("dvd-r", 0x0011, False, 2_298_496)
    DVD_RW = ("dvd-rw", 0x0014, True, 2_298_496)
    DVD_PLUS_R = ("dvd+r", 0x001B, False, 2_295_104)
    DVD_PLUS_RW = ("dvd+rw", 0x001A, True, 2_295_104)
    BD_R = ("bd-r", 0x0041, False, 12_219_392)
    BD_RE = ("bd-re", 0x0043, True, 12_219_392)

    @property
    def label(self) -> str:
        return self.value[0]

    @property
    def profile_number(self) -> int:
        return self.value[1]

    @property
    def erasable(self) -> bool:
        """RW media: BLANK erases them (MMC-6 6.2); R media are write-once."""
        return self.value[2]

    @property
    def default_sectors(self) -> int:
        return self.value[3]

    @property
    def is_cd(self) -> bool:
        return self.label.startswith("cd")

    @property
    def overwritable(self) -> bool:
        """Rewritable DVD and BD media: written at random once formatted (MMC-6 4.5.2,
        4.6.3, 4.8.3), not track by track."""
        return self.erasable and not self.is_cd

    @classmethod
    def from_label(cls, label: str) -> BlankMedium:
        """The medium called ``label``; ValueError naming the choices otherwise."""
        for medium in cls:
            if medium.label == label.lower():
                return medium
        raise ValueError(f"{label!r} is not one of {', '.join(m.label for m in cls)}")


#: The smallest capacity a blank disc may be given: one second of blocks.
MIN_SECTORS = 300


def sectors_for(medium: BlankMedium, capacity_bytes: int | None) -> int:
    """Blocks of 2048 bytes for a capacity in bytes (the medium's nominal one by default).

    A CD cannot hold more than an 80-minute disc's lead-out allows
    (the ATIP encodes its capacity as an MSF below 80 minutes).
    """
    if capacity_bytes is None:
        return medium.default_sectors
    sectors = capacity_bytes // 2048
    if sectors < MIN_SECTORS:
        raise ValueError(f"capacity {capacity_bytes} bytes is below {MIN_SECTORS * 2048}")
    if medium.is_cd and sectors > CD_SECTORS:
        raise ValueError(f"a CD holds at most {CD_SECTORS * 2048} bytes, not {capacity_bytes}")
    return sectors
