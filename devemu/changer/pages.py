"""The medium changer's own mode pages, SMC-3 7.3.

- 0x1D element address assignment (SMC-3 7.3.3): where each element type
  starts and how many there are. mtx and the Linux ``ch`` driver read
  nothing else to learn the library's shape.
- 0x1E transport geometry parameters (SMC-3 7.3.5): one descriptor per
  medium transport element; ours cannot rotate media.
- 0x1F device capabilities (SMC-3 7.3.4): which element types store
  media and which moves and exchanges are possible between them.

None of them is changeable or saveable. MODE SENSE and MODE SELECT are
the SPC part's; this module only declares the pages as values.
"""

from __future__ import annotations

from construct import BitStruct, Bytes, Flag, Int16ub, Padding, Struct

from devemu.changer.elements import ElementLayout, ElementType
from devemu.scsi.mode_pages import ModePage

ELEMENT_ADDRESS_ASSIGNMENT_PAGE = 0x1D
TRANSPORT_GEOMETRY_PAGE = 0x1E
DEVICE_CAPABILITIES_PAGE = 0x1F

#: SMC-3 7.3.3 table 107 (the bytes after the page header).
ElementAddressAssignment = Struct(
    "transport_first" / Int16ub,
    "transport_count" / Int16ub,
    "storage_first" / Int16ub,
    "storage_count" / Int16ub,
    "import_export_first" / Int16ub,
    "import_export_count" / Int16ub,
    "drive_first" / Int16ub,
    "drive_count" / Int16ub,
    Padding(2),
)

#: SMC-3 7.3.5 table 110: one transport geometry descriptor.
TransportGeometryDescriptor = Struct(
    "flags" / BitStruct(Padding(7), "rotate" / Flag),
    "member_number" / Bytes(1),
)

#: The four per-type bits of a device capabilities byte, SMC-3 7.3.4 table 108.
TypeBits = BitStruct(
    Padding(4),
    "data_transfer" / Flag,
    "import_export" / Flag,
    "storage" / Flag,
    "transport" / Flag,
)

#: SMC-3 7.3.4 table 108 (the bytes after the page header).
DeviceCapabilities = Struct(
    "stores" / TypeBits,
    Padding(1),
    "move_from_transport" / TypeBits,
    "move_from_storage" / TypeBits,
    "move_from_import_export" / TypeBits,
    "move_from_data_transfer" / TypeBits,
    Padding(4),
    "exchange_from_transport" / TypeBits,
    "exchange_from_storage" / TypeBits,
    "exchange_from_import_export" / TypeBits,
    "exchange_from_data_transfer" / TypeBits,
    Padding(4),
)

_NONE = {"data_transfer": False, "import_export": False, "storage": False, "transport": False}
#: Storage, import/export and data transfer elements hold media; the hand only carries it.
_MEDIA_HOLDERS = {"data_transfer": True, "import_export": True, "storage": True, "transport": False}


def element_address_assignment(layout: ElementLayout) -> bytes:
    """The parameter bytes of page 0x1D for ``layout``."""
    mt = layout.range_of(ElementType.MEDIUM_TRANSPORT)
    st = layout.range_of(ElementType.STORAGE)
    ie = layout.range_of(ElementType.IMPORT_EXPORT)
    dt = layout.range_of(ElementType.DATA_TRANSFER)
    out: bytes = ElementAddressAssignment.build(
        {
            "transport_first": mt.first,
            "transport_count": mt.count,
            "storage_first": st.first,
            "storage_count": st.count,
            "import_export_first": ie.first,
            "import_export_count": ie.count,
            "drive_first": dt.first,
            "drive_count": dt.count,
        }
    )
    return out


def transport_geometry() -> bytes:
    """The parameter bytes of page 0x1E: one transport, no rotation."""
    out: bytes = TransportGeometryDescriptor.build(
        {"flags": {"rotate": False}, "member_number": b"\x00"}
    )
    return out


def device_capabilities() -> bytes:
    """The parameter bytes of page 0x1F: any holder to any holder, moves and exchanges."""
    out: bytes = DeviceCapabilities.build(
        {
            "stores": _MEDIA_HOLDERS,
            "move_from_transport": _NONE,
            "move_from_storage": _MEDIA_HOLDERS,
            "move_from_import_export": _MEDIA_HOLDERS,
            "move_from_data_transfer": _MEDIA_HOLDERS,
            "exchange_from_transport": _NONE,
            "exchange_from_storage": _MEDIA_HOLDERS,
            "exchange_from_import_export": _MEDIA_HOLDERS,
            "exchange_from_data_transfer": _MEDIA_HOLDERS,
        }
    )
    return out


def changer_mode_pages(layout: ElementLayout) -> list[ModePage]:
    """Pages 0x1D, 0x1E and 0x1F as :class:`ModePage` values (none changeable)."""
    pages = []
    for code, body in (
        (ELEMENT_ADDRESS_ASSIGNMENT_PAGE, element_address_assignment(layout)),
        (TRANSPORT_GEOMETRY_PAGE, transport_geometry()),
        (DEVICE_CAPABILITIES_PAGE, device_capabilities()),
    ):
        pages.append(ModePage(code, body, bytes(len(body))))
    return pages
