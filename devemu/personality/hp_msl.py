"""``hp-msl``: an HPE StoreEver MSL tape library (MSL2024/4048/8096, MSL G3 series).

Sources:

- *HPE StoreEver MSL6480 Tape Library SCSI Reference Guide* (QU625-96352,
  edition 2, 2016), contents of chapter 3 "Supported SCSI commands": the
  library answers VPD pages 00h, 80h, 83h (HPE device identification),
  85h, C0h, CCh and D0h; devemu answers the three standard ones.
- The product identification ``MSL G3 Series`` is the string the MSL G3
  libraries report in standard INQUIRY data, as backup products list
  them (``HP:MSL G3 Series`` in Data Protector, ``HP MSL G3 Series`` in
  Veeam); vendor ``HP``.
- Serial format: a 10-character HPE serial number (``DEC`` + 7) with the
  logical library suffix ``_LL01``, as MSL libraries report VPD page 80h
  per partition (``DEC418146K_LL02`` recorded from a partitioned MSL3040).
- DVCID: HPE documents a 34-byte identifier (vendor, product, serial) in
  the data transfer element descriptor, devemu's format.

Not found, generic values kept: INQUIRY style (length, version, vendor
specific bytes), the designators of VPD page 0x83 (HPE's reports an NAA
5 with HPE's OUI; devemu keeps its NAA 6 under LIO's), element
addresses, firmware revision.

Refusals: no SCSI sense table of the MSL's changer was found; SPC-5
annex D's codes are kept (:mod:`devemu.changer.refusals`).
"""

from __future__ import annotations

from devemu.personality.generic import GENERIC_LIBRARY
from devemu.personality.model import LibraryPersonality, SerialFormat

MSL = LibraryPersonality(
    name="hp-msl",
    vendor="HP",
    product="MSL G3 Series",
    revision=GENERIC_LIBRARY.revision,
    serial=SerialFormat("DEC", 15, suffix="_LL01"),
    style=GENERIC_LIBRARY.style,
    bases=GENERIC_LIBRARY.bases,
)
