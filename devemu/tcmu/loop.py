"""The command loop: the only code that reads and writes the TCMU ring.

Theory of operation
-------------------
The kernel appends entries between ``cmd_tail`` and ``cmd_head`` and
rings the doorbell. :meth:`RingLoop.poll` walks the new entries once,
from where the previous walk stopped (at start-up: from the mailbox
``cmd_tail``, never from 0, because a restarted handler finds the
entries its predecessor left behind), and turns each into one of:

- a PAD entry or a TMR entry: nothing to answer, the tail may pass it;
- a CMD entry that checks out: a :class:`~devemu.scsi.command.Command`
  whose data buffers are memoryviews into the data area, executed by the
  device;
- a CMD entry that does not check out (CDB or data buffers outside the
  mapping, an iov count the entry cannot hold): answered with CHECK
  CONDITION, HARDWARE ERROR, INTERNAL TARGET FAILURE (SPC-5 annex D)
  without touching anything it names;
- an entry too short to hold a response, or with an opcode this ABI does
  not define: flagged ``TCMU_UFLAG_UNKNOWN_OP`` in place;
- an entry whose length is unusable (zero, beyond ``cmd_head``, across
  the ring end): the rest of the ring up to ``cmd_head`` cannot be
  walked, so it is passed over whole and logged.

Task management entries (SAM-5 7) are read in ring order while walking.
A command they name that has not been started yet is completed once with
TASK ABORTED and never executed (the kernel ignores the status of an
aborted command: ``target_complete_cmd`` returns early through
``target_cmd_interrupted``). A command already started completes as it
would have; nothing is ever completed twice.

Completion follows ``tcmu_handle_completions``: the kernel walks the ring
from its last cleaned position up to ``cmd_tail``, skips PAD and TMR
entries by their length and reads ``cmd_id`` and the response from every
CMD slot. ``TCMU_MAILBOX_FLAG_CAP_OOOC`` would let a response go into the
oldest CMD slot not yet used, whichever command it belongs to; the loop
does not use that: each command answers in its own slot, keeping its
``len_op``, and the tail waits for the oldest command not answered (an
answer that comes before an older one's is written in its slot at once,
ahead of the tail). A response written over another command's request
would lose that request while its command is still the kernel's: a
handler killed then leaves a ring whose slots no longer say which
commands are unanswered, and its successor would replay a command
already answered (the kernel: "cmd_id not found, ring is broken") and
never answer the one whose request was overwritten. The tail moves and
the doorbell rings once per walk, and also right after a
command that placed :data:`EARLY_NOTIFY_BYTES` or more of data-in: the
kernel copies data-in out of the data area while it handles the doorbell
(``gather_data_area``, under the lock that also queues new commands), so
ringing after each large READ lets that copy run while the device moves
the next command's data, on a doorbell that hands its ``write()`` to
another thread, and lets the initiator queue its next command sooner.

A device may answer later: ``execute`` returns :data:`DEFERRED` and the
device calls :meth:`RingLoop.complete` (or :meth:`RingLoop.complete_all`
for several at once, one doorbell) from the loop's thread when done,
never from inside :meth:`RingLoop.poll`.
This is how devices answer in another order than the ring's (each answer
in its own slot, the tail passing them in ring order, see above). A disk
on an NBD export uses it (:mod:`devemu.disk.nbd_queue`):
a device with ``attach_ring(complete_all)`` is handed the loop's
:meth:`RingLoop.complete_all` when the loop is made and may return an
:class:`IoSource`, the file descriptor its completions arrive on, which
whoever drives the loop (a :class:`~devemu.ring_worker.RingWorker`, the
ring simulator) polls beside the ring and runs between two walks. The
ring stress run (:mod:`devemu.testing.ring_stress`) and the daemon's
drain at shutdown are tested with it too.

A response overwrites the request half of its slot (status, read_len and
sense share bytes with ``iov_cnt``, ``cdb_off`` and the iovs), and the
tail moves only once per walk. A handler killed in between leaves answered
slots ahead of ``cmd_tail``, so every answer is marked in ``hdr.uflags``
with two bits of devemu's own (Linux 6.1 reads only UNKNOWN_OP, READ_LEN
and KEEP_BUF there, and zeroes each entry it queues): :data:`ANSWERING`
in a byte store before any response byte, :data:`ANSWERED` in a byte
store after the last. A restarted loop passes over an answered slot (its
answer stands), answers a half-written one with ABORTED COMMAND (its
request is gone; the initiator retries), and hands only untouched slots
to the replay policy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final, Protocol

from devemu.scsi.answers import (
    ABORTED_COMMAND,
    HARDWARE_ERROR,
    INTERNAL_TARGET_FAILURE_SENSE,
    TASK_ABORTED,
)
from devemu.scsi.command import DEFERRED as DEFERRED  # noqa: PLC0414  (re-exported)
from devemu.scsi.command import Command, Result, Status
from devemu.scsi.command import Deferred as Deferred  # noqa: PLC0414  (re-exported)
from devemu.tcmu import abi

log = logging.getLogger("devemu.tcmu.loop")


class Device(Protocol):
    """What the loop serves: SAM-5 5.1 execute command, nothing else.

    ``cmd.iov`` are views into the shared mapping, valid until the
    command is completed; a device must not keep them afterwards.
    """

    def execute(self, cmd: Command) -> Result | Deferred: ...


class Doorbell(Protocol):
    """How the loop waits for the kernel and tells it about completions.

    On the kernel ring, :meth:`wait` is a blocking 4-byte ``read()`` of
    ``/dev/uioN`` and :meth:`notify` a 4-byte ``write()``; the simulator
    has its own in-process doorbell.
    """

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the kernel signals new entries; False on timeout."""
        ...

    def notify(self) -> None:
        """Tell the kernel that completions wait behind ``cmd_tail``."""
        ...


class IoSource(Protocol):
    """Where a device's deferred commands progress: polled beside the ring.

    The driver of the loop polls :meth:`fileno` for :meth:`events` (none
    while ``events()`` is 0), at most :meth:`timeout` seconds, then calls
    :meth:`ready` with what ``poll(2)`` returned (0 for nothing, and after
    every walk of the ring); ``ready`` completes what has finished through
    the loop's :meth:`RingLoop.complete_all`.
    """

    def fileno(self) -> int: ...

    def events(self) -> int: ...

    def timeout(self) -> float | None: ...

    def ready(self, revents: int) -> None: ...


#: What a device's ``attach_ring`` is given: answers several deferred commands, one doorbell.
CompleteAll = Callable[[list[tuple[Command, Result]]], None]


# A doorbell may also have ``notify_soon()``: the same, made by another
# thread so the caller goes on at once; the loop uses it after large READs.


ReplayPolicy = Callable[[Command], Result | None]
"""Decides a command found in the ring when the loop attached.

Such a command may have been started by a handler that died. The policy
returns None to execute it again, or the result to complete it with
without executing it (a disk READ may be replayed; a tape WRITE or
SPACE must not).
"""

TaskManagementHook = Callable[[int, list[Command]], None]
"""Hears a TMR entry: its TCMU_TMR_* type and the commands it names."""


#: ``hdr.uflags`` marks of devemu's own: a response is being written / is complete.
ANSWERING: Final = 0x40
ANSWERED: Final = 0x80

#: Data-in of one command from which the doorbell rings at once, not at the end of the walk.
EARLY_NOTIFY_BYTES: Final = 256 << 10


class RingLayoutError(ValueError):
    """The mailbox describes a ring that does not fit the mapping."""


@dataclass(slots=True)
class RingStats:
    """Counters of one loop, for logs and tests.

    ``commands`` counts CMD entries answered (executed, refused or aborted).
    """

    commands: int = 0
    replayed: int = 0
    answered_before: int = 0
    refused: int = 0
    unknown: int = 0
    aborted: int = 0
    device_errors: int = 0
    skipped_bytes: int = 0
    tmrs: int = 0


_Walked = tuple[int, int, object, int, "Command | None", bool]
"""One walked entry: ring position, length, ticket (None: nothing to
answer), cmd_id, the command (None: refused) and whether it is a replay."""


class _Ticket:
    """Stands for a CMD entry that is answered without a Command."""

    __slots__ = ()


class _Interrupted(_Ticket):
    """A slot a killed handler had started answering: its request is gone."""

    __slots__ = ()


_U16 = abi.FAST.u16
_HDR = abi.FAST.hdr
_REQ = abi.FAST.req
_REQ1 = abi.FAST.req_iov1
_IOV = abi.FAST.iov
_TMR = abi.FAST.tmr
# scsi_status, read_len: the response body (uflags and cmd_id are stored apart).
_STATUS = abi.fast_struct(*abi.CmdResponseHead.subcons[1:])
_STATUS_OFFSET = abi.EntryHeader.sizeof()
_CMD_ID_OFFSET = abi.EntryHeader.subcons[0].sizeof()  # after len_op
_HEAD_WORD = abi.CMD_HEAD_WORD
_TAIL_WORD = abi.CMD_TAIL_WORD
_CMD = int(abi.Opcode.CMD)
_PAD = int(abi.Opcode.PAD)
_TMR_OP = int(abi.Opcode.TMR)
_ENTRY_SIZE = abi.ENTRY_SIZE
_VARIABLE_LENGTH = abi.VARIABLE_LENGTH_CMD
_READ_LEN = int(abi.UserFlag.READ_LEN)
_ANSWERED_READ_LEN = ANSWERED | _READ_LEN
_UNKNOWN_OP = int(abi.UserFlag.UNKNOWN_OP)
_SENSE_MAX = abi.SENSE_BUFFER_SIZE
_CHECK = int(Status.CHECK_CONDITION)
_GROUP_LENGTH = tuple(abi.cdb_length(op << 5) for op in range(8))


class RingLoop:
    """Serves one device over one TCMU mapping.

    ``mapping`` is the whole shared area (an mmap of ``/dev/uioN`` or the
    simulator's buffer). ``on_replay`` decides the commands found in the
    ring at attach time; ``on_task_management`` hears every TMR entry with
    the commands it names that were still in the loop's hands.
    """

    def __init__(
        self,
        mapping: memoryview | bytearray,
        device: Device,
        *,
        doorbell: Doorbell,
        on_replay: ReplayPolicy | None = None,
        on_task_management: TaskManagementHook | None = None,
        name: str = "",
    ) -> None:
        m = memoryview(mapping)
        if m.format != "B" or m.ndim != 1:
            m = m.cast("B")
        if m.readonly:
            raise RingLayoutError("the ring mapping is read-only")
        self._m = m
        self.size = len(m)
        if self.size < abi.MAILBOX_SIZE:
            raise RingLayoutError(f"mapping of {self.size} bytes cannot hold the mailbox")
        # cmd_head and cmd_tail, each loaded and stored whole (see abi.mailbox_words).
        self._words = abi.mailbox_words(m)
        # The mapping as 16-bit words: a slot's cmd_id in one store, no struct call.
        self._half = m[: self.size & ~1].cast("H")
        mb = abi.FAST.mailbox.unpack_from(m, 0)
        version, flags, cmdr_off, cmdr_size, head, tail = mb
        if version != abi.MAILBOX_VERSION:
            raise RingLayoutError(f"mailbox version {version}, expected {abi.MAILBOX_VERSION}")
        if (
            cmdr_off < abi.MAILBOX_SIZE
            or cmdr_size < abi.ENTRY_SIZE
            or cmdr_size % abi.OP_ALIGN_SIZE
            or cmdr_off % abi.OP_ALIGN_SIZE
            or cmdr_off + cmdr_size > self.size
        ):
            raise RingLayoutError(
                f"command ring at {cmdr_off:#x}+{cmdr_size:#x} does not fit a mapping of "
                f"{self.size:#x} bytes"
            )
        self.name = name or "ring"
        self.flags = abi.MailboxFlag(flags & 0xF)
        self.cmdr_off = cmdr_off
        self.cmdr_size = cmdr_size
        self.data_off = cmdr_off + cmdr_size
        self.device = device
        self.doorbell = doorbell
        self.on_replay = on_replay
        self.on_task_management = on_task_management
        self.stats = RingStats()
        self._read_len_ok = bool(flags & abi.MailboxFlag.CAP_READ_LEN)
        if tail >= cmdr_size or tail % abi.OP_ALIGN_SIZE:
            log.error("%s: cmd_tail %#x is not a ring position; starting at cmd_head", name, tail)
            tail = head if head < cmdr_size and not head % abi.OP_ALIGN_SIZE else 0
        self._next = tail  # ring position of the next entry to walk
        self._tail = tail  # last published cmd_tail
        self._replay_bytes = (head - tail) % cmdr_size if head < cmdr_size else 0
        # Entries walked but not yet behind the tail, in ring order:
        # (position, length, ticket); ticket None for an entry with nothing to answer.
        self._entries: list[_Walked] = []
        self._fill = 0  # index in _entries of the oldest unanswered CMD slot
        self._inflight: dict[Command, tuple[int, int]] = {}  # deferred -> cmd_id, position
        self._aborted: set[object] = set()  # in-flight tickets named by a TMR
        self._ahead: set[object] = set()  # answered in their slots ahead of an older one
        self._bad_head_logged = False
        #: The device's own completions, polled beside the ring (None: it has none).
        self.io: IoSource | None = None
        attach = getattr(device, "attach_ring", None)
        if callable(attach):
            self.io = attach(self.complete_all)
        bind = getattr(doorbell, "bind", None)
        if callable(bind):
            bind(self.poll)
        watch = getattr(doorbell, "watch_io", None)
        if callable(watch) and self.io is not None:
            watch(self)
        soon = getattr(doorbell, "notify_soon", None)
        self._notify_soon: Callable[[], None] = soon if callable(soon) else doorbell.notify

    # ----------------------------------------------------------------- walk

    def poll(self) -> int:
        """Walk the new entries, execute them, publish completions.

        Returns the number of CMD entries answered. Never raises because
        of what the ring holds.
        """
        head = self._words[_HEAD_WORD]
        pos = self._next
        if head == pos:
            return 0
        size = self.cmdr_size
        if head >= size or head & 7:
            if not self._bad_head_logged:
                log.error("%s: cmd_head %#x is not a ring position; waiting", self.name, head)
                self._bad_head_logged = True
            return 0
        self._bad_head_logged = False
        walked = self._walk(pos, head)
        if self._entries:
            self._entries.extend(walked)
        else:
            self._entries = walked.copy()  # walked is iterated below; entries shrink
            self._fill = 0
        self._advance_fill()
        answered = 0
        aborted = self._aborted
        stats = self.stats
        execute = self.device.execute
        # Nothing older waits: each answer's slot is the oldest one (see _answer).
        fast = not self._inflight
        entries = self._entries
        n_entries = len(entries)
        fill = self._fill
        base = self.cmdr_off
        store = self._store
        deferred = Deferred
        early = EARLY_NOTIFY_BYTES
        for _pos, _length, ticket, cmd_id, cmd, replayed in walked:
            if ticket is None:
                continue
            result: Result
            if aborted and ticket in aborted:
                aborted.discard(ticket)
                stats.aborted += 1
                result = TASK_ABORTED
            elif cmd is None:
                if type(ticket) is _Interrupted:
                    result = ABORTED_COMMAND
                else:
                    stats.refused += 1
                    result = HARDWARE_ERROR
            else:
                try:
                    outcome = self._replay(cmd) if replayed else execute(cmd)
                except Exception:
                    outcome = self._device_error(cmd)
                if isinstance(outcome, deferred):
                    self._inflight[cmd] = (cmd_id, _pos)
                    fast = False
                    continue
                result = outcome
            answered += 1
            if not fast:
                self._fill = fill
                self._answer(ticket, _pos, cmd_id, result)
                fill = self._fill
                continue
            # The oldest unanswered slot is this command's own.
            read_len = store(base + _pos, cmd_id, result)
            fill += 1
            while fill < n_entries and entries[fill][2] is None:
                fill += 1
            if read_len >= early:
                # The kernel's copy of this data-in may start now (see the theory).
                self._fill = fill
                self._publish(soon=True)
                fill = self._fill
                n_entries = len(entries)
        self._fill = fill
        stats.commands += answered
        self._publish()
        return answered

    def _walk(self, pos: int, head: int) -> list[_Walked]:
        """Read every entry from ``pos`` to ``head`` (phase one: nothing executes)."""
        m = self._m
        size = self.cmdr_size
        base = self.cmdr_off
        limit = self.size
        data_off = self.data_off
        walked: list[_Walked] = []
        append = walked.append
        stats = self.stats
        replay = self._replay_bytes
        unpack_req1 = _REQ1.unpack_from
        group_length = _GROUP_LENGTH
        while pos != head:
            off = base + pos
            if pos + 64 <= size:
                len_op, cmd_id, _k, uflags, iov_cnt, bidi, dif, cdb_off, iov_base, iov_len = (
                    unpack_req1(m, off)
                )
            else:
                len_op, cmd_id, _k, uflags = _HDR.unpack_from(m, off)
                iov_cnt = -1
            op = len_op & 7
            length = len_op & 0xFFFFFFF8
            if length == 0 or length > (head - pos) % size or pos + length > size:
                avail = (head - pos) % size
                log.error(
                    "%s: entry at %#x has length %#x (%#x bytes to cmd_head, %#x to the ring "
                    "end); passing over the rest of the ring",
                    self.name,
                    pos,
                    length,
                    avail,
                    size - pos,
                )
                stats.skipped_bytes += avail
                walked.append((pos, avail, None, 0, None, False))
                replay = 0
                pos = head
                break
            if op == _CMD:
                cmd: Command | None = None
                if length < _ENTRY_SIZE:
                    log.error(
                        "%s: CMD entry %d of %d bytes is too short", self.name, cmd_id, length
                    )
                    m[off + 7] = _UNKNOWN_OP
                    stats.unknown += 1
                    walked.append((pos, length, None, cmd_id, None, False))
                elif replay > 0 and uflags & (ANSWERING | ANSWERED):
                    if uflags & ANSWERED:  # answered before the restart: it stands
                        append((pos, length, None, cmd_id, None, False))
                        stats.answered_before += 1
                        log.info(
                            "%s: CMD %d was answered before the last handler stopped; "
                            "the answer stands",
                            self.name,
                            cmd_id,
                        )
                    else:
                        log.warning(
                            "%s: CMD %d was being answered when the last handler stopped",
                            self.name,
                            cmd_id,
                        )
                        append((pos, length, _Interrupted(), cmd_id, None, False))
                else:
                    if (
                        iov_cnt == 1
                        and not bidi
                        and not dif
                        and cdb_off + 16 <= limit
                        and data_off <= iov_base
                        and iov_base + iov_len <= limit
                        and (opcode := m[cdb_off]) != _VARIABLE_LENGTH
                    ):
                        end = cdb_off + group_length[opcode >> 5]
                        cmd = Command(m[cdb_off:end].tobytes(), [m[iov_base : iov_base + iov_len]])
                    else:
                        cmd = self._parse_cmd(off, length, cmd_id)
                    ticket: object = cmd if cmd is not None else _Ticket()
                    append((pos, length, ticket, cmd_id, cmd, replay > 0))
            elif op == _PAD:
                walked.append((pos, length, None, 0, None, False))
            elif op == _TMR_OP:
                self._walk_tmr(off, length, walked)
                walked.append((pos, length, None, 0, None, False))
            else:
                log.error("%s: entry %d has unknown opcode %d", self.name, cmd_id, op)
                m[off + 7] = _UNKNOWN_OP
                stats.unknown += 1
                walked.append((pos, length, None, cmd_id, None, False))
            if replay > 0:
                replay -= length
            pos = (pos + length) % size
        self._next = pos
        self._replay_bytes = max(replay, 0)
        return walked

    def _parse_cmd(self, off: int, length: int, cmd_id: int) -> Command | None:
        """The Command of a CMD entry, or None (logged) if it does not check out."""
        m = self._m
        size = self.size
        data_off = self.data_off
        iov_cnt, bidi, dif, cdb_off, base, ln = _REQ1.unpack_from(m, off)[4:]
        iov_total = iov_cnt + bidi + dif
        if abi.REQ_IOV_OFFSET + 16 * iov_total > length:
            log.error(
                "%s: CMD %d: %d iovs do not fit an entry of %d bytes",
                self.name,
                cmd_id,
                iov_total,
                length,
            )
            return None
        if cdb_off >= size:
            log.error("%s: CMD %d: cdb_off %#x outside the mapping", self.name, cmd_id, cdb_off)
            return None
        opcode = m[cdb_off]
        if opcode == abi.VARIABLE_LENGTH_CMD:
            if cdb_off + 8 > size:
                log.error("%s: CMD %d: CDB runs past the mapping", self.name, cmd_id)
                return None
            cdb_len = 8 + m[cdb_off + 7]
        else:
            cdb_len = _GROUP_LENGTH[opcode >> 5]
        if cdb_off + cdb_len > size:
            log.error("%s: CMD %d: CDB runs past the mapping", self.name, cmd_id)
            return None
        cdb = bytes(m[cdb_off : cdb_off + cdb_len])
        if iov_cnt == 1 and not bidi:
            if base < data_off or base + ln > size:
                log.error(
                    "%s: CMD %d: iov %#x+%#x outside the data area", self.name, cmd_id, base, ln
                )
                return None
            return Command(cdb, [m[base : base + ln]])
        views: list[memoryview] = []
        at = off + abi.REQ_IOV_OFFSET
        for _ in range(iov_cnt + bidi):
            base, ln = _IOV.unpack_from(m, at)
            if base < data_off or base + ln > size:
                log.error(
                    "%s: CMD %d: iov %#x+%#x outside the data area", self.name, cmd_id, base, ln
                )
                return None
            views.append(m[base : base + ln])
            at += 16
        if bidi:  # the data-in iovs of a bidirectional command follow the data-out ones
            return Command(cdb, views[:iov_cnt], bidi_iov=views[iov_cnt:])
        return Command(cdb, views)

    def _walk_tmr(
        self,
        off: int,
        length: int,
        walked: list[_Walked],
    ) -> None:
        """Mark the commands a TMR entry names as aborted, SAM-5 7.2."""
        self.stats.tmrs += 1
        if length < abi.TMR_CMD_IDS_OFFSET:
            log.error("%s: TMR entry of %d bytes is too short; ignored", self.name, length)
            return
        tmr_type, cmd_cnt = _TMR.unpack_from(self._m, off)[4:]
        if abi.TMR_CMD_IDS_OFFSET + 2 * cmd_cnt > length:
            log.error(
                "%s: TMR entry names %d commands in %d bytes; ignored", self.name, cmd_cnt, length
            )
            return
        named: list[Command] = []
        by_id = {w[3]: k for k, w in enumerate(walked) if w[2] is not None}
        at = off + abi.TMR_CMD_IDS_OFFSET
        inflight_by_id = {i[0]: c for c, i in self._inflight.items()} if self._inflight else {}
        for k in range(cmd_cnt):
            cmd_id = _U16.unpack_from(self._m, at + 2 * k)[0]
            index = by_id.get(cmd_id)
            if index is not None:
                ticket, cmd = walked[index][2], walked[index][4]
                self._aborted.add(ticket)
                if cmd is not None:
                    named.append(cmd)
            elif cmd_id in inflight_by_id:
                started = inflight_by_id[cmd_id]
                self._aborted.add(started)
                named.append(started)
        try:
            kind = abi.TmrType(tmr_type).name
        except ValueError:
            kind = str(tmr_type)
        log.info("%s: task management %s names %d command(s)", self.name, kind, cmd_cnt)
        if self.on_task_management is not None:
            try:
                self.on_task_management(tmr_type, named)
            except Exception:
                log.exception("%s: task management hook failed", self.name)

    def _replay(self, cmd: Command) -> Result | Deferred:
        """A command found in the ring at attach time: ask the policy first."""
        self.stats.replayed += 1
        if self.on_replay is not None:
            decided = self.on_replay(cmd)
            if decided is not None:
                return decided
        return self.device.execute(cmd)

    def _device_error(self, cmd: Command) -> Result:
        """An exception out of the device: an internal error, SPC-5 annex D 44h/00h."""
        self.stats.device_errors += 1
        log.exception(
            "%s: internal error executing CDB %s; answering HARDWARE ERROR",
            self.name,
            cmd.cdb.hex(),
        )
        return HARDWARE_ERROR

    # ------------------------------------------------------------- complete

    def complete(self, cmd: Command, result: Result) -> None:
        """Answer a command whose device returned :data:`DEFERRED`.

        Call from the loop's thread, not from inside :meth:`poll`.
        Publishes the tail and rings the doorbell at once.
        """
        self._complete(cmd, result)
        self._publish()

    def complete_all(self, done: list[tuple[Command, Result]]) -> None:
        """Answer several deferred commands, then publish and ring once (from another
        thread when they placed EARLY_NOTIFY_BYTES of data-in or more: the kernel's copy
        of it then runs while this thread goes on, as after a large READ in a walk)."""
        placed = 0
        for cmd, result in done:
            self._complete(cmd, result)
            placed += result.data_in_length or 0
        self._publish(soon=placed >= EARLY_NOTIFY_BYTES)

    def _complete(self, cmd: Command, result: Result) -> None:
        slot = self._inflight.pop(cmd, None)
        if slot is None:
            log.error("%s: completion of a command the ring does not hold", self.name)
            return
        if cmd in self._aborted:
            self._aborted.discard(cmd)
            self.stats.aborted += 1
        self.stats.commands += 1
        cmd_id, pos = slot
        self._answer(cmd, pos, cmd_id, result)

    @property
    def in_flight(self) -> int:
        """Commands handed to the device and not answered yet."""
        return len(self._inflight)

    def _advance_fill(self) -> None:
        entries = self._entries
        fill = self._fill
        n = len(entries)
        while fill < n and entries[fill][2] is None:
            fill += 1
        self._fill = fill

    def _answer(self, ticket: object, pos: int, cmd_id: int, result: Result) -> None:
        """Write one response into the command's own slot at ring position ``pos``, SPC-5
        4.4 for the sense data; the fill moves past every answered slot from the oldest.

        An answer that comes before an older command's is written now, ahead of the
        tail (the kernel reads nothing there yet; a restarted loop finds it marked
        answered and lets it stand), never into the older command's slot: that slot's
        request is what a restarted loop replays (see the module's theory).
        """
        self._store(self.cmdr_off + pos, cmd_id, result)
        entries = self._entries
        fill = self._fill
        if entries[fill][2] is not ticket:
            self._ahead.add(ticket)
            return
        ahead = self._ahead
        n = len(entries)
        fill += 1
        while fill < n:
            t = entries[fill][2]
            if t is None:
                fill += 1
            elif t in ahead:
                ahead.discard(t)
                fill += 1
            else:
                break
        self._fill = fill

    def _store(self, off: int, cmd_id: int, result: Result) -> int:
        """Write ``result`` into the CMD slot at mapping offset ``off``.

        The ANSWERING mark goes first and the ANSWERED mark last, each a
        single byte store of ``uflags`` that no other store covers
        (``struct.pack_into`` zeroes its whole destination before writing
        it, so a pack over ``uflags`` would clear the mark for an
        instant), so a restarted loop can tell a finished answer from a
        torn one (see the module's theory of operation). The kernel reads
        none of it before :meth:`_publish` moves ``cmd_tail`` past the
        slot. Returns the data-in length reported (0 for none).
        """
        m = self._m
        m[off + 7] = ANSWERING
        try:
            read_len = result.data_in_length
            status = result.status
            sense = result.sense
            if status == _CHECK or sense:
                self._write_sense(off, sense)
            if read_len is None or not self._read_len_ok:
                _STATUS.pack_into(m, off + _STATUS_OFFSET, status, 0)
                self._half[(off + _CMD_ID_OFFSET) >> 1] = cmd_id
                m[off + 7] = ANSWERED
                return 0
            _STATUS.pack_into(m, off + _STATUS_OFFSET, status, read_len)
            self._half[(off + _CMD_ID_OFFSET) >> 1] = cmd_id
            m[off + 7] = _ANSWERED_READ_LEN
            return read_len
        except Exception:
            self._bad_result(off, cmd_id, result)
            return 0

    def _bad_result(self, off: int, cmd_id: int, result: object) -> None:
        """A device answer that cannot be written (not a Result, values out of range)."""
        self.stats.device_errors += 1
        log.error("%s: device answered %r; answering HARDWARE ERROR", self.name, result)
        m = self._m
        m[off + 7] = ANSWERING
        self._write_sense(off, INTERNAL_TARGET_FAILURE_SENSE)
        _STATUS.pack_into(m, off + _STATUS_OFFSET, _CHECK, 0)
        self._half[(off + _CMD_ID_OFFSET) >> 1] = cmd_id
        m[off + 7] = ANSWERED

    def _write_sense(self, off: int, sense: bytes) -> None:
        """Sense data into rsp.sense_buffer, cut to 96 bytes, the rest zeroed."""
        m = self._m
        n = len(sense)
        start = off + abi.RSP_SENSE_OFFSET
        if n >= _SENSE_MAX:
            m[start : start + _SENSE_MAX] = sense[:_SENSE_MAX]
        else:
            m[start : start + n] = sense
            m[start + n : start + _SENSE_MAX] = bytes(_SENSE_MAX - n)

    def _publish(self, *, soon: bool = False) -> None:
        """Move ``cmd_tail`` behind every answered entry; ring once.

        Order: every response and header of the entries passed was
        written before (each slot's last store is its ``uflags`` byte),
        then ``cmd_tail`` in one store, then the doorbell. The kernel
        (``tcmu_handle_completions``) re-reads ``cmd_tail`` before each
        entry it walks, so a value the tail never meant to hold (0, or
        half of the new value) would walk it over entries that are not
        answered or that it completed a lap ago ("ring is broken").

        ``soon``: ring with the doorbell's ``notify_soon`` when it has one
        (a ``write()`` made by another thread, see the theory of operation).
        """
        fill = self._fill
        if fill == 0:
            return
        entries = self._entries
        pos, length = entries[fill - 1][:2]
        tail = (pos + length) % self.cmdr_size
        if fill == len(entries):
            entries.clear()
        else:
            del entries[:fill]
        self._fill = 0
        if tail != self._tail:
            self._tail = tail
            # One aligned 32-bit store: the kernel may be reading cmd_tail on
            # another CPU right now (the early doorbell's write() in another
            # thread), and every value it reads there is a tail it walks to.
            self._words[_TAIL_WORD] = tail
            if soon:
                self._notify_soon()
            else:
                self.doorbell.notify()

    # ---------------------------------------------------------------- serve

    def serve(self, should_stop: Callable[[], bool] | None = None, timeout: float = 1.0) -> None:
        """Poll, then wait on the doorbell, until ``should_stop()`` is true."""
        while should_stop is None or not should_stop():
            self.poll()
            self.doorbell.wait(timeout)
