"""Who a logical unit says it is: INQUIRY strings, serial and designators.

SPC-5 6.7.2 (standard INQUIRY data) fixes the T10 vendor identification
at 8 ASCII characters, the product identification at 16 and the product
revision level at 4, left-aligned and padded with spaces. The NAA IEEE
Registered Extended designator of the device identification VPD page
(SPC-5 7.7.6.6.7) is derived from the serial so it is stable across runs.

How the rest of standard INQUIRY data and the device identification page
look is an :class:`InquiryStyle`: the defaults are devemu's own; a product
personality (:mod:`devemu.personality`) gives the values its vendor's
manual documents.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

#: IEEE company id used for NAA designators: the locally administered
#: range of LIO's own (0x001405), as every TCMU backstore reports.
IEEE_COMPANY_ID = 0x001405


def _ascii_field(value: str, width: int, what: str) -> bytes:
    raw = value.encode("ascii")
    if len(raw) > width:
        raise ValueError(f"{what} {value!r} is longer than {width} characters")
    if any(c < 0x20 or c > 0x7E for c in raw):
        raise ValueError(f"{what} {value!r} has characters outside printable ASCII")
    return raw.ljust(width, b" ")


#: SPC-5 6.7.2: standard INQUIRY data is at least 36 bytes (up to the revision).
MIN_STANDARD_LENGTH = 36
#: The standard INQUIRY data devemu builds: through the version descriptors (SPC-5 6.7.2).
STANDARD_INQUIRY_LENGTH = 96
#: Bytes 36 to 55 of standard INQUIRY data are vendor specific (SPC-5 6.7.2).
VENDOR_SPECIFIC_LENGTH = 20
#: Designator kinds of the device identification VPD page (SPC-5 7.7.6.1 table 610):
#: ``naa`` NAA IEEE Registered Extended (SPC-5 7.7.6.6.7); ``t10`` T10 vendor ID
#: based with vendor, product and serial (SPC-5 7.7.6.4, the recommended form);
#: ``t10-serial`` T10 vendor ID based with vendor and serial only (no product),
#: the serial without a leading copy of the vendor identification.
DESIGNATOR_KINDS = ("naa", "t10", "t10-serial")


@dataclass(frozen=True, slots=True)
class InquiryStyle:
    """What standard INQUIRY data and VPD page 0x83 say beyond the identity strings.

    ``length`` is the standard INQUIRY data length the device reports
    (ADDITIONAL LENGTH + 5, SPC-5 6.7.2; at least 36); ``version`` the
    VERSION field, None for what the device type claims; ``hisup`` the
    HISUP bit; ``vendor_bit`` the vendor specific bit 5 of byte 6 (the
    "BarC", barcode reader present, bit of several libraries);
    ``vendor_specific`` bytes 36 to 55; ``designators`` the designators
    of VPD page 0x83 in order (:data:`DESIGNATOR_KINDS`), the serial in
    the T10 ones blank-padded to ``t10_serial_width`` characters.
    """

    length: int = STANDARD_INQUIRY_LENGTH
    version: int | None = None
    hisup: bool = True
    vendor_bit: bool = False
    vendor_specific: bytes = bytes(VENDOR_SPECIFIC_LENGTH)
    designators: tuple[str, ...] = ("naa", "t10")
    t10_serial_width: int = 0

    def __post_init__(self) -> None:
        if not MIN_STANDARD_LENGTH <= self.length <= STANDARD_INQUIRY_LENGTH:
            raise ValueError(
                f"standard INQUIRY length {self.length} is not "
                f"{MIN_STANDARD_LENGTH} to {STANDARD_INQUIRY_LENGTH}"
            )
        if len(self.vendor_specific) != VENDOR_SPECIFIC_LENGTH:
            raise ValueError(f"vendor specific bytes must be {VENDOR_SPECIFIC_LENGTH} long")
        unknown = set(self.designators) - set(DESIGNATOR_KINDS)
        if unknown or not self.designators:
            raise ValueError(f"designators must be some of {DESIGNATOR_KINDS}")


@dataclass(frozen=True, slots=True)
class Identity:
    """Vendor, product, revision and serial of one logical unit, and its INQUIRY style."""

    vendor: str = "DEVEMU"
    product: str = "VIRTUAL DEVICE"
    revision: str = "0100"
    serial: str = "DEVEMU00000000"
    style: InquiryStyle = field(default_factory=InquiryStyle)

    def __post_init__(self) -> None:
        self.vendor_bytes()
        self.product_bytes()
        self.revision_bytes()
        if not self.serial or len(self.serial) > 64:
            raise ValueError(f"serial {self.serial!r} must be 1 to 64 characters")

    def vendor_bytes(self) -> bytes:
        return _ascii_field(self.vendor, 8, "vendor")

    def product_bytes(self) -> bytes:
        return _ascii_field(self.product, 16, "product")

    def revision_bytes(self) -> bytes:
        return _ascii_field(self.revision, 4, "revision")

    @property
    def naa(self) -> bytes:
        """16-byte NAA 6 designator: IEEE company id + 100 bits from the serial."""
        digest = int.from_bytes(hashlib.sha256(self.serial.encode()).digest()[:13], "big")
        vendor_specific = digest & ((1 << 100) - 1)
        value = (0x6 << 124) | (IEEE_COMPANY_ID << 100) | vendor_specific
        return value.to_bytes(16, "big")
