"""Who a logical unit says it is: INQUIRY strings, serial and designators.

SPC-5 6.7.2 (standard INQUIRY data) fixes the T10 vendor identification
at 8 ASCII characters, the product identification at 16 and the product
revision level at 4, left-aligned and padded with spaces. The NAA IEEE
Registered Extended designator of the device identification VPD page
(SPC-5 7.7.6.6.7) is derived from the serial so it is stable across runs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class Identity:
    """Vendor, product, revision and serial of one logical unit."""

    vendor: str = "DEVEMU"
    product: str = "VIRTUAL DEVICE"
    revision: str = "0100"
    serial: str = "DEVEMU00000000"

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
