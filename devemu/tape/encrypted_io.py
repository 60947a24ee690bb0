"""READ and WRITE of encrypted logical blocks (SSC-5 4.2 (data encryption) and 4.2.28.5).

:mod:`devemu.tape.io_commands` calls here only when the partition holds
encrypted blocks or some I_T nexus has data encryption parameters
(:attr:`EncryptionState.active`); otherwise its path is the plain one.

Reading, by the decryption mode of the nexus that reads:

============  =====================================  ==========================================
mode          a block in the clear                   an encrypted block
============  =====================================  ==========================================
DISABLE       read                                   UNABLE TO DECRYPT DATA (74h/01h)
RAW           read                                   the envelope as stored, unless marked
                                                     disabled for raw reads (74h/0Ah)
DECRYPT       UNENCRYPTED DATA ENCOUNTERED WHILE     decrypted: INCORRECT DATA ENCRYPTION KEY
              DECRYPTING (74h/02h)                   (74h/03h) for another key,
                                                     CRYPTOGRAPHIC INTEGRITY VALIDATION FAILED
                                                     (74h/04h) for a moved or damaged block
MIXED         read                                   as DECRYPT
============  =====================================  ==========================================

Every refusal is DATA PROTECT, moves no data and leaves the tape before
the block, so the host can ask for its Next Block Encryption Status and
read it again with the right key. CEEM 11b refuses blocks the drive
encrypted itself (ENCRYPTION MODE MISMATCH ON READ, 74h/09h); this
drive writes no block in EXTERNAL mode, so CEEM 10b never refuses one.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from devemu.scsi.sense import (
    CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED,
    ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED,
    ENCRYPTION_MODE_MISMATCH_ON_READ,
    INCORRECT_DATA_ENCRYPTION_KEY,
    UNABLE_TO_DECRYPT_DATA,
    UNENCRYPTED_DATA_ENCOUNTERED_WHILE_DECRYPTING,
    SenseError,
)
from devemu.tape.cartridge import Cartridge
from devemu.tape.encryption import (
    BlockIdentity,
    DecryptionMode,
    EncryptionParameters,
    EnvelopeError,
    ExternalModeCheck,
    IntegrityError,
    WrongKeyError,
    parse_envelope,
    seal,
    unseal,
)

if TYPE_CHECKING:
    from devemu.tape.drive import TapeDrive


def block_identity(cart: Cartridge, partition: int, position: int) -> BlockIdentity:
    """The identity a block at ``position`` of ``partition`` is sealed with."""
    return BlockIdentity(cart.uuid, cart.barcode, partition, position)


def writing_parameters(drive: TapeDrive, nexus: str) -> EncryptionParameters | None:
    """The parameters a WRITE by ``nexus`` seals with, or None to write in the clear."""
    state = drive.encryption
    state.check_lock(nexus)
    params = state.parameters(nexus)
    return params if params.encrypting else None


def write_block(
    cart: Cartridge,
    params: EncryptionParameters,
    partition: int,
    position: int,
    data: Sequence[memoryview],
) -> None:
    """Seal one block and append its envelope (never the plaintext) to the cartridge."""
    envelope = seal(params, block_identity(cart, partition, position), data)
    cart.write_sealed_block(partition, position, envelope, sum(len(d) for d in data))


def host_data(drive: TapeDrive, nexus: str, partition: int, position: int) -> bytes | None:
    """What READ gives ``nexus`` for the data block at ``position`` (see the table above).

    None for a block in the clear that is read as it is; raises the
    DATA PROTECT refusals; OSError when the cartridge file refuses.
    """
    state = drive.encryption
    state.check_lock(nexus)
    params = state.parameters(nexus)
    cart = drive.mounted()
    if position not in cart.partitions[partition].sealed:
        if params.decryption_mode is DecryptionMode.DECRYPT:
            raise SenseError(UNENCRYPTED_DATA_ENCOUNTERED_WHILE_DECRYPTING)
        return None
    payload = cart.read_envelope(partition, position)
    try:
        envelope = parse_envelope(payload)
    except EnvelopeError:
        raise SenseError(CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED) from None
    mode = params.decryption_mode
    if mode is DecryptionMode.RAW:
        if envelope.rdmd:
            raise SenseError(ENCRYPTED_BLOCK_NOT_RAW_READ_ENABLED)
        return payload
    if mode is DecryptionMode.DISABLE:
        raise SenseError(UNABLE_TO_DECRYPT_DATA)
    check = ExternalModeCheck
    refused = check.REFUSE_EXTERNAL if envelope.external else check.REFUSE_ENCRYPT
    if params.ceem is refused:
        raise SenseError(ENCRYPTION_MODE_MISMATCH_ON_READ)
    try:
        return unseal(params, block_identity(cart, partition, position), envelope)
    except WrongKeyError:
        raise SenseError(INCORRECT_DATA_ENCRYPTION_KEY) from None
    except IntegrityError:
        raise SenseError(CRYPTOGRAPHIC_INTEGRITY_VALIDATION_FAILED) from None


def copy_into(into: Sequence[memoryview], data: bytes) -> int:
    """Place ``data`` in the buffers, as much as fits; the bytes placed."""
    done = 0
    for buf in into:
        if done >= len(data):
            break
        take = min(len(buf), len(data) - done)
        buf[:take] = data[done : done + take]
        done += take
    return done
