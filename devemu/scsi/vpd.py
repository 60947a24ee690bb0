"""Vital product data pages every logical unit has, SPC-5 7.7.

SPC builds three pages itself:

- 0x00 Supported VPD Pages (SPC-5 7.7.16): every page this device answers,
  its own ``vpd_pages()`` included, in ascending order;
- 0x80 Unit Serial Number (SPC-5 7.7.18): the serial of the identity;
- 0x83 Device Identification (SPC-5 7.7.6): an NAA IEEE Registered
  Extended designator (binary) and a T10 vendor ID based designator
  (ASCII: vendor, product, serial), both for the logical unit, or those
  of them the identity's style names.

A device type adds its own pages (Block Limits 0xB0, ...) through the
``vpd_pages()`` hook; :func:`vpd_page` frames a page body with the header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Struct, this

from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice

SUPPORTED_PAGES = 0x00
UNIT_SERIAL_NUMBER = 0x80
DEVICE_IDENTIFICATION = 0x83

#: SPC-5 7.7.1 table 590: VPD page header (the page body follows).
VpdPage = Struct(
    "peripheral" / BitStruct("qualifier" / BitsInteger(3), "device_type" / BitsInteger(5)),
    "page_code" / Int8ub,
    "page_length" / Int16ub,
    "body" / Bytes(this.page_length),
)

#: SPC-5 7.7.6.1 table 609: designation descriptor.
Designator = Struct(
    "head" / BitStruct("protocol_identifier" / BitsInteger(4), "code_set" / BitsInteger(4)),
    "kind"
    / BitStruct(
        "piv" / Flag,
        "reserved" / Flag,
        "association" / BitsInteger(2),
        "designator_type" / BitsInteger(4),
    ),
    "reserved" / Int8ub,
    "designator_length" / Int8ub,
    "designator" / Bytes(this.designator_length),
)

CODE_SET_BINARY = 1
CODE_SET_ASCII = 2
DESIGNATOR_T10_VENDOR_ID = 1
DESIGNATOR_NAA = 3
ASSOCIATION_LOGICAL_UNIT = 0


def vpd_page(device_type: int, page_code: int, body: bytes) -> bytes:
    """A VPD page: header with peripheral qualifier 0 and ``body`` (SPC-5 7.7.1)."""
    out: bytes = VpdPage.build(
        {
            "peripheral": {"qualifier": 0, "device_type": device_type},
            "page_code": page_code,
            "page_length": len(body),
            "body": body,
        }
    )
    return out


def designator(code_set: int, designator_type: int, value: bytes) -> bytes:
    """One logical-unit designation descriptor (SPC-5 7.7.6.1)."""
    out: bytes = Designator.build(
        {
            "head": {"protocol_identifier": 0, "code_set": code_set},
            "kind": {
                "piv": False,
                "reserved": False,
                "association": ASSOCIATION_LOGICAL_UNIT,
                "designator_type": designator_type,
            },
            "reserved": 0,
            "designator_length": len(value),
            "designator": value,
        }
    )
    return out


def unit_serial_number(device: ScsiDevice) -> bytes:
    """Unit Serial Number VPD page, SPC-5 7.7.18."""
    return vpd_page(device.peripheral_type, UNIT_SERIAL_NUMBER, device.identity.serial.encode())


def device_identification(device: ScsiDevice) -> bytes:
    """Device Identification VPD page, SPC-5 7.7.6: the designators the style names.

    ``naa``: NAA IEEE Registered Extended (binary); ``t10``: T10 vendor ID
    based (ASCII: vendor, product, serial); ``t10-serial``: T10 vendor ID
    based without the product (vendor, then the serial less a leading copy
    of the vendor identification).
    """
    ident = device.identity
    vendor = ident.vendor_bytes()
    width = ident.style.t10_serial_width
    serial = ident.serial.encode().ljust(width)
    own_serial = ident.serial.encode().removeprefix(vendor).ljust(width)
    made = {
        "naa": lambda: designator(CODE_SET_BINARY, DESIGNATOR_NAA, ident.naa),
        "t10": lambda: designator(
            CODE_SET_ASCII, DESIGNATOR_T10_VENDOR_ID, vendor + ident.product_bytes() + serial
        ),
        "t10-serial": lambda: designator(
            CODE_SET_ASCII, DESIGNATOR_T10_VENDOR_ID, vendor + own_serial
        ),
    }
    body = b"".join(made[kind]() for kind in ident.style.designators)
    return vpd_page(device.peripheral_type, DEVICE_IDENTIFICATION, body)


def answering_pages(device: ScsiDevice) -> dict[int, Callable[[], bytes]]:
    """Every VPD page the device answers, by page code, 0x00 included."""
    pages: dict[int, Callable[[], bytes]] = {
        UNIT_SERIAL_NUMBER: lambda: unit_serial_number(device),
        DEVICE_IDENTIFICATION: lambda: device_identification(device),
    }
    pages.update(device.vpd_pages())
    codes = sorted({SUPPORTED_PAGES, *pages})
    pages[SUPPORTED_PAGES] = lambda: vpd_page(device.peripheral_type, 0x00, bytes(codes))
    return pages


def vpd_data(device: ScsiDevice, page_code: int) -> bytes:
    """The VPD page ``page_code``; INVALID FIELD IN CDB on the page code if absent."""
    producer = answering_pages(device).get(page_code)
    if producer is None:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    return producer()
