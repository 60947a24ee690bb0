"""READ ELEMENT STATUS: the request and the element status data, SMC-3 6.11.

The answer is an element status data header (SMC-3 6.11.2 table 34)
followed by one element status page per run of elements of one type
(table 35), each page a header and fixed-length element descriptors
(tables 37 to 41). A descriptor is::

    12 bytes   address, flags, ASC/ASCQ, bus fields, SVALID + medium type,
               source storage element address
    36 bytes   primary volume tag (the barcode), only when VOLTAG is set
     4 bytes   code set, identifier type, identifier length
     n bytes   device identifier, only for data transfer elements and DVCID

The header and page byte counts tell what is *available*, not what fits
the allocation length: the transfer is cut at the allocation length by
the command layer, and an initiator that sees a larger byte count asks
again with a bigger buffer (mtx does exactly that).

Theory: this module only encodes. Which elements match a request is the
changer's decision; the library supplies each element's state as an
:class:`ElementState` snapshot.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Flag,
    Int8ub,
    Int16ub,
    Int24ub,
    Padding,
    Struct,
)

from devemu.changer.elements import Element, ElementType

#: SMC-3 6.11.2 table 34: element status data header.
ElementStatusDataHeader = Struct(
    "first_address" / Int16ub,
    "number_of_elements" / Int16ub,
    Padding(1),
    "byte_count" / Int24ub,
)

#: SMC-3 6.11.3 table 35: element status page header.
ElementStatusPageHeader = Struct(
    "element_type" / Int8ub,
    "tags" / BitStruct("pvoltag" / Flag, "avoltag" / Flag, Padding(6)),
    "descriptor_length" / Int16ub,
    Padding(1),
    "byte_count" / Int24ub,
)

#: SMC-3 6.11.4 to 6.11.7: the first 12 bytes every element descriptor shares.
ElementDescriptorHead = Struct(
    "address" / Int16ub,
    "flags" / Int8ub,
    Padding(1),
    "asc" / Int8ub,
    "ascq" / Int8ub,
    "bus"
    / BitStruct(
        "not_bus" / Flag,
        Padding(1),
        "id_valid" / Flag,
        "lu_valid" / Flag,
        Padding(1),
        "lun" / BitsInteger(3),
    ),
    "scsi_bus_address" / Int8ub,
    Padding(1),
    "medium"
    / BitStruct(
        "svalid" / Flag,
        "invert" / Flag,
        Padding(2),
        "ed" / Flag,
        "medium_type" / BitsInteger(3),
    ),
    "source_address" / Int16ub,
)

#: SMC-3 6.11.8 table 42: volume tag information.
VolumeTag = Struct(
    "identification" / Bytes(32),
    Padding(2),
    "sequence" / Int16ub,
)

#: SMC-3 6.11.4 table 37 (bytes after the volume tags): device identifier header.
DeviceIdentifierHead = Struct(
    "code_set" / Int8ub,
    "identifier_type" / Int8ub,
    Padding(1),
    "identifier_length" / Int8ub,
)

HEADER_LENGTH = 8
DESCRIPTOR_HEAD_LENGTH = 12
VOLUME_TAG_LENGTH = 36
IDENTIFIER_HEAD_LENGTH = 4

# Element descriptor flag bits (byte 2), SMC-3 tables 38 to 41.
FULL = 0x01
IMPEXP = 0x02
EXCEPT = 0x04
ACCESS = 0x08
EXENAB = 0x10
INENAB = 0x20

#: Code set 2: the identifier is ASCII (SPC-5 7.7.6.1 table 597).
CODE_SET_ASCII = 2
#: Designator type 1: T10 vendor ID based (SPC-5 7.7.6.1 table 598).
IDENTIFIER_T10_VENDOR = 1


class MediumType:
    """The MEDIUM TYPE field, SMC-3 6.11.4 table 39."""

    UNSPECIFIED = 0
    DATA = 1
    CLEANING = 2
    DIAGNOSTIC = 3
    WORM = 4


@dataclass(frozen=True, slots=True)
class ElementState:
    """What one element holds, as READ ELEMENT STATUS reports it.

    ``source`` is the address the medium was last moved from (SVALID
    when not None). ``identifier`` is the device identifier of a data
    transfer element (T10 vendor ID + product + serial, ASCII).
    ``operator_placed`` is the IMPEXP bit of an import/export element.
    """

    element: Element
    barcode: str | None = None
    source: int | None = None
    medium_type: int = MediumType.DATA
    access: bool = True
    operator_placed: bool = False
    identifier: bytes = b""

    @property
    def full(self) -> bool:
        return self.barcode is not None


def descriptor_length(element_type: ElementType, voltag: bool, identifier_length: int) -> int:
    """Bytes of one descriptor of ``element_type`` (identical for all in a page)."""
    n = DESCRIPTOR_HEAD_LENGTH + IDENTIFIER_HEAD_LENGTH
    if voltag:
        n += VOLUME_TAG_LENGTH
    if element_type is ElementType.DATA_TRANSFER:
        n += identifier_length
    return n


def volume_tag(barcode: str | None) -> bytes:
    """Primary volume tag: the barcode left-aligned, blank-padded; zeros when empty."""
    if barcode is None:
        return bytes(VOLUME_TAG_LENGTH)
    ident = barcode.encode("ascii").ljust(32, b" ")
    out: bytes = VolumeTag.build({"identification": ident, "sequence": 0})
    return out


def _flags(state: ElementState) -> int:
    t = state.element.type
    flags = FULL if state.full else 0
    if t is ElementType.MEDIUM_TRANSPORT:
        return flags
    if state.access:
        flags |= ACCESS
    if t is ElementType.IMPORT_EXPORT:
        flags |= INENAB | EXENAB
        if state.full and state.operator_placed:
            flags |= IMPEXP
    return flags


def encode_descriptor(
    state: ElementState, *, voltag: bool, dvcid: bool, identifier_length: int
) -> bytes:
    """One element descriptor, SMC-3 6.11.4 to 6.11.7."""
    full = state.full
    head: bytes = ElementDescriptorHead.build(
        {
            "address": state.element.address,
            "flags": _flags(state),
            "asc": 0,
            "ascq": 0,
            "bus": {"not_bus": False, "id_valid": False, "lu_valid": False, "lun": 0},
            "scsi_bus_address": 0,
            "medium": {
                "svalid": full and state.source is not None,
                "invert": False,
                "ed": False,
                "medium_type": state.medium_type if full else MediumType.UNSPECIFIED,
            },
            "source_address": (state.source or 0) if full else 0,
        }
    )
    out = bytearray(head)
    if voltag:
        out += volume_tag(state.barcode if full else None)
    is_drive = state.element.type is ElementType.DATA_TRANSFER
    if is_drive and dvcid:
        ident = state.identifier[:identifier_length].ljust(identifier_length, b" ")
        out += DeviceIdentifierHead.build(
            {
                "code_set": CODE_SET_ASCII,
                "identifier_type": IDENTIFIER_T10_VENDOR,
                "identifier_length": identifier_length,
            }
        )
        out += ident
    else:
        out += bytes(IDENTIFIER_HEAD_LENGTH)
        if is_drive:
            out += bytes(identifier_length)
    return bytes(out)


def encode_element_status(
    states: Sequence[ElementState],
    *,
    voltag: bool,
    dvcid: bool,
    identifier_length: int,
    first_address: int,
) -> bytes:
    """Header plus one page per run of same-type elements, SMC-3 6.11.2.

    ``states`` are the elements to report, in ascending address order;
    ``first_address`` is reported when ``states`` is empty. The device
    identifier of data transfer elements is ``identifier_length`` bytes,
    present when ``dvcid`` is set (the field stays in the descriptor,
    zeroed, otherwise, so every descriptor of a page has one length).
    """
    id_len = identifier_length if dvcid else 0
    pages = bytearray()
    i = 0
    while i < len(states):
        t = states[i].element.type
        j = i
        while j < len(states) and states[j].element.type is t:
            j += 1
        length = descriptor_length(t, voltag, id_len)
        body = b"".join(
            encode_descriptor(s, voltag=voltag, dvcid=dvcid, identifier_length=id_len)
            for s in states[i:j]
        )
        pages += ElementStatusPageHeader.build(
            {
                "element_type": int(t),
                "tags": {"pvoltag": voltag, "avoltag": False},
                "descriptor_length": length,
                "byte_count": len(body),
            }
        )
        pages += body
        i = j
    header: bytes = ElementStatusDataHeader.build(
        {
            "first_address": states[0].element.address if states else first_address,
            "number_of_elements": len(states),
            "byte_count": len(pages),
        }
    )
    return header + bytes(pages)
