"""The standards a disk claims in standard INQUIRY data (SPC-5 6.7.2).

Shipping disks report VERSION 06h (SPC-4) with the version descriptors
of SAM-5, SPC-4 and SBC-3 (SPC-5 6.7.2, the table of version descriptor
values: 00A0h, 0460h, 04C0h, "no version claimed"), and tools written
before SPC-5 look for exactly those: a disk that claims only SPC-5 and
SBC-4 is taken by them for one that supports neither SPC-3 nor SBC-3.
That is the default. ``standards = "spc-5"`` in a ``[[disk]]`` table
claims VERSION 07h with the SAM-5, SPC-5 and SBC-4 descriptors (00A0h,
05C0h, 0600h). The commands the disk answers are the same either way.
"""

from __future__ import annotations

from devemu.scsi.inquiry import (
    VERSION_SAM5,
    VERSION_SBC3,
    VERSION_SBC4,
    VERSION_SPC4,
    VERSION_SPC4_DESCRIPTOR,
    VERSION_SPC5,
    VERSION_SPC5_DESCRIPTOR,
    Claims,
)

#: The claims a ``[[disk]]`` table may choose, by the value of its ``standards`` key.
DISK_CLAIMS: dict[str, Claims] = {
    "spc-4": Claims(VERSION_SPC4, (VERSION_SAM5, VERSION_SPC4_DESCRIPTOR, VERSION_SBC3)),
    "spc-5": Claims(VERSION_SPC5, (VERSION_SAM5, VERSION_SPC5_DESCRIPTOR, VERSION_SBC4)),
}
DEFAULT_STANDARDS = "spc-4"
