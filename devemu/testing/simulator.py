"""The kernel side of a TCMU ring, in process, over anonymous shared memory.

:class:`RingSimulator` writes the bytes ``target_core_user`` writes and
reads back what it reads, following the kernel's own steps:

- the mailbox of a version 2 ring (``flags`` 0xf by default), the command
  ring at ``cmdr_off`` 0x80 and the data area after it (page aligned);
- ``queue_cmd_ring``: data blocks taken first-fit from a bitmap, one iov
  per run of consecutive blocks, an entry of
  ``max(48 + 16 * iovs, 112) + round_up(CDB length, 8)`` bytes with the
  CDB right after the iovs, a PAD entry when the end of the ring is too
  short (``ring_insert_padding``), one byte kept free so that a full
  ring differs from an empty one (``is_ring_space_avail``), and a
  waiting queue for commands that find no room (``qfull_queue``);
- ``tcmu_tmr_notify``: a queued command named by an abort completes with
  TASK ABORTED at once, a command in the ring is named in a TMR entry;
- ``tcmu_handle_completions``, run when the handler writes the doorbell:
  walk from the last cleaned position to ``cmd_tail`` (read again when
  the walk reaches it, as the kernel re-reads it), skip PAD and TMR
  entries, take ``cmd_id`` and the response from each CMD slot (so
  out-of-order completion works as in the kernel), honour READ_LEN,
  UNKNOWN_OP and KEEP_BUF, then refill the ring from the waiting queue.

Every completion is checked as ``tcmu_handle_completions`` would take
it, and more strictly where the kernel cannot tell (it trusts the
tail): a ``cmd_tail`` that is not the end of an entry between the last
cleaned position and ``cmd_head``, a ``len_op`` changed by the handler
(PAD and TMR entries are passed by their length, so a changed length
walks the kernel off the entries), a ``cmd_id`` that is not outstanding
(never issued, or already completed: each command is answered once),
and, when :attr:`RingSimulator.answered_marks` is set, a CMD slot the
tail passed that carries none of those ``uflags`` bits (not answered
yet). Each makes the simulator raise :class:`RingBrokenError` naming
the entry and what was wrong, where the kernel would mark the device
broken (or, for an unanswered slot, complete the command with the
request's bytes as its answer).

Typical use::

    sim = RingSimulator()
    loop = sim.attach(device)                 # or RingLoop(sim.mapping, device,
                                              #   doorbell=sim.doorbell)
    done = sim.execute(bytes([0x12, 0, 0, 0, 36, 0]), data_in_length=36)
    assert done.status == Status.GOOD and len(done.data) == 36
"""

from __future__ import annotations

import heapq
import mmap
import select
import struct
from collections import deque
from collections.abc import Callable, Sequence
from enum import IntEnum
from heapq import heappop, heappush
from typing import TYPE_CHECKING, Any, NamedTuple

from devemu.scsi.command import Status
from devemu.tcmu import abi

if TYPE_CHECKING:
    from devemu.tcmu.loop import IoSource, RingLoop

PAGE_SIZE = 4096
_U32 = abi.FAST.u32
_U16 = abi.FAST.u16
_HDR = abi.FAST.hdr
_REQ = abi.FAST.req
_REQ1 = abi.FAST.req_iov1
_IOV = abi.FAST.iov
_RSP = abi.FAST.rsp
_TMR = abi.FAST.tmr
_CMD = int(abi.Opcode.CMD)
_HEAD_WORD = abi.CMD_HEAD_WORD
_TAIL_WORD = abi.CMD_TAIL_WORD
_PAD = int(abi.Opcode.PAD)
_TMR_OP = int(abi.Opcode.TMR)
_READ_LEN = int(abi.UserFlag.READ_LEN)
_UNKNOWN_OP = int(abi.UserFlag.UNKNOWN_OP)
_KEEP_BUF = int(abi.UserFlag.KEEP_BUF)
_CHECK = int(Status.CHECK_CONDITION)
_GOOD = int(Status.GOOD)
_NO_RUNS: Sequence[tuple[int, int]] = ()
_GROUP_LENGTH = tuple(abi.cdb_length(group << 5) for group in range(8))
# A one-iov entry whole: request, iov, zeros up to sizeof(struct tcmu_cmd_entry), CDB.
_GAP = abi.ENTRY_SIZE - abi.FAST.req_iov1.size
_ENTRY1_CDB8 = struct.Struct(abi.FAST.req_iov1.format + f"{_GAP}x8s")
_ENTRY1_CDB16 = struct.Struct(abi.FAST.req_iov1.format + f"{_GAP}x16s")


def _fixed_sense(key: int, asc: int, ascq: int = 0) -> bytes:
    return bytes([0x70, 0, key, 0, 0, 0, 0, 10, 0, 0, 0, 0, asc, ascq, 0, 0, 0, 0])


# What the target core answers for its own failures (target_core_transport.c
# sense_info_table): TCM_INVALID_CDB_FIELD and TCM_LOGICAL_UNIT_COMMUNICATION_FAILURE.
INVALID_FIELD_IN_CDB_SENSE = _fixed_sense(0x5, 0x24)
LU_COMMUNICATION_FAILURE_SENSE = _fixed_sense(0x2, 0x08)


class RingBrokenError(RuntimeError):
    """The handler wrote something the kernel would mark the ring broken for."""


class State(IntEnum):
    """Where a submitted command is."""

    WAITING = 0  # in the waiting queue: no room in the ring or the data area
    IN_RING = 1  # an entry in the ring, not reaped yet
    DONE = 2  # completed; ``result`` holds the answer


class Completion(NamedTuple):
    """What the initiator receives: SAM-5 status, sense data, data-in.

    ``data`` is the data-in the kernel gathers, cut to READ_LEN when the
    handler reported it; ``residual`` is the data-in length not
    transferred (SAM-5 5.3.2 residual).
    """

    status: int
    sense: bytes = b""
    data: bytes = b""
    residual: int = 0

    @property
    def ok(self) -> bool:
        """True for GOOD status."""
        return self.status == _GOOD

    @property
    def sense_key(self) -> int | None:
        """The sense key of fixed or descriptor sense data, SPC-5 4.4."""
        if len(self.sense) < 3:
            return None
        code = self.sense[0] & 0x7F
        if code in (0x70, 0x71):
            return self.sense[2] & 0xF
        if code in (0x72, 0x73):
            return self.sense[1] & 0xF
        return None

    @property
    def asc_ascq(self) -> tuple[int, int] | None:
        """ADDITIONAL SENSE CODE and QUALIFIER, SPC-5 4.4."""
        code = self.sense[0] & 0x7F if self.sense else 0
        if code in (0x70, 0x71) and len(self.sense) >= 14:
            return self.sense[12], self.sense[13]
        if code in (0x72, 0x73) and len(self.sense) >= 4:
            return self.sense[2], self.sense[3]
        return None


class Handle:
    """One submitted command, from submission to completion."""

    __slots__ = (
        "_in_iovs",
        "_iovs",
        "_pos",
        "_runs",
        "aborted",
        "capture",
        "cdb",
        "cmd_id",
        "data_in_length",
        "data_out",
        "length",
        "result",
        "state",
    )

    def __init__(
        self, cdb: bytes, data_out: bytes | None, data_in_length: int, capture: bool
    ) -> None:
        self.cdb = cdb
        self.data_out = data_out
        self.data_in_length = data_in_length
        self.capture = capture
        #: Bytes of data the command moves: both directions of a bidirectional one.
        self.length = (len(data_out) if data_out is not None else 0) + data_in_length
        self.cmd_id = 0
        self.state = State.WAITING
        self.result: Completion | None = None
        self.aborted = False
        self._runs: Sequence[tuple[int, int]] = ()
        self._iovs: list[tuple[int, int]] = []
        #: The data-in iovs of a bidirectional command (the kernel's bidi iovs).
        self._in_iovs: list[tuple[int, int]] = []
        self._pos = -1

    @property
    def bidirectional(self) -> bool:
        """Data-out and data-in both (SAM-5 5.1: a bidirectional command)."""
        return self.data_out is not None and self.data_in_length > 0

    @property
    def done(self) -> bool:
        """True once the command has completed."""
        return self.state is State.DONE

    def __repr__(self) -> str:
        return (
            f"<Handle cdb={self.cdb[:1].hex()} id={self.cmd_id} {self.state.name}"
            f"{' aborted' if self.aborted else ''} {self.result}>"
        )


class _Batch:
    """Stands in the in-flight table for the commands of one benchmark batch."""

    __slots__ = ("blocks", "first", "good", "remaining")

    def __init__(self, first: int, blocks: int, count: int) -> None:
        self.first = first
        self.blocks = blocks
        self.remaining = count
        self.good = 0


_BATCH_STRUCTS: dict[tuple[int, int], struct.Struct] = {}


def _batch_struct(n: int, slot: int) -> struct.Struct:
    """``n`` one-iov entries whose CDB takes ``slot`` (8 or 16) bytes, back to back."""
    st = _BATCH_STRUCTS.get((n, slot))
    if st is None:
        one = (_ENTRY1_CDB8 if slot == 8 else _ENTRY1_CDB16).format[1:]
        st = _BATCH_STRUCTS[n, slot] = struct.Struct("<" + one * n)
    return st


class SimDoorbell:
    """The in-process doorbell of a :class:`RingSimulator`.

    ``notify`` is the handler's write() to ``/dev/uioN``: the kernel reaps
    completions (``tcmu_irqcontrol``). ``wait`` never blocks: it says
    whether the kernel has rung since the last wait.
    """

    def __init__(self, sim: RingSimulator) -> None:
        self._sim = sim
        self.notifications = 0

    def wait(self, timeout: float | None = None) -> bool:
        """True if entries were queued since the previous wait."""
        sim = self._sim
        rung = sim.events > 0
        sim.events = 0
        return rung

    def notify(self) -> None:
        """The handler published completions: reap them now."""
        self.notifications += 1
        self._sim.irqcontrol()

    def bind(self, poll: Callable[[], int]) -> None:
        """Called by the loop: :meth:`RingSimulator.process` drives ``poll``."""
        self._sim.handler = poll

    def watch_io(self, loop: RingLoop) -> None:
        """Called by a loop whose device answers later through its own
        :class:`~devemu.tcmu.loop.IoSource`: :meth:`RingSimulator.process` polls it too."""
        self._sim.io_loop = loop


class RingSimulator:
    """The kernel side of one TCMU device ring.

    ``ring_size`` is the command ring (``cmdr_size``, a multiple of 8),
    ``data_size`` the data area (a multiple of ``block_size``, the
    kernel's ``data_pages_per_blk * PAGE_SIZE``). Small values force
    wraps, PAD entries and waiting commands.
    """

    def __init__(
        self,
        ring_size: int = 64 * 1024,
        data_size: int = 4 * 1024 * 1024,
        *,
        block_size: int = PAGE_SIZE,
        flags: int = int(abi.ALL_CAPS),
        tmr_notification: bool = True,
    ) -> None:
        if ring_size % abi.OP_ALIGN_SIZE or ring_size < 2 * abi.ENTRY_SIZE:
            raise ValueError(f"ring_size {ring_size} must be a multiple of 8 of at least 224")
        if block_size <= 0 or data_size % block_size:
            raise ValueError(f"data_size {data_size} is not a multiple of {block_size}")
        self.cmdr_off = abi.MAILBOX_SIZE
        self.cmdr_size = ring_size
        self.data_off = abi.align_up(self.cmdr_off + ring_size, PAGE_SIZE)
        self.data_size = data_size
        self.block_size = block_size
        self.size = self.data_off + data_size
        self.flags = flags
        self.tmr_notification = tmr_notification
        self._mmap = mmap.mmap(-1, self.size)
        self.mapping = memoryview(self._mmap)
        abi.FAST.mailbox.pack_into(
            self.mapping, 0, abi.MAILBOX_VERSION, flags, self.cmdr_off, ring_size, 0, 0
        )
        # cmd_head is stored whole, as the kernel's UPDATE_HEAD does (see abi.mailbox_words).
        self._words = abi.mailbox_words(self.mapping)
        self.doorbell = SimDoorbell(self)
        self.handler: Callable[[], int] | None = None
        #: A loop whose device completes commands from its own source (see watch_io).
        self.io_loop: RingLoop | None = None
        self._io_poll: tuple[int, int, Any] | None = None
        self.events = 0  # uio_event_notify count not yet seen by the handler
        self.broken: str | None = None
        #: uflags bits, one of which every CMD slot behind cmd_tail must carry (0: unchecked).
        self.answered_marks = 0
        self._head = 0
        self._last_cleaned = 0
        self._nblocks = data_size // block_size
        self._bitmap = bytearray(self._nblocks)
        self._free_blocks = self._nblocks
        self._ones = b"\x01" * self._nblocks
        self._zeros = memoryview(bytes(ring_size // 2 + abi.ENTRY_SIZE))
        self._free_ids: list[int] = []
        self._next_id = 1
        self._inflight: dict[int, Handle | _Batch] = {}
        self._kept: dict[int, Handle] = {}
        self._slots: dict[int, int] = {}  # ring position -> len_op written there
        self._waiting: deque[Handle] = deque()
        self._tmr_waiting: deque[tuple[int, list[int]]] = deque()
        self._completed: list[Handle] = []

    # ------------------------------------------------------------ handler

    def attach(self, device: Any, **loop_options: Any) -> RingLoop:
        """Serve ``device`` with a :class:`~devemu.tcmu.loop.RingLoop` on this ring."""
        from devemu.tcmu.loop import ANSWERED, RingLoop  # noqa: PLC0415

        # The loop marks every slot it answers (and UNKNOWN_OP ones are answered too).
        self.answered_marks = ANSWERED | _UNKNOWN_OP
        return RingLoop(self.mapping, device, doorbell=self.doorbell, **loop_options)

    def process(self, max_rounds: int = 1_000_000) -> None:
        """Run the handler until it has seen every queued entry (same thread), and, for a
        device with its own source of completions, until it has answered every command
        it holds (polling that source as a ring worker does)."""
        handler = self.handler
        if handler is None:
            raise RuntimeError("no handler: attach a device or build a RingLoop on sim.doorbell")
        rounds = 0
        while True:
            while self.events:
                self.events = 0
                handler()
                rounds += 1
                if rounds >= max_rounds:
                    raise RuntimeError(f"handler still busy after {rounds} rounds")
            loop = self.io_loop
            if loop is None or loop.io is None or not loop.in_flight:
                break
            if not self._pump(loop.io) and not self.events:
                break
        if self.broken:
            raise RingBrokenError(self.broken)

    def _pump(self, io: IoSource) -> bool:
        """Wait for ``io`` (as :class:`~devemu.ring_worker.RingWorker` does) and let it
        run; False when it has nothing to wait for."""
        io.ready(0)
        fd = io.fileno()
        events = io.events() if fd >= 0 else 0
        left = io.timeout()
        if not events:
            return left is not None
        cached = self._io_poll
        if cached is None or cached[:2] != (fd, events):
            poller = select.poll()
            poller.register(fd, events)
            cached = self._io_poll = (fd, events, poller)
        ready = cached[2].poll(None if left is None else left * 1000.0)
        io.ready(ready[0][1] if ready else 0)
        return True

    def reap(self) -> list[Handle]:
        """The commands completed since the previous call, in completion order."""
        done = self._completed
        self._completed = []
        return done

    # ------------------------------------------------------------- submit

    def submit(
        self,
        cdb: bytes,
        data_out: bytes | None = None,
        data_in_length: int = 0,
        *,
        capture: bool = True,
    ) -> Handle:
        """Queue one command, as ``tcmu_queue_cmd`` does.

        ``data_out`` makes it a data-out command, ``data_in_length`` a
        data-in one; both make it bidirectional, laid out as the kernel
        lays out a bidirectional command (the data-out iovs, then the
        data-in ones in ``iov_bidi_cnt``, each part on its own blocks).
        ``capture=False`` skips gathering data-in into ``result.data``
        (benchmarks).
        """
        h = Handle(
            bytes(cdb), None if data_out is None else bytes(data_out), data_in_length, capture
        )
        if self.broken:
            self._finish(h, Completion(_CHECK, LU_COMMUNICATION_FAILURE_SENSE))
        elif self._waiting or not self._queue_cmd(h):
            self._waiting.append(h)
        return h

    def execute(
        self, cdb: bytes, data_out: bytes | None = None, data_in_length: int = 0
    ) -> Completion:
        """Submit one command, run the handler, return its completion."""
        h = self.submit(cdb, data_out, data_in_length)
        self.process()
        self._completed = [c for c in self._completed if c is not h]
        if h.result is None:
            raise RuntimeError(f"command {cdb[:1].hex()} did not complete: {h!r}")
        return h.result

    def run_batch(self, cdbs: Sequence[bytes], data_in_length: int = 0) -> int:
        """Benchmark path: queue every CDB, run the handler, reap; count GOOD answers.

        Every command moves ``data_in_length`` bytes of data-in, which is
        not gathered. When nothing else is outstanding the batch is laid
        out in one write, exactly as the kernel would place it (lowest
        free ``cmd_id`` first, first-fit data blocks, no wrap inside the
        batch); otherwise the commands go through :meth:`submit` one by
        one. The device must answer at once (no :data:`DEFERRED`).
        """
        n = len(cdbs)
        batch = self._queue_batch(cdbs, data_in_length) if n else None
        if batch is None:
            handles = [self.submit(cdb, None, data_in_length, capture=False) for cdb in cdbs]
            self.process()
            done = [h for h in self._completed if h.result is not None]
            self._completed = [h for h in self._completed if h not in handles]
            return sum(1 for h in done if h in handles and h.result and h.result.status == _GOOD)
        self.process()
        if batch.remaining:
            raise RuntimeError(f"{batch.remaining} batch commands did not complete")
        return batch.good

    def _queue_batch(self, cdbs: Sequence[bytes], length: int) -> _Batch | None:
        """The whole batch in one write when the kernel's placement is a straight line."""
        n = len(cdbs)
        bs = self.block_size
        k = (length + bs - 1) // bs
        if self._waiting or self._inflight or self.broken or not 0 < k * n <= self._free_blocks:
            return None
        slot = 8 if len(cdbs[0]) <= 8 else 16
        if any(
            len(c) != _GROUP_LENGTH[c[0] >> 5] or (8 if len(c) <= 8 else 16) != slot for c in cdbs
        ):
            return None  # the single layout below: every CDB of its group's length, one slot size
        size = abi.ENTRY_SIZE + slot
        head = self._head
        if head + n * size > self.cmdr_size or self.ring_free() < n * size:
            return None
        free_ids = self._free_ids
        if len(free_ids) + (0xFFFF - self._next_id + 1) < n:
            return None
        bm = self._bitmap
        first = bm.find(0)
        end = bm.find(1, first)
        if (end if end >= 0 else self._nblocks) - first < k * n:
            return None
        ids = [heappop(free_ids) if free_ids else self._alloc_id() for _ in range(n)]
        bm[first : first + k * n] = self._ones[: k * n]
        self._free_blocks -= k * n
        m = self.mapping
        off = self.cmdr_off + head
        base = self.data_off + first * bs
        len_op = size | _CMD
        args: list[object] = []
        extend = args.extend
        step = k * bs
        cdb_at = off + abi.ENTRY_SIZE
        for i, cdb in enumerate(cdbs):
            extend((len_op, ids[i], 0, 0, 1, 0, 0, cdb_at + i * size, base + i * step, length, cdb))
        _batch_struct(n, slot).pack_into(m, off, *args)
        batch = _Batch(first, k * n, n)
        slots = self._slots
        inflight = self._inflight
        for i in range(n):
            slots[head + i * size] = len_op
            inflight[ids[i]] = batch
        head += n * size
        self._head = head if head < self.cmdr_size else 0
        self._words[_HEAD_WORD] = self._head
        self.events += 1
        return batch

    # -------------------------------------------------------- task management

    def abort(self, handle: Handle) -> bool:
        """ABORT TASK for one command (SAM-5 7.2). False if it already completed."""
        if handle.done:
            return False
        self.task_management(abi.TmrType.ABORT_TASK, [handle])
        return True

    def lun_reset(self) -> None:
        """LOGICAL UNIT RESET (SAM-5 7.7): every outstanding command is aborted."""
        in_ring = [h for h in self._inflight.values() if isinstance(h, Handle)]
        outstanding = list(self._waiting) + in_ring
        self.task_management(abi.TmrType.LUN_RESET, outstanding)

    def task_management(self, tmr_type: int, handles: Sequence[Handle]) -> None:
        """``tcmu_tmr_notify``: unqueue waiting commands, tell the handler the rest."""
        ids: list[int] = []
        for h in handles:
            if h.done:
                continue
            h.aborted = True
            if h.state is State.WAITING:
                self._waiting.remove(h)
                self._finish(h, Completion(int(Status.TASK_ABORTED)))
            else:
                ids.append(h.cmd_id)
        if not self.tmr_notification:
            return
        if self._tmr_waiting or not self._queue_tmr(int(tmr_type), ids):
            self._tmr_waiting.append((int(tmr_type), ids))

    def free_kept_buf(self, cmd_id: int) -> None:
        """The ``free_kept_buf`` action: release a buffer kept with KEEP_BUF."""
        h = self._kept.pop(cmd_id)
        self._free_data(h)
        heapq.heappush(self._free_ids, cmd_id)

    # ----------------------------------------------------------- inspection

    @property
    def cmd_head(self) -> int:
        """The mailbox ``cmd_head``."""
        value: int = _U32.unpack_from(self.mapping, abi.CMD_HEAD_OFFSET)[0]
        return value

    @property
    def cmd_tail(self) -> int:
        """The mailbox ``cmd_tail``."""
        value: int = _U32.unpack_from(self.mapping, abi.CMD_TAIL_OFFSET)[0]
        return value

    @property
    def outstanding(self) -> int:
        """Commands waiting or in the ring."""
        return len(self._waiting) + len(self._inflight)

    @property
    def free_blocks(self) -> int:
        """Data area blocks not held by a command."""
        return self._free_blocks

    def ring_free(self) -> int:
        """``spc_free``: bytes the ring can still take (one byte is never used)."""
        used = (self._head - self._last_cleaned) % self.cmdr_size
        return self.cmdr_size - used - 1

    def entry_bytes(self, handle: Handle) -> bytes:
        """The bytes of a command's ring entry while it is in the ring (tests)."""
        len_op = self._slots.get(handle._pos)
        if handle.state is not State.IN_RING or len_op is None:
            raise KeyError(f"{handle!r} has no entry in the ring")
        off = self.cmdr_off + handle._pos
        return bytes(self.mapping[off : off + abi.entry_length(len_op)])

    def close(self) -> None:
        """Release the mapping (views handed out must be gone)."""
        self._words.release()
        self.mapping.release()
        self._mmap.close()

    # ------------------------------------------------------------ internals

    def _alloc_id(self) -> int:
        if self._free_ids:
            return heapq.heappop(self._free_ids)
        if self._next_id > 0xFFFF:
            return 0
        self._next_id += 1
        return self._next_id - 1

    def _alloc_blocks(self, count: int) -> list[tuple[int, int]]:
        """First-fit blocks, one run per stretch of free blocks (tcmu_get_empty_blocks)."""
        bm = self._bitmap
        runs: list[tuple[int, int]] = []
        start = 0
        left = count
        while left:
            s = bm.find(0, start)
            e = bm.find(1, s)
            if e < 0:
                e = self._nblocks
            k = e - s if e - s < left else left
            bm[s : s + k] = self._ones[:k]
            runs.append((s, k))
            left -= k
            start = s + k
        self._free_blocks -= count
        return runs

    def _free_data(self, h: Handle) -> None:
        bm = self._bitmap
        freed = 0
        for s, k in h._runs:
            bm[s : s + k] = bytes(k)
            freed += k
        self._free_blocks += freed
        h._runs = ()

    def _ring_space(self, size: int) -> bool:
        """``is_ring_space_avail``: room for the entry, plus a PAD at the ring end."""
        to_end = self.cmdr_size - self._head
        needed = size if to_end >= size else size + to_end
        return self.ring_free() >= needed

    def _insert_padding(self, size: int) -> None:
        """``ring_insert_padding``: a PAD entry up to the ring end if needed."""
        to_end = self.cmdr_size - self._head
        if to_end < size:
            len_op = abi.make_len_op(to_end, _PAD)
            _HDR.pack_into(self.mapping, self.cmdr_off + self._head, len_op, 0, 0, 0)
            self._slots[self._head] = len_op
            self._head = 0
            self._words[_HEAD_WORD] = 0

    def _queue_cmd(self, h: Handle) -> bool:
        """``queue_cmd_ring``: True once in the ring (or refused), False to wait."""
        bs = self.block_size
        length = h.length
        bidi = h.bidirectional
        out_length = length - h.data_in_length if bidi else length
        runs: Sequence[tuple[int, int]]
        if length:
            nblk = (length + bs - 1) // bs
            if bidi:  # each direction starts on a block of its own
                nblk = (out_length + bs - 1) // bs + (h.data_in_length + bs - 1) // bs
            if nblk > self._free_blocks:
                if nblk > self._nblocks:
                    self._finish(h, Completion(_CHECK, INVALID_FIELD_IN_CDB_SENSE))
                    return True
                return False
            bm = self._bitmap
            s = bm.find(0)
            e = bm.find(1, s)
            if e < 0:
                e = self._nblocks
            if e - s >= nblk:  # one stretch of free blocks: one iov
                bm[s : s + nblk] = self._ones[:nblk]
                self._free_blocks -= nblk
                runs = ((s, nblk),)
            else:
                runs = self._alloc_blocks(nblk)
        else:
            runs = _NO_RUNS
        cdb = h.cdb
        op = cdb[0] if cdb else 0
        if op == abi.VARIABLE_LENGTH_CMD:
            cdb_len = 8 + (cdb[7] if len(cdb) > 7 else 0)
        else:
            cdb_len = _GROUP_LENGTH[op >> 5]
        if len(cdb) != cdb_len:
            cdb = cdb[:cdb_len].ljust(cdb_len, b"\0")
        out_runs, in_runs = self._split_runs(runs, out_length) if bidi else (runs, _NO_RUNS)
        n_iov = len(out_runs) + len(in_runs)
        base_size = 48 + 16 * n_iov if n_iov > 4 else 112
        size = base_size + ((cdb_len + 7) & ~7)
        head = self._head
        cmdr_size = self.cmdr_size
        to_end = cmdr_size - head
        needed = size if to_end >= size else size + to_end
        refused = size > cmdr_size // 2
        if refused or cmdr_size - (head - self._last_cleaned) % cmdr_size - 1 < needed:
            if runs:
                h._runs = list(runs)
                self._free_data(h)
            if refused:
                self._finish(h, Completion(_CHECK, INVALID_FIELD_IN_CDB_SENSE))
            return refused
        free_ids = self._free_ids
        if free_ids:
            cmd_id = heappop(free_ids)
        elif self._next_id <= 0xFFFF:
            cmd_id = self._next_id
            self._next_id = cmd_id + 1
        else:
            if runs:
                h._runs = list(runs)
                self._free_data(h)
            return False
        if to_end < size:
            self._insert_padding(size)
            head = 0
        m = self.mapping
        off = self.cmdr_off + head
        len_op = size | _CMD
        cdb_off = off + base_size
        data_off = self.data_off
        in_iovs: list[tuple[int, int]] = []
        if n_iov == 1 and cdb_len <= 16 and not bidi:
            # The whole entry in one write, zero bytes included (the kernel memsets it).
            base = data_off + runs[0][0] * bs
            iovs: list[tuple[int, int]] = [(base, length)]
            entry = _ENTRY1_CDB8 if cdb_len <= 8 else _ENTRY1_CDB16
            entry.pack_into(m, off, len_op, cmd_id, 0, 0, 1, 0, 0, cdb_off, base, length, cdb)
        else:
            m[off : off + size] = self._zeros[:size]
            iovs = self._iov_list(out_runs, out_length)
            if bidi:
                in_iovs = self._iov_list(in_runs, h.data_in_length)
            self._write_request(
                m, off=off, len_op=len_op, cmd_id=cmd_id, iovs=iovs, bidi=in_iovs, cdb_off=cdb_off
            )
            m[cdb_off : cdb_off + len(cdb)] = cdb
        data_out = h.data_out
        if data_out:
            done = 0
            for base, n in iovs:
                m[base : base + n] = data_out[done : done + n]
                done += n
        h.cmd_id = cmd_id
        h.state = State.IN_RING
        h._pos = head
        h._runs = runs
        h._iovs = iovs
        h._in_iovs = in_iovs
        self._slots[head] = len_op
        self._inflight[cmd_id] = h
        head += size
        self._head = head if head < cmdr_size else head - cmdr_size
        self._words[_HEAD_WORD] = self._head
        self.events += 1
        return True

    def _iov_list(self, runs: Sequence[tuple[int, int]], length: int) -> list[tuple[int, int]]:
        """``new_block_to_iov``: one (offset, length) per run of blocks."""
        bs = self.block_size
        iovs = []
        left = length
        for s, k in runs:
            n = k * bs if k * bs < left else left
            iovs.append((self.data_off + s * bs, n))
            left -= n
        return iovs

    def _split_runs(
        self, runs: Sequence[tuple[int, int]], out_length: int
    ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """The block runs of a bidirectional command: data-out's blocks, then data-in's."""
        bs = self.block_size
        left = (out_length + bs - 1) // bs
        out: list[tuple[int, int]] = []
        rest: list[tuple[int, int]] = []
        for start, count in runs:
            take = min(count, left)
            if take:
                out.append((start, take))
            if count > take:
                rest.append((start + take, count - take))
            left -= take
        return out, rest

    def _write_request(
        self,
        m: memoryview,
        *,
        off: int,
        len_op: int,
        cmd_id: int,
        iovs: Sequence[tuple[int, int]],
        bidi: Sequence[tuple[int, int]],
        cdb_off: int,
    ) -> None:
        """The request half of an entry with any number of iovs (data-out, then bidi)."""
        _REQ.pack_into(m, off, len_op, cmd_id, 0, 0, len(iovs), len(bidi), 0, cdb_off)
        at = off + abi.REQ_IOV_OFFSET
        for base, n in (*iovs, *bidi):
            _IOV.pack_into(m, at, base, n)
            at += 16

    def _queue_tmr(self, tmr_type: int, ids: list[int]) -> bool:
        """``queue_tmr_ring``: a TMR entry naming the commands in the ring."""
        size = abi.align_up(abi.TMR_CMD_IDS_OFFSET + 2 * len(ids))
        if not self._ring_space(size):
            return False
        self._insert_padding(size)
        m = self.mapping
        pos = self._head
        off = self.cmdr_off + pos
        m[off : off + size] = self._zeros[:size]
        len_op = size | _TMR_OP
        _TMR.pack_into(m, off, len_op, 0, 0, 0, tmr_type, len(ids))
        for k, cmd_id in enumerate(ids):
            _U16.pack_into(m, off + abi.TMR_CMD_IDS_OFFSET + 2 * k, cmd_id)
        self._slots[pos] = len_op
        self._head = (pos + size) % self.cmdr_size
        self._words[_HEAD_WORD] = self._head
        self.events += 1
        return True

    def _finish(self, h: Handle, result: Completion) -> None:
        h.result = result
        h.state = State.DONE
        self._completed.append(h)

    def _break(self, why: str) -> None:
        if self.broken is None:
            self.broken = why

    def irqcontrol(self) -> None:
        """``tcmu_irqcontrol``: reap completions, then refill from the waiting queues."""
        if self.broken:
            raise RingBrokenError(self.broken)
        if self._handle_completions():
            self._run_tmr_queue()
            self._run_waiting()
        if self.broken:
            raise RingBrokenError(self.broken)

    def _handle_completions(self) -> bool:
        """``tcmu_handle_completions``: walk to ``cmd_tail`` reading every CMD slot."""
        m = self.mapping
        size = self.cmdr_size
        words = self._words
        tail = words[_TAIL_WORD]
        pos = self._last_cleaned
        if tail == pos:
            return False
        head = self._head
        if (tail >= size or tail & 7 or (tail - pos) % size > (head - pos) % size) or (
            tail != head and tail not in self._slots
        ):
            self._tail_ok(tail, pos)  # says which
            return False
        marks = self.answered_marks
        base = self.cmdr_off
        slots_pop = self._slots.pop
        inflight_pop = self._inflight.pop
        unpack = _RSP.unpack_from
        free_ids = self._free_ids
        completed = self._completed
        bm = self._bitmap
        done_state = State.DONE
        while True:
            if pos == tail:
                # The kernel reads cmd_tail again before every entry (READ_ONCE);
                # in one process it can only have moved while this walk ran.
                now = words[_TAIL_WORD]
                if now == tail or not self._tail_ok(now, pos):
                    break
                tail = now
            off = base + pos
            len_op, cmd_id, _, uflags, status, read_len = unpack(m, off)
            if slots_pop(pos, None) != len_op:
                self._break(f"len_op of the entry at {pos:#x} was changed to {len_op:#x}")
                break
            pos += len_op & 0xFFFFFFF8
            if pos >= size:
                pos -= size
            if len_op & 7 != _CMD:
                continue
            if marks and not uflags & marks:
                self._break(
                    f"cmd_tail {tail:#x} passed the CMD entry at {off - base:#x} "
                    f"(cmd_id {cmd_id}) before it was answered"
                )
                break
            h = inflight_pop(cmd_id, None)
            if h is None:
                self._break(f"cmd_id {cmd_id} at {off - base:#x} {self._why_not_found(cmd_id)}")
                break
            if isinstance(h, _Batch):
                if not status and not uflags & (_UNKNOWN_OP | _KEEP_BUF):
                    h.good += 1
                heappush(free_ids, cmd_id)
                h.remaining -= 1
                if not h.remaining:
                    bm[h.first : h.first + h.blocks] = bytes(h.blocks)
                    self._free_blocks += h.blocks
                continue
            if uflags or status or h.capture:
                self._complete(h, off, uflags, status, read_len)
            else:  # GOOD, no READ_LEN, nothing to gather
                h.result = Completion(_GOOD)
                h.state = done_state
                completed.append(h)
            if uflags & _KEEP_BUF:
                self._kept[cmd_id] = h
                continue
            runs = h._runs
            if runs:
                if len(runs) == 1:
                    s, k = runs[0]
                    bm[s : s + k] = bytes(k)
                    self._free_blocks += k
                    h._runs = ()
                else:
                    self._free_data(h)
            heappush(free_ids, cmd_id)
        self._last_cleaned = pos
        return True

    def _tail_ok(self, tail: int, pos: int) -> bool:
        """A cmd_tail the kernel may walk to from ``pos``: the end of an entry up to cmd_head."""
        size = self.cmdr_size
        if tail >= size or tail & 7 or (tail - pos) % size > (self._head - pos) % size:
            self._break(f"cmd_tail {tail:#x} is outside the entries {pos:#x}..{self._head:#x}")
            return False
        if tail != self._head and tail not in self._slots:
            self._break(f"cmd_tail {tail:#x} is inside an entry, not at the end of one")
            return False
        return True

    def _why_not_found(self, cmd_id: int) -> str:
        """The kernel's "not found, ring is broken", with the reason it was not."""
        if cmd_id in self._kept:
            return "was completed with KEEP_BUF already, ring is broken"
        if cmd_id in self._free_ids:
            return "is not outstanding: it was completed already (answered twice), ring is broken"
        return "was never issued, ring is broken"

    def _complete(self, h: Handle, off: int, uflags: int, status: int, read_len: int) -> None:
        """``tcmu_handle_completion`` and the target core's completion."""
        if uflags & _UNKNOWN_OP:
            self._finish(h, Completion(_CHECK, LU_COMMUNICATION_FAILURE_SENSE))
            return
        m = self.mapping
        data_in = h.data_in_length > 0
        length = h.data_in_length if h.bidirectional else h.length
        valid = data_in and bool(uflags & _READ_LEN) and read_len != 0
        n = read_len if valid and read_len < length else length
        sense = b""
        if status == _CHECK:
            raw = m[off + abi.RSP_SENSE_OFFSET : off + abi.RSP_SENSE_OFFSET + abi.SENSE_BUFFER_SIZE]
            sense = bytes(raw[: _sense_length(raw)])
            if not valid:
                self._finish(h, Completion(status, sense, b"", length if data_in else 0))
                return
        if not data_in:
            self._finish(h, Completion(status, sense))
            return
        data = b""
        if h.capture:
            iovs = h._in_iovs if h.bidirectional else h._iovs
            if len(iovs) == 1:
                base = iovs[0][0]
                data = bytes(m[base : base + n])
            else:
                parts = []
                left = n
                for base, ln in iovs:
                    take = ln if ln < left else left
                    parts.append(m[base : base + take])
                    left -= take
                    if not left:
                        break
                data = b"".join(parts)
        self._finish(h, Completion(status, sense, data, length - n))

    def _run_tmr_queue(self) -> None:
        while self._tmr_waiting:
            tmr_type, ids = self._tmr_waiting[0]
            if not self._queue_tmr(tmr_type, ids):
                return
            self._tmr_waiting.popleft()

    def _run_waiting(self) -> None:
        """``run_qfull_queue``: queue waiting commands until one finds no room."""
        waiting = self._waiting
        while waiting:
            if not self._queue_cmd(waiting[0]):
                return
            waiting.popleft()


def _sense_length(raw: memoryview) -> int:
    """Length of sense data from its ADDITIONAL SENSE LENGTH, SPC-5 4.4."""
    if len(raw) >= 8 and raw[0] & 0x7F in (0x70, 0x71, 0x72, 0x73):
        return min(len(raw), 8 + raw[7])
    return len(raw)
