"""The command loop, against the ring simulator and against hand-built rings."""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest

from devemu.scsi.command import Command, Result, Status
from devemu.tcmu import abi
from devemu.tcmu.loop import ANSWERED, DEFERRED, Deferred, RingLayoutError, RingLoop
from devemu.testing import (
    EchoCdbDevice,
    FailingDevice,
    NullDevice,
    RingSimulator,
    SinkDevice,
    State,
)

INQUIRY = bytes([0x12, 0, 0, 0, 0x60, 0])
TUR = bytes(6)
READ10 = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0])
WRITE10 = bytes([0x2A, 0, 0, 0, 0, 0, 0, 0, 1, 0])
HW_ERROR = (0x44, 0x00)


class DeferringDevice:
    """Keeps every command; the test answers them in any order."""

    def __init__(self) -> None:
        self.held: list[Command] = []

    def execute(self, cmd: Command) -> Result | Deferred:
        self.held.append(cmd)
        return DEFERRED


# --------------------------------------------------------- through the simulator


def test_data_in_is_cut_to_read_len() -> None:
    sim = RingSimulator()
    sim.attach(EchoCdbDevice())
    done = sim.execute(INQUIRY, data_in_length=96)
    assert done.status == Status.GOOD
    assert done.data == INQUIRY
    assert done.residual == 96 - len(INQUIRY)


def test_data_out_reaches_the_device_across_fragmented_blocks() -> None:
    sim = RingSimulator(ring_size=4096, data_size=8 * 4096)
    sink = SinkDevice()
    loop = sim.attach(sink)
    small = [sim.submit(WRITE10, data_out=bytes([i]) * 10) for i in range(8)]
    sim.process()
    assert all(h.done for h in small)
    # Answered oldest first (each in its own slot), commands of one and two blocks
    # (first fit) leave blocks 1 and 3 held and 0, 2 and 4 free.
    deferring = DeferringDevice()
    loop.device = deferring
    held = []
    for k, blocks in enumerate((1, 1, 2, 2)):
        held.append(sim.submit(WRITE10, data_out=b"h" * 4096 * blocks))
        sim.process()
        if k:
            loop.complete(deferring.held[k - 1], Result())
    loop.device = sink
    payload = bytes(range(256)) * 48  # 12 KiB over three free blocks
    h = sim.submit(WRITE10, data_out=payload)
    entry = abi.CmdRequest.parse(sim.entry_bytes(h))
    assert entry.head.iov_cnt == 3
    sim.process()
    assert sink.received[-1] == payload
    assert not h.done  # answered in its slot, behind the older command still held
    loop.complete(deferring.held[3], Result())
    assert all(x.done for x in held)
    assert h.result is not None and h.result.ok


def test_wraps_with_pad_entries_and_full_ring_waits() -> None:
    sim = RingSimulator(ring_size=1000, data_size=64 * 4096)
    dev = EchoCdbDevice()
    loop = sim.attach(dev)
    handles = [sim.submit(READ10[:9] + bytes([i]), data_in_length=16) for i in range(40)]
    assert any(h.state is State.WAITING for h in handles)  # 1000 bytes hold 7 entries
    sim.process()
    assert [h.result.data[-1] for h in handles if h.result] == list(range(40))
    assert len(dev.seen) == 40
    assert sim.cmd_head == sim.cmd_tail
    assert loop.stats.commands == 40


def test_device_exception_becomes_hardware_error_and_the_loop_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sim = RingSimulator()
    loop = sim.attach(FailingDevice())
    with caplog.at_level(logging.ERROR):
        done = sim.execute(TUR)
    assert done.status == Status.CHECK_CONDITION
    assert done.sense_key == 0x4 and done.asc_ascq == HW_ERROR
    assert "internal error" in caplog.text
    loop.device = NullDevice()
    assert sim.execute(TUR).ok


@pytest.mark.parametrize(
    "answer",
    [
        Result(status=999),  # type: ignore[arg-type]
        Result(data_in_length=-1),
        None,
        Result(sense=42),  # type: ignore[arg-type]
    ],
)
def test_unwritable_answers_become_hardware_error(answer: object) -> None:
    class Odd:
        def execute(self, cmd: Command) -> object:
            return answer

    sim = RingSimulator()
    loop = sim.attach(Odd())
    done = sim.execute(TUR)
    assert done.status == Status.CHECK_CONDITION and done.asc_ascq == HW_ERROR
    assert loop.stats.device_errors == 1


def test_sense_is_cut_to_96_bytes() -> None:
    class Verbose:
        def execute(self, cmd: Command) -> Result:
            return Result(Status.CHECK_CONDITION, bytes([0x70, 0, 5, 0, 0, 0, 0, 250]) + b"x" * 250)

    sim = RingSimulator()
    sim.attach(Verbose())
    done = sim.execute(TUR)
    assert len(done.sense) == 96 and done.sense_key == 5


def test_read_len_reported_with_check_condition_keeps_the_data() -> None:
    class ShortRead:
        def execute(self, cmd: Command) -> Result:
            cmd.data_in(b"abc")
            return Result(Status.CHECK_CONDITION, bytes([0x70, 0, 0x3, 0, 0, 0, 0, 10]), 3)

    sim = RingSimulator()
    sim.attach(ShortRead())
    done = sim.execute(READ10, data_in_length=512)
    assert (done.status, done.data, done.residual) == (Status.CHECK_CONDITION, b"abc", 509)


def test_without_cap_read_len_no_read_len_is_written() -> None:
    sim = RingSimulator(flags=int(abi.MailboxFlag.CAP_OOOC))
    sim.attach(EchoCdbDevice())
    done = sim.execute(INQUIRY, data_in_length=96)
    assert len(done.data) == 96 and done.residual == 0


def test_an_answer_never_overwrites_an_older_commands_request() -> None:
    """A command answered before older ones is answered in its own slot, ahead of the
    tail; the older commands' requests stay whole in theirs (what a restarted handler
    replays), and the tail passes the answered slots once the oldest is answered."""
    sim = RingSimulator()
    device = DeferringDevice()
    loop = sim.attach(device)
    handles = [sim.submit(READ10[:9] + bytes([i]), data_in_length=4) for i in range(4)]
    sim.process()
    assert loop.in_flight == 4 and sim.cmd_tail == 0
    requests = [sim.entry_bytes(h) for h in handles]
    third = device.held[2]
    third.data_in(b"3333")
    loop.complete(third, Result(Status.GOOD, b"", 4))
    assert not any(h.done for h in handles) and sim.cmd_tail == 0
    assert [sim.entry_bytes(h) for h in handles[:2]] == requests[:2]
    rsp = abi.CmdResponse.parse(sim.entry_bytes(handles[2])[:112])
    assert rsp.head.hdr.cmd_id == handles[2].cmd_id
    assert rsp.head.hdr.uflags & ANSWERED
    loop.complete(device.held[0], Result())
    assert handles[0].done and not handles[1].done and not handles[2].done
    loop.complete(device.held[1], Result())
    assert handles[1].done and handles[2].done and not handles[3].done
    assert handles[2].result is not None and handles[2].result.data == b"3333"
    loop.complete(device.held[3], Result())
    assert all(h.done for h in handles)
    assert sim.cmd_tail == sim.cmd_head


def test_a_restarted_handler_replays_exactly_the_commands_not_answered() -> None:
    """A handler killed after answering a later command before an earlier one: the
    restarted handler replays the earlier ones and never answers a command twice (the
    kernel's "cmd_id not found, ring is broken")."""
    sim = RingSimulator()
    first = DeferringDevice()
    loop1 = sim.attach(first)
    handles = [sim.submit(READ10[:9] + bytes([i]), data_in_length=10) for i in range(4)]
    sim.process()
    loop1.complete(first.held[0], Result())
    loop1.complete(first.held[2], Result(Status.BUSY))
    assert handles[0].done and not handles[2].done  # held behind the second
    # the first handler dies holding the second and the fourth
    echo = EchoCdbDevice()
    loop2 = RingLoop(sim.mapping, echo, doorbell=sim.doorbell, on_replay=lambda cmd: None)
    loop2.poll()
    assert sim.broken is None
    assert echo.seen == [READ10[:9] + b"\x01", READ10[:9] + b"\x03"]
    assert all(h.done for h in handles) and sim.cmd_tail == sim.cmd_head
    assert handles[2].result is not None and handles[2].result.status == Status.BUSY
    assert handles[1].result is not None and handles[1].result.data == READ10[:9] + b"\x01"
    assert loop2.stats.answered_before == 1 and loop2.stats.replayed == 2


@pytest.mark.parametrize("seed", range(40))
def test_a_kill_at_any_point_of_answers_in_any_order_loses_and_repeats_nothing(
    seed: int,
) -> None:
    """Commands answered later in a random order, the handler killed after a random
    number of answers, a new handler on the same ring: every command is answered
    exactly once (the simulator breaks the ring on a second answer, as the kernel
    does), the ones answered before the kill with their first answer."""
    rng = random.Random(seed)
    sim = RingSimulator(ring_size=2048)
    first = DeferringDevice()
    loop1 = sim.attach(first)
    handles = [sim.submit(READ10[:9] + bytes([i]), data_in_length=4) for i in range(12)]
    sim.process()
    order = list(range(len(first.held)))
    rng.shuffle(order)
    answered = order[: rng.randrange(len(order) + 1)]
    for k in answered:
        first.held[k].data_in(b"old!")
        loop1.complete(first.held[k], Result(Status.GOOD, b"", 4))
    published = sum(h.done for h in handles)  # answered and handed to the kernel
    echo = EchoCdbDevice()
    loop2 = RingLoop(sim.mapping, echo, doorbell=sim.doorbell, on_replay=lambda cmd: None)
    loop2.poll()
    assert sim.broken is None
    assert all(h.done for h in handles) and sim.cmd_tail == sim.cmd_head
    for k, h in enumerate(handles):
        assert h.result is not None
        assert h.result.data == (b"old!" if k in answered else READ10[:4])
    assert len(echo.seen) == len(handles) - len(answered)
    # the answers before the kill that had not reached the kernel yet stood
    assert loop2.stats.answered_before + loop2.stats.replayed == len(handles) - published


def test_in_order_completion_without_cap_oooc() -> None:
    sim = RingSimulator(flags=int(abi.MailboxFlag.CAP_READ_LEN))
    device = DeferringDevice()
    loop = sim.attach(device)
    handles = [sim.submit(TUR) for _ in range(3)]
    sim.process()
    loop.complete(device.held[1], Result())
    assert not any(h.done for h in handles) and sim.cmd_tail == 0
    loop.complete(device.held[0], Result(Status.BUSY))
    assert handles[0].done and handles[1].done and not handles[2].done
    assert handles[0].result is not None and handles[0].result.status == Status.BUSY
    loop.complete(device.held[2], Result())
    assert sim.cmd_tail == sim.cmd_head


def test_abort_of_a_command_not_started_completes_it_once_without_executing() -> None:
    sim = RingSimulator()
    dev = EchoCdbDevice()
    seen: list[tuple[int, list[Command]]] = []
    loop = sim.attach(dev, on_task_management=lambda t, cmds: seen.append((t, cmds)))
    a = sim.submit(READ10[:9] + b"\x01", data_in_length=10)
    b = sim.submit(READ10[:9] + b"\x02", data_in_length=10)
    assert sim.abort(a)
    sim.process()
    assert dev.seen == [READ10[:9] + b"\x02"]
    assert a.done and a.aborted and a.result is not None
    assert a.result.status == Status.TASK_ABORTED
    assert b.result is not None and b.result.ok
    assert loop.stats.aborted == 1 and loop.stats.tmrs == 1
    assert seen[0][0] == abi.TmrType.ABORT_TASK and len(seen[0][1]) == 1
    assert not sim.abort(a)


def test_abort_of_a_started_command_completes_it_once_when_the_device_answers() -> None:
    sim = RingSimulator()
    device = DeferringDevice()
    loop = sim.attach(device)
    h = sim.submit(TUR)
    sim.process()
    sim.abort(h)
    sim.process()
    assert not h.done and loop.in_flight == 1
    loop.complete(device.held[0], Result())
    assert h.done and h.aborted and loop.stats.aborted == 1
    loop.complete(device.held[0], Result())  # a second answer is refused, not written
    assert sim.cmd_tail == sim.cmd_head


def test_abort_of_a_waiting_command_never_reaches_the_ring() -> None:
    sim = RingSimulator(ring_size=512)
    dev = NullDevice()
    sim.attach(dev)
    handles = [sim.submit(TUR) for _ in range(6)]
    waiting = [h for h in handles if h.state is State.WAITING]
    assert waiting
    sim.abort(waiting[-1])
    assert waiting[-1].result is not None
    assert waiting[-1].result.status == Status.TASK_ABORTED
    sim.process()
    assert dev.calls == len(handles) - 1


def test_lun_reset_names_every_outstanding_command() -> None:
    sim = RingSimulator()
    device = DeferringDevice()
    events: list[tuple[int, int]] = []
    loop = sim.attach(device, on_task_management=lambda t, c: events.append((t, len(c))))
    for _ in range(3):
        sim.submit(TUR)
    sim.process()
    sim.lun_reset()
    sim.process()
    assert events == [(abi.TmrType.LUN_RESET, 3)]
    for cmd in list(device.held):
        loop.complete(cmd, Result())
    assert sim.outstanding == 0


def test_restart_resumes_from_cmd_tail_and_asks_about_replays() -> None:
    sim = RingSimulator()
    first = DeferringDevice()
    loop1 = sim.attach(first)
    done_before = sim.submit(READ10[:9] + b"\x01", data_in_length=10)
    sim.process()
    loop1.complete(first.held[0], Result())
    assert done_before.done
    # the first handler dies holding two commands
    stuck = [sim.submit(READ10[:9] + bytes([i]), data_in_length=10) for i in (2, 3)]
    sim.process()
    assert len(first.held) == 3 and not any(h.done for h in stuck)
    assert sim.cmd_tail != sim.cmd_head
    # a new handler attaches to the same ring
    echo = EchoCdbDevice()
    asked: list[bytes] = []

    def policy(cmd: Command) -> Result | None:
        asked.append(cmd.cdb)
        return None if cmd.cdb[-1] == 2 else Result(Status.BUSY)

    loop2 = RingLoop(sim.mapping, echo, doorbell=sim.doorbell, on_replay=policy)
    loop2.poll()
    assert asked == [READ10[:9] + b"\x02", READ10[:9] + b"\x03"]
    assert echo.seen == [READ10[:9] + b"\x02"]
    assert stuck[0].result is not None and stuck[0].result.ok
    assert stuck[1].result is not None and stuck[1].result.status == Status.BUSY
    assert loop2.stats.replayed == 2
    # later commands are not replays
    assert sim.execute(READ10, data_in_length=10).ok
    assert loop2.stats.replayed == 2


def test_serve_polls_until_told_to_stop() -> None:
    sim = RingSimulator()
    loop = sim.attach(NullDevice())
    h = sim.submit(TUR)
    rounds = iter([False, True])
    loop.serve(lambda: next(rounds), timeout=0)
    assert h.done


def test_layout_errors_are_refused_at_construction() -> None:
    m = bytearray(4096)
    with pytest.raises(RingLayoutError, match="version"):
        RingLoop(m, NullDevice(), doorbell=_Bell())
    abi.FAST.mailbox.pack_into(m, 0, 2, 0xF, 0x80, 0x10000, 0, 0)
    with pytest.raises(RingLayoutError, match="does not fit"):
        RingLoop(m, NullDevice(), doorbell=_Bell())


# --------------------------------------------------------- hand-built rings

CMDR_OFF = 0x80
CMDR_SIZE = 0x1000
DATA_OFF = 0x2000
MAP_SIZE = 0x4000


class _Bell:
    def __init__(self) -> None:
        self.rung = 0

    def wait(self, timeout: float | None = None) -> bool:
        return False

    def notify(self) -> None:
        self.rung += 1


def raw_ring(flags: int = 0xF, tail: int = 0) -> bytearray:
    m = bytearray(MAP_SIZE)
    abi.FAST.mailbox.pack_into(m, 0, 2, flags, CMDR_OFF, CMDR_SIZE, tail, tail)
    return m


def put(m: bytearray, pos: int, data: bytes) -> int:
    m[CMDR_OFF + pos : CMDR_OFF + pos + len(data)] = data
    return pos + len(data)


def set_head(m: bytearray, head: int) -> None:
    abi.FAST.u32.pack_into(m, abi.CMD_HEAD_OFFSET, head)


def cmd_entry(
    pos: int,
    cmd_id: int,
    iovs: list[tuple[int, int]],
    cdb: bytes = TUR,
    cdb_off: int | None = None,
    length: int | None = None,
    iov_cnt: int | None = None,
    op: int = abi.Opcode.CMD,
) -> bytes:
    base = abi.request_base_size(len(iovs))
    size = length if length is not None else base + abi.align_up(len(cdb))
    body = abi.CmdRequestHead.build(
        {
            "hdr": {"len_op": size | op, "cmd_id": cmd_id, "kflags": 0, "uflags": 0},
            "iov_cnt": len(iovs) if iov_cnt is None else iov_cnt,
            "iov_bidi_cnt": 0,
            "iov_dif_cnt": 0,
            "cdb_off": CMDR_OFF + pos + base if cdb_off is None else cdb_off,
        }
    )
    body += b"".join(abi.Iovec.build({"base": b, "len": n}) for b, n in iovs)
    body = body.ljust(base, b"\0") + cdb
    padded: bytes = body.ljust(size, b"\0")
    return padded[:size]


def response(m: bytearray, pos: int) -> Any:
    return abi.CmdResponse.parse(bytes(m[CMDR_OFF + pos : CMDR_OFF + pos + 112]))


def test_hand_built_ring_pad_and_two_commands() -> None:
    m = raw_ring(tail=CMDR_SIZE - 0x80)
    pos = CMDR_SIZE - 0x80
    put(m, pos, abi.EntryHeader.build({"len_op": 0x80, "cmd_id": 0, "kflags": 0, "uflags": 0}))
    e1 = cmd_entry(0, 11, [(DATA_OFF, 512)], READ10)
    e2 = cmd_entry(len(e1), 12, [], TUR)
    put(m, 0, e1)
    end = put(m, len(e1), e2)
    set_head(m, end)
    dev = EchoCdbDevice()
    bell = _Bell()
    loop = RingLoop(m, dev, doorbell=bell)
    assert loop.poll() == 2
    assert dev.seen == [READ10, TUR]
    r1 = response(m, 0)
    assert (r1.head.hdr.cmd_id, r1.head.scsi_status, r1.head.read_len) == (11, 0, 10)
    assert r1.head.hdr.uflags == abi.UserFlag.READ_LEN | ANSWERED
    assert bytes(m[DATA_OFF : DATA_OFF + 10]) == READ10
    assert abi.FAST.u32.unpack_from(m, abi.CMD_TAIL_OFFSET)[0] == end
    assert bell.rung == 1
    assert loop.poll() == 0 and bell.rung == 1


BAD_CMD_ENTRIES = {
    "cdb_off outside the mapping": cmd_entry(0, 5, [], cdb_off=MAP_SIZE),
    "cdb runs past the mapping": cmd_entry(0, 5, [], cdb_off=MAP_SIZE - 3),
    "iov in the command ring": cmd_entry(0, 5, [(CMDR_OFF, 16)], READ10),
    "iov in the mailbox": cmd_entry(0, 5, [(0, 64)], READ10),
    "iov past the mapping": cmd_entry(0, 5, [(MAP_SIZE - 8, 16)], READ10),
    "iov of huge length": cmd_entry(0, 5, [(DATA_OFF, 2**64 - 1)], READ10),
    "iov count the entry cannot hold": cmd_entry(
        0, 5, [(DATA_OFF, 16)], READ10, iov_cnt=40, length=128
    ),
    "second iov outside": cmd_entry(0, 5, [(DATA_OFF, 16), (MAP_SIZE, 16)], READ10),
}


@pytest.mark.parametrize("entry", BAD_CMD_ENTRIES.values(), ids=BAD_CMD_ENTRIES.keys())
def test_bad_command_entries_are_refused_with_hardware_error(entry: bytes) -> None:
    m = raw_ring()
    end = put(m, 0, entry)
    good = cmd_entry(end, 6, [(DATA_OFF, 16)], INQUIRY)
    head = put(m, end, good)
    set_head(m, head)
    before = bytes(m)
    dev = EchoCdbDevice()
    loop = RingLoop(m, dev, doorbell=_Bell())
    assert loop.poll() == 2
    r = response(m, 0)
    assert (r.head.hdr.cmd_id, r.head.scsi_status) == (5, Status.CHECK_CONDITION)
    assert (r.sense_buffer[2] & 0xF, r.sense_buffer[12], r.sense_buffer[13]) == (4, 0x44, 0)
    assert dev.seen == [INQUIRY]  # the next command is served
    assert loop.stats.refused == 1
    # only the two response slots, the data of the good command and cmd_tail changed
    changed = [i for i in range(MAP_SIZE) if m[i] != before[i]]
    allowed = set(range(64, 68)) | set(range(DATA_OFF, DATA_OFF + 16))
    allowed |= set(range(CMDR_OFF, CMDR_OFF + 112)) | set(
        range(CMDR_OFF + end, CMDR_OFF + end + 112)
    )
    assert set(changed) <= allowed


@pytest.mark.parametrize(
    ("length", "why"),
    [(0, "zero"), (0x2000, "beyond cmd_head"), (0x48, "beyond cmd_head, not aligned")],
)
def test_unusable_entry_lengths_skip_to_cmd_head(length: int, why: str) -> None:
    m = raw_ring()
    put(m, 0, abi.EntryHeader.build({"len_op": length | 1, "cmd_id": 3, "kflags": 0, "uflags": 0}))
    set_head(m, 0x40)
    loop = RingLoop(m, NullDevice(), doorbell=_Bell())
    assert loop.poll() == 0
    assert abi.FAST.u32.unpack_from(m, abi.CMD_TAIL_OFFSET)[0] == 0x40
    assert loop.stats.skipped_bytes == 0x40


def test_entry_crossing_the_ring_end_is_skipped() -> None:
    start = CMDR_SIZE - 0x40
    m = raw_ring(tail=start)
    put(
        m, start, abi.EntryHeader.build({"len_op": 0x80 | 1, "cmd_id": 3, "kflags": 0, "uflags": 0})
    )
    set_head(m, 0x40)
    loop = RingLoop(m, NullDevice(), doorbell=_Bell())
    loop.poll()
    assert abi.FAST.u32.unpack_from(m, abi.CMD_TAIL_OFFSET)[0] == 0x40


def test_unknown_opcode_and_short_command_are_flagged_unknown_op() -> None:
    m = raw_ring()
    odd = abi.EntryHeader.build({"len_op": 0x10 | 5, "cmd_id": 8, "kflags": 0, "uflags": 0})
    pos = put(m, 0, odd.ljust(0x10, b"\0"))
    short = abi.EntryHeader.build({"len_op": 0x40 | 1, "cmd_id": 9, "kflags": 0, "uflags": 0})
    pos2 = put(m, pos, short.ljust(0x40, b"\0"))
    set_head(m, pos2)
    loop = RingLoop(m, NullDevice(), doorbell=_Bell())
    loop.poll()
    assert m[CMDR_OFF + 7] == abi.UserFlag.UNKNOWN_OP
    assert m[CMDR_OFF + pos + 7] == abi.UserFlag.UNKNOWN_OP
    assert loop.stats.unknown == 2
    assert abi.FAST.u32.unpack_from(m, abi.CMD_TAIL_OFFSET)[0] == pos2


def test_malformed_tmr_entries_are_ignored() -> None:
    m = raw_ring()
    short = abi.EntryHeader.build({"len_op": 0x18 | 2, "cmd_id": 0, "kflags": 0, "uflags": 0})
    pos = put(m, 0, short.ljust(0x18, b"\0"))
    lying = abi.FAST.tmr.pack(0x28 | 2, 0, 0, 0, 1, 1000) + bytes(8)
    pos = put(m, pos, lying)
    set_head(m, pos)
    loop = RingLoop(m, NullDevice(), doorbell=_Bell())
    loop.poll()
    assert loop.stats.tmrs == 2 and abi.FAST.u32.unpack_from(m, abi.CMD_TAIL_OFFSET)[0] == pos


def test_bad_cmd_head_is_waited_out() -> None:
    m = raw_ring()
    set_head(m, CMDR_SIZE + 8)
    loop = RingLoop(m, NullDevice(), doorbell=_Bell())
    assert loop.poll() == 0
    set_head(m, 3)
    assert loop.poll() == 0


def test_bad_cmd_tail_at_attach_starts_at_cmd_head() -> None:
    m = raw_ring()
    abi.FAST.u32.pack_into(m, abi.CMD_TAIL_OFFSET, 5)
    loop = RingLoop(m, NullDevice(), doorbell=_Bell())
    assert loop.poll() == 0
