"""Several rings at once, with the kernel reading the mailbox while the loop writes it.

Theory of operation
-------------------
On a real ring the kernel reads ``cmd_tail`` (``READ_ONCE`` in
``tcmu_handle_completions``, once per entry it walks) on another CPU
while the handler stores it: the early-notify doorbell's ``write()``
runs in a second thread, and the initiators queue commands from theirs.
Any instant at which the mailbox holds a value the handler never meant
(a store done in several steps) is an instant at which the kernel may
walk over entries that were not answered, and mark the ring broken.

The in-process :class:`~devemu.testing.RingSimulator` cannot see such an
instant: it runs under the same interpreter lock as the loop, so every
store of the loop is whole by the time the simulator reads. Two pieces
stand in for the kernel's concurrency here:

- :class:`TailWatch` forks a process that shares the rings' mappings
  (the simulator's anonymous ``mmap`` is shared) and reads ``cmd_head``
  and ``cmd_tail`` in a tight loop, each with a single aligned 32-bit
  load as the kernel does. A published tail may only move forward, stay
  on an 8-byte ring position and never pass ``cmd_head``; a tail seen
  moving backwards or past the head was written in more than one store.
- :class:`LockedSimulator` gives each simulator the kernel's
  ``cmdr_lock``: the loop's doorbell (``tcmu_irqcontrol``) takes it,
  from the loop's thread for :meth:`notify` and from a ringer thread
  for :meth:`notify_soon`, exactly as ``UioChannel`` hands its
  ``write()`` to a thread after a large READ; the driver takes it to
  queue commands. The simulator checks every completion as the kernel
  does and fails with :class:`~devemu.testing.RingBrokenError`.

:func:`run_stress` drives several rings with mixed transfer sizes (some
of them large enough to ring early), some commands answered later and
out of order (:data:`~devemu.tcmu.loop.DEFERRED`), and checks every
completion's data.
"""

from __future__ import annotations

import json
import os
import random
import signal
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from devemu.scsi.command import Command, Result, Status
from devemu.tcmu import abi
from devemu.tcmu.loop import ANSWERED, DEFERRED, EARLY_NOTIFY_BYTES, Deferred, RingLoop
from devemu.testing.simulator import Handle, RingSimulator

#: Mailbox words (32-bit) of ``cmd_head`` and ``cmd_tail``.
_HEAD_WORD = abi.CMD_HEAD_WORD
_TAIL_WORD = abi.CMD_TAIL_WORD
#: A watcher that was not scheduled for this long re-reads before judging a move.
_STALE_NS = 200_000


class TailWatch:
    """A forked process that samples ``cmd_head``/``cmd_tail`` of shared rings.

    Use as a context manager around the run; :attr:`violations` then
    lists every impossible tail seen (empty when every store was whole).
    """

    def __init__(self, mappings: Sequence[memoryview], ring_sizes: Sequence[int]) -> None:
        self._mappings = list(mappings)
        self._sizes = list(ring_sizes)
        self._pid = 0
        self._read_fd = -1
        self.violations: list[str] = []
        self.samples = 0

    def __enter__(self) -> TailWatch:
        read_fd, write_fd = os.pipe()
        pid = os.fork()
        if pid == 0:  # the watcher: no return from here
            os.close(read_fd)
            code = 0
            try:
                self._watch(write_fd)
            except BaseException:
                code = 1
            os._exit(code)
        os.close(write_fd)
        self._pid = pid
        self._read_fd = read_fd
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        """End the watcher and collect what it saw."""
        if not self._pid:
            return
        os.kill(self._pid, signal.SIGTERM)
        chunks = []
        with os.fdopen(self._read_fd, "rb") as pipe:
            chunks.append(pipe.read())
        os.waitpid(self._pid, 0)
        self._pid = 0
        text = b"".join(chunks).decode()
        if text:
            report = json.loads(text)
            self.violations = report["violations"]
            self.samples = report["samples"]

    def _watch(self, write_fd: int) -> None:
        stop = False

        def on_term(_sig: int, _frame: object) -> None:
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, on_term)
        words = [abi.mailbox_words(m) for m in self._mappings]
        sizes = self._sizes
        rings = range(len(words))
        clock = time.perf_counter_ns
        # Each ring's last tail, and a time taken before it was read: a tail
        # judged against one read longer than _STALE_NS ago (this process was
        # descheduled meanwhile) may have gone round a whole lap since.
        read_before = [clock() for _ in words]
        prev = [w[_TAIL_WORD] for w in words]
        violations: list[str] = []
        samples = 0
        while not stop and len(violations) < 20:
            for r in rings:
                w = words[r]
                before = clock()
                h1 = w[_HEAD_WORD]
                t = w[_TAIL_WORD]
                h2 = w[_HEAD_WORD]
                fresh = clock() - read_before[r] < _STALE_NS
                samples += 1
                p = prev[r]
                read_before[r] = before
                prev[r] = t
                if t == p or h1 != h2:
                    continue
                size = sizes[r]
                if t >= size or t & 7:
                    violations.append(f"ring {r}: cmd_tail {t:#x} is not a ring position")
                elif fresh and (t - p) % size > (h1 - p) % size:
                    violations.append(
                        f"ring {r}: cmd_tail went from {p:#x} to {t:#x} with cmd_head at "
                        f"{h1:#x} (backwards or past the head: a torn store)"
                    )
        report = json.dumps({"violations": violations, "samples": samples}).encode()
        with os.fdopen(write_fd, "wb") as pipe:
            pipe.write(report)


class LockedSimulator:
    """A :class:`RingSimulator` behind the kernel's ``cmdr_lock``, with a ringer thread.

    It is the loop's doorbell: :meth:`notify` reaps completions in the
    caller's thread, :meth:`notify_soon` in a thread of its own (as the
    UIO channel does after a large READ). Both take the lock, as
    ``tcmu_irqcontrol`` takes ``cmdr_lock``; so does :meth:`submit`.
    A broken ring seen in the ringer thread is raised by :meth:`check`.
    """

    def __init__(self, sim: RingSimulator) -> None:
        self.sim = sim
        self.lock = threading.Lock()
        self.early = 0
        self.error: BaseException | None = None
        self._want = threading.Condition(threading.Lock())
        self._pending = False
        self._closing = False
        self._thread = threading.Thread(target=self._ring, name="ring-stress-ringer", daemon=True)
        self._thread.start()

    def _ring(self) -> None:
        while True:
            with self._want:
                while not self._pending and not self._closing:
                    self._want.wait()
                if self._closing and not self._pending:
                    return
                self._pending = False
            try:
                with self.lock:
                    self.sim.irqcontrol()
            except BaseException as err:  # reported to the driver by check()
                if self.error is None:
                    self.error = err

    def wait(self, timeout: float | None = None) -> bool:
        with self.lock:
            rung = self.sim.events > 0
            self.sim.events = 0
        return rung

    def notify(self) -> None:
        with self.lock:
            self.sim.irqcontrol()

    def notify_soon(self) -> None:
        self.early += 1
        with self._want:
            self._pending = True
            self._want.notify()

    def submit(self, cdb: bytes, data_out: bytes | None, data_in_length: int) -> Handle:
        with self.lock:
            return self.sim.submit(cdb, data_out, data_in_length)

    def reap(self) -> list[Handle]:
        with self.lock:
            return self.sim.reap()

    def check(self) -> None:
        if self.error is not None:
            raise self.error

    def close(self) -> None:
        with self._want:
            self._closing = True
            self._want.notify()
        self._thread.join()


READ16 = 0x88
WRITE16 = 0x8A
TEST_UNIT_READY = 0x00


def _cdb16(opcode: int, tag: int, blocks: int) -> bytes:
    return bytes([opcode, 0]) + tag.to_bytes(8, "big") + blocks.to_bytes(4, "big") + b"\0\0"


def _pattern(tag: int, length: int) -> bytes:
    return (tag.to_bytes(8, "big") * (length // 8 + 1))[:length]


class StressDevice:
    """Answers READ(16) with a pattern named by its LBA, checks WRITE(16) data.

    One command in ``defer_every`` is answered later (DEFERRED); the
    driver completes those in a random order.
    """

    def __init__(self, rng: random.Random, defer_every: int = 4) -> None:
        self.rng = rng
        self.defer_every = defer_every
        self.deferred: list[tuple[Command, Result]] = []
        self.bad_writes = 0

    def execute(self, cmd: Command) -> Result | Deferred:
        op = cmd.cdb[0]
        tag = int.from_bytes(cmd.cdb[2:10], "big")
        result = Result()
        if op == READ16:
            length = cmd.data_length
            data = _pattern(tag, length)
            done = 0
            for buf in cmd.iov:
                n = len(buf)
                buf[:] = data[done : done + n]
                done += n
            result = Result(Status.GOOD, b"", length)
        elif op == WRITE16 and cmd.data_out() != _pattern(tag, cmd.data_length):
            self.bad_writes += 1
            result = Result(Status.CHECK_CONDITION, bytes([0x70, 0, 4] + [0] * 15))
        if self.rng.randrange(self.defer_every) == 0:
            self.deferred.append((cmd, result))
            return DEFERRED
        return result


@dataclass
class StressReport:
    """What one :func:`run_stress` did."""

    commands: int = 0
    deferred: int = 0
    early_notifies: int = 0
    tail_samples: int = 0
    seconds: float = 0.0
    errors: list[str] = field(default_factory=list)


#: Transfer sizes: small, the kernel's default 64 KiB, early-notify sized, 1 MiB.
SIZES = (4096, 65536, EARLY_NOTIFY_BYTES, 1 << 20)


def run_stress(
    *,
    rings: int = 4,
    seconds: float = 2.0,
    queue_depth: int = 4,
    seed: int = 0,
    sizes: Sequence[int] = SIZES,
    on_round: Callable[[], None] | None = None,
    loop_class: type[RingLoop] = RingLoop,
) -> StressReport:
    """Drive ``rings`` rings for ``seconds``; raise on a broken ring.

    Returns the counts; ``errors`` lists wrong data or statuses and every
    impossible tail the watcher saw. ``loop_class`` serves the rings (a
    test gives a loop with a known fault to prove the checks see it).
    """
    rng = random.Random(seed)
    ring_size = 64 * 1024
    data_size = queue_depth * max(sizes) * 2
    sims = [RingSimulator(ring_size=ring_size, data_size=data_size) for _ in range(rings)]
    for sim in sims:
        sim.answered_marks = ANSWERED | int(abi.UserFlag.UNKNOWN_OP)
    report = StressReport()
    start = time.monotonic()
    # The watcher forks before any thread of this run exists.
    with TailWatch([s.mapping for s in sims], [ring_size] * rings) as watch:
        locked = [LockedSimulator(sim) for sim in sims]
        devices = [StressDevice(random.Random(seed * 100 + k)) for k in range(rings)]
        try:
            _drive(
                [
                    loop_class(sim.mapping, dev, doorbell=bell, name=f"stress{k}")
                    for k, (sim, dev, bell) in enumerate(zip(sims, devices, locked, strict=True))
                ],
                devices,
                locked,
                rng,
                seconds,
                queue_depth,
                sizes,
                report,
                on_round,
            )
        finally:
            for bell in locked:
                bell.close()
            report.early_notifies = sum(b.early for b in locked)
            devices.clear()  # deferred commands hold views of the mappings
    report.errors.extend(watch.violations)
    report.tail_samples = watch.samples
    report.seconds = time.monotonic() - start
    for sim in sims:
        sim.close()
    return report


def _drive(
    loops: list[RingLoop],
    devices: list[StressDevice],
    locked: list[LockedSimulator],
    rng: random.Random,
    seconds: float,
    queue_depth: int,
    sizes: Sequence[int],
    report: StressReport,
    on_round: Callable[[], None] | None,
) -> None:
    rings = len(loops)
    expected: list[dict[Handle, tuple[int, int, int]]] = [{} for _ in range(rings)]
    tag = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for k in range(rings):
            bell, loop, dev, want = locked[k], loops[k], devices[k], expected[k]
            bell.check()
            while len(want) < queue_depth:
                tag += 1
                length = rng.choice(sizes)
                kind = rng.randrange(8)
                if kind == 0:
                    cdb, out, din = bytes(6), None, 0
                elif kind == 1:
                    cdb = _cdb16(WRITE16, tag, length // 512)
                    out, din = _pattern(tag, length), 0
                else:
                    cdb, out, din = _cdb16(READ16, tag, length // 512), None, length
                want[bell.submit(cdb, out, din)] = (cdb[0], tag, din)
            if bell.wait():
                loop.poll()
            if dev.deferred and rng.randrange(2) == 0:
                rng.shuffle(dev.deferred)
                for _ in range(rng.randrange(1, len(dev.deferred) + 1)):
                    cmd, result = dev.deferred.pop()
                    report.deferred += 1
                    loop.complete(cmd, result)
            for h in bell.reap():
                op, htag, din = want.pop(h)
                report.commands += 1
                res = h.result
                if res is None or res.status != Status.GOOD:
                    report.errors.append(f"ring {k}: {op:#x} tag {htag}: {res}")
                elif din and res.data != _pattern(htag, din):
                    report.errors.append(f"ring {k}: READ tag {htag}: wrong data")
            bell.check()
        if on_round is not None:
            on_round()
    # Answer what is still deferred so that every ring drains.
    for k in range(rings):
        for cmd, result in devices[k].deferred:
            loops[k].complete(cmd, result)
        devices[k].deferred.clear()
        locked[k].check()
        if devices[k].bad_writes:
            report.errors.append(f"ring {k}: {devices[k].bad_writes} WRITE(s) saw wrong data")
