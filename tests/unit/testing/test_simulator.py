"""The simulator writes what target_core_user writes and reaps as it reaps."""

from __future__ import annotations

import pytest

from devemu.scsi.command import Command, Result, Status
from devemu.tcmu import abi
from devemu.tcmu.loop import DEFERRED, Deferred
from devemu.testing import EchoCdbDevice, NullDevice, RingBrokenError, RingSimulator, State

TUR = bytes(6)
READ10 = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0])


def test_mailbox_and_layout() -> None:
    sim = RingSimulator(ring_size=0x1000, data_size=0x8000)
    mb = abi.Mailbox.parse(bytes(sim.mapping[:128]))
    assert (mb.version, mb.flags, mb.cmdr_off, mb.cmdr_size) == (2, 0xF, 0x80, 0x1000)
    assert (mb.cmd_head, mb.cmd_tail) == (0, 0)
    assert sim.data_off == 0x2000 and len(sim.mapping) == 0xA000


def test_entry_bytes_are_the_kernels() -> None:
    sim = RingSimulator(ring_size=0x1000, data_size=0x8000)
    h = sim.submit(READ10, data_in_length=0x1800)
    golden = abi.CmdRequest.build(
        {
            "head": {
                "hdr": {"len_op": 128 | 1, "cmd_id": 1, "kflags": 0, "uflags": 0},
                "iov_cnt": 1,
                "iov_bidi_cnt": 0,
                "iov_dif_cnt": 0,
                "cdb_off": 0x80 + 112,
            },
            "iov": [{"base": 0x2000, "len": 0x1800}],
        }
    ).ljust(112, b"\0") + READ10.ljust(16, b"\0")
    assert sim.entry_bytes(h) == golden
    assert sim.cmd_head == 128 and sim.free_blocks == 6
    six = sim.submit(TUR)  # 6-byte CDB, no data: 112 + 8 bytes
    assert abi.entry_length(abi.CmdRequestHead.parse(sim.entry_bytes(six)).hdr.len_op) == 120


def test_cmd_ids_are_lowest_free_and_blocks_first_fit() -> None:
    sim = RingSimulator(ring_size=0x1000, data_size=0x8000)
    device_held: list[Command] = []

    class Hold:
        def execute(self, cmd: Command) -> Result | Deferred:
            device_held.append(cmd)
            return DEFERRED

    loop = sim.attach(Hold())
    handles = [sim.submit(READ10, data_in_length=4096) for _ in range(3)]
    assert [h.cmd_id for h in handles] == [1, 2, 3]
    sim.process()
    # Answered ahead of the tail: command 2 stays the kernel's until command 1 is answered.
    loop.complete(device_held[1], Result())
    h4 = sim.submit(READ10, data_in_length=4096)
    assert h4.cmd_id == 4
    loop.complete(device_held[0], Result())
    h5 = sim.submit(READ10, data_in_length=12288)
    assert h5.cmd_id == 1  # the lowest free id
    iovs = abi.CmdRequest.parse(sim.entry_bytes(h5)).iov
    assert [(v.base, v.len) for v in iovs] == [(0x2000, 8192), (0x6000, 4096)]


def test_pad_entry_at_the_wrap() -> None:
    sim = RingSimulator(ring_size=0x200, data_size=0x8000)
    sim.attach(NullDevice())
    for _ in range(3):  # 3 x 128 bytes, then 128 left at the end
        sim.execute(READ10, data_in_length=16)
    sim.submit(TUR)  # 120 bytes fit in 128
    sim.process()
    sim.submit(READ10, data_in_length=16)  # 128 bytes do not fit the 8 left: PAD
    hdr = abi.EntryHeader.parse(bytes(sim.mapping[0x80 + 0x1F8 : 0x80 + 0x200]))
    assert (hdr.len_op, hdr.cmd_id) == (8 | abi.Opcode.PAD, 0)
    assert sim.cmd_head == 128
    sim.process()
    assert sim.cmd_tail == 128


def test_full_ring_keeps_one_byte_free_and_waits() -> None:
    sim = RingSimulator(ring_size=0x200, data_size=0x8000)
    handles = [sim.submit(READ10, data_in_length=16) for _ in range(4)]
    assert [h.state for h in handles] == [State.IN_RING] * 3 + [State.WAITING]
    assert sim.ring_free() == 0x200 - 3 * 128 - 1
    sim.attach(NullDevice())
    sim.process()
    assert all(h.done for h in handles)


def test_data_area_exhaustion_waits_and_oversize_is_refused() -> None:
    sim = RingSimulator(ring_size=0x1000, data_size=0x4000)
    sim.attach(NullDevice())
    big = sim.submit(READ10, data_in_length=0x5000)
    assert big.result is not None and big.result.status == Status.CHECK_CONDITION
    assert big.result.asc_ascq == (0x24, 0)
    a = sim.submit(READ10, data_in_length=0x3000)
    b = sim.submit(READ10, data_in_length=0x2000)
    assert b.state is State.WAITING
    sim.process()
    assert a.done and b.done


def test_unknown_op_becomes_check_condition_from_the_target_core() -> None:
    sim = RingSimulator()
    h = sim.submit(TUR)
    # what a handler writes for an entry it cannot serve
    sim.mapping[sim.cmdr_off + 7] = abi.UserFlag.UNKNOWN_OP
    abi.FAST.u32.pack_into(sim.mapping, abi.CMD_TAIL_OFFSET, sim.cmd_head)
    sim.doorbell.notify()
    assert h.result is not None and h.result.status == Status.CHECK_CONDITION
    assert h.result.sense_key == 0x2 and h.result.asc_ascq == (0x08, 0)


def test_read_len_zero_is_ignored_like_the_kernel() -> None:
    class Zero:
        def execute(self, cmd: Command) -> Result:
            cmd.data_in(b"z" * 8)
            return Result(Status.GOOD, b"", 0)

    sim = RingSimulator()
    sim.attach(Zero())
    done = sim.execute(READ10, data_in_length=8)
    assert done.data == b"z" * 8 and done.residual == 0


@pytest.mark.parametrize("damage", ["cmd_id", "len_op", "tail"])
def test_a_handler_that_breaks_the_ring_is_caught(damage: str) -> None:
    sim = RingSimulator()
    sim.submit(TUR)
    off = sim.cmdr_off
    if damage == "cmd_id":
        abi.FAST.u16.pack_into(sim.mapping, off + 4, 999)
        tail = sim.cmd_head
    elif damage == "len_op":
        abi.FAST.u32.pack_into(sim.mapping, off, 0x80 | 1)
        tail = sim.cmd_head
    else:
        tail = sim.cmd_head + 8
    abi.FAST.u32.pack_into(sim.mapping, abi.CMD_TAIL_OFFSET, tail)
    with pytest.raises(RingBrokenError):
        sim.doorbell.notify()
    later = sim.submit(TUR)
    assert later.result is not None and later.result.status == Status.CHECK_CONDITION


def test_keep_buf_holds_the_data_until_freed() -> None:
    sim = RingSimulator(data_size=0x2000)
    h = sim.submit(READ10, data_in_length=0x2000)
    abi.FAST.u32.pack_into(sim.mapping, abi.CMD_TAIL_OFFSET, sim.cmd_head)
    sim.mapping[sim.cmdr_off + 7] = abi.UserFlag.KEEP_BUF
    sim.doorbell.notify()
    assert h.done and sim.free_blocks == 0
    sim.free_kept_buf(h.cmd_id)
    assert sim.free_blocks == 2


def test_run_batch_and_its_fallback() -> None:
    sim = RingSimulator(ring_size=0x1000, data_size=0x10000)
    dev = NullDevice()
    sim.attach(dev)
    assert sim.run_batch([READ10] * 8, 4096) == 8
    read16 = bytes([0x88]) + bytes(15)
    assert sim.run_batch([read16] * 4, 4096) == 4
    assert sim.run_batch([TUR] * 3, 0) == 3  # not the one-write layout
    assert sim.run_batch([READ10] * 40, 4096) == 40  # more than the ring holds at once
    assert dev.calls == 55 and sim.outstanding == 0 and sim.free_blocks == 16


def test_process_needs_a_handler() -> None:
    sim = RingSimulator()
    sim.submit(TUR)
    with pytest.raises(RuntimeError, match="no handler"):
        sim.process()


def test_echo_through_execute_convenience() -> None:
    sim = RingSimulator()
    sim.attach(EchoCdbDevice())
    done = sim.execute(READ10, data_in_length=4)
    assert done.ok and done.data == READ10[:4] and done.residual == 0


def test_bidirectional_command_lays_out_both_directions_as_the_kernel() -> None:
    """A bidirectional command: data-out iovs, then ``iov_bidi_cnt`` data-in iovs.

    Each direction starts on a data block of its own (the kernel allocates
    them apart); the handler sees data-out in ``Command.iov`` and writes
    data-in into ``Command.bidi_iov``, whose bytes come back as the data.
    """
    sim = RingSimulator(ring_size=0x1000, data_size=0x8000)
    seen: list[Command] = []

    class Reverse:
        def execute(self, cmd: Command) -> Result:
            seen.append(cmd)
            out = cmd.data_out()
            cmd.bidi_iov[0][: len(out)] = out[::-1]
            return Result(Status.GOOD, b"", len(out))

    sim.attach(Reverse())
    h = sim.submit(READ10, b"abcdefgh" * 64, data_in_length=0x1000)
    head = abi.CmdRequest.parse(sim.entry_bytes(h)).head
    assert (head.iov_cnt, head.iov_bidi_cnt) == (1, 1)
    assert sim.free_blocks == 6  # one block each way
    sim.process()
    (cmd,) = seen
    assert [len(v) for v in cmd.iov] == [512] and [len(v) for v in cmd.bidi_iov] == [0x1000]
    assert h.result is not None and h.result.status == Status.GOOD
    assert h.result.data == (b"abcdefgh" * 64)[::-1]
    assert h.result.residual == 0x1000 - 512


def test_one_direction_commands_have_no_bidi_buffers() -> None:
    sim = RingSimulator()
    seen: list[Command] = []

    class Look:
        def execute(self, cmd: Command) -> Result:
            seen.append(cmd)
            return Result(Status.GOOD, b"", None)

    sim.attach(Look())
    sim.execute(READ10, b"x" * 5000)
    sim.execute(READ10, None, 5000)
    assert [len(c.bidi_iov) for c in seen] == [0, 0]
