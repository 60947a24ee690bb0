"""``ibm-ts4300``: the IBM TS4300 Tape Library (machine type-model 3555-L3A).

Sources: the product identification ``3555L3A`` and the serial format
(7 characters after the type-model, plant ``78`` then five, as in
``3555L3A7801ZM6``) are those the library reports as its type-model and
serial through its management interface (SNIA SML MIB
``subChassis-SerialNumber``), as public monitoring tools record them.
The *IBM TS4300 Tape Library SCSI Reference* was not found in the
reference material available; every other value is the generic one:
INQUIRY style, VPD 0x83 designators, element addresses (IBM's own 3584
layout is in :mod:`devemu.personality.ibm_ts3500`; the TS4300 was not
confirmed to use it).
"""

from __future__ import annotations

from devemu.personality.generic import GENERIC_LIBRARY
from devemu.personality.model import LibraryPersonality, SerialFormat

TS4300 = LibraryPersonality(
    name="ibm-ts4300",
    vendor="IBM",
    product="3555L3A",
    revision=GENERIC_LIBRARY.revision,
    serial=SerialFormat("78", 7),
    style=GENERIC_LIBRARY.style,
    bases=GENERIC_LIBRARY.bases,
)
