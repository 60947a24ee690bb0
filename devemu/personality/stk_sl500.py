"""``stk-sl500``: the Sun StorageTek SL500 modular library.

Source: *SL500 Interface Reference Manual* (Sun/StorageTek 96122,
revision F, July 2008), chapter 6 "SCSI Commands":

- "Inquiry": HiSup 1, additional length 1Fh (36 bytes of standard
  INQUIRY data, no vendor specific bytes nor version descriptors),
  vendor specific bit 0.
- "Mode Sense (6)", Element Address Assignment Page Definitions: the
  robot at 0000h, the first import/export (CAP) element at 000Ah, the
  first data transfer element at 01F4h (500), the first storage element
  at 03E8h (1000).

The vendor ``STK`` and product ``SL500`` are the strings the library
reports in standard INQUIRY data (as in backup products' device lists).

Not found or not modelled, generic values kept: the serial number
format, the designators of VPD page 0x83, the firmware revision, and the
SL500's extra "media domain" and "media type" bytes after each element
descriptor's identifier (the manual's tables 6-73 to 6-75; devemu's
descriptors stay SMC-3's).

Refusals: the SL500 manual's sense tables were not found in what was
read; its successor's (*SL150 Interface Reference Manual*, Request
Sense) has no door-open code and reports a library an operator must
attend to as NOT READY 04h/03h, the standard code kept here
(:mod:`devemu.changer.refusals`).
"""

from __future__ import annotations

from devemu.changer.elements import ElementBases
from devemu.personality.generic import GENERIC_LIBRARY
from devemu.personality.model import LibraryPersonality
from devemu.scsi.identity import InquiryStyle

SL500 = LibraryPersonality(
    name="stk-sl500",
    vendor="STK",
    product="SL500",
    revision=GENERIC_LIBRARY.revision,
    serial=GENERIC_LIBRARY.serial,
    style=InquiryStyle(length=36, hisup=True),
    bases=ElementBases(
        transport=0x0000, data_transfer=0x01F4, import_export=0x000A, storage=0x03E8
    ),
)
