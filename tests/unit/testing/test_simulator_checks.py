"""The simulator checks every completion as ``tcmu_handle_completions`` takes it.

Each case writes a handler's answer by hand into the ring and rings the
doorbell; a violation raises :class:`RingBrokenError` whose message says
which entry and what was wrong, and the device then answers every new
command itself (LOGICAL UNIT COMMUNICATION FAILURE), as the kernel does.
"""

from __future__ import annotations

import pytest

from devemu.scsi.command import Status
from devemu.tcmu import abi
from devemu.tcmu.loop import ANSWERED
from devemu.testing import RingBrokenError, RingSimulator

TUR = bytes(6)
_UNKNOWN_OP = int(abi.UserFlag.UNKNOWN_OP)


def _answer(sim: RingSimulator, pos: int, cmd_id: int) -> None:
    """GOOD for ``cmd_id`` in the CMD slot at ring position ``pos``, marked answered."""
    off = sim.cmdr_off + pos
    abi.FAST.u16.pack_into(sim.mapping, off + 4, cmd_id)
    sim.mapping[off + 7] = ANSWERED
    sim.mapping[off + 8] = 0


def _publish(sim: RingSimulator, tail: int) -> None:
    abi.mailbox_words(sim.mapping)[abi.CMD_TAIL_WORD] = tail


def _broken(sim: RingSimulator) -> str:
    with pytest.raises(RingBrokenError) as caught:
        sim.doorbell.notify()
    later = sim.submit(TUR)
    assert later.result is not None and later.result.status == Status.CHECK_CONDITION
    return str(caught.value)


def _three() -> tuple[RingSimulator, list[int]]:
    """Three TEST UNIT READY entries of 120 bytes each; their ring positions."""
    sim = RingSimulator(ring_size=0x1000, data_size=0x4000)
    sim.answered_marks = ANSWERED | _UNKNOWN_OP
    handles = [sim.submit(TUR) for _ in range(3)]
    assert [h.cmd_id for h in handles] == [1, 2, 3]
    return sim, [0, 120, 240]


def test_answers_in_any_slot_order_pass() -> None:
    sim, pos = _three()
    _answer(sim, pos[0], 3)
    _answer(sim, pos[1], 1)
    _answer(sim, pos[2], 2)
    _publish(sim, 360)
    sim.doorbell.notify()
    assert sim.broken is None and sim.outstanding == 0


def test_an_id_never_issued_breaks_the_ring() -> None:
    sim, pos = _three()
    _answer(sim, pos[0], 77)
    _publish(sim, pos[1])
    assert _broken(sim) == "cmd_id 77 at 0x0 was never issued, ring is broken"


def test_an_id_answered_twice_breaks_the_ring() -> None:
    sim, pos = _three()
    _answer(sim, pos[0], 1)
    _publish(sim, pos[1])
    sim.doorbell.notify()
    _answer(sim, pos[1], 1)
    _publish(sim, pos[2])
    message = _broken(sim)
    assert message.startswith("cmd_id 1 at 0x78 is not outstanding: it was completed already")


def test_a_tail_inside_an_entry_breaks_the_ring() -> None:
    sim, pos = _three()
    _answer(sim, pos[0], 1)
    _publish(sim, pos[1] - 8)
    assert _broken(sim) == "cmd_tail 0x70 is inside an entry, not at the end of one"


def test_a_tail_past_the_head_breaks_the_ring() -> None:
    sim, _pos = _three()
    _publish(sim, 0x400)
    assert _broken(sim) == "cmd_tail 0x400 is outside the entries 0x0..0x168"


def test_a_tail_that_went_backwards_breaks_the_ring() -> None:
    sim, pos = _three()
    _answer(sim, pos[0], 1)
    _publish(sim, pos[1])
    sim.doorbell.notify()
    _publish(sim, 0)  # what a torn store of the next tail shows for an instant
    assert _broken(sim) == "cmd_tail 0x0 is outside the entries 0x78..0x168"


def test_a_tail_past_an_unanswered_entry_breaks_the_ring() -> None:
    sim, pos = _three()
    _answer(sim, pos[0], 1)
    _publish(sim, pos[2])  # the slot at 120 still holds its request
    assert _broken(sim) == (
        "cmd_tail 0xf0 passed the CMD entry at 0x78 (cmd_id 2) before it was answered"
    )


def test_pad_and_tmr_entries_are_passed_by_their_length() -> None:
    sim = RingSimulator(ring_size=0x200, data_size=0x4000)
    sim.answered_marks = ANSWERED | _UNKNOWN_OP
    a = sim.submit(TUR)  # 0..120
    b = sim.submit(TUR)  # 120..240
    sim.task_management(abi.TmrType.ABORT_TASK, [b])  # a TMR entry at 240
    tmr_end = sim.cmd_head
    _answer(sim, 0, a.cmd_id)
    _answer(sim, 120, b.cmd_id)
    _publish(sim, tmr_end)
    sim.doorbell.notify()
    assert sim.broken is None and a.done and b.done
    c = sim.submit(TUR)  # right after the TMR entry
    d = sim.submit(TUR)  # no room before the end: a PAD, then the entry at 0
    assert sim.cmd_head == 120
    _answer(sim, tmr_end, c.cmd_id)
    _answer(sim, 0, d.cmd_id)
    _publish(sim, 120)
    sim.doorbell.notify()
    assert sim.broken is None and c.done and d.done


def test_a_pad_whose_length_changed_breaks_the_ring() -> None:
    sim = RingSimulator(ring_size=0x200, data_size=0x4000)
    for _ in range(4):
        sim.submit(TUR)
    for k in range(4):
        _answer(sim, 120 * k, k + 1)
    _publish(sim, 480)
    sim.doorbell.notify()
    d = sim.submit(TUR)  # PAD at 480 (32 bytes), the entry at 0
    assert d.cmd_id == 1 and sim.cmd_head == 120
    abi.FAST.u32.pack_into(sim.mapping, sim.cmdr_off + 480, 16 | int(abi.Opcode.PAD))
    _answer(sim, 0, d.cmd_id)
    _publish(sim, 120)
    assert _broken(sim) == "len_op of the entry at 0x1e0 was changed to 0x10"
