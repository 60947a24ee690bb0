"""What a product personality is: the facts one library or drive model reports.

A personality is data, not code: one frozen :class:`LibraryPersonality`
or :class:`DrivePersonality` per product, each in its own module with the
manual it comes from cited at the top. The device code reads the fields;
nothing here decides behaviour.

- the identity of standard INQUIRY data (SPC-5 6.7.2): vendor, product,
  revision, and the rest of the data as an
  :class:`~devemu.scsi.identity.InquiryStyle` (length, VERSION, HISUP,
  the vendor specific bit and bytes 36-55, the designators of VPD page
  0x83, SPC-5 7.7.6);
- the serial number format (VPD page 0x80, SPC-5 7.7.18), as a
  :class:`SerialFormat` that derives a stable serial from the device names;
- for a library, where each element type starts (SMC-3 7.3.3), which the
  element address assignment page and READ ELEMENT STATUS report; the
  DVCID device identifier of a data transfer element descriptor (SMC-3
  6.11.4 table 37) is the drive's own identity (T10 vendor ID, product,
  serial), so a drive personality shapes it;
- for a library, the sense codes of the refusals SMC-3 leaves to the
  product (:class:`~devemu.changer.refusals.Refusals`: the door open, a
  move out of a drive that is prevented or not unloaded), where its SCSI
  reference names them; SPC-5 annex D's otherwise;
- for a drive, its product identification per LTO generation.

Every personality reports the full barcode label as its primary volume
tag, left-aligned and blank-padded to 32 characters (SMC-3 6.11.8).
Reporting fewer characters (six: the volser without the media identifier)
is an operator setting of these libraries (the MSL's "barcode label
length reported to host", ACSLS's label formats), not part of a product's
identity, and no default other than the full label was found. The
SL500's media domain and media type bytes after each descriptor are not
modelled (:mod:`devemu.personality.stk_sl500`).

Every personality of this package reports the same transport geometry
page (one transport, no rotation: LTO cartridges are single sided) and
the same device capabilities page (SMC-3 7.3.4/7.3.5); where a product's
manual says otherwise the difference is named in its module.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from devemu.changer.elements import ElementBases
from devemu.changer.refusals import STANDARD_REFUSALS, Refusals
from devemu.scsi.identity import Identity, InquiryStyle
from devemu.tape.media import MediumTypeCodes

HEX_DIGITS = "0123456789ABCDEF"
DECIMAL_DIGITS = "0123456789"


@dataclass(frozen=True, slots=True)
class SerialFormat:
    """A serial number: ``prefix``, then characters derived from names, ``length`` in all.

    The derived characters come from SHA-256 of the names joined with
    ``/``: upper-case hex digits, or decimal digits when ``digits`` is
    :data:`DECIMAL_DIGITS`; the same names always give the same serial.
    ``suffix`` follows them; ``padded_to`` blank-pads the whole.
    """

    prefix: str
    length: int
    digits: str = HEX_DIGITS
    suffix: str = ""
    padded_to: int = 0

    def __post_init__(self) -> None:
        fixed = len(self.prefix) + len(self.suffix)
        if not fixed < self.length <= 64 or self.padded_to > 64:
            raise ValueError(f"serial format {self!r} leaves no digits or is too long")
        if self.digits not in (HEX_DIGITS, DECIMAL_DIGITS):
            raise ValueError("serial digits are hex or decimal")

    def make(self, *names: str) -> str:
        width = self.length - len(self.prefix) - len(self.suffix)
        digest = hashlib.sha256("/".join(names).encode()).hexdigest()
        if self.digits == HEX_DIGITS:
            derived = digest[:width].upper()
        else:
            derived = str(int(digest, 16) % 10**width).rjust(width, "0")
        return (self.prefix + derived + self.suffix).ljust(self.padded_to)


@dataclass(frozen=True, slots=True)
class LibraryPersonality:
    """One tape library product as its medium changer logical unit reports it."""

    name: str
    vendor: str
    product: str
    revision: str
    serial: SerialFormat
    style: InquiryStyle
    bases: ElementBases
    refusals: Refusals = STANDARD_REFUSALS

    def identity(self, library_name: str) -> Identity:
        """The changer's default identity for a library called ``library_name``."""
        return Identity(
            self.vendor, self.product, self.revision, self.serial.make(library_name), self.style
        )


@dataclass(frozen=True, slots=True)
class DrivePersonality:
    """One tape drive product as its sequential-access logical unit reports it.

    ``product`` may hold ``{generation}``, the LTO generation of the drive.
    ``vendors`` and ``revisions`` are (first generation, value) pairs, in
    ascending order, for a product whose vendor identification or firmware
    level differs between generations: the last pair whose generation is
    not above the drive's wins over ``vendor`` and ``revision``.
    ``medium_types`` is how the product fills the mode header's MEDIUM TYPE.
    """

    name: str
    vendor: str
    product: str
    revision: str
    serial: SerialFormat
    style: InquiryStyle
    vendors: tuple[tuple[int, str], ...] = ()
    revisions: tuple[tuple[int, str], ...] = ()
    medium_types: MediumTypeCodes = MediumTypeCodes.IBM

    def identity(self, generation: int, *names: str) -> Identity:
        """The drive's default identity: generation from its type, serial from ``names``."""
        return Identity(
            _by_generation(self.vendors, generation, self.vendor),
            self.product.format(generation=generation),
            _by_generation(self.revisions, generation, self.revision),
            self.serial.make(*names),
            self.style,
        )


def _by_generation(pairs: tuple[tuple[int, str], ...], generation: int, default: str) -> str:
    value = default
    for first, text in pairs:
        if first <= generation:
            value = text
    return value
