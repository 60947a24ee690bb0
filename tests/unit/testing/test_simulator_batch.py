"""A batch laid out in one write is the ring the kernel builds one command at a time."""

from __future__ import annotations

import pytest

from devemu.testing import NullDevice, RingSimulator

READ6 = bytes([0x08, 0, 0, 0x10, 0, 0])
READ10 = bytes([0x28, 0, 0, 0, 0, 0x20, 0, 0, 8, 0])
READ16 = bytes([0x88]) + bytes(12) + bytes([8, 0, 0])


def _ring_seen_by_handler(cdbs: list[bytes], *, batch: bool, rounds: int = 2) -> list[bytes]:
    """The mailbox and command ring as the handler first sees them, per round."""
    sim = RingSimulator(ring_size=0x2000, data_size=0x20000)
    loop = sim.attach(NullDevice(report_length=True))
    seen: list[bytes] = []

    def handler() -> int:
        seen.append(bytes(sim.mapping[: sim.data_off]))
        return loop.poll()

    sim.handler = handler
    for _ in range(rounds):
        if batch:
            assert sim.run_batch(cdbs, 4096) == len(cdbs)
        else:
            handles = [sim.submit(c, data_in_length=4096, capture=False) for c in cdbs]
            sim.process()
            assert all(h.result is not None and h.result.ok for h in handles)
            sim.reap()
    assert sim.outstanding == 0 and sim.free_blocks == sim.data_size // 4096
    return seen


@pytest.mark.parametrize(
    "cdbs",
    [[READ6] * 5, [READ10] * 4, [READ16] * 3, [READ10, READ16, READ10]],
    ids=["6-byte", "10-byte", "16-byte", "mixed 16-byte slots"],
)
def test_batch_layout_equals_one_by_one(cdbs: list[bytes]) -> None:
    assert _ring_seen_by_handler(cdbs, batch=True) == _ring_seen_by_handler(cdbs, batch=False)


def test_mixed_slot_sizes_fall_back_to_one_by_one() -> None:
    cdbs = [READ6, READ10, READ6]
    assert _ring_seen_by_handler(cdbs, batch=True) == _ring_seen_by_handler(cdbs, batch=False)
