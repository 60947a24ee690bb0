"""What the copy manager reports: RECEIVE COPY RESULTS (LID1) and the Third-party Copy VPD page.

SPC-4 6.18: COPY STATUS (the segments processed and the bytes written
by the copy a list identifier names), RECEIVE DATA (no segment type
here holds data: empty), OPERATING PARAMETERS (the limits of
:class:`~devemu.disk.copy_list.CopyLimits`, any list identifier) and
FAILED SEGMENT DETAILS (the CHECK CONDITION and sense data of a failed
copy, given once, then discarded as SPC-4 6.18.5 says). A list
identifier nothing is held for is INVALID FIELD IN CDB on byte 2.

SPC-5 7.7.18: the Third-party Copy VPD page lists the same commands,
limits and descriptor types.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from devemu.disk.copy_list import LIMITS, CopyLimits
from devemu.disk.copy_parameters import (
    BLOCK_TO_BLOCK,
    COMPLETED_WITH_ERRORS,
    COMPLETED_WITHOUT_ERRORS,
    FAILED_SEGMENT_DETAILS_LENGTH,
    IDENTIFICATION_CSCD,
    OPERATING_PARAMETERS_LENGTH,
    SUPPORTED_COMMANDS,
    SUPPORTED_DESCRIPTORS,
    TRANSFER_COUNT_UNIT_SHIFTS,
    CopyStatusData,
    FailedSegmentDetails,
    GeneralCopyOperationsDescriptor,
    OperatingParameters,
    ParameterDataDescriptor,
    ReceiveDataHeader,
    TpcDescriptorHeader,
)
from devemu.scsi.command import Command, Status
from devemu.scsi.sense import (
    INVALID_FIELD_IN_CDB,
    SenseError,
    cdb_field,
)
from devemu.scsi.table import CommandSpec
from devemu.scsi.vpd import vpd_page

if TYPE_CHECKING:
    from devemu.disk.device import Disk

#: The Third-party Copy VPD page code, SPC-5 7.7.18.
THIRD_PARTY_COPY_VPD = 0x8F
#: The descriptor type codes the copy manager implements (SPC-4 tables 111 and 112).
IMPLEMENTED_DESCRIPTORS = (BLOCK_TO_BLOCK, IDENTIFICATION_CSCD)


# --- held results -------------------------------------------------------------------------


@dataclass(slots=True)
class HeldResult:
    """What RECEIVE COPY RESULTS reports for one list identifier."""

    status: int = COMPLETED_WITHOUT_ERRORS
    segments_processed: int = 0
    transferred: int = 0
    #: The sense data of the failed command, until FAILED SEGMENT DETAILS gives it.
    sense: bytes = b""


def _held(dev: Disk, cmd: Command, list_identifier: int) -> HeldResult:
    result = dev.copy_manager.held.get((cmd.nexus, list_identifier))
    if result is None:
        raise SenseError(INVALID_FIELD_IN_CDB, field=cdb_field(2))
    return result


def copy_status(dev: Disk, cmd: Command, list_identifier: int, allocation_length: int) -> int:
    """RECEIVE COPY RESULTS, COPY STATUS (SPC-4 6.18.2)."""
    held = _held(dev, cmd, list_identifier)
    units, count = transfer_count(held.transferred)
    data = CopyStatusData.build(
        {
            "status": {"hdd": False, "copy_manager_status": held.status},
            "segments_processed": held.segments_processed,
            "transfer_count_units": units,
            "transfer_count": count,
        }
    )
    return cmd.data_in(data, allocation_length)


def transfer_count(nbytes: int) -> tuple[int, int]:
    """TRANSFER COUNT UNITS and TRANSFER COUNT for ``nbytes`` (SPC-4 6.18.2 table 247)."""
    for units, shift in enumerate(TRANSFER_COUNT_UNIT_SHIFTS):
        count = -(-nbytes >> shift) if shift else nbytes
        if count <= 0xFFFFFFFF:
            return units, count
    return len(TRANSFER_COUNT_UNIT_SHIFTS) - 1, 0xFFFFFFFF


def receive_data(dev: Disk, cmd: Command, list_identifier: int, allocation_length: int) -> int:
    """RECEIVE COPY RESULTS, RECEIVE DATA (SPC-4 6.18.3): no segment type here holds data."""
    _held(dev, cmd, list_identifier)
    return cmd.data_in(ReceiveDataHeader.build({"available_data": 0}), allocation_length)


def operating_parameters(
    dev: Disk, cmd: Command, list_identifier: int, allocation_length: int
) -> int:
    """RECEIVE COPY RESULTS, OPERATING PARAMETERS (SPC-4 6.18.4); the list identifier is ignored."""
    return cmd.data_in(operating_parameters_data(dev.block_size), allocation_length)


def operating_parameters_data(block_size: int, limits: CopyLimits = LIMITS) -> bytes:
    head: bytes = OperatingParameters.build(
        {
            "available_data": OPERATING_PARAMETERS_LENGTH + len(IMPLEMENTED_DESCRIPTORS) - 4,
            "flags": {"reserved": 0, "snlid": True},
            "maximum_cscd_descriptor_count": limits.max_cscd_descriptors,
            "maximum_segment_descriptor_count": limits.max_segment_descriptors,
            "maximum_descriptor_list_length": limits.max_descriptor_list_length,
            "maximum_segment_length": limits.max_segment_length,
            "maximum_inline_data_length": limits.max_inline_data,
            "held_data_limit": 0,
            "maximum_stream_device_transfer_size": 0,
            "total_concurrent_copies": limits.total_concurrent_copies,
            "maximum_concurrent_copies": limits.total_concurrent_copies,
            "data_segment_granularity": block_size.bit_length() - 1,
            "inline_data_granularity": 0,
            "held_data_granularity": 0,
            "implemented_descriptor_list_length": len(IMPLEMENTED_DESCRIPTORS),
        }
    )
    return head + bytes(IMPLEMENTED_DESCRIPTORS)


def failed_segment_details(
    dev: Disk, cmd: Command, list_identifier: int, allocation_length: int
) -> int:
    """RECEIVE COPY RESULTS, FAILED SEGMENT DETAILS (SPC-4 6.18.5).

    A failed copy reports its CHECK CONDITION and sense data, once: the
    details are discarded after they are sent. A copy that completed
    without error reports GOOD and no sense data.
    """
    held = _held(dev, cmd, list_identifier)
    sense = held.sense
    status = Status.CHECK_CONDITION if held.status == COMPLETED_WITH_ERRORS else Status.GOOD
    data = FailedSegmentDetails.build(
        {
            "available_data": FAILED_SEGMENT_DETAILS_LENGTH - 4 + len(sense),
            "copy_command_status": status,
            "sense_data_length": len(sense),
        }
    )
    held.sense = b""
    return cmd.data_in(data + sense, allocation_length)


# --- the Third-party Copy VPD page ------------------------------------------------------


def _tpc_descriptor(descriptor_type: int, body: bytes) -> bytes:
    """One third-party copy descriptor, padded to a multiple of four bytes (SPC-5 7.7.18.1)."""
    body += bytes(-(len(body) + 4) % 4)
    header: bytes = TpcDescriptorHeader.build(
        {"descriptor_type": descriptor_type, "descriptor_length": len(body)}
    )
    return header + body


def supported_commands_descriptor(commands: tuple[CommandSpec, ...]) -> bytes:
    """Supported Commands descriptor (SPC-5 7.7.18.3): each opcode with its service actions."""
    by_opcode: dict[int, list[int]] = {}
    for spec in commands:
        by_opcode.setdefault(spec.opcode, []).append(spec.service_action or 0)
    entries = b"".join(
        bytes([op, len(actions), *actions]) for op, actions in sorted(by_opcode.items())
    )
    return _tpc_descriptor(SUPPORTED_COMMANDS, bytes([len(entries)]) + entries)


def third_party_copy_page(
    block_size: int, commands: tuple[CommandSpec, ...], limits: CopyLimits = LIMITS
) -> bytes:
    """Third-party Copy VPD page (SPC-5 7.7.18): commands, parameter data, descriptors, limits."""
    parameter_data: bytes = ParameterDataDescriptor.build(
        {
            "maximum_cscd_descriptor_count": limits.max_cscd_descriptors,
            "maximum_segment_descriptor_count": limits.max_segment_descriptors,
            "maximum_descriptor_list_length": limits.max_descriptor_list_length,
            "maximum_inline_data_length": limits.max_inline_data,
        }
    )
    general: bytes = GeneralCopyOperationsDescriptor.build(
        {
            "total_concurrent_copies": limits.total_concurrent_copies,
            "maximum_identified_concurrent_copies": limits.total_concurrent_copies,
            "maximum_segment_length": limits.max_segment_length,
            "data_segment_granularity": block_size.bit_length() - 1,
            "inline_data_granularity": 0,
        }
    )
    supported = bytes([len(IMPLEMENTED_DESCRIPTORS), *IMPLEMENTED_DESCRIPTORS])
    body = (
        supported_commands_descriptor(commands)
        + parameter_data
        + _tpc_descriptor(SUPPORTED_DESCRIPTORS, supported)
        + general
    )
    return vpd_page(0x00, THIRD_PARTY_COPY_VPD, body)
