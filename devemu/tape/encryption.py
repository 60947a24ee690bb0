"""Tape data encryption: the keys and the sealing of logical blocks (SSC-5 4.2, data encryption).

Theory of operation
-------------------
The host gives the drive a key with SECURITY PROTOCOL OUT, tape data
encryption protocol 20h, Set Data Encryption page (SSC-5 8.5,
:mod:`devemu.tape.encryption_pages`). What it sets are the *data
encryption parameters* (:class:`EncryptionParameters`): the encryption
mode (DISABLE or ENCRYPT), the decryption mode (DISABLE, RAW, DECRYPT or
MIXED), the algorithm (index 1, AES-256-GCM, the only one), the key, the
key-associated data (U-KAD and A-KAD) and the controls CEEM, RDMC and
CKOD. :class:`EncryptionState` keeps them per I_T nexus as SSC-5's
scopes say:

- ALL I_T NEXUS: the parameters become the *public* ones, shared by
  every I_T nexus whose scope is PUBLIC (the default of every nexus);
- LOCAL: the parameters belong to the nexus that sent them alone;
- PUBLIC: the nexus drops its local parameters and uses the public ones.

Every established key gets the next *key instance counter*. LOCK ties a
nexus to the key instance it has: when another nexus replaces the
public parameters, the locked nexus's next READ or WRITE ends in DATA
PROTECT, DATA ENCRYPTION KEY INSTANCE COUNTER HAS CHANGED (2Ah/13h)
until it sets parameters again. A logical unit reset or a power on (a
daemon restart: keys are never written anywhere) clears everything;
the loss of an I_T nexus clears what that nexus owns; CKOD clears the
parameters when the cartridge is demounted.

Sealing. A block written while the encryption mode is ENCRYPT is stored
as an *envelope* (:data:`SealedHeader`, then the ciphertext and the
16-byte GCM tag): AES-256-GCM from the ``cryptography`` package, a
fresh random 96-bit nonce per block (never a counter: the same key may
be given again after a restart), and additional authenticated data made
of the cartridge's identity (its UUID, from which the medium serial
number is derived, and its barcode), the block's partition, logical
object number and length, and the envelope's own header with the A-KAD.
A block copied to another position or another cartridge therefore fails
its integrity check (CRYPTOGRAPHIC INTEGRITY VALIDATION FAILED, 74h/04h)
even with the right key. The U-KAD is stored beside the header, outside
the authenticated data, as its name says. A key check value (the first
8 bytes of HMAC-SHA-256 of a fixed label under the key) tells a wrong
key (INCORRECT DATA ENCRYPTION KEY, 74h/03h) from a damaged or moved
block; it reveals nothing of the key.

No plaintext of an encrypted block and no key ever reaches the cartridge
file or a state file: the cartridge holds envelopes, the drive's state
file holds no encryption parameters, and a key is printed nowhere
(``repr`` leaves it out).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from enum import IntEnum

from construct import (
    BitStruct,
    Bytes,
    Const,
    Flag,
    GreedyBytes,
    Int8ub,
    Padding,
    Prefixed,
    Struct,
)
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from devemu.scsi.sense import (
    DATA_ENCRYPTION_KEY_INSTANCE_COUNTER_HAS_CHANGED,
    SenseError,
)


class EncryptionMode(IntEnum):
    """ENCRYPTION MODE of the Set Data Encryption page, SSC-5 8.5."""

    DISABLE = 0
    EXTERNAL = 1
    ENCRYPT = 2


class DecryptionMode(IntEnum):
    """DECRYPTION MODE of the Set Data Encryption page, SSC-5 8.5."""

    DISABLE = 0
    RAW = 1
    DECRYPT = 2
    MIXED = 3


class Scope(IntEnum):
    """SCOPE of the Set Data Encryption page, SSC-5 8.5."""

    PUBLIC = 0
    LOCAL = 1
    ALL_I_T_NEXUS = 2


class RawDecryptionControl(IntEnum):
    """RDMC of the Set Data Encryption page, SSC-5 8.5 (01b is reserved)."""

    DEFAULT = 0
    ENABLED = 2
    DISABLED = 3


class ExternalModeCheck(IntEnum):
    """CEEM of the Set Data Encryption page, SSC-5 8.5."""

    VENDOR_SPECIFIC = 0
    NOT_CHECKED = 1
    REFUSE_EXTERNAL = 2
    REFUSE_ENCRYPT = 3


class KadType(IntEnum):
    """KEY DESCRIPTOR TYPE of a key-associated data descriptor, SSC-5 8.5."""

    UKAD = 0
    AKAD = 1
    NONCE = 2
    MKAD = 3


#: The algorithm index of AES-256-GCM, the one algorithm of this drive.
AES256_GCM = 1
#: SECURITY ALGORITHM CODE of AES-256-GCM (SPC-5 7.6.3, encryption algorithm identifiers).
AES256_GCM_ALGORITHM_CODE = 0x00010014
KEY_LENGTH = 32
NONCE_LENGTH = 12
TAG_LENGTH = 16
KEY_CHECK_LENGTH = 8
#: The longest U-KAD and A-KAD the drive takes (the LTO format's sizes).
MAXIMUM_UKAD_LENGTH = 32
MAXIMUM_AKAD_LENGTH = 12
#: The largest KAD FORMAT the drive knows (00h unspecified, 01h binary, 02h ASCII key name).
MAXIMUM_KAD_FORMAT = 2
#: The key instance counter is 32 bits (SSC-5 8.5).
_COUNTER_MODULUS = 1 << 32

_KEY_CHECK_LABEL = b"devemu tape data encryption key check value"
_AAD_LABEL = b"devemu sealed logical block v1"
_AAD_POSITION = struct.Struct(">BQI")


def key_check_value(key: bytes) -> bytes:
    """A short value that identifies a key without revealing it (HMAC-SHA-256)."""
    return hmac.new(key, _KEY_CHECK_LABEL, hashlib.sha256).digest()[:KEY_CHECK_LENGTH]


@dataclass(frozen=True)
class EncryptionParameters:
    """The data encryption parameters one I_T nexus uses (SSC-5 4.2, data encryption)."""

    encryption_mode: EncryptionMode = EncryptionMode.DISABLE
    decryption_mode: DecryptionMode = DecryptionMode.DISABLE
    algorithm_index: int = 0
    key: bytes = field(default=b"", repr=False)
    ukad: bytes = b""
    akad: bytes = b""
    kad_format: int = 0
    ceem: ExternalModeCheck = ExternalModeCheck.VENDOR_SPECIFIC
    rdmc: RawDecryptionControl = RawDecryptionControl.DEFAULT
    ckod: bool = False
    scope: Scope = Scope.PUBLIC
    key_instance: int = 0
    key_check: bytes = field(default=b"", init=False, repr=False)
    cipher: AESGCM | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.key:
            object.__setattr__(self, "key_check", key_check_value(self.key))
            object.__setattr__(self, "cipher", AESGCM(self.key))

    @property
    def encrypting(self) -> bool:
        return self.encryption_mode is EncryptionMode.ENCRYPT

    @property
    def decrypting(self) -> bool:
        """DECRYPT or MIXED: encrypted blocks are read with the key."""
        return self.decryption_mode in (DecryptionMode.DECRYPT, DecryptionMode.MIXED)

    @property
    def in_use(self) -> bool:
        """Anything but DISABLE for both modes: READ and WRITE must look."""
        return (
            self.encryption_mode is not EncryptionMode.DISABLE
            or self.decryption_mode is not DecryptionMode.DISABLE
        )

    @property
    def raw_read_disabled(self) -> bool:
        """RDMD: blocks written now are marked disabled for raw reads (RDMC 11b)."""
        return self.rdmc is RawDecryptionControl.DISABLED


#: Every I_T nexus's parameters until a host sets some: no encryption.
DEFAULTS = EncryptionParameters()


class EncryptionState:
    """The drive's data encryption parameters, per I_T nexus, in memory only.

    See the module notes for the scopes, locks and what clears them.
    """

    def __init__(self) -> None:
        self._public = DEFAULTS
        self._public_owner: str | None = None
        self._local: dict[str, EncryptionParameters] = {}
        self._locks: dict[str, int] = {}
        self._counter = 0
        #: False while every nexus has the defaults: the READ and WRITE paths
        #: then skip every encryption step.
        self.active = False

    def parameters(self, nexus: str) -> EncryptionParameters:
        """The parameters ``nexus`` reads and writes with."""
        local = self._local.get(nexus)
        return local if local is not None else self._public

    def scope_of(self, nexus: str) -> Scope:
        """The I_T NEXUS SCOPE of the Data Encryption Status page (SSC-5 8.5)."""
        if nexus in self._local:
            return Scope.LOCAL
        if self._public_owner == nexus and self._public is not DEFAULTS:
            return Scope.ALL_I_T_NEXUS
        return Scope.PUBLIC

    def establish(self, nexus: str, params: EncryptionParameters, lock: bool) -> None:
        """Apply a Set Data Encryption page (SSC-5 8.5) sent by ``nexus``."""
        if params.scope is Scope.PUBLIC:
            self._local.pop(nexus, None)
        else:
            self._counter = (self._counter + 1) % _COUNTER_MODULUS
            params = replace(params, key_instance=self._counter)
            if params.scope is Scope.LOCAL:
                self._local[nexus] = params
            else:
                self._local.pop(nexus, None)
                self._public = params
                self._public_owner = nexus
        if lock:
            self._locks[nexus] = self.parameters(nexus).key_instance
        else:
            self._locks.pop(nexus, None)
        self._update()

    def check_lock(self, nexus: str) -> None:
        """DATA PROTECT, 2Ah/13h when a locked nexus's key was replaced (SSC-5 4.2)."""
        locked = self._locks.get(nexus)
        if locked is not None and locked != self.parameters(nexus).key_instance:
            raise SenseError(DATA_ENCRYPTION_KEY_INSTANCE_COUNTER_HAS_CHANGED)

    def locked(self, nexus: str) -> bool:
        return nexus in self._locks

    def reset(self) -> None:
        """Power on, hard reset, logical unit reset: every nexus back to the defaults."""
        self._public = DEFAULTS
        self._public_owner = None
        self._local.clear()
        self._locks.clear()
        self._update()

    def nexus_lost(self, nexus: str) -> None:
        """I_T nexus loss: that nexus's local parameters, lock and public ones go."""
        self._local.pop(nexus, None)
        self._locks.pop(nexus, None)
        if self._public_owner == nexus:
            self._public = DEFAULTS
            self._public_owner = None
        self._update()

    def demounted(self) -> None:
        """The cartridge left the drive: parameters set with CKOD are cleared."""
        if self._public.ckod:
            self._public = DEFAULTS
            self._public_owner = None
        for nexus in [n for n, p in self._local.items() if p.ckod]:
            del self._local[nexus]
        self._update()

    def _update(self) -> None:
        every = [self._public, *self._local.values()]
        self.active = bool(self._locks) or any(p.in_use for p in every)


# --- the envelope of an encrypted block ------------------------------------------------

ENVELOPE_MAGIC = b"TDE1"

# The authenticated part of the envelope: what the block was sealed with.
SealedHeader = Struct(
    "magic" / Const(ENVELOPE_MAGIC),
    "algorithm_index" / Int8ub,
    "flags" / BitStruct(Padding(6), "external" / Flag, "rdmd" / Flag),
    "kad_format" / Int8ub,
    "key_check" / Bytes(KEY_CHECK_LENGTH),
    "nonce" / Bytes(NONCE_LENGTH),
    "akad" / Prefixed(Int8ub, GreedyBytes),
)
#: Bytes of the header before the A-KAD: magic, index, flags, format, key check, nonce, length.
_FIXED_HEADER = len(ENVELOPE_MAGIC) + 3 + KEY_CHECK_LENGTH + NONCE_LENGTH + 1
# The U-KAD, after the header and outside the authenticated data.
UnauthenticatedKad = Prefixed(Int8ub, GreedyBytes)


@dataclass(frozen=True)
class BlockIdentity:
    """Where a block lives: the cartridge's identity and the block's place on it."""

    cartridge_uuid: bytes
    barcode: str
    partition: int
    position: int

    def additional_data(self, length: int, header: bytes) -> bytes:
        """The additional authenticated data of the block (see the module notes)."""
        return b"".join(
            (
                _AAD_LABEL,
                self.cartridge_uuid,
                self.barcode.encode("ascii", "replace").ljust(32, b" "),
                _AAD_POSITION.pack(self.partition, self.position, length),
                header,
            )
        )


@dataclass(frozen=True)
class Envelope:
    """An encrypted block as stored, parsed."""

    algorithm_index: int
    rdmd: bool
    external: bool
    kad_format: int
    key_check: bytes
    nonce: bytes
    akad: bytes
    ukad: bytes
    header: bytes
    sealed: memoryview

    @property
    def plaintext_length(self) -> int:
        return len(self.sealed) - TAG_LENGTH


class EnvelopeError(ValueError):
    """A stored envelope that cannot be parsed."""


def seal(
    params: EncryptionParameters, where: BlockIdentity, data: Sequence[bytes | memoryview]
) -> list[bytes]:
    """The pieces of the envelope of ``data`` sealed under ``params`` at ``where``."""
    cipher = params.cipher
    assert cipher is not None, "sealing without a key"
    plaintext = data[0] if len(data) == 1 else b"".join(data)
    nonce = os.urandom(NONCE_LENGTH)
    header: bytes = SealedHeader.build(
        {
            "algorithm_index": params.algorithm_index,
            "flags": {"external": False, "rdmd": params.raw_read_disabled},
            "kad_format": params.kad_format,
            "key_check": params.key_check,
            "nonce": nonce,
            "akad": params.akad,
        }
    )
    aad = where.additional_data(len(plaintext), header)
    sealed = cipher.encrypt(nonce, plaintext, aad)
    return [header, UnauthenticatedKad.build(params.ukad), sealed]


def parse_envelope(payload: bytes) -> Envelope:
    """An envelope read back from the cartridge; EnvelopeError if it is not one."""
    try:
        head = SealedHeader.parse(payload)
    except Exception as err:  # construct raises several kinds
        raise EnvelopeError(f"bad encrypted block header: {err}") from None
    header_length = _FIXED_HEADER + len(head.akad)
    ukad_length = payload[header_length] if header_length < len(payload) else 0
    body = header_length + 1 + ukad_length
    if body + TAG_LENGTH > len(payload):
        raise EnvelopeError("encrypted block shorter than its header and tag")
    return Envelope(
        head.algorithm_index,
        bool(head.flags.rdmd),
        bool(head.flags.external),
        head.kad_format,
        bytes(head.key_check),
        bytes(head.nonce),
        bytes(head.akad),
        bytes(payload[header_length + 1 : body]),
        bytes(payload[:header_length]),
        memoryview(payload)[body:],
    )


def envelope_overhead(params: EncryptionParameters) -> int:
    """Bytes an envelope adds to a block sealed under ``params``."""
    return _FIXED_HEADER + len(params.akad) + 1 + len(params.ukad) + TAG_LENGTH


class WrongKeyError(Exception):
    """The key check value of the block is not the key's (INCORRECT DATA ENCRYPTION KEY)."""


class IntegrityError(Exception):
    """The GCM tag does not match (CRYPTOGRAPHIC INTEGRITY VALIDATION FAILED)."""


def unseal(params: EncryptionParameters, where: BlockIdentity, envelope: Envelope) -> bytes:
    """The plaintext of ``envelope``; WrongKeyError or IntegrityError."""
    cipher = params.cipher
    if cipher is None or not hmac.compare_digest(envelope.key_check, params.key_check):
        raise WrongKeyError
    aad = where.additional_data(envelope.plaintext_length, envelope.header)
    try:
        return cipher.decrypt(envelope.nonce, envelope.sealed, aad)
    except InvalidTag:
        raise IntegrityError from None
