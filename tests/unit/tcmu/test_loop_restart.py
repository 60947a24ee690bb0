"""A handler killed between answering and publishing cmd_tail, then restarted.

The kill is modelled by an exception that is not an ``Exception`` (the loop
turns those into HARDWARE ERROR answers), raised by the device or by the
response writer at the chosen moment; the new loop attaches to the same
simulated ring, exactly as a restarted daemon attaches to /dev/uioN.
"""

from __future__ import annotations

import pytest

from devemu.scsi.command import Command, Result, Status
from devemu.scsi.sense import COMMAND_ABORTED, parse_sense
from devemu.tcmu.loop import ANSWERED, ANSWERING, RingLoop
from devemu.testing import RingSimulator

WRITE10 = bytes([0x2A, 0, 0, 0, 0, 0x10, 0, 0, 8, 0])


class Killed(BaseException):
    """Stands for SIGKILL: nothing after it runs."""


class Recorder:
    """Accepts everything; dies before its ``die_at``-th command."""

    def __init__(self, die_at: int | None = None) -> None:
        self.die_at = die_at
        self.seen: list[tuple[bytes, int]] = []

    def execute(self, cmd: Command) -> Result:
        if len(self.seen) == self.die_at:
            raise Killed
        self.seen.append((cmd.cdb, cmd.data_length))
        return Result()


def _writes(sim: RingSimulator, n: int) -> list[bytes]:
    cdbs = [WRITE10[:5] + bytes([i]) + WRITE10[6:] for i in range(n)]
    for cdb in cdbs:
        sim.submit(cdb, data_out=bytes([len(cdb)]) * 4096)
    return cdbs


def test_answered_slots_are_not_replayed() -> None:
    sim = RingSimulator()
    first = Recorder(die_at=2)
    RingLoop(sim.mapping, first, doorbell=sim.doorbell)
    cdbs = _writes(sim, 3)
    with pytest.raises(Killed):
        sim.process()
    assert [c for c, _ in first.seen] == cdbs[:2]
    assert sim.cmd_tail != sim.cmd_head  # nothing was published
    second = Recorder()
    loop = RingLoop(sim.mapping, second, doorbell=sim.doorbell, on_replay=lambda c: None)
    loop.poll()
    sim.process()
    # only the command the dead handler never answered runs again, whole
    assert second.seen == [(cdbs[2], 4096)]
    assert loop.stats.replayed == 1
    assert sim.outstanding == 0
    results = [h.result for h in sim.reap()]
    assert all(r is not None and r.ok for r in results)


def test_half_written_answer_is_aborted_for_a_retry(monkeypatch: pytest.MonkeyPatch) -> None:
    sim = RingSimulator()
    first = Recorder()
    loop1 = RingLoop(sim.mapping, first, doorbell=sim.doorbell)
    _writes(sim, 1)

    def die_in_the_sense(off: int, sense: bytes) -> None:
        raise Killed

    monkeypatch.setattr(loop1, "_write_sense", die_in_the_sense)
    monkeypatch.setattr(first, "execute", lambda cmd: Result(Status.CHECK_CONDITION, b"\x70"))
    with pytest.raises(Killed):
        sim.process()
    slot = sim.cmdr_off + sim.cmd_tail
    assert sim.mapping[slot + 7] & (ANSWERING | ANSWERED) == ANSWERING
    second = Recorder()
    replays: list[Command] = []
    RingLoop(sim.mapping, second, doorbell=sim.doorbell, on_replay=replays.append).poll()
    sim.process()
    assert second.seen == [] and replays == []  # the torn request is never parsed
    (handle,) = sim.reap()
    assert handle.result is not None and handle.result.status == Status.CHECK_CONDITION
    assert parse_sense(handle.result.sense)[0] == COMMAND_ABORTED


def test_every_answer_carries_the_answered_mark() -> None:
    sim = RingSimulator()
    RingLoop(sim.mapping, Recorder(), doorbell=sim.doorbell)
    _writes(sim, 4)
    before = sim.cmd_tail
    sim.process()
    pos = before
    for _ in range(4):
        slot = sim.cmdr_off + pos
        assert sim.mapping[slot + 7] & (ANSWERING | ANSWERED) == ANSWERED
        pos = (pos + (int.from_bytes(sim.mapping[slot : slot + 4], "little") & ~7)) % (
            sim.cmdr_size
        )
