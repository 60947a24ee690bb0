"""``ibm-ts3500``: the IBM System Storage TS3500 Tape Library (machine type 3584).

Source: the 3584 Tape Library SCSI reference as IBM Documentation
publishes it for the 3584 family (the TS4500 "SCSI commands" reference,
which documents the 3584 command set the TS3500 answers; sections named
below), and the IBM tape library SCSI reference's READ ELEMENT STATUS
chapter:

- "Inquiry Standard Data: Valid LUN": vendor ``IBM``, product
  ``03584L22``/``03584L32``/``03584L42`` (the L32 frame is used here),
  ANSI version 3, HiSup 0, the vendor specific BarC bit of byte 6 set
  (barcode reader present), additional length X'33' (56 bytes), bytes
  36-37 the IBM plant of manufacture.
- "Mode Page X'1D': Element Address Assignment": the medium transport
  element at X'0001'.
- "Element Type 4: Data Transfer (DVCID=B'1')": data transfer element
  addresses from X'0101'; the identification descriptor is bytes 12-49
  for an LTO drive, i.e. a 34-byte T10 vendor ID identifier (vendor,
  product, 10-character serial), which is devemu's DVCID identifier.
- "Import/export element (I/O slot) addresses": virtual I/O elements
  X'0301' to X'03FF' (at most 255).

The door: a robot command while the library's door is open is NOT
READY, ASC 04h ASCQ 85h ("Door is Open"), as IBM's own table of its
libraries' changer sense data has it (IBM's LinearTapeFS tape library
backend, the changer error table, entries for the TS3500/TS4500).

Not found in what was read, generic values kept: the first storage
element address (0x0400, which leaves the I/O range its 255 addresses),
the firmware revision, the serial number format, the designators of VPD
page 0x83, vendor specific bytes 38-55 (zeros).
"""

from __future__ import annotations

from devemu.changer.elements import GENERIC_BASES, ElementBases
from devemu.changer.refusals import Refusals
from devemu.personality.generic import GENERIC_LIBRARY
from devemu.personality.model import LibraryPersonality
from devemu.scsi.identity import VENDOR_SPECIFIC_LENGTH, InquiryStyle
from devemu.scsi.sense import SenseCode, SenseKey

#: Bytes 36-37, IBM plant of manufacture: "13" is the plant code z/OS
#: documents for San Jose (SMF type 94 record); the manual names the
#: field without listing values.
PLANT_OF_MANUFACTURE = b"13"

#: NOT READY, 04h/85h: the 3584's door is open.
DOOR_OPEN = SenseCode(SenseKey.NOT_READY, 0x04, 0x85)

TS3500 = LibraryPersonality(
    name="ibm-ts3500",
    vendor="IBM",
    product="03584L32",
    revision=GENERIC_LIBRARY.revision,
    serial=GENERIC_LIBRARY.serial,
    style=InquiryStyle(
        length=56,
        version=0x03,
        hisup=False,
        vendor_bit=True,
        vendor_specific=PLANT_OF_MANUFACTURE.ljust(VENDOR_SPECIFIC_LENGTH, b"\0"),
    ),
    bases=ElementBases(
        transport=0x0001,
        data_transfer=0x0101,
        import_export=0x0301,
        storage=GENERIC_BASES.storage,
    ),
    refusals=Refusals(door_open=DOOR_OPEN),
)
