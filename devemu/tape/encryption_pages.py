"""The pages of the tape data encryption security protocol, 20h (SSC-5 8.5).

The layouts follow SSC-5's tables for each page (named in the comment
above each declaration) and what LTO drives' SCSI references document.

SECURITY PROTOCOL IN reads:

- 0000h Tape Data Encryption In Support and 0001h Out Support: the page
  codes each command takes;
- 0010h Data Encryption Capabilities: one algorithm descriptor,
  index 1, AES-256-GCM (security algorithm code 00010014h), 32-byte key,
  U-KAD up to 32 bytes and A-KAD up to 12, with a MAC, able to tell
  encrypted blocks from clear ones, nonces made by the drive, RDMC
  honoured (RDMC_C 4h), the encryption mode recorded with each block
  (EAREM), no supplemental decryption keys and no external encryption;
- 0011h Supported Key Formats: plain text (00h) only;
- 0012h Data Encryption Management Capabilities: LOCK, CKOD,
  and the three scopes; not CKORP or CKORL;
- 0020h Data Encryption Status: the parameters of the I_T
  nexus that asks, and whether the cartridge holds encrypted blocks
  (VCELB);
- 0021h Next Block Encryption Status: what the block after
  the current position is, with the key-associated data stored with it.

SECURITY PROTOCOL OUT writes 0010h Set Data Encryption, with
its key-associated data descriptors: :func:`parse_set_data_encryption`
checks every field and refuses a bad one with ILLEGAL REQUEST and the
field pointer (byte and bit of the parameter list).

Key-associated data descriptors carry an AUTHENTICATED field: 1h for a
U-KAD (it cannot be authenticated), 2h for an A-KAD the drive
authenticated while decrypting the block, 3h when it could not try (no
key, another key), 4h when the authentication failed; 0h (reserved) in
the Data Encryption Status page, which reports what the host sent.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING

from construct import (
    BitsInteger,
    BitStruct,
    Bytes,
    Flag,
    GreedyBytes,
    GreedyRange,
    Int8ub,
    Int16ub,
    Int32ub,
    Int64ub,
    Padding,
    Prefixed,
    Struct,
    this,
)

from devemu.scsi.security_protocol import SPECIFIC_BYTE
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseError,
    cdb_field,
    param_field,
)
from devemu.tape.cartridge import FILEMARK
from devemu.tape.encrypted_io import block_identity
from devemu.tape.encryption import (
    AES256_GCM,
    AES256_GCM_ALGORITHM_CODE,
    KEY_LENGTH,
    MAXIMUM_AKAD_LENGTH,
    MAXIMUM_KAD_FORMAT,
    MAXIMUM_UKAD_LENGTH,
    DecryptionMode,
    EncryptionMode,
    EncryptionParameters,
    EnvelopeError,
    ExternalModeCheck,
    IntegrityError,
    KadType,
    RawDecryptionControl,
    Scope,
    WrongKeyError,
    parse_envelope,
    unseal,
)

if TYPE_CHECKING:
    from devemu.tape.drive import TapeDrive


class InPage(IntEnum):
    """SECURITY PROTOCOL IN pages of protocol 20h, SSC-5 8.5."""

    IN_SUPPORT = 0x0000
    OUT_SUPPORT = 0x0001
    CAPABILITIES = 0x0010
    SUPPORTED_KEY_FORMATS = 0x0011
    MANAGEMENT_CAPABILITIES = 0x0012
    STATUS = 0x0020
    NEXT_BLOCK_STATUS = 0x0021


class OutPage(IntEnum):
    """SECURITY PROTOCOL OUT pages of protocol 20h, SSC-5 8.5."""

    SET_DATA_ENCRYPTION = 0x0010


class KeyFormat(IntEnum):
    """LOGICAL BLOCK ENCRYPTION KEY FORMAT, SSC-5 8.5."""

    PLAIN_TEXT = 0x00


class EncryptionStatus(IntEnum):
    """ENCRYPTION STATUS of the Next Block Encryption Status page, SSC-5 8.5."""

    NOT_DETERMINABLE = 0x0
    NOT_YET = 0x1
    NOT_A_BLOCK = 0x2
    NOT_ENCRYPTED = 0x3
    UNSUPPORTED_ALGORITHM = 0x4
    DECRYPTABLE = 0x5
    NOT_DECRYPTABLE = 0x6


class Authenticated(IntEnum):
    """AUTHENTICATED of a key-associated data descriptor (see the module notes)."""

    RESERVED = 0
    NOT_CAPABLE = 1
    AUTHENTICATED = 2
    NOT_ATTEMPTED = 3
    FAILED = 4


#: PARAMETERS CONTROL 001b: SECURITY PROTOCOL OUT alone sets the parameters.
PARAMETERS_CONTROL_SPOUT = 1
#: RDMC_C 4h: each block is marked as the RDMC field says.
RDMC_C_HONOURED = 4
#: ENCRYPT_C and DECRYPT_C 10b: the drive encrypts and decrypts itself.
CAPABLE_IN_DEVICE = 2
#: NONCE_C 01b: the drive makes the nonces.
NONCE_BY_DEVICE = 1
#: EXTDECC 01b: no external data encryption control; CFG_P 01b: parameters may be set.
EXTDECC_NOT_CAPABLE = 1
CFG_P_ALLOWED = 1

# SSC-5 8.5: a list of page codes (In Support and Out Support pages).
PageListPage = Struct(
    "page_code" / Int16ub,
    "pages" / Prefixed(Int16ub, GreedyRange(Int16ub)),
)

# SSC-5 8.5: data encryption algorithm descriptor.
AlgorithmDescriptor = Struct(
    "algorithm_index" / Int8ub,
    Padding(1),
    "descriptor"
    / Prefixed(
        Int16ub,
        Struct(
            "flags1"
            / BitStruct(
                "avfmv" / Flag,
                "sdk_c" / Flag,
                "mac_c" / Flag,
                "delb_c" / Flag,
                "decrypt_c" / BitsInteger(2),
                "encrypt_c" / BitsInteger(2),
            ),
            "flags2"
            / BitStruct(
                "avfcp" / BitsInteger(2),
                "nonce_c" / BitsInteger(2),
                "kadf_c" / Flag,
                "vcelb_c" / Flag,
                "ukadf" / Flag,
                "akadf" / Flag,
            ),
            "maximum_ukad_length" / Int16ub,
            "maximum_akad_length" / Int16ub,
            "key_length" / Int16ub,
            "flags3"
            / BitStruct(
                "dkad_c" / BitsInteger(2),
                "eemc_c" / BitsInteger(2),
                "rdmc_c" / BitsInteger(3),
                "earem" / Flag,
            ),
            "eedk" / BitStruct(Padding(4), "maximum_eedk_count" / BitsInteger(4)),
            "msdk_count" / Int16ub,
            "maximum_eedk_size" / Int16ub,
            Padding(2),
            "security_algorithm_code" / Int32ub,
        ),
    ),
)

# SSC-5 8.5: Data Encryption Capabilities page.
CapabilitiesPage = Struct(
    "page_code" / Int16ub,
    "body"
    / Prefixed(
        Int16ub,
        Struct(
            "flags" / BitStruct(Padding(4), "extdecc" / BitsInteger(2), "cfg_p" / BitsInteger(2)),
            Padding(15),
            "algorithms" / GreedyRange(AlgorithmDescriptor),
        ),
    ),
)

# SSC-5 8.5: Supported Key Formats page, one byte per format.
SupportedKeyFormatsPage = Struct(
    "page_code" / Int16ub,
    "formats" / Prefixed(Int16ub, GreedyRange(Int8ub)),
)

# SSC-5 8.5: Data Encryption Management Capabilities page.
ManagementCapabilitiesPage = Struct(
    "page_code" / Int16ub,
    "body"
    / Prefixed(
        Int16ub,
        Struct(
            "lock" / BitStruct(Padding(7), "lock_c" / Flag),
            "clear" / BitStruct(Padding(5), "ckod_c" / Flag, "ckorp_c" / Flag, "ckorl_c" / Flag),
            Padding(1),
            "scopes" / BitStruct(Padding(5), "aitn_c" / Flag, "local_c" / Flag, "public_c" / Flag),
            Padding(8),
        ),
    ),
)

# SSC-5 8.5: key-associated data descriptor.
KadDescriptor = Struct(
    "type" / Int8ub,
    "flags" / BitStruct(Padding(5), "authenticated" / BitsInteger(3)),
    "descriptor" / Prefixed(Int16ub, GreedyBytes),
)
KAD_HEADER_LENGTH = 4

# SSC-5 8.5: Data Encryption Status page.
StatusPage = Struct(
    "page_code" / Int16ub,
    "body"
    / Prefixed(
        Int16ub,
        Struct(
            "scope"
            / BitStruct(
                "i_t_nexus_scope" / BitsInteger(3), Padding(2), "key_scope" / BitsInteger(3)
            ),
            "encryption_mode" / Int8ub,
            "decryption_mode" / Int8ub,
            "algorithm_index" / Int8ub,
            "key_instance_counter" / Int32ub,
            "flags"
            / BitStruct(
                Padding(1),
                "parameters_control" / BitsInteger(3),
                "vcelb" / Flag,
                "ceems" / BitsInteger(2),
                "rdmd" / Flag,
            ),
            "kad_format" / Int8ub,
            "asdk_count" / Int16ub,
            Padding(8),
            "kads" / GreedyRange(KadDescriptor),
        ),
    ),
)

# SSC-5 8.5: Next Block Encryption Status page.
NextBlockStatusPage = Struct(
    "page_code" / Int16ub,
    "body"
    / Prefixed(
        Int16ub,
        Struct(
            "logical_object_number" / Int64ub,
            "status"
            / BitStruct(
                "compression_status" / BitsInteger(4), "encryption_status" / BitsInteger(4)
            ),
            "algorithm_index" / Int8ub,
            "flags" / BitStruct(Padding(6), "emes" / Flag, "rdmds" / Flag),
            "kad_format" / Int8ub,
            "kads" / GreedyRange(KadDescriptor),
        ),
    ),
)

# SSC-5 8.5: Set Data Encryption page, the fields before the
# key. The page length is a plain field: SECURITY PROTOCOL OUT checks it
# against the transfer length.
_SET_DATA_ENCRYPTION_FIELDS = (
    "page_code" / Int16ub,
    "page_length" / Int16ub,
    "control" / BitStruct("scope" / BitsInteger(3), Padding(4), "lock" / Flag),
    "flags"
    / BitStruct(
        "ceem" / BitsInteger(2),
        "rdmc" / BitsInteger(2),
        "sdk" / Flag,
        "ckod" / Flag,
        "ckorp" / Flag,
        "ckorl" / Flag,
    ),
    "encryption_mode" / Int8ub,
    "decryption_mode" / Int8ub,
    "algorithm_index" / Int8ub,
    "key_format" / Int8ub,
    "kad_format" / Int8ub,
    Padding(7),
    "key_length" / Int16ub,
)
SetDataEncryptionHeader = Struct(*_SET_DATA_ENCRYPTION_FIELDS)
# The whole page: the key, then the key-associated data descriptors.
SetDataEncryptionPage = Struct(
    *_SET_DATA_ENCRYPTION_FIELDS,
    "key" / Bytes(this.key_length),
    "kads" / GreedyRange(KadDescriptor),
)
#: Bytes of the Set Data Encryption page before the key.
SET_DATA_ENCRYPTION_FIXED = 20
#: Where fields of the Set Data Encryption page sit (field pointers).
_CONTROL, _FLAGS, _ENCRYPTION_MODE, _DECRYPTION_MODE = 4, 5, 6, 7
_ALGORITHM_INDEX, _KEY_FORMAT, _KAD_FORMAT, _KEY_LENGTH = 8, 9, 10, 18


def _kad(kind: KadType, value: bytes, authenticated: Authenticated) -> dict[str, object]:
    return {"type": int(kind), "flags": {"authenticated": int(authenticated)}, "descriptor": value}


# --- SECURITY PROTOCOL IN ----------------------------------------------------------------


def spin_page(drive: TapeDrive, nexus: str, specific: int) -> bytes:
    """The protocol 20h page ``specific`` for ``nexus``; INVALID FIELD IN CDB for another."""
    builders: dict[int, Callable[[], bytes]] = {
        InPage.IN_SUPPORT: lambda: _page_list(InPage.IN_SUPPORT, [int(p) for p in InPage]),
        InPage.OUT_SUPPORT: lambda: _page_list(InPage.OUT_SUPPORT, [int(p) for p in OutPage]),
        InPage.CAPABILITIES: lambda: capabilities_page(drive.cartridge is not None),
        InPage.SUPPORTED_KEY_FORMATS: supported_key_formats_page,
        InPage.MANAGEMENT_CAPABILITIES: management_capabilities_page,
        InPage.STATUS: lambda: status_page(drive, nexus),
        InPage.NEXT_BLOCK_STATUS: lambda: next_block_status_page(drive, nexus),
    }
    build = builders.get(specific)
    if build is None:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(SPECIFIC_BYTE))
    return build()


def _page_list(code: int, pages: list[int]) -> bytes:
    built: bytes = PageListPage.build({"page_code": code, "pages": sorted(pages)})
    return built


def capabilities_page(mounted: bool) -> bytes:
    """Data Encryption Capabilities (SSC-5 8.5): the AES-256-GCM descriptor."""
    descriptor = {
        "flags1": {
            "avfmv": mounted,
            "sdk_c": False,
            "mac_c": True,
            "delb_c": True,
            "decrypt_c": CAPABLE_IN_DEVICE,
            "encrypt_c": CAPABLE_IN_DEVICE,
        },
        "flags2": {
            "avfcp": 1 if mounted else 0,
            "nonce_c": NONCE_BY_DEVICE,
            "kadf_c": True,
            "vcelb_c": True,
            "ukadf": False,
            "akadf": False,
        },
        "maximum_ukad_length": MAXIMUM_UKAD_LENGTH,
        "maximum_akad_length": MAXIMUM_AKAD_LENGTH,
        "key_length": KEY_LENGTH,
        "flags3": {"dkad_c": 0, "eemc_c": 0, "rdmc_c": RDMC_C_HONOURED, "earem": True},
        "eedk": {"maximum_eedk_count": 0},
        "msdk_count": 0,
        "maximum_eedk_size": 0,
        "security_algorithm_code": AES256_GCM_ALGORITHM_CODE,
    }
    page: bytes = CapabilitiesPage.build(
        {
            "page_code": InPage.CAPABILITIES,
            "body": {
                "flags": {"extdecc": EXTDECC_NOT_CAPABLE, "cfg_p": CFG_P_ALLOWED},
                "algorithms": [{"algorithm_index": AES256_GCM, "descriptor": descriptor}],
            },
        }
    )
    return page


def supported_key_formats_page() -> bytes:
    """Supported Key Formats (SSC-5 8.5): plain text keys."""
    page: bytes = SupportedKeyFormatsPage.build(
        {"page_code": InPage.SUPPORTED_KEY_FORMATS, "formats": [int(f) for f in KeyFormat]}
    )
    return page


def management_capabilities_page() -> bytes:
    """Data Encryption Management Capabilities (SSC-5 8.5)."""
    page: bytes = ManagementCapabilitiesPage.build(
        {
            "page_code": InPage.MANAGEMENT_CAPABILITIES,
            "body": {
                "lock": {"lock_c": True},
                "clear": {"ckod_c": True, "ckorp_c": False, "ckorl_c": False},
                "scopes": {"aitn_c": True, "local_c": True, "public_c": True},
            },
        }
    )
    return page


def status_page(drive: TapeDrive, nexus: str) -> bytes:
    """Data Encryption Status (SSC-5 8.5) of the parameters ``nexus`` uses."""
    state = drive.encryption
    params = state.parameters(nexus)
    cart = drive.cartridge
    vcelb = cart is not None and any(p.sealed for p in cart.partitions)
    kads = []
    if params.ukad:
        kads.append(_kad(KadType.UKAD, params.ukad, Authenticated.RESERVED))
    if params.akad:
        kads.append(_kad(KadType.AKAD, params.akad, Authenticated.RESERVED))
    page: bytes = StatusPage.build(
        {
            "page_code": InPage.STATUS,
            "body": {
                "scope": {"i_t_nexus_scope": state.scope_of(nexus), "key_scope": params.scope},
                "encryption_mode": params.encryption_mode,
                "decryption_mode": params.decryption_mode,
                "algorithm_index": params.algorithm_index,
                "key_instance_counter": params.key_instance,
                "flags": {
                    "parameters_control": PARAMETERS_CONTROL_SPOUT,
                    "vcelb": vcelb,
                    "ceems": params.ceem,
                    "rdmd": params.raw_read_disabled,
                },
                "kad_format": params.kad_format,
                "asdk_count": 0,
                "kads": kads,
            },
        }
    )
    return page


@dataclass(frozen=True)
class NextBlock:
    """What the Next Block Encryption Status page says of one logical object."""

    status: EncryptionStatus
    algorithm_index: int = 0
    rdmds: bool = False
    emes: bool = False
    kad_format: int = 0
    kads: tuple[dict[str, object], ...] = ()


def next_block(drive: TapeDrive, nexus: str) -> NextBlock:
    """The encryption status of the logical object after the current position (SSC-5 8.5)."""
    drive.check_ready()
    cart = drive.mounted()
    partition, position = drive.partition, drive.position
    index = cart.partitions[partition]
    if position >= index.eod:
        return NextBlock(EncryptionStatus.NOT_YET)
    if index.lengths[position] == FILEMARK:
        return NextBlock(EncryptionStatus.NOT_A_BLOCK)
    if position not in index.sealed:
        return NextBlock(EncryptionStatus.NOT_ENCRYPTED)
    try:
        envelope = parse_envelope(cart.read_envelope(partition, position))
    except (EnvelopeError, OSError):
        return NextBlock(EncryptionStatus.NOT_YET)
    params = drive.encryption.parameters(nexus)
    if envelope.algorithm_index != AES256_GCM:
        status, akad = EncryptionStatus.UNSUPPORTED_ALGORITHM, Authenticated.NOT_ATTEMPTED
    elif not params.decrypting:
        status, akad = EncryptionStatus.NOT_DECRYPTABLE, Authenticated.NOT_ATTEMPTED
    else:
        try:
            unseal(params, block_identity(cart, partition, position), envelope)
            status, akad = EncryptionStatus.DECRYPTABLE, Authenticated.AUTHENTICATED
        except WrongKeyError:
            status, akad = EncryptionStatus.NOT_DECRYPTABLE, Authenticated.NOT_ATTEMPTED
        except IntegrityError:
            status, akad = EncryptionStatus.DECRYPTABLE, Authenticated.FAILED
    kads = []
    if envelope.ukad:
        kads.append(_kad(KadType.UKAD, envelope.ukad, Authenticated.NOT_CAPABLE))
    if envelope.akad:
        kads.append(_kad(KadType.AKAD, envelope.akad, akad))
    return NextBlock(
        status,
        envelope.algorithm_index,
        envelope.rdmd,
        envelope.external,
        envelope.kad_format,
        tuple(kads),
    )


def next_block_status_page(drive: TapeDrive, nexus: str) -> bytes:
    """Next Block Encryption Status (SSC-5 8.5); NOT READY without a cartridge."""
    block = next_block(drive, nexus)
    page: bytes = NextBlockStatusPage.build(
        {
            "page_code": InPage.NEXT_BLOCK_STATUS,
            "body": {
                "logical_object_number": drive.position,
                "status": {"compression_status": 0, "encryption_status": block.status},
                "algorithm_index": block.algorithm_index,
                "flags": {"emes": block.emes, "rdmds": block.rdmds},
                "kad_format": block.kad_format,
                "kads": list(block.kads),
            },
        }
    )
    return page


# --- SECURITY PROTOCOL OUT ---------------------------------------------------------------


@dataclass(frozen=True)
class SetDataEncryption:
    """A checked Set Data Encryption page: the parameters and the LOCK bit."""

    parameters: EncryptionParameters
    lock: bool


def _bad(byte: int, bit: int | None = None) -> SenseError:
    return SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(byte, bit))


def parse_set_data_encryption(data: bytes, mounted: bool) -> SetDataEncryption:
    """Check a Set Data Encryption page (SSC-5 8.5) field by field.

    PARAMETER LIST LENGTH ERROR when the page says it is longer than
    what was sent; INVALID FIELD IN PARAMETER LIST with the field
    pointer for every field the drive cannot take.
    """
    if len(data) < 4:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    page_code = int.from_bytes(data[0:2], "big")
    page_length = int.from_bytes(data[2:4], "big")
    if page_code != OutPage.SET_DATA_ENCRYPTION:
        raise _bad(0)
    if 4 + page_length > len(data):
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    data = data[: 4 + page_length]
    if len(data) < SET_DATA_ENCRYPTION_FIXED:
        raise _bad(2)
    head = SetDataEncryptionHeader.parse(data)
    if head.control.scope not in set(Scope):
        raise _bad(_CONTROL, 7)
    scope = Scope(head.control.scope)
    flags = head.flags
    if scope is Scope.PUBLIC:
        # SSC-5 8.5: with PUBLIC the nexus takes the public parameters; the rest is ignored.
        return SetDataEncryption(EncryptionParameters(scope=scope), bool(head.control.lock))
    if flags.sdk:
        raise _bad(_FLAGS, 3)  # no supplemental decryption keys (MSDK COUNT 0)
    if flags.ckorp:
        raise _bad(_FLAGS, 1)
    if flags.ckorl:
        raise _bad(_FLAGS, 0)
    if flags.ckod and not mounted:
        raise _bad(_FLAGS, 2)
    if flags.rdmc not in set(RawDecryptionControl):
        raise _bad(_FLAGS, 5)
    if head.encryption_mode not in (EncryptionMode.DISABLE, EncryptionMode.ENCRYPT):
        raise _bad(_ENCRYPTION_MODE)
    if head.decryption_mode not in set(DecryptionMode):
        raise _bad(_DECRYPTION_MODE)
    encryption = EncryptionMode(head.encryption_mode)
    decryption = DecryptionMode(head.decryption_mode)
    ceem = ExternalModeCheck(flags.ceem)
    if ceem in (ExternalModeCheck.REFUSE_EXTERNAL, ExternalModeCheck.REFUSE_ENCRYPT) and (
        decryption is DecryptionMode.DISABLE
    ):
        raise _bad(_FLAGS, 7)
    needs_key = encryption is EncryptionMode.ENCRYPT or decryption in (
        DecryptionMode.DECRYPT,
        DecryptionMode.MIXED,
    )
    uses_algorithm = needs_key or decryption is DecryptionMode.RAW
    if uses_algorithm and head.algorithm_index != AES256_GCM:
        raise _bad(_ALGORITHM_INDEX)
    if head.kad_format > MAXIMUM_KAD_FORMAT:
        raise _bad(_KAD_FORMAT)
    key_end = SET_DATA_ENCRYPTION_FIXED + head.key_length
    if key_end > len(data):
        raise _bad(_KEY_LENGTH)
    key = b""
    if needs_key:
        if head.key_format != KeyFormat.PLAIN_TEXT:
            raise _bad(_KEY_FORMAT)
        if head.key_length != KEY_LENGTH:
            raise _bad(_KEY_LENGTH)
        key = bytes(data[SET_DATA_ENCRYPTION_FIXED:key_end])
    ukad, akad = _parse_kads(data, key_end) if encryption is EncryptionMode.ENCRYPT else (b"", b"")
    params = EncryptionParameters(
        encryption_mode=encryption,
        decryption_mode=decryption,
        algorithm_index=head.algorithm_index if uses_algorithm else 0,
        key=key,
        ukad=ukad,
        akad=akad,
        kad_format=head.kad_format,
        ceem=ceem,
        rdmc=RawDecryptionControl(flags.rdmc),
        ckod=bool(flags.ckod),
        scope=scope,
    )
    return SetDataEncryption(params, bool(head.control.lock))


def _parse_kads(data: bytes, start: int) -> tuple[bytes, bytes]:
    """The U-KAD and A-KAD of the descriptors from ``start`` (SSC-5 8.5)."""
    found: dict[KadType, bytes] = {}
    at = start
    while at < len(data):
        if at + KAD_HEADER_LENGTH > len(data):
            raise _bad(at)
        kind, flags = data[at], data[at + 1]
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if flags:
            raise _bad(at + 1, flags.bit_length() - 1)
        if at + KAD_HEADER_LENGTH + length > len(data):
            raise _bad(at + 2)
        limit = {KadType.UKAD: MAXIMUM_UKAD_LENGTH, KadType.AKAD: MAXIMUM_AKAD_LENGTH}
        if kind not in limit:
            raise _bad(at)  # nonces come from the drive; M-KAD is for EXTERNAL mode
        key_type = KadType(kind)
        if key_type in found:
            raise _bad(at)
        if length > limit[key_type]:
            raise _bad(at + 2)
        found[key_type] = bytes(data[at + KAD_HEADER_LENGTH : at + KAD_HEADER_LENGTH + length])
        at += KAD_HEADER_LENGTH + length
    return found.get(KadType.UKAD, b""), found.get(KadType.AKAD, b"")
