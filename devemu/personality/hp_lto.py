"""``hp-lto``: an HP (HPE StoreEver) LTO Ultrium tape drive.

Source: *HP Ultrium tape drives technical reference manual, volume 3:
the SCSI interface* (Q1530-90901, edition 6, December 2004, generation 3;
the same fields in the later generations' editions), "INQUIRY 12h",
standard inquiry data: vendor identification ``HP``; product
identification in two halves, ``Ultrium`` then the generation and
interface (``Ultrium 3-SCSI``; HP drives say ``-SCSI`` whatever their
interface); HiSup 0 (the hierarchical addressing model is not used).

From LTO-8 on the drives are HPE's and say so: vendor identification
``HPE`` (LTFS's HP backend, ``hp_tape.c``, lists ``HP`` Ultrium 5-7 and
``HPE`` Ultrium 8-9 drives and knows no other). The mode header's MEDIUM
TYPE is 01h for a WORM cartridge, 00h otherwise, as LTFS reads it from
HP drives (:class:`~devemu.tape.media.MediumTypeCodes`).

Not modelled: TPGS 01b and MultiP 1, which the manual gives for drives
with two ports (devemu serves one port and no REPORT TARGET PORT
GROUPS). Not found, generic values kept: the standard INQUIRY length and
vendor specific bytes, the VPD page 0x83 designators, the serial format
(10 characters, as the HPE library's DVCID identifier expects), the
firmware revision.
"""

from __future__ import annotations

from devemu.personality.generic import GENERIC_DRIVE
from devemu.personality.model import DrivePersonality
from devemu.scsi.identity import InquiryStyle
from devemu.tape.media import MediumTypeCodes

HP_LTO = DrivePersonality(
    name="hp-lto",
    vendor="HP",
    product="Ultrium {generation}-SCSI",
    revision=GENERIC_DRIVE.revision,
    serial=GENERIC_DRIVE.serial,
    style=InquiryStyle(hisup=False),
    vendors=((8, "HPE"),),
    medium_types=MediumTypeCodes.HP,
)
