"""INQUIRY, SPC-5 6.7: standard data and the VPD pages.

Standard INQUIRY data says what a real device says: the VERSION and the
first version descriptors of the standards it claims (its
:class:`Claims`: SPC-5, VERSION 0x07, with SAM-5 and SPC-5 descriptors
unless the device type says otherwise), response data format 2, HiSup
(hierarchical LUNs), CmdQue (command queuing), the identity strings, and
the version descriptors of the command standard of the device type (its
class attribute ``version_descriptors``). The answer is 96 bytes, or as
long as the identity's :class:`~devemu.scsi.identity.InquiryStyle` says (a
product personality that answers 36 or 56 bytes, with its own VERSION,
HISUP and vendor specific bytes); a shorter allocation length truncates
it and the transport reports the shorter data-in length.

With EVPD the page comes from :mod:`devemu.scsi.vpd`. An optical drive
that refuses EVPD is shown by Linux as a "scsi-1 drive", so every device
answers it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from construct import BitsInteger, BitStruct, Bytes, Flag, Int8ub, Int16ub, Struct

from devemu.scsi.command import Command
from devemu.scsi.identity import STANDARD_INQUIRY_LENGTH
from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field
from devemu.scsi.vpd import vpd_data

if TYPE_CHECKING:
    from devemu.scsi.device import ScsiDevice


#: SPC-5 6.7.2 table 155: VERSION 0x07, the device claims SPC-5.
VERSION_SPC5 = 0x07
#: SPC-5 6.7.2: VERSION 0x06, the device claims SPC-4 (what shipping disks report).
VERSION_SPC4 = 0x06
#: Response data format 2 (SPC-5 6.7.2).
RESPONSE_DATA_FORMAT = 2
STANDARD_LENGTH = STANDARD_INQUIRY_LENGTH
VERSION_DESCRIPTOR_SLOTS = 8

# Version descriptor values, SPC-5 6.7.2 table 160 ("no version claimed").
VERSION_SAM5 = 0x00A0
VERSION_SPC5_DESCRIPTOR = 0x05C0
VERSION_SBC4 = 0x0600
VERSION_SPC4_DESCRIPTOR = 0x0460
VERSION_SBC3 = 0x04C0
VERSION_MMC6 = 0x04E0
VERSION_SSC5 = 0x05A0
VERSION_SMC3 = 0x0480


@dataclass(frozen=True, slots=True)
class Claims:
    """The standards standard INQUIRY data claims (SPC-5 6.7.2).

    ``version`` is the VERSION field; ``descriptors`` are the first version
    descriptors, before the device type's own ``version_descriptors``.
    """

    version: int
    descriptors: tuple[int, ...]


#: What every device claims unless its type or configuration says otherwise.
SPC5_CLAIMS = Claims(VERSION_SPC5, (VERSION_SAM5, VERSION_SPC5_DESCRIPTOR))

#: SPC-5 6.7.1 table 154: INQUIRY CDB.
InquiryCdb = Struct(
    "opcode" / Int8ub,
    "flags" / BitStruct("reserved" / BitsInteger(6), "obsolete" / Flag, "evpd" / Flag),
    "page_code" / Int8ub,
    "allocation_length" / Int16ub,
    "control" / Int8ub,
)

#: SPC-5 6.7.2 table 155: standard INQUIRY data.
StandardInquiry = Struct(
    "peripheral" / BitStruct("qualifier" / BitsInteger(3), "device_type" / BitsInteger(5)),
    "flags1" / BitStruct("rmb" / Flag, "lu_cong" / Flag, "reserved" / BitsInteger(6)),
    "version" / Int8ub,
    "flags3"
    / BitStruct(
        "obsolete" / BitsInteger(2),
        "normaca" / Flag,
        "hisup" / Flag,
        "response_data_format" / BitsInteger(4),
    ),
    "additional_length" / Int8ub,
    "flags5"
    / BitStruct(
        "sccs" / Flag,
        "acc" / Flag,
        "tpgs" / BitsInteger(2),
        "threepc" / Flag,
        "reserved" / BitsInteger(2),
        "protect" / Flag,
    ),
    "flags6"
    / BitStruct(
        "obsolete" / Flag,
        "encserv" / Flag,
        "vs" / Flag,
        "multip" / Flag,
        "obsolete2" / BitsInteger(4),
    ),
    "flags7" / BitStruct("obsolete" / BitsInteger(6), "cmdque" / Flag, "vs" / Flag),
    "vendor" / Bytes(8),
    "product" / Bytes(16),
    "revision" / Bytes(4),
    "vendor_specific" / Bytes(20),
    "flags56" / Int8ub,
    "reserved57" / Int8ub,
    "version_descriptors" / Int16ub[VERSION_DESCRIPTOR_SLOTS],
    "reserved" / Bytes(22),
)


def version_descriptors(device: ScsiDevice) -> list[int]:
    """The device's claims, then the device type's own, without repeats, in 8 slots."""
    values: list[int] = []
    for v in (*device.claims.descriptors, *device.version_descriptors):
        if v not in values:
            values.append(v)
    values = values[:VERSION_DESCRIPTOR_SLOTS]
    return values + [0] * (VERSION_DESCRIPTOR_SLOTS - len(values))


def standard_inquiry_data(device: ScsiDevice) -> bytes:
    """Standard INQUIRY data of ``device``, SPC-5 6.7.2, as long as its style says."""
    ident = device.identity
    style = ident.style
    version = device.claims.version if style.version is None else style.version
    out: bytes = StandardInquiry.build(
        {
            "peripheral": {"qualifier": 0, "device_type": device.peripheral_type},
            "flags1": {"rmb": device.removable, "lu_cong": False, "reserved": 0},
            "version": version,
            "flags3": {
                "obsolete": 0,
                "normaca": False,
                "hisup": style.hisup,
                "response_data_format": RESPONSE_DATA_FORMAT,
            },
            "additional_length": style.length - 5,
            "flags5": {
                "sccs": False,
                "acc": False,
                "tpgs": 0,
                "threepc": device.third_party_copy,
                "reserved": 0,
                "protect": False,
            },
            "flags6": {
                "obsolete": False,
                "encserv": False,
                "vs": style.vendor_bit,
                "multip": False,
                "obsolete2": 0,
            },
            "flags7": {"obsolete": 0, "cmdque": True, "vs": False},
            "vendor": ident.vendor_bytes(),
            "product": ident.product_bytes(),
            "revision": ident.revision_bytes(),
            "vendor_specific": style.vendor_specific,
            "flags56": 0,
            "reserved57": 0,
            "version_descriptors": version_descriptors(device),
            "reserved": bytes(22),
        }
    )
    return out[: style.length]


def inquiry(
    device: ScsiDevice, cmd: Command, evpd: int, page_code: int, allocation_length: int
) -> int:
    """INQUIRY, SPC-5 6.7."""
    if evpd:
        data = vpd_data(device, page_code)
    elif page_code != 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    else:
        data = standard_inquiry_data(device)
    return cmd.data_in(data, allocation_length)
