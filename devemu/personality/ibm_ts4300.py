"""``ibm-ts4300``: the IBM TS4300 Tape Library (machine type-model 3555-L3A).

Sources: the product identification ``3555L3A`` and the serial format
(7 characters after the type-model, plant ``78`` then five, as in
``3555L3A7801ZM6``) are those the library reports as its type-model and
serial through its management interface (SNIA SML MIB
``subChassis-SerialNumber``), as public monitoring tools record them.
The *IBM TS4300 Tape Library SCSI Reference* was not found in the
reference material available. The refusal codes are those of the
library's predecessors of the same line, the TS3100/TS3200 (3573), as the
OEM edition of their SCSI reference lists them (Dell PowerVault
TL2000/TL4000 SCSI Reference, appendix C "Sense Data", table C-1): the
door open is NOT READY 04h/83h ("Door open"), a move out of a drive whose
host prevents removal ILLEGAL REQUEST 53h/03h ("Drive media removal
prevented state set", SPC-5's MEDIUM REMOVAL PREVENTED BY DATA TRANSFER
ELEMENT); that the TS4300 kept them is assumed, not confirmed. Every
other value is the generic one:
INQUIRY style, VPD 0x83 designators, element addresses (IBM's own 3584
layout is in :mod:`devemu.personality.ibm_ts3500`; the TS4300 was not
confirmed to use it).
"""

from __future__ import annotations

from devemu.changer.refusals import Refusals
from devemu.personality.generic import GENERIC_LIBRARY
from devemu.personality.model import LibraryPersonality, SerialFormat
from devemu.scsi.sense import MEDIUM_REMOVAL_PREVENTED_BY_DATA_TRANSFER_ELEMENT, SenseCode, SenseKey

#: NOT READY, 04h/83h: the library's door is open.
DOOR_OPEN = SenseCode(SenseKey.NOT_READY, 0x04, 0x83)

TS4300 = LibraryPersonality(
    name="ibm-ts4300",
    vendor="IBM",
    product="3555L3A",
    revision=GENERIC_LIBRARY.revision,
    serial=SerialFormat("78", 7),
    style=GENERIC_LIBRARY.style,
    bases=GENERIC_LIBRARY.bases,
    refusals=Refusals(
        door_open=DOOR_OPEN, drive_prevented=MEDIUM_REMOVAL_PREVENTED_BY_DATA_TRANSFER_ELEMENT
    ),
)
