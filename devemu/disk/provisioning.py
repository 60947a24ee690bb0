"""Logical block provisioning: UNMAP, WRITE SAME, GET LBA STATUS, FORMAT UNIT.

The disk is thin provisioned (SBC-4 4.7.3): a deallocated block is a hole
in the image file and reads as zeros (LBPRZ). UNMAP (SBC-4 5.32) and
WRITE SAME with the UNMAP bit and a zero block (SBC-4 5.49, 5.50) punch
holes; GET LBA STATUS (SBC-4 5.8) reports the holes as deallocated and
everything else as mapped. A command that is refused changes nothing:
every descriptor of an UNMAP parameter list is checked before any hole
is punched.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from devemu.disk.checks import out_of_range, write_error
from devemu.disk.parameters import (
    DEALLOCATED,
    LBA_STATUS_DESCRIPTOR_LENGTH,
    LBA_STATUS_HEADER_LENGTH,
    MAPPED,
    UNMAP_DESCRIPTOR_LENGTH,
    UNMAP_HEADER_LENGTH,
    LbaStatusDescriptor,
    LbaStatusHeader,
    UnmapDescriptor,
    UnmapHeader,
)
from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    SenseError,
    cdb_field,
    param_field,
)

if TYPE_CHECKING:
    from devemu.disk.device import Disk

#: The most LBA status descriptors one GET LBA STATUS returns.
MAX_LBA_STATUS_DESCRIPTORS = 1024
_MAX_DESCRIPTOR_BLOCKS = 0xFFFFFFFF


# --- UNMAP ------------------------------------------------------------------------


def unmap(dev: Disk, cmd: Command, parameter_list_length: int) -> None:
    """UNMAP, SBC-4 5.32: deallocate every run the parameter list names."""
    length = parameter_list_length
    if length == 0:
        return
    if length < UNMAP_HEADER_LENGTH:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    data = cmd.data_out(length)
    if len(data) < length:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    header = UnmapHeader.parse(data)
    described = min(header.block_descriptor_data_length, len(data) - UNMAP_HEADER_LENGTH)
    # A partial trailing descriptor is ignored (SBC-4 5.32.2).
    count = described // UNMAP_DESCRIPTOR_LENGTH
    if count > dev.limits.max_unmap_descriptors:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(2))
    runs: list[tuple[int, int]] = []
    total = 0
    for i in range(count):
        pos = UNMAP_HEADER_LENGTH + i * UNMAP_DESCRIPTOR_LENGTH
        desc = UnmapDescriptor.parse(data[pos : pos + UNMAP_DESCRIPTOR_LENGTH])
        total += desc.count
        if total > dev.limits.max_unmap_lba_count:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(pos + 8))
        if desc.lba + desc.count > dev.capacity:
            raise out_of_range(desc.lba, dev.capacity)
        if desc.count:
            runs.append((desc.lba, desc.count))
    try:
        for lba, n in runs:
            dev.image.unmap(lba, n)
        if runs and not dev.write_cache:
            dev.image.flush()
    except OSError as err:
        raise write_error(err, runs[0][0]) from err


# --- WRITE SAME -------------------------------------------------------------------


def _write_same(
    dev: Disk, cmd: Command, unmap: int, ndob: int, lba: int, count: int, *, count_byte: int
) -> None:
    # WSNZ is set in the Block Limits page: a zero length is not "to the end".
    if count == 0 or count > dev.limits.max_write_same:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(count_byte))
    dev.check_range(lba, count)
    if ndob:
        dev.check_data_out(cmd, 0)
        block = bytes(dev.block_size)
    else:
        dev.check_data_out(cmd, dev.block_size)
        block = cmd.data_out()
    zeros = not any(block)
    durable = not dev.write_cache
    try:
        if zeros and unmap:
            dev.image.unmap(lba, count, durable=durable)
        elif zeros:
            dev.image.write_zeros(lba, count, durable=durable)
        else:
            dev.image.write_pattern(lba, count, block, durable=durable)
    except OSError as err:
        raise write_error(err, lba) from err


def write_same_10(
    dev: Disk, cmd: Command, unmap: int, ndob: int, lba: int, transfer_length: int
) -> None:
    """WRITE SAME (10), SBC-4 5.49: one block written to a run, or the run unmapped."""
    _write_same(dev, cmd, unmap, ndob, lba, transfer_length, count_byte=7)


def write_same_16(
    dev: Disk, cmd: Command, unmap: int, ndob: int, lba: int, transfer_length: int
) -> None:
    """WRITE SAME (16), SBC-4 5.50: as (10), plus NDOB (no data-out, zeros)."""
    _write_same(dev, cmd, unmap, ndob, lba, transfer_length, count_byte=10)


# --- GET LBA STATUS ---------------------------------------------------------------


def get_lba_status(dev: Disk, cmd: Command, lba: int, allocation_length: int) -> int:
    """GET LBA STATUS, SBC-4 5.8: mapped and deallocated runs from an LBA on."""
    if lba >= dev.capacity:
        raise out_of_range(lba, dev.capacity)
    room = (allocation_length - LBA_STATUS_HEADER_LENGTH) // LBA_STATUS_DESCRIPTOR_LENGTH
    limit = min(MAX_LBA_STATUS_DESCRIPTORS, max(1, room))
    descriptors: list[bytes] = []
    for extent in dev.image.lba_status(lba, limit):
        # NUMBER OF LOGICAL BLOCKS is 32 bits: a longer run takes several descriptors.
        start, left = extent.lba, extent.count
        while left and len(descriptors) < limit:
            n = min(left, _MAX_DESCRIPTOR_BLOCKS)
            status = DEALLOCATED if extent.deallocated else MAPPED
            descriptors.append(
                LbaStatusDescriptor.build(
                    {
                        "lba": start,
                        "count": n,
                        "provisioning_status": {"reserved": 0, "status": status},
                    }
                )
            )
            start += n
            left -= n
    body = b"".join(descriptors)
    header = LbaStatusHeader.build({"parameter_data_length": len(body) + 4})
    return cmd.data_in(header + body, allocation_length)


# --- FORMAT UNIT ------------------------------------------------------------------


def format_unit(dev: Disk, cmd: Command) -> None:
    """FORMAT UNIT, SBC-4 5.4, without a parameter list (FMTDATA is unsupported).

    Formatting a thin-provisioned image deallocates every block: the
    medium reads as zeros afterwards, as a freshly formatted disk.
    """
    try:
        dev.image.unmap(0, dev.capacity, durable=True)
    except OSError as err:
        raise write_error(err, 0) from err
