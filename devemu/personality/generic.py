"""The ``generic`` personalities: devemu's own library and drive, as before personalities.

No vendor manual: these are the values devemu has always reported. The
library says ``DEVEMU VIRTUAL LIBRARY`` with serial ``LIB`` + 10 hex
digits, answers 96 bytes of standard INQUIRY data (SPC-5 6.7.2) and a
device identification page with an NAA and a T10 vendor ID designator
(SPC-5 7.7.6), and places its elements as
:data:`~devemu.changer.elements.GENERIC_BASES`. The drive says what an
IBM LTO drive says in its identity strings (``IBM ULT3580-TD<n>``, the
strings mtx, tapeinfo and backup software know best) with a 10 hex digit
serial, and the firmware levels of :mod:`devemu.personality.ibm_lto`
(which LTFS requires of an IBM drive: ``B170`` from LTO-5, ``HB81`` from
LTO-8), and otherwise devemu's defaults.
"""

from __future__ import annotations

from devemu.changer.elements import GENERIC_BASES
from devemu.personality.model import DrivePersonality, LibraryPersonality, SerialFormat
from devemu.scsi.identity import InquiryStyle
from devemu.tape.media import MediumTypeCodes

GENERIC_LIBRARY = LibraryPersonality(
    name="generic",
    vendor="DEVEMU",
    product="VIRTUAL LIBRARY",
    revision="0100",
    serial=SerialFormat("LIB", 13),
    style=InquiryStyle(),
    bases=GENERIC_BASES,
)

#: The lowest IBM LTO firmware levels LTFS accepts (its ``ibm_tape.h``:
#: ``B170`` for LTO-5, ``HB81`` for LTO-8), as (first generation, level).
IBM_FIRMWARE_LEVELS = ((5, "B170"), (8, "HB81"))

GENERIC_DRIVE = DrivePersonality(
    name="generic",
    vendor="IBM",
    product="ULT3580-TD{generation}",
    revision="0100",
    serial=SerialFormat("", 10),
    style=InquiryStyle(),
    revisions=IBM_FIRMWARE_LEVELS,
    medium_types=MediumTypeCodes.IBM,
)
