"""Medium auxiliary memory: attributes and their wire format, SPC-5 7.4.

An attribute is ``identifier (2) | READ ONLY, FORMAT (1) | length (2) |
value`` (SPC-5 7.4.1 table 467). Identifiers fall in ranges (table 468):
device type attributes 0x0000-0x03FF (kept by the drive), medium type
attributes 0x0400-0x07FF (set when the cartridge is made, read only),
host type attributes 0x0800-0x0BFF (written by applications with WRITE
ATTRIBUTE), vendor specific ranges above. Each standard attribute has a
fixed format and length (SPC-5 7.4.2.2 table 470, 7.4.2.3 table 478,
7.4.2.4 table 479); values of ASCII attributes are left-aligned and
padded with spaces (SPC-5 4.3.1).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

from construct import BitsInteger, BitStruct, Flag, Int16ub, Padding, Struct


class AttributeFormat(IntEnum):
    """The FORMAT field, SPC-5 7.4.1 table 469."""

    BINARY = 0
    ASCII = 1
    TEXT = 2


# SPC-5 7.4.1 table 467: the attribute header.
AttributeHeader = Struct(
    "identifier" / Int16ub,
    "flags" / BitStruct("read_only" / Flag, Padding(5), "format" / BitsInteger(2)),
    "length" / Int16ub,
)
ATTRIBUTE_HEADER_LENGTH = 5


@dataclass(frozen=True, slots=True)
class AttributeDef:
    """A standard attribute: identifier, name, format and fixed length."""

    identifier: int
    name: str
    format: AttributeFormat
    length: int


_B, _A, _T = AttributeFormat.BINARY, AttributeFormat.ASCII, AttributeFormat.TEXT

STANDARD: dict[int, AttributeDef] = {
    a.identifier: a
    for a in (
        # device type attributes, SPC-5 7.4.2.2
        AttributeDef(0x0000, "REMAINING CAPACITY IN PARTITION", _B, 8),
        AttributeDef(0x0001, "MAXIMUM CAPACITY IN PARTITION", _B, 8),
        AttributeDef(0x0002, "TAPEALERT FLAGS", _B, 8),
        AttributeDef(0x0003, "LOAD COUNT", _B, 8),
        AttributeDef(0x0004, "MAM SPACE REMAINING", _B, 8),
        AttributeDef(0x0005, "ASSIGNING ORGANIZATION", _A, 8),
        AttributeDef(0x0006, "FORMATTED DENSITY CODE", _B, 1),
        AttributeDef(0x0007, "INITIALIZATION COUNT", _B, 2),
        AttributeDef(0x0009, "VOLUME CHANGE REFERENCE", _B, 4),
        AttributeDef(0x020A, "DEVICE VENDOR/SERIAL NUMBER AT LAST LOAD", _A, 40),
        AttributeDef(0x020B, "DEVICE VENDOR/SERIAL NUMBER AT LOAD-1", _A, 40),
        AttributeDef(0x020C, "DEVICE VENDOR/SERIAL NUMBER AT LOAD-2", _A, 40),
        AttributeDef(0x020D, "DEVICE VENDOR/SERIAL NUMBER AT LOAD-3", _A, 40),
        AttributeDef(0x0220, "TOTAL MBYTES WRITTEN IN MEDIUM LIFE", _B, 8),
        AttributeDef(0x0221, "TOTAL MBYTES READ IN MEDIUM LIFE", _B, 8),
        AttributeDef(0x0222, "TOTAL MBYTES WRITTEN IN CURRENT/LAST LOAD", _B, 8),
        AttributeDef(0x0223, "TOTAL MBYTES READ IN CURRENT/LAST LOAD", _B, 8),
        # medium type attributes, SPC-5 7.4.2.3
        AttributeDef(0x0400, "MEDIUM MANUFACTURER", _A, 8),
        AttributeDef(0x0401, "MEDIUM SERIAL NUMBER", _A, 32),
        AttributeDef(0x0402, "MEDIUM LENGTH", _B, 4),
        AttributeDef(0x0403, "MEDIUM WIDTH", _B, 4),
        AttributeDef(0x0404, "ASSIGNING ORGANIZATION", _A, 8),
        AttributeDef(0x0405, "MEDIUM DENSITY CODE", _B, 1),
        AttributeDef(0x0406, "MEDIUM MANUFACTURE DATE", _A, 8),
        AttributeDef(0x0407, "MAM CAPACITY", _B, 8),
        AttributeDef(0x0408, "MEDIUM TYPE", _B, 1),
        AttributeDef(0x0409, "MEDIUM TYPE INFORMATION", _B, 2),
        # host type attributes, SPC-5 7.4.2.4
        AttributeDef(0x0800, "APPLICATION VENDOR", _A, 8),
        AttributeDef(0x0801, "APPLICATION NAME", _A, 32),
        AttributeDef(0x0802, "APPLICATION VERSION", _A, 8),
        AttributeDef(0x0803, "USER MEDIUM TEXT LABEL", _T, 160),
        AttributeDef(0x0804, "DATE AND TIME LAST WRITTEN", _A, 12),
        AttributeDef(0x0805, "TEXT LOCALIZATION IDENTIFIER", _B, 1),
        AttributeDef(0x0806, "BARCODE", _A, 32),
        AttributeDef(0x0807, "OWNING HOST TEXTUAL NAME", _T, 80),
        AttributeDef(0x0808, "MEDIA POOL", _T, 160),
        AttributeDef(0x0809, "PARTITION USER TEXT LABEL", _A, 16),
        AttributeDef(0x080A, "LOAD/UNLOAD AT PARTITION", _B, 1),
        AttributeDef(0x080B, "APPLICATION FORMAT VERSION", _A, 16),
        # SPC-5 7.4.2.4: variable length (0 here), as LTFS writes it per partition
        AttributeDef(0x080C, "VOLUME COHERENCY INFORMATION", _B, 0),
    )
}

#: Host attributes whose length the application chooses (SPC-5 7.4.2.4:
#: VOLUME COHERENCY INFORMATION, as LTFS writes it, among others).
HOST_RANGE = range(0x0800, 0x0C00)
VENDOR_HOST_RANGE = range(0x1400, 0x1800)
#: Largest value accepted for a host attribute without a standard length.
MAX_FREE_ATTRIBUTE = 1024

MEDIUM_TYPE_DATA = 0x00
MEDIUM_TYPE_CLEANING = 0x01
MEDIUM_TYPE_WORM = 0x80


@dataclass(frozen=True, slots=True)
class Attribute:
    """One attribute value as it travels in READ/WRITE ATTRIBUTE data."""

    identifier: int
    format: AttributeFormat
    value: bytes
    read_only: bool = False

    def encode(self) -> bytes:
        head: bytes = AttributeHeader.build(
            {
                "identifier": self.identifier,
                "flags": {"read_only": self.read_only, "format": int(self.format)},
                "length": len(self.value),
            }
        )
        return head + self.value


def writable_by_host(identifier: int) -> bool:
    """True for the identifiers WRITE ATTRIBUTE may set (SPC-5 6.50)."""
    return identifier in HOST_RANGE or identifier in VENDOR_HOST_RANGE


def ascii_value(text: str, length: int) -> bytes:
    """An ASCII attribute value: left-aligned, space padded (SPC-5 4.3.1)."""
    return text.encode("ascii", "replace")[:length].ljust(length, b" ")


def binary_value(value: int, length: int) -> bytes:
    return (value & ((1 << (8 * length)) - 1)).to_bytes(length, "big")


def standard(identifier: int, value: int | str | bytes, *, read_only: bool = True) -> Attribute:
    """A standard attribute with its value in the declared format and length."""
    spec = STANDARD[identifier]
    if isinstance(value, int):
        raw = binary_value(value, spec.length)
    elif isinstance(value, str):
        raw = ascii_value(value, spec.length)
    else:
        raw = value
    return Attribute(identifier, spec.format, raw, read_only)


def decode_attributes(data: bytes) -> list[Attribute]:
    """Parse a sequence of attributes; ValueError says at which byte it breaks."""
    out: list[Attribute] = []
    pos = 0
    while pos < len(data):
        if len(data) - pos < ATTRIBUTE_HEADER_LENGTH:
            raise ValueError(f"attribute header cut short at byte {pos}")
        head = AttributeHeader.parse(data[pos : pos + ATTRIBUTE_HEADER_LENGTH])
        end = pos + ATTRIBUTE_HEADER_LENGTH + head.length
        if end > len(data):
            raise ValueError(f"attribute 0x{head.identifier:04x} at byte {pos} runs past the end")
        fmt = head.flags.format
        if fmt == 3:
            raise ValueError(f"attribute 0x{head.identifier:04x} at byte {pos}: format 3")
        out.append(
            Attribute(
                head.identifier,
                AttributeFormat(fmt),
                bytes(data[pos + ATTRIBUTE_HEADER_LENGTH : end]),
                bool(head.flags.read_only),
            )
        )
        pos = end
    return out


def encode_attributes(attrs: list[Attribute]) -> bytes:
    return b"".join(a.encode() for a in attrs)
