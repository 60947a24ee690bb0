"""The EXTENDED COPY (LID1) parameter list, checked whole before any block moves.

SPC-4 6.3.3.2: errors in the parameter list are found before the copy
manager processes any segment descriptor, and end the command in
ILLEGAL REQUEST with the sense key specific field pointer on the byte
of the parameter list at fault (C/D = 0). :func:`parse_copy_list` checks
the header (LIST ID USAGE, the lengths, inline data), each
identification CSCD descriptor (E4h, SPC-4 6.3.6.5) and each block
device to block device segment descriptor (02h, SPC-4 6.3.7.5) against
:class:`CopyLimits`, the limits the copy manager advertises (RECEIVE
COPY RESULTS OPERATING PARAMETERS, VPD page 8Fh). What depends on the
devices the descriptors name is checked when a segment runs
(:mod:`devemu.disk.copy_offload`).
"""

from __future__ import annotations

from dataclasses import dataclass

from devemu.disk.copy_parameters import (
    BLOCK_PARAMETERS_AT,
    BLOCK_TO_BLOCK,
    CSCD_DESCRIPTOR_LENGTH,
    DESIGNATOR_LENGTH_AT,
    HEADER_LENGTH,
    IDENTIFICATION_CSCD,
    LIST_ID_NONE,
    LIST_ID_RESERVED,
    SEGMENT_BLOCKS_AT,
    SEGMENT_DESCRIPTOR_LENGTH,
    SEGMENT_DESTINATION_AT,
    SEGMENT_FLAGS_AT,
    SEGMENT_LENGTH_AT,
    SEGMENT_RESERVED_AT,
    SEGMENT_SOURCE_AT,
    BlockToBlockSegment,
    IdentificationCscd,
    ParameterListHeader,
)
from devemu.scsi.sense import (
    INLINE_DATA_LENGTH_EXCEEDED,
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    TOO_MANY_SEGMENT_DESCRIPTORS,
    TOO_MANY_TARGET_DESCRIPTORS,
    UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE,
    UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE,
    SenseError,
    param_field,
)


@dataclass(frozen=True, slots=True)
class CopyLimits:
    """What the copy manager accepts, advertised in the VPD page and RECEIVE COPY RESULTS."""

    max_cscd_descriptors: int = 8
    max_segment_descriptors: int = 16
    #: Bytes one segment may copy (16 MiB: the Block Limits page's transfer length).
    max_segment_length: int = 16 << 20
    max_inline_data: int = 0
    total_concurrent_copies: int = 1

    @property
    def max_descriptor_list_length(self) -> int:
        return (
            self.max_cscd_descriptors * CSCD_DESCRIPTOR_LENGTH
            + self.max_segment_descriptors * SEGMENT_DESCRIPTOR_LENGTH
        )

    @property
    def max_parameter_list_length(self) -> int:
        return HEADER_LENGTH + self.max_descriptor_list_length + self.max_inline_data


LIMITS = CopyLimits()


# --- the parameter list -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Cscd:
    """One identification CSCD descriptor, checked."""

    peripheral_device_type: int
    code_set: int
    association: int
    designator_type: int
    designator: bytes
    disk_block_length: int


@dataclass(frozen=True, slots=True)
class Segment:
    """One block device to block device segment descriptor, checked."""

    source: int
    destination: int
    dc: bool
    number_of_blocks: int
    source_lba: int
    destination_lba: int


@dataclass(frozen=True, slots=True)
class CopyList:
    """A checked EXTENDED COPY (LID1) parameter list."""

    list_identifier: int
    list_id_usage: int
    cscds: tuple[Cscd, ...]
    segments: tuple[Segment, ...]


def _invalid(byte: int, bit: int | None = None) -> SenseError:
    return SenseError(INVALID_FIELD_IN_PARAMETER_LIST, field=param_field(byte, bit))


def parse_copy_list(data: bytes, limits: CopyLimits = LIMITS) -> CopyList:
    """Check a whole parameter list (SPC-4 6.3.1, 6.3.3.2); nothing moves yet."""
    if len(data) < HEADER_LENGTH:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    header = ParameterListHeader.parse(data)
    flags = header.flags
    if flags.list_id_usage == LIST_ID_RESERVED:
        raise _invalid(1, 4)
    if flags.list_id_usage == LIST_ID_NONE and header.list_identifier:
        raise _invalid(0)
    cscd_length = header.cscd_descriptor_list_length
    segment_length = header.segment_descriptor_list_length
    if header.inline_data_length > limits.max_inline_data:
        raise SenseError(INLINE_DATA_LENGTH_EXCEEDED, field=param_field(12))
    if cscd_length % CSCD_DESCRIPTOR_LENGTH:
        raise _invalid(2)
    if cscd_length // CSCD_DESCRIPTOR_LENGTH > limits.max_cscd_descriptors:
        raise SenseError(TOO_MANY_TARGET_DESCRIPTORS, field=param_field(2))
    if cscd_length + segment_length > limits.max_descriptor_list_length:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    end = HEADER_LENGTH + cscd_length + segment_length + header.inline_data_length
    if len(data) < end:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR)
    cscds = tuple(
        _parse_cscd(data, at)
        for at in range(HEADER_LENGTH, HEADER_LENGTH + cscd_length, CSCD_DESCRIPTOR_LENGTH)
    )
    segments: list[Segment] = []
    at = HEADER_LENGTH + cscd_length
    stop = at + segment_length
    while at < stop:
        if len(segments) == limits.max_segment_descriptors:
            raise SenseError(TOO_MANY_SEGMENT_DESCRIPTORS, field=param_field(8))
        segments.append(_parse_segment(data, at, stop, cscds, limits))
        at += SEGMENT_DESCRIPTOR_LENGTH
    return CopyList(header.list_identifier, flags.list_id_usage, cscds, tuple(segments))


def _parse_cscd(data: bytes, at: int) -> Cscd:
    if data[at] != IDENTIFICATION_CSCD:
        raise SenseError(UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE, field=param_field(at))
    d = IdentificationCscd.parse(data[at : at + CSCD_DESCRIPTOR_LENGTH])
    if d.device.lu_id_type:
        raise _invalid(at + 1, 7)
    if d.device.nul:
        raise _invalid(at + 1, 5)
    if d.designator_length > len(d.designator):
        raise _invalid(at + DESIGNATOR_LENGTH_AT)
    if d.block.reserved or d.block.reserved2:
        raise _invalid(at + BLOCK_PARAMETERS_AT)
    return Cscd(
        d.device.peripheral_device_type,
        d.code_set.code_set,
        d.designator_kind.association,
        d.designator_kind.designator_type,
        bytes(d.designator[: d.designator_length]),
        d.disk_block_length.value,
    )


def _parse_segment(
    data: bytes, at: int, stop: int, cscds: tuple[Cscd, ...], limits: CopyLimits
) -> Segment:
    if data[at] != BLOCK_TO_BLOCK:
        raise SenseError(UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE, field=param_field(at))
    raw = data[at : at + SEGMENT_DESCRIPTOR_LENGTH]
    if at + SEGMENT_DESCRIPTOR_LENGTH > stop or raw[2:4] != b"\x00\x18":
        raise _invalid(at + SEGMENT_LENGTH_AT)
    s = BlockToBlockSegment.parse(raw)
    if s.flags.reserved:
        raise _invalid(at + SEGMENT_FLAGS_AT, 7)
    if any(s.reserved):
        raise _invalid(at + SEGMENT_RESERVED_AT)
    for index, where in (
        (s.source_cscd_descriptor_id, SEGMENT_SOURCE_AT),
        (s.destination_cscd_descriptor_id, SEGMENT_DESTINATION_AT),
    ):
        if index >= len(cscds):
            raise _invalid(at + where)
    counted = cscds[s.destination_cscd_descriptor_id if s.flags.dc else s.source_cscd_descriptor_id]
    if s.number_of_blocks * counted.disk_block_length > limits.max_segment_length:
        raise _invalid(at + SEGMENT_BLOCKS_AT)
    return Segment(
        s.source_cscd_descriptor_id,
        s.destination_cscd_descriptor_id,
        s.flags.dc,
        s.number_of_blocks,
        s.source_lba,
        s.destination_lba,
    )
