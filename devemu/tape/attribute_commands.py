"""READ ATTRIBUTE and WRITE ATTRIBUTE for the cartridge's MAM, SPC-5 6.18 and 6.50.

What a host sees is the union of three sources, by identifier:

- medium type attributes written into the cartridge header when it was
  made (manufacturer, serial, length, width, density, MAM capacity,
  medium type), read only;
- device type attributes (SPC-5 7.4.2.2): the ones the drive computes on
  the spot (remaining and maximum capacity of the partition, TapeAlert
  flags, MAM space remaining, assigning organisation, formatted density,
  volume change reference)
  and the ones it keeps in the cartridge journal as whole-cartridge
  entries (load count, initialisation count, the last four drives that
  loaded it, megabytes written and read), read only;
- host type attributes (0x0800-0x0BFF and the vendor host range
  0x1400-0x17FF) written by WRITE ATTRIBUTE, kept per partition in the
  journal, durable when the command completes.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TYPE_CHECKING

from devemu.scsi.command import Command
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    MEDIUM_NOT_PRESENT,
    PARAMETER_LIST_LENGTH_ERROR,
    WRITE_PROTECTED,
    SenseError,
    cdb_field,
    param_field,
)
from devemu.tape import log_pages, mam
from devemu.tape.records import WHOLE_CARTRIDGE
from devemu.tape.tapealert import flag_bits

if TYPE_CHECKING:
    from devemu.tape.cartridge import Cartridge
    from devemu.tape.drive import TapeDrive

MIB = 1 << 20
MB = 1_000_000
LOAD_HISTORY = (0x020A, 0x020B, 0x020C, 0x020D)


class ReadAttributeAction(IntEnum):
    """READ ATTRIBUTE service actions, SPC-5 6.18.1 table 233."""

    ATTRIBUTE_VALUES = 0x00
    ATTRIBUTE_LIST = 0x01
    LOGICAL_VOLUME_LIST = 0x02
    PARTITION_LIST = 0x03
    SUPPORTED_ATTRIBUTES = 0x05


def _number(attrs: dict[int, mam.Attribute], identifier: int) -> int:
    a = attrs.get(identifier)
    return int.from_bytes(a.value, "big") if a is not None else 0


def computed_attributes(drive: TapeDrive, cart: Cartridge, partition: int) -> list[mam.Attribute]:
    """Device type attributes the drive works out when asked (SPC-5 7.4.2.2)."""
    part = cart.partitions[partition]
    stored = sum(
        len(a.value) + mam.ATTRIBUTE_HEADER_LENGTH for a in cart.attributes(partition).values()
    )
    flags = flag_bits(drive.tapealerts.active).to_bytes(8, "big")
    std = mam.standard
    return [
        std(0x0000, max(part.capacity - part.used, 0) // MIB),
        std(0x0001, part.capacity // MIB),
        std(0x0002, flags),
        std(0x0004, max(cart.medium.mam_capacity - stored, 0)),
        std(0x0005, cart.medium.assigning_organization),
        std(0x0006, cart.medium.density_code),
        # SPC-5 7.4.2.2: changes whenever the data on the medium does (not the MAM)
        std(0x0009, cart.data_changes & 0xFFFFFFFF),
    ]


def visible_attributes(drive: TapeDrive, cart: Cartridge, partition: int) -> list[mam.Attribute]:
    """Every attribute a host reads in ``partition``, by ascending identifier."""
    merged = cart.attributes(partition)
    for a in computed_attributes(drive, cart, partition):
        merged[a.identifier] = a
    out = []
    for ident in sorted(merged):
        a = merged[ident]
        read_only = not mam.writable_by_host(ident)
        if a.read_only != read_only:
            a = mam.Attribute(a.identifier, a.format, a.value, read_only)
        out.append(a)
    return out


def _medium(drive: TapeDrive) -> Cartridge:
    """The cartridge whose MAM is reachable: in the drive, not ejected."""
    cart = drive.cartridge
    if cart is None or drive.ejected:
        raise SenseError(MEDIUM_NOT_PRESENT)
    return cart


def read_attribute(
    drive: TapeDrive,
    cmd: Command,
    service_action: int,
    logical_volume: int,
    partition: int,
    first_attribute: int,
    allocation_length: int,
) -> int:
    """READ ATTRIBUTE, SPC-5 6.18."""
    action = service_action
    cart = _medium(drive)
    if logical_volume != 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
    if partition >= cart.partition_count:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    if action == ReadAttributeAction.LOGICAL_VOLUME_LIST:
        data = bytes([0, 2, 0, 1])
    elif action == ReadAttributeAction.PARTITION_LIST:
        data = bytes([0, 2, 0, cart.partition_count])
    else:
        attrs = visible_attributes(drive, cart, partition)
        if action == ReadAttributeAction.ATTRIBUTE_VALUES:
            # SPC-5 6.18.2: the first attribute asked for must have a value
            if first_attribute not in {a.identifier for a in attrs}:
                raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(8))
            body = b"".join(a.encode() for a in attrs if a.identifier >= first_attribute)
        elif action == ReadAttributeAction.ATTRIBUTE_LIST:
            body = b"".join(a.identifier.to_bytes(2, "big") for a in attrs)
        else:
            ids = sorted(set(mam.STANDARD) | {a.identifier for a in attrs})
            body = b"".join(i.to_bytes(2, "big") for i in ids)
        data = len(body).to_bytes(4, "big") + body
    return cmd.data_in(data, allocation_length)


def _check_attribute(a: mam.Attribute, at: int) -> None:
    if not mam.writable_by_host(a.identifier):
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(at))
    spec = mam.STANDARD.get(a.identifier)
    if spec is not None:
        if a.format != spec.format:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(at + 2, 1))
        if a.value and spec.length and len(a.value) != spec.length:
            raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(at + 3))
    if (spec is None or not spec.length) and len(a.value) > mam.MAX_FREE_ATTRIBUTE:
        raise SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(at + 3))


def write_attribute(
    drive: TapeDrive,
    cmd: Command,
    logical_volume: int,
    partition: int,
    parameter_list_length: int,
) -> None:
    """WRITE ATTRIBUTE, SPC-5 6.50: host attributes only, all or nothing, durable.

    WTC (write-through cache) is accepted: every write is durable anyway.
    """
    cart = _medium(drive)
    if logical_volume != 0:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(5))
    if partition >= cart.partition_count:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(7))
    length = parameter_list_length
    if length == 0:
        return
    data = cmd.data_out(length)
    if len(data) < 4 or len(data) < length:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    # SPC-5 6.50: the PARAMETER DATA LENGTH field is ignored (LTFS counts its own four
    # bytes in it); the attributes are the parameter list after it.
    body = data[4:length]
    attrs: list[mam.Attribute] = []
    pos = 0
    while pos < len(body):
        head_len = mam.ATTRIBUTE_HEADER_LENGTH
        if len(body) - pos < head_len:
            raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
        value_len = int.from_bytes(body[pos + 3 : pos + 5], "big")
        end = pos + head_len + value_len
        if end > len(body):
            raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
        try:
            (a,) = mam.decode_attributes(body[pos:end])
        except ValueError:
            raise SenseError(
                INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(4 + pos + 2)
            ) from None
        _check_attribute(a, 4 + pos)
        attrs.append(a)
        pos = end
    if cart.read_only:
        raise SenseError(WRITE_PROTECTED)
    if attrs:
        cart.set_attributes(partition, attrs)


# --- what the drive records in the MAM ------------------------------------------------


def _stored(cart: Cartridge) -> dict[int, mam.Attribute]:
    return cart.attributes(WHOLE_CARTRIDGE)


def load_count(cart: Cartridge) -> int:
    """The cartridge's LOAD COUNT attribute (0003h, SPC-5 7.4.2.2): loads so far."""
    return _number(_stored(cart), 0x0003)


def record_load(drive: TapeDrive, cart: Cartridge) -> None:
    """Count the load and remember this drive among the last four (SPC-5 7.4.2.2)."""
    have = _stored(cart)
    std = mam.standard
    ident = drive.identity
    who = (ident.vendor_bytes() + ident.serial.encode("ascii", "replace")[:32]).decode("ascii")
    changes = [std(0x0003, _number(have, 0x0003) + 1)]
    history = [have.get(i) for i in LOAD_HISTORY]
    for i, previous in zip(LOAD_HISTORY[1:], history[:-1], strict=True):
        if previous is not None:
            changes.append(mam.Attribute(i, previous.format, previous.value, True))
    changes.append(std(LOAD_HISTORY[0], who))
    cart.set_attributes(WHOLE_CARTRIDGE, changes)


def record_unload(cart: Cartridge, written: int, read: int) -> None:
    """Add this load's megabytes (``written`` and ``read`` bytes) to the medium's life totals."""
    have = _stored(cart)
    std = mam.standard
    wrote, read = written // MB, read // MB
    cart.set_attributes(
        WHOLE_CARTRIDGE,
        [
            std(0x0220, _number(have, 0x0220) + wrote),
            std(0x0221, _number(have, 0x0221) + read),
            std(0x0222, wrote),
            std(0x0223, read),
        ],
    )


def record_format(drive: TapeDrive, cart: Cartridge) -> None:
    """Count an initialisation (FORMAT MEDIUM)."""
    have = _stored(cart)
    cart.set_attributes(WHOLE_CARTRIDGE, [mam.standard(0x0007, _number(have, 0x0007) + 1)])


def volume_figures(drive: TapeDrive, cart: Cartridge) -> log_pages.VolumeFigures:
    """The cartridge as the volume statistics log page reports it (SSC-5 8.2).

    Mounts and lifetime megabytes come from the MAM (SPC-5 7.4.2.2: load
    count, total megabytes written and read in medium life, this load's
    added); the capacities from the partitions.
    """
    have = _stored(cart)
    load_written, load_read = drive.load_totals()
    serial = cart.attributes(0).get(0x0401)
    parts = [
        log_pages.PartitionFigures(i, p.capacity, p.used, max(p.capacity - p.used, 0))
        for i, p in enumerate(cart.partitions)
    ]
    return log_pages.VolumeFigures(
        mounts=_number(have, 0x0003),
        written_lifetime_mb=_number(have, 0x0220) + load_written // MB,
        read_lifetime_mb=_number(have, 0x0221) + load_read // MB,
        written_load_mb=load_written // MB,
        read_load_mb=load_read // MB,
        native=cart.capacity,
        used=sum(p.used for p in cart.partitions),
        serial=serial.value.decode("ascii", "replace").strip() if serial else "",
        barcode=cart.barcode or "",
        write_protected=not drive.writable(),
        worm=cart.worm,
        partitions=parts,
    )
