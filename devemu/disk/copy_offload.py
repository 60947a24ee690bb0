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
   indexes, the limits of :class:`~devemu.disk.copy_list.CopyLimits`
   (:mod:`devemu.disk.copy_list`). A refusal is ILLEGAL
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
   (:class:`~devemu.disk.copy_sense.CopyAbortedError`): the segment's number in COMMAND-SPECIFIC
   INFORMATION, the blocks of that segment not copied in INFORMATION,
   and the peer's own answer as forwarded sense data. The segments
   before it stay copied.

What was done is held per I_T nexus and list identifier (LIST ID USAGE
00b and 10b; 11b holds nothing) for RECEIVE COPY RESULTS: COPY STATUS
(segments processed, bytes written), RECEIVE DATA (no segment type here
holds data: empty), FAILED SEGMENT DETAILS (the sense data of a failed
command, given once, then discarded as SPC-4 6.18.5 says) and, for any
list identifier, OPERATING PARAMETERS (:mod:`devemu.disk.copy_results`).
The Third-party Copy VPD page (SPC-5 7.7.18) lists the same commands,
limits and descriptor types; all of them come from
:class:`~devemu.disk.copy_list.CopyLimits` and :data:`COPY_COMMANDS`.
The bytes are declared in :mod:`devemu.disk.copy_parameters`.

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
from typing import TYPE_CHECKING

from devemu.disk.checks import out_of_range, read_error, write_error
from devemu.disk.copy_list import LIMITS, CopyList, Segment, parse_copy_list
from devemu.disk.copy_parameters import (
    COMPLETED_WITH_ERRORS,
    LIST_ID_NONE,
    ExtendedCopyCdb,
    ReceiveCopyResultsCdb,
)
from devemu.disk.copy_results import (
    HeldResult,
    copy_status,
    failed_segment_details,
    operating_parameters,
    receive_data,
    third_party_copy_page,
)
from devemu.disk.copy_sense import (
    COPY_DESTINATION,
    COPY_SOURCE,
    CopyAbortedError,
    Forwarded,
    forward,
)
from devemu.disk.copy_targets import CopyPeer, CopyPeers, LocalPeer, OpenMedium, open_medium
from devemu.disk.opcodes import Opcode, ThirdPartyCopyIn, ThirdPartyCopyOut
from devemu.scsi.command import Command, Status
from devemu.scsi.sense import (
    COPY_SEGMENT_GRANULARITY_VIOLATION,
    COPY_TARGET_DEVICE_NOT_REACHABLE,
    INCORRECT_COPY_TARGET_DEVICE_TYPE,
    PARAMETER_LIST_LENGTH_ERROR,
    THIRD_PARTY_DEVICE_FAILURE,
    SenseError,
    cdb_field,
)
from devemu.scsi.table import Access, CommandSpec, Conflict, Data, Handler
from devemu.scsi.vpd import CODE_SET_BINARY, DESIGNATOR_NAA

if TYPE_CHECKING:
    from devemu.disk.device import Disk
    from devemu.scsi.device import ScsiDevice

#: How much of a segment moves per read and write.
CHUNK = 1 << 20
#: List identifiers held per disk; the oldest is dropped beyond this.
HELD_LISTS = 16


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

    def reach(
        self, index: int, number: int, residue: int, role: int
    ) -> tuple[CopyPeer, OpenMedium]:
        """The CSCD at ``index`` opened, or COPY ABORTED as SPC-4 6.3.3.3 says.

        A disk that is there but has no medium (a removable one emptied)
        fails the copy as a READ or WRITE to it would: THIRD PARTY DEVICE
        FAILURE with its NOT READY sense forwarded in ``role``'s place.
        """
        if index not in self.opened:
            cscd = self.copy_list.cscds[index]
            peer = None
            if cscd.code_set == CODE_SET_BINARY and cscd.designator_type == DESIGNATOR_NAA:
                peer = self.peers.find(cscd.designator) if cscd.association == 0 else None
            medium = open_medium(peer) if peer is not None else None
            if peer is not None and medium is None:
                self.refuse(peer, number, residue, role)
            self.opened[index] = None if peer is None or medium is None else (peer, medium)
        entry = self.opened[index]
        if entry is None:
            raise CopyAbortedError(COPY_TARGET_DEVICE_NOT_REACHABLE, number, residue)
        cscd = self.copy_list.cscds[index]
        if cscd.peripheral_device_type != 0 or cscd.disk_block_length != entry[1].block_size:
            raise CopyAbortedError(INCORRECT_COPY_TARGET_DEVICE_TYPE, number, residue)
        return entry

    def refuse(self, peer: CopyPeer, number: int, residue: int, role: int) -> None:
        """COPY ABORTED if ``peer`` would refuse a read or write as ``role`` now (SPC-4 6.3.3.3)."""
        refusal = peer.refusal(self.nexus, write=role == COPY_DESTINATION)
        if refusal is None:
            return
        if refusal.error is None:
            forwarded = Forwarded(role, Status.RESERVATION_CONFLICT)
        else:
            forwarded = forward(role, refusal.error)
        raise CopyAbortedError(THIRD_PARTY_DEVICE_FAILURE, number, residue, forwarded)

    def segment(self, number: int, seg: Segment) -> None:
        blocks = seg.number_of_blocks
        src_peer, src = self.reach(seg.source, number, blocks, COPY_SOURCE)
        dst_peer, dst = self.reach(seg.destination, number, blocks, COPY_DESTINATION)
        unit = dst.block_size if seg.dc else src.block_size
        nbytes = blocks * unit
        if nbytes % src.block_size or nbytes % dst.block_size:
            raise CopyAbortedError(COPY_SEGMENT_GRANULARITY_VIOLATION, number, blocks)
        for peer, medium, lba, source in (
            (src_peer, src, seg.source_lba, COPY_SOURCE),
            (dst_peer, dst, seg.destination_lba, COPY_DESTINATION),
        ):
            self.refuse(peer, number, blocks, source)
            if lba + (nbytes >> medium.shift) > medium.capacity:
                error = out_of_range(lba, medium.capacity)
                raise CopyAbortedError(
                    THIRD_PARTY_DEVICE_FAILURE, number, blocks, forward(source, error)
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
                    forward(COPY_SOURCE, read_error(lba)),
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
                    forward(COPY_DESTINATION, write_error(err, lba)),
                ) from None
            done += n
            self.result.transferred += n


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


def third_party_copy_vpd(block_size: int) -> bytes:
    """The Third-party Copy VPD page (SPC-5 7.7.18) of a disk with ``block_size`` blocks."""
    return third_party_copy_page(block_size, COPY_COMMANDS)
