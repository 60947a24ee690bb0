"""``quantum-scalar-i``: a Quantum Scalar intelligent library (Scalar i500).

Source: *Quantum Scalar Intelligent Libraries SCSI Reference Guide*
(6-00423-09 and later), "Inquiry - 12h":

- Table 2 "Standard Inquiry Response": vendor ``QUANTUM``, product
  ``Scalar i500`` (one of the listed library types), VERSION 03h, HiSup
  1, BarC (byte 6 bit 5) 1, additional length 33h for a media changer
  (56 bytes), bytes 36-54 the full firmware revision level (the firmware
  revision extended with the build number), byte 55 bit 0 BarC again.
- "Unit Serial Number Page (80h)": page length 18h, the system serial
  number prefixed with the vendor identification, blank-padded to 24.
- "Identification Descriptors", Table 7 "Media Changer Identification
  Descriptor": media changer logical units report a single T10 vendor
  ID designator (code set 2, identifier length 20h): the vendor
  identification, then the serial without the vendor prefix.

Not found in the chapters read, generic values kept: element addresses,
the system serial's own format (``A0C`` + 7 decimal digits here is
devemu's choice), the mode pages' contents.

Refusals: the guide's sense table was not found for the door or the
drives (its TapeAlert list names flag 10h, Library Door, set while a
door keeps the robot from moving media, as :mod:`devemu.changer.tapealert`
does); SPC-5 annex D's codes are kept (:mod:`devemu.changer.refusals`).
"""

from __future__ import annotations

from devemu.personality.generic import GENERIC_LIBRARY
from devemu.personality.model import DECIMAL_DIGITS, LibraryPersonality, SerialFormat
from devemu.scsi.identity import InquiryStyle

VENDOR = "QUANTUM"
#: Firmware revision level (bytes 32-35), "such as 100A" in the manual; bytes
#: 36-54 repeat it "extended to include the build number (if available)": none here.
REVISION = "100A"
FULL_REVISION = REVISION.encode()
#: Byte 55 bit 0: BarC.
BARC = b"\x01"

SCALAR_I500 = LibraryPersonality(
    name="quantum-scalar-i",
    vendor=VENDOR,
    product="Scalar i500",
    revision=REVISION,
    serial=SerialFormat(f"{VENDOR:<8}A0C", 18, DECIMAL_DIGITS, padded_to=24),
    style=InquiryStyle(
        length=56,
        version=0x03,
        hisup=True,
        vendor_bit=True,
        vendor_specific=FULL_REVISION.ljust(19, b" ") + BARC,
        designators=("t10-serial",),
        t10_serial_width=24,
    ),
    bases=GENERIC_LIBRARY.bases,
)
