"""SECURITY PROTOCOL IN and OUT: the CDBs and protocol 00h (SPC-5 6.40, 6.41, 7.7.1).

Both commands name a security protocol and a protocol-specific page;
the device type says which protocols it has. Protocol 00h, security
protocol information, is SPC's own and every device that has the
commands answers it: page 0000h lists the supported protocols
(:data:`SupportedProtocolsPage`, ascending, 00h first) and page 0001h
gives the certificate (:data:`CertificatePage`: none here, length 0).
A tape drive adds protocol 20h, tape data encryption
(:mod:`devemu.tape.encryption_pages`).

INC_512 (transfer and allocation lengths in 512-byte units) is not
supported: the command tables declare it unsupported, so a CDB that sets
it is INVALID FIELD IN CDB with the field pointer on the bit.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import IntEnum

from construct import (
    BitStruct,
    Flag,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    Padding,
    Prefixed,
    Struct,
)

from devemu.scsi.sense import INVALID_FIELD_IN_CDB, SenseError, cdb_field


class SecurityProtocol(IntEnum):
    """SECURITY PROTOCOL field values (SPC-5 6.40) that devemu answers."""

    INFORMATION = 0x00
    TAPE_DATA_ENCRYPTION = 0x20


class InformationPage(IntEnum):
    """SECURITY PROTOCOL SPECIFIC of protocol 00h, SPC-5 7.7.1.1."""

    SUPPORTED_PROTOCOLS = 0x0000
    CERTIFICATE_DATA = 0x0001


#: Where the SECURITY PROTOCOL and SECURITY PROTOCOL SPECIFIC fields sit in both CDBs.
PROTOCOL_BYTE = 1
SPECIFIC_BYTE = 2

# SPC-5 6.40: SECURITY PROTOCOL IN CDB.
SecurityProtocolInCdb = Struct(
    "opcode" / Int8ub,
    "security_protocol" / Int8ub,
    "security_protocol_specific" / Int16ub,
    "flags" / BitStruct("inc_512" / Flag, Padding(7)),
    Padding(1),
    "allocation_length" / Int32ub,
    Padding(1),
    "control" / Int8ub,
)

# SPC-5 6.41: SECURITY PROTOCOL OUT CDB.
SecurityProtocolOutCdb = Struct(
    "opcode" / Int8ub,
    "security_protocol" / Int8ub,
    "security_protocol_specific" / Int16ub,
    "flags" / BitStruct("inc_512" / Flag, Padding(7)),
    Padding(1),
    "transfer_length" / Int32ub,
    Padding(1),
    "control" / Int8ub,
)

# SPC-5 7.7.1: supported security protocols list.
SupportedProtocolsPage = Struct(
    Padding(6),
    "protocols" / Prefixed(Int16ub, GreedyRange(Int8ub)),
)

# SPC-5 7.7.1: certificate data.
CertificatePage = Struct(
    Padding(2),
    "certificate" / Prefixed(Int16ub, GreedyBytes),
)


def information_page(specific: int, protocols: Iterable[int]) -> bytes:
    """A page of protocol 00h (SPC-5 7.7.1); INVALID FIELD IN CDB for another page."""
    if specific == InformationPage.SUPPORTED_PROTOCOLS:
        page: bytes = SupportedProtocolsPage.build({"protocols": sorted(set(protocols))})
        return page
    if specific == InformationPage.CERTIFICATE_DATA:
        page = CertificatePage.build({"certificate": b""})
        return page
    raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(SPECIFIC_BYTE))
