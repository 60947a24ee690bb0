"""READ, WRITE, WRITE FILEMARKS and ERASE: the data on the tape (SSC-5 7.2, 7.6, 7.12, 7.13).

READ(6) and WRITE(6) move one variable block or ``n`` fixed blocks
between the command's buffers and the cartridge file with ``preadv`` and
``pwritev``; a block that does not fill the buffers is read into a
window of them (:func:`window`), never copied. A read that stops early
reports FILEMARK (NO SENSE, FILEMARK bit), end of data (BLANK CHECK) or
an incorrect length (ILI), each with INFORMATION = the residue; a write
past early warning reports END OF PARTITION/MEDIUM DETECTED with EOM, one
that crosses the programmable early warning (PEWS megabytes before it,
page 10h/01h) PROGRAMMABLE EARLY WARNING DETECTED. A
cartridge file that refuses a read or a write (an I/O error of the
host) is a MEDIUM ERROR with the TapeAlert flags of a hard error.

With logical block protection on (SSC-5 4.2, logical block protection, page 0Ah/F0h,
:mod:`devemu.tape.protection`) every block travels with four bytes of
CRC32C after it: a WRITE's are checked over the block in the command's
buffers before anything is written (a mismatch: ABORTED COMMAND,
LOGICAL BLOCK GUARD CHECK FAILED, nothing written), a READ's are
computed over the block read and put after it; lengths and residues
count them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from devemu.scsi.command import Command, Result
from devemu.scsi.sense import (
    END_OF_DATA_DETECTED,
    END_OF_PARTITION_MEDIUM_DETECTED,
    FILEMARK_DETECTED,
    INVALID_FIELD_IN_CDB,
    LOGICAL_BLOCK_GUARD_CHECK_FAILED,
    NO_ADDITIONAL_SENSE,
    PROGRAMMABLE_EARLY_WARNING_DETECTED,
    UNRECOVERED_READ_ERROR,
    VOLUME_OVERFLOW_END_OF_PARTITION,
    WRITE_ERROR,
    SenseError,
    cdb_field,
)
from devemu.tape import encrypted_io
from devemu.tape.cartridge import FILEMARK, Cartridge, PartitionIndex
from devemu.tape.limits import MAXIMUM_BLOCK_LENGTH, early_warning_margin
from devemu.tape.protection import CRC32C_LENGTH, ProtectionMethod, protection_information
from devemu.tape.tapealert import TapeAlertFlag

if TYPE_CHECKING:
    from devemu.tape.drive import TapeDrive


def window(iov: Sequence[memoryview], start: int, length: int) -> list[memoryview]:
    """``length`` bytes of a buffer list starting at byte ``start``."""
    if len(iov) == 1:
        return [iov[0][start : start + length]]
    out = []
    for buf in iov:
        if length <= 0:
            break
        if start >= len(buf):
            start -= len(buf)
            continue
        piece = buf[start : start + length]
        out.append(piece)
        length -= len(piece)
        start = 0
    return out


def read6(
    drive: TapeDrive, cmd: Command, sili: int, fixed: int, transfer_length: int
) -> int | Result | None:
    """READ(6): one variable block, or ``n`` fixed blocks (SSC-5 7.6)."""
    length = transfer_length
    if fixed and sili:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 1))
    if fixed and drive.block_length == 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 0))
    if length == 0:
        return None
    cart = drive.mounted()
    part = cart.partitions[drive.partition]
    if fixed:
        return _read_fixed(drive, cmd, cart, part, length)
    pos = drive.position
    if pos >= part.eod:
        raise SenseError(END_OF_DATA_DETECTED, information=length, transferred=0)
    medium = block = part.lengths[pos]
    data = None
    if (part.sealed or drive.encryption.active) and block != FILEMARK:
        data = _host_data(drive, cmd, pos)  # decrypted (or, RAW, sealed) host bytes
    drive.seek(pos + 1)
    if block == FILEMARK:
        raise SenseError(FILEMARK_DETECTED, filemark=True, information=length, transferred=0)
    if data is not None:
        block = len(data)
    iov = cmd.iov
    if len(iov) != 1 or block > length or len(iov[0]) != block:
        iov = window(iov, 0, min(block, length))
    try:
        if data is None:
            n = cart.read_block(drive.partition, pos, iov)
        else:
            n = encrypted_io.copy_into(iov, data)
    except OSError as err:
        raise drive.medium_error(UNRECOVERED_READ_ERROR, TapeAlertFlag.READ_FAILURE, err) from None
    sent = block
    if drive.protection.read:
        n += _append_protection(drive.protection.method, cmd.iov, iov, n, length)
        sent = block + CRC32C_LENGTH
    drive.count_read(medium, n)
    if sent == length:
        return n
    if sent < length and sili:
        return n
    raise SenseError(NO_ADDITIONAL_SENSE, ili=True, information=length - sent, transferred=n)


def _append_protection(
    method: ProtectionMethod,
    buffers: Sequence[memoryview],
    block: Sequence[memoryview],
    at: int,
    length: int,
) -> int:
    """Put the CRC of the ``at`` bytes in ``block`` after them, as far as ``length`` allows."""
    room = min(CRC32C_LENGTH, max(length - at, 0))
    if room:
        _put(buffers, at, protection_information(method, block)[:room])
    return room


def _put(buffers: Sequence[memoryview], at: int, data: bytes) -> None:
    """Copy ``data`` (a few bytes) into the buffer list at byte ``at``."""
    done = 0
    for piece in window(buffers, at, len(data)):
        piece[:] = data[done : done + len(piece)]
        done += len(piece)


def _check_protection(
    method: ProtectionMethod, buffers: Sequence[memoryview], at: int, size: int
) -> None:
    """LOGICAL BLOCK GUARD CHECK FAILED unless the CRC after the block matches it."""
    sent = b"".join(bytes(p) for p in window(buffers, at + size, CRC32C_LENGTH))
    if sent != protection_information(method, window(buffers, at, size)):
        raise SenseError(LOGICAL_BLOCK_GUARD_CHECK_FAILED)


def _read_fixed(
    drive: TapeDrive, cmd: Command, cart: Cartridge, part: PartitionIndex, count: int
) -> int:
    size = drive.block_length
    stride = size + (CRC32C_LENGTH if drive.protection.read else 0)
    done = 0
    pos = drive.position
    try:
        while done < count:
            if pos >= part.eod:
                raise SenseError(END_OF_DATA_DETECTED, information=count - done)
            block = part.lengths[pos]
            if block == FILEMARK:
                pos += 1
                raise SenseError(FILEMARK_DETECTED, filemark=True, information=count - done)
            data = None
            if part.sealed or drive.encryption.active:
                data = _host_data(drive, cmd, pos)
            here = window(cmd.iov, done * stride, size)
            try:
                if data is None:
                    got = cart.read_block(drive.partition, pos, here)
                else:
                    got = min(size, len(data))
                    encrypted_io.copy_into(here, data[:size])
                    block = len(data)
            except OSError as err:
                failure = TapeAlertFlag.READ_FAILURE
                raise drive.medium_error(UNRECOVERED_READ_ERROR, failure, err) from None
            if stride != size:
                _append_protection(
                    drive.protection.method,
                    cmd.iov,
                    window(cmd.iov, done * stride, got),
                    done * stride + got,
                    done * stride + stride,
                )
            pos += 1
            drive.count_read(block, 0)
            if block != size:
                raise SenseError(NO_ADDITIONAL_SENSE, ili=True, information=count - done)
            done += 1
    except SenseError as err:
        err.transferred = done * stride
        raise
    finally:
        drive.seek(pos)
        drive.count_read(0, done * stride)
    return done * stride


def _host_data(drive: TapeDrive, cmd: Command, pos: int) -> bytes | None:
    """The encrypted-block step of READ (:mod:`devemu.tape.encrypted_io`)."""
    try:
        return encrypted_io.host_data(drive, cmd.nexus, drive.partition, pos)
    except OSError as err:
        raise drive.medium_error(UNRECOVERED_READ_ERROR, TapeAlertFlag.READ_FAILURE, err) from None


def write6(drive: TapeDrive, cmd: Command, fixed: int, transfer_length: int) -> None:
    """WRITE(6): one variable block, or ``n`` fixed blocks (SSC-5 7.13)."""
    length = transfer_length
    pil = CRC32C_LENGTH if drive.protection.write else 0
    if fixed and drive.block_length == 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(1, 0))
    if not fixed and length and not pil < length <= MAXIMUM_BLOCK_LENGTH + pil:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    drive.check_writable()
    if length == 0:
        return
    size = drive.block_length if fixed else length - pil
    stride = size + pil
    count = length if fixed else 1
    if cmd.data_length < stride * count:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    if pil:
        for k in range(count):
            _check_protection(drive.protection.method, cmd.iov, k * stride, size)
    cart = drive.mounted()
    part = cart.partitions[drive.partition]
    drive.check_worm(part, drive.position)
    ew = early_warning_margin(part.capacity)
    used_before = part.used
    sealing = encrypted_io.writing_parameters(drive, cmd.nexus) if drive.encryption.active else None
    for k in range(count):
        pos = drive.position
        before = part.cum[pos]
        if before + size > part.capacity:
            raise SenseError(
                VOLUME_OVERFLOW_END_OF_PARTITION,
                eom=True,
                information=(count - k) if fixed else length,
            )
        try:
            piece = window(cmd.iov, k * stride, size)
            if sealing is None:
                cart.write_block(drive.partition, pos, piece)
            else:
                encrypted_io.write_block(cart, sealing, drive.partition, pos, piece)
        except OSError as err:
            raise drive.medium_error(WRITE_ERROR, TapeAlertFlag.WRITE_FAILURE, err) from None
        drive.seek(pos + 1)
        drive.count_written(size)
    if drive.buffered_mode == 0:
        cart.flush()
    if part.used > part.capacity - ew:
        raise SenseError(END_OF_PARTITION_MEDIUM_DETECTED, eom=True, information=0)
    if drive.crossed_programmable_early_warning(part, used_before):
        raise SenseError(PROGRAMMABLE_EARLY_WARNING_DETECTED, information=0)


def _write_filemarks(drive: TapeDrive, count: int, immed: bool) -> None:
    cart = drive.mounted()
    part = cart.partitions[drive.partition]
    if count:
        drive.check_writable()
        drive.check_worm(part, drive.position)
        cart.write_filemarks(drive.partition, drive.position, count)
        drive.seek(drive.position + count)
    if not immed or drive.buffered_mode == 0:
        cart.flush()
    if count and drive.in_early_warning(part):
        raise SenseError(END_OF_PARTITION_MEDIUM_DETECTED, eom=True, information=0)


def write_filemarks6(drive: TapeDrive, cmd: Command, immed: int, count: int) -> None:
    """WRITE FILEMARKS(6), SSC-5 7.12: IMMED=0 synchronises even with count 0."""
    _write_filemarks(drive, count, bool(immed))


def write_filemarks16(
    drive: TapeDrive,
    cmd: Command,
    immed: int,
    partition: int,
    logical_object_identifier: int,
    count: int,
) -> None:
    """WRITE FILEMARKS(16), SSC-5 7.13: at the position named by the CDB."""
    if partition != drive.partition:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(3))
    if logical_object_identifier != drive.position:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(4))
    _write_filemarks(drive, count, bool(immed))


def erase6(drive: TapeDrive, cmd: Command) -> None:
    """ERASE(6), SSC-5 7.2: end of data at the current position, short or long."""
    drive.check_writable()
    cart = drive.mounted()
    part = cart.partitions[drive.partition]
    if cart.worm and drive.position < part.eod:
        drive.refuse_worm_overwrite()
    if drive.position < part.eod:
        cart.erase(drive.partition, drive.position)
    cart.flush()
