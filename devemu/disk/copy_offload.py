"""Copy offload: EXTENDED COPY (LID1), RECEIVE COPY RESULTS and the Third-party Copy VPD page.

Theory of operation
-------------------
Each disk is a copy manager (SPC-4 6.3) for the disks of its daemon: an
initiator sends EXTENDED COPY (LID1) to one disk with a parameter list
that names the logical units by identification CSCD descriptors (E4h,
an NAA designator of their VPD page 83h) and block device to block
device segment descriptors (02h), and the disk moves the blocks itself.
The disks it can reach are those of :mod:`devemu.disk.copy_targets`,
through that module's narrow interface only: the source and destination
of a segment may be this disk, another disk of the same daemon, or the
same disk on both sides (overlapping ranges copy as if read whole first).

The command runs in two phases, as SPC-4 6.3.3 separates them:

1. The parameter list is checked whole before any block moves (SPC-4
   6.3.3.2): lengths, descriptor type codes, reserved fields, descriptor
   indexes, the limits of :class:`CopyLimits`. A refusal is ILLEGAL
   REQUEST with the sense key specific field pointer on the byte of the
   parameter list at fault, and nothing is held for RECEIVE COPY
   RESULTS.
2. The segments then run in order (SPC-4 6.3.3.3). Each is checked
   against what its CSCDs are now: reachable (COPY TARGET DEVICE NOT
   REACHABLE), a block device of the block length the descriptor says
   (INCORRECT COPY TARGET DEVICE TYPE), a length both block lengths
   divide (COPY SEGMENT GRANULARITY VIOLATION), the peer willing
   (its own answer forwarded: RESERVATION CONFLICT, NOT READY, DATA
   PROTECT) and both ranges on the medium (the peer's LOGICAL BLOCK
   ADDRESS OUT OF RANGE forwarded) before any of its blocks move. A
   segment failing this way, or with an I/O error part way, ends the
   command in COPY ABORTED, and the sense says how far it got
   (:class:`CopyAbortedError`): the segment's number in COMMAND-SPECIFIC
   INFORMATION, the blocks of that segment not copied in INFORMATION,
   and the peer's own answer as forwarded sense data. The segments
   before it stay copied.

What was done is held per I_T nexus and list identifier (LIST ID USAGE
00b and 10b; 11b holds nothing) for RECEIVE COPY RESULTS: COPY STATUS
(segments processed, bytes written), RECEIVE DATA (no segment type here
holds data: empty), FAILED SEGMENT DETAILS (the sense data of a failed
command, given once, then discarded as SPC-4 6.18.5 says) and, for any
list identifier, OPERATING PARAMETERS. The Third-party Copy VPD page
(SPC-5 7.7.18) lists the same commands, limits and descriptor types;
all of them come from :class:`CopyLimits` and :data:`COPY_COMMANDS`.

Commands run one at a time per disk, so a copy is never "in progress"
when RECEIVE COPY RESULTS arrives, and a list identifier is never in use
by another copy. EXTENDED COPY itself conflicts with no reservation of
its own: each CSCD it touches, this disk included, is asked as a READ or
WRITE from the same nexus would be (SPC-5 5.13.1 leaves EXTENDED COPY to
the copy manager's own access to its CSCDs).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from devemu.disk.checks import out_of_range, read_error, write_error
from devemu.disk.copy_parameters import (
    BLOCK_PARAMETERS_AT,
    BLOCK_TO_BLOCK,
    COMPLETED_WITH_ERRORS,
    COMPLETED_WITHOUT_ERRORS,
    CSCD_DESCRIPTOR_LENGTH,
    DESIGNATOR_LENGTH_AT,
    FAILED_SEGMENT_DETAILS_LENGTH,
    HEADER_LENGTH,
    IDENTIFICATION_CSCD,
    LIST_ID_NONE,
    LIST_ID_RESERVED,
    OPERATING_PARAMETERS_LENGTH,
    SEGMENT_BLOCKS_AT,
    SEGMENT_DESCRIPTOR_LENGTH,
    SEGMENT_DESTINATION_AT,
    SEGMENT_FLAGS_AT,
    SEGMENT_LENGTH_AT,
    SEGMENT_RESERVED_AT,
    SEGMENT_SOURCE_AT,
    SUPPORTED_COMMANDS,
    SUPPORTED_DESCRIPTORS,
    TRANSFER_COUNT_UNIT_SHIFTS,
    BlockToBlockSegment,
    CopyStatusData,
    ExtendedCopyCdb,
    FailedSegmentDetails,
    GeneralCopyOperationsDescriptor,
    IdentificationCscd,
    OperatingParameters,
    ParameterDataDescriptor,
    ParameterListHeader,
    ReceiveCopyResultsCdb,
    ReceiveDataHeader,
    TpcDescriptorHeader,
)
from devemu.disk.copy_targets import CopyPeer, CopyPeers, LocalPeer, OpenMedium, open_medium
from devemu.disk.opcodes import Opcode, ThirdPartyCopyIn, ThirdPartyCopyOut
from devemu.scsi.command import Command, Status
from devemu.scsi.sense import (
    COPY_SEGMENT_GRANULARITY_VIOLATION,
    COPY_TARGET_DEVICE_NOT_REACHABLE,
    FIXED_SENSE_LENGTH,
    INCORRECT_COPY_TARGET_DEVICE_TYPE,
    INLINE_DATA_LENGTH_EXCEEDED,
    INVALID_FIELD_IN_CDB,
    INVALID_FIELD_IN_PARAMETER_LIST,
    PARAMETER_LIST_LENGTH_ERROR,
    THIRD_PARTY_DEVICE_FAILURE,
    TOO_MANY_SEGMENT_DESCRIPTORS,
    TOO_MANY_TARGET_DESCRIPTORS,
    UNSUPPORTED_SEGMENT_DESCRIPTOR_TYPE_CODE,
    UNSUPPORTED_TARGET_DESCRIPTOR_TYPE_CODE,
    SenseCode,
    SenseError,
    build_sense,
    cdb_field,
    param_field,
)
from devemu.scsi.table import Access, CommandSpec, Conflict, Data, Handler
from devemu.scsi.vpd import CODE_SET_BINARY, DESIGNATOR_NAA, vpd_page

if TYPE_CHECKING:
    from devemu.disk.device import Disk
    from devemu.scsi.device import ScsiDevice

#: The Third-party Copy VPD page code, SPC-5 7.7.18.
THIRD_PARTY_COPY_VPD = 0x8F
#: The descriptor type codes the copy manager implements (SPC-4 tables 111 and 112).
IMPLEMENTED_DESCRIPTORS = (BLOCK_TO_BLOCK, IDENTIFICATION_CSCD)
#: How much of a segment moves per read and write.
CHUNK = 1 << 20
#: List identifiers held per disk; the oldest is dropped beyond this.
HELD_LISTS = 16
#: SENSE DATA SOURCE of a forwarded sense data descriptor, SPC-4 4.5.2.9 table 39.
COPY_SOURCE = 1
COPY_DESTINATION = 2
#: The forwarded sense data descriptor type, SPC-4 4.5.2.9 table 38.
FORWARDED_SENSE_DESCRIPTOR = 0x0C


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


# --- sense data of a copy that failed part way ------------------------------------------


@dataclass(frozen=True, slots=True)
class Forwarded:
    """What a CSCD answered the copy manager: status and sense (SPC-4 4.5.2.9)."""

    source: int
    status: Status
    sense: bytes = b""


class CopyAbortedError(SenseError):
    """COPY ABORTED during segment processing, with how far it got (SPC-4 6.3.3.3).

    Fixed format: COMMAND-SPECIFIC INFORMATION holds, byte by byte, the
    offset of the copy source's forwarded sense data in the sense data,
    that of the copy destination's, then the segment number (two bytes);
    the forwarded sense data follow the 18 bytes. Descriptor format:
    the segment number in the command-specific information descriptor,
    each CSCD's answer in a forwarded sense data descriptor. INFORMATION
    holds the blocks of the failed segment not copied, in the unit its
    NUMBER OF BLOCKS counts.
    """

    def __init__(
        self,
        code: SenseCode,
        segment: int,
        residue: int,
        forwarded: Forwarded | None = None,
    ) -> None:
        super().__init__(code, information=residue, command_specific=segment)
        self.segment = segment
        self.forwarded = forwarded

    def sense_bytes(self, *, descriptor: bool = False) -> bytes:
        fwd = self.forwarded
        if descriptor:
            self.command_specific = self.segment
            out = bytearray(build_sense(self, descriptor=True))
            if fwd is not None:
                body = bytes([fwd.source & 0x0F, fwd.status]) + fwd.sense
                out += bytes([FORWARDED_SENSE_DESCRIPTOR, len(body)]) + body
                out[7] = len(out) - 8
            return bytes(out)
        offsets = [0, 0]
        if fwd is not None and fwd.sense:
            offsets[fwd.source - 1] = FIXED_SENSE_LENGTH
        self.command_specific = (offsets[0] << 24) | (offsets[1] << 16) | (self.segment & 0xFFFF)
        out = bytearray(build_sense(self))
        if fwd is not None and fwd.sense:
            out += fwd.sense
            out[7] = len(out) - 8
        return bytes(out)


# --- held results -------------------------------------------------------------------------


@dataclass(slots=True)
class HeldResult:
    """What RECEIVE COPY RESULTS reports for one list identifier."""

    status: int = COMPLETED_WITHOUT_ERRORS
    segments_processed: int = 0
    transferred: int = 0
    #: The sense data of the failed command, until FAILED SEGMENT DETAILS gives it.
    sense: bytes = b""


class CopyManager:
    """A disk's copy manager: the disks it reaches and the results it holds."""

    __slots__ = ("held", "peer", "peers")

    def __init__(self, disk: Disk) -> None:
        #: How other copy managers reach this disk.
        self.peer = LocalPeer(disk)
        #: The disks a copy can name: this one, until :func:`link_copy_peers`
        #: gives it the daemon's registry.
        self.peers = CopyPeers([self.peer])
        self.held: OrderedDict[tuple[str, int], HeldResult] = OrderedDict()

    def hold(self, nexus: str, list_id: int, result: HeldResult) -> None:
        key = (nexus, list_id)
        self.held.pop(key, None)
        self.held[key] = result
        while len(self.held) > HELD_LISTS:
            self.held.popitem(last=False)


def link_copy_peers(devices: Iterable[ScsiDevice]) -> CopyPeers:
    """One registry of every disk among ``devices`` (the daemon's served set), given to each."""
    managers = [
        m for d in devices if isinstance(m := getattr(d, "copy_manager", None), CopyManager)
    ]
    peers = CopyPeers(m.peer for m in managers)
    for manager in managers:
        manager.peers = peers
    return peers


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


# --- running the segments ---------------------------------------------------------------


class _Run:
    """One EXTENDED COPY's segments, in order, with the descriptors it opened."""

    def __init__(self, peers: CopyPeers, copy_list: CopyList, nexus: str) -> None:
        self.peers = peers
        self.copy_list = copy_list
        self.nexus = nexus
        self.opened: dict[int, tuple[CopyPeer, OpenMedium] | None] = {}
        self.result = HeldResult()

    def close(self) -> None:
        for entry in self.opened.values():
            if entry is not None:
                entry[1].close()

    def run(self) -> None:
        for number, segment in enumerate(self.copy_list.segments):
            self.segment(number, segment)
            self.result.segments_processed = number + 1

    def reach(self, index: int, number: int, residue: int) -> tuple[CopyPeer, OpenMedium]:
        """The CSCD at ``index`` opened, or COPY ABORTED as SPC-4 6.3.3.3 says."""
        if index not in self.opened:
            cscd = self.copy_list.cscds[index]
            peer = None
            if cscd.code_set == CODE_SET_BINARY and cscd.designator_type == DESIGNATOR_NAA:
                peer = self.peers.find(cscd.designator) if cscd.association == 0 else None
            medium = open_medium(peer) if peer is not None else None
            self.opened[index] = None if peer is None or medium is None else (peer, medium)
        entry = self.opened[index]
        if entry is None:
            raise CopyAbortedError(COPY_TARGET_DEVICE_NOT_REACHABLE, number, residue)
        cscd = self.copy_list.cscds[index]
        if cscd.peripheral_device_type != 0 or cscd.disk_block_length != entry[1].block_size:
            raise CopyAbortedError(INCORRECT_COPY_TARGET_DEVICE_TYPE, number, residue)
        return entry

    def segment(self, number: int, seg: Segment) -> None:
        blocks = seg.number_of_blocks
        src_peer, src = self.reach(seg.source, number, blocks)
        dst_peer, dst = self.reach(seg.destination, number, blocks)
        unit = dst.block_size if seg.dc else src.block_size
        nbytes = blocks * unit
        if nbytes % src.block_size or nbytes % dst.block_size:
            raise CopyAbortedError(COPY_SEGMENT_GRANULARITY_VIOLATION, number, blocks)
        for peer, medium, lba, write, source in (
            (src_peer, src, seg.source_lba, False, COPY_SOURCE),
            (dst_peer, dst, seg.destination_lba, True, COPY_DESTINATION),
        ):
            refusal = peer.refusal(self.nexus, write=write)
            if refusal is not None:
                if refusal.error is None:
                    forwarded = Forwarded(source, Status.RESERVATION_CONFLICT)
                else:
                    forwarded = _forward(source, refusal.error)
                raise CopyAbortedError(THIRD_PARTY_DEVICE_FAILURE, number, blocks, forwarded)
            if lba + (nbytes >> medium.shift) > medium.capacity:
                error = out_of_range(lba, medium.capacity)
                raise CopyAbortedError(
                    THIRD_PARTY_DEVICE_FAILURE, number, blocks, _forward(source, error)
                )
        if not nbytes:
            return
        self.move(
            (src, seg.source_lba << src.shift),
            (dst, seg.destination_lba << dst.shift),
            nbytes,
            durable=dst_peer.durable(),
            number=number,
            unit=unit,
        )

    def move(
        self,
        source: tuple[OpenMedium, int],
        destination: tuple[OpenMedium, int],
        nbytes: int,
        *,
        durable: bool,
        number: int,
        unit: int,
    ) -> None:
        """Copy ``nbytes`` between byte offsets; overlapping ranges of one file copy as
        if read whole first. An I/O error ends in COPY ABORTED with the blocks not copied."""
        src, src_at = source
        dst, dst_at = destination
        buf = memoryview(bytearray(min(CHUNK, nbytes)))
        backwards = src.file_id == dst.file_id and src_at < dst_at < src_at + nbytes
        offsets = range(0, nbytes, CHUNK)
        done = 0
        for off in reversed(offsets) if backwards else offsets:
            n = min(CHUNK, nbytes - off)
            view = buf[:n]
            try:
                src.read_into(src_at + off, view)
            except OSError:
                lba = (src_at + off) >> src.shift
                residue = (nbytes - done) // unit
                raise CopyAbortedError(
                    THIRD_PARTY_DEVICE_FAILURE,
                    number,
                    residue,
                    _forward(COPY_SOURCE, read_error(lba)),
                ) from None
            try:
                dst.write_from(dst_at + off, view, durable=durable)
            except OSError as err:
                lba = (dst_at + off) >> dst.shift
                residue = (nbytes - done) // unit
                raise CopyAbortedError(
                    THIRD_PARTY_DEVICE_FAILURE,
                    number,
                    residue,
                    _forward(COPY_DESTINATION, write_error(err, lba)),
                ) from None
            done += n
            self.result.transferred += n


def _forward(source: int, error: SenseError) -> Forwarded:
    return Forwarded(source, Status.CHECK_CONDITION, error.sense_bytes(descriptor=False))


# --- the commands -----------------------------------------------------------------------


def extended_copy(dev: Disk, cmd: Command, parameter_list_length: int) -> None:
    """EXTENDED COPY (LID1), SPC-4 6.3: check the list, then run its segments in order."""
    if parameter_list_length == 0:
        dev.check_data_out(cmd, 0)
        return
    if parameter_list_length > LIMITS.max_parameter_list_length:
        raise SenseError(PARAMETER_LIST_LENGTH_ERROR, field=cdb_field(10))
    dev.check_data_out(cmd, parameter_list_length)
    copy_list = parse_copy_list(cmd.data_out(parameter_list_length))
    manager = dev.copy_manager
    run = _Run(manager.peers, copy_list, cmd.nexus)
    held = copy_list.list_id_usage != LIST_ID_NONE
    try:
        run.run()
    except SenseError as err:
        if held:
            run.result.status = COMPLETED_WITH_ERRORS
            run.result.sense = err.sense_bytes(descriptor=dev.descriptor_sense)
            manager.hold(cmd.nexus, copy_list.list_identifier, run.result)
        raise
    finally:
        run.close()
    if held:
        manager.hold(cmd.nexus, copy_list.list_identifier, run.result)


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


def third_party_copy_vpd(block_size: int, limits: CopyLimits = LIMITS) -> bytes:
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
        supported_commands_descriptor(COPY_COMMANDS)
        + parameter_data
        + _tpc_descriptor(SUPPORTED_DESCRIPTORS, supported)
        + general
    )
    return vpd_page(0x00, THIRD_PARTY_COPY_VPD, body)


# --- the table entries ------------------------------------------------------------------


def _results(name: str, action: ThirdPartyCopyIn, handler: Handler) -> CommandSpec:
    return CommandSpec(
        name,
        Opcode.THIRD_PARTY_COPY_IN,
        ReceiveCopyResultsCdb,
        handler,
        service_action=action,
        fields=("list_identifier", "allocation_length"),
        data=Data.IN,
        conflict=Conflict.NEVER,
    )


COPY_COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "EXTENDED COPY(LID1)",
        Opcode.THIRD_PARTY_COPY_OUT,
        ExtendedCopyCdb,
        extended_copy,
        service_action=ThirdPartyCopyOut.EXTENDED_COPY_LID1,
        fields=("parameter_list_length",),
        data=Data.OUT,
        access=Access.READ,
        conflict=Conflict.NEVER,
        idempotent=False,
        timeout=600,
        needs_medium=True,
    ),
    _results("RECEIVE COPY STATUS(LID1)", ThirdPartyCopyIn.COPY_STATUS, copy_status),
    _results("RECEIVE COPY DATA(LID1)", ThirdPartyCopyIn.RECEIVE_DATA, receive_data),
    _results(
        "RECEIVE COPY OPERATING PARAMETERS",
        ThirdPartyCopyIn.OPERATING_PARAMETERS,
        operating_parameters,
    ),
    _results(
        "RECEIVE COPY FAILURE DETAILS(LID1)",
        ThirdPartyCopyIn.FAILED_SEGMENT_DETAILS,
        failed_segment_details,
    ),
)
