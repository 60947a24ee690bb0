"""``ibm-lto``: an IBM LTO Ultrium tape drive (3580 / TS2200-family drives, LTO-5 on).

Source: *IBM LTO Ultrium Tape Drive SCSI Reference* (GA32-0928), INQUIRY:
vendor ``IBM``, product ``ULT3580-TD<generation>`` (``ULT3580-TD8`` for
an LTO-8 drive); and the *IBM TS3500 SCSI Reference*, data transfer
element descriptor with DVCID (bytes 12-49 for LTO: a 10-character drive
serial after vendor and product), which gives the serial's length.

The firmware revision: LTFS (the reference LTFS implementation, its
IBM backend ``ibm_tape.c`` and ``ibm_tape.h``) refuses an IBM LTO-5
drive below level ``B170`` and an LTO-8 drive below ``HB81``, comparing
the four characters as one big-endian number; the drive reports those
levels (``B170`` from LTO-5, ``HB81`` from LTO-8 on), so LTFS accepts
every generation. The mode header's MEDIUM TYPE is the cartridge type
(:class:`~devemu.tape.media.MediumTypeCodes`).

Not found in what was read, generic values kept: the standard INQUIRY
length and vendor specific bytes, the VPD page 0x83 designators, the
serial's characters (10 hex digits here). The identity strings are those
of the ``generic`` drive, which has always said what an IBM drive says.
"""

from __future__ import annotations

from devemu.personality.generic import GENERIC_DRIVE
from devemu.personality.model import DrivePersonality
from devemu.tape.media import MediumTypeCodes

IBM_LTO = DrivePersonality(
    name="ibm-lto",
    vendor="IBM",
    product="ULT3580-TD{generation}",
    revision=GENERIC_DRIVE.revision,
    serial=GENERIC_DRIVE.serial,
    style=GENERIC_DRIVE.style,
    revisions=GENERIC_DRIVE.revisions,
    medium_types=MediumTypeCodes.IBM,
)
