"""A batch laid out in one write is the ring the kernel builds one command at a time."""

from __future__ import annotations

import pytest

from devemu.testing import Handle, NullDevice, RingSimulator

READ6 = bytes([0x08, 0, 0, 0x10, 0, 0])
READ10 = bytes([0x28, 0, 0, 0, 0, 0x20, 0, 0, 8, 0])
READ16 = bytes([0x88]) + bytes(12) + bytes([8, 0, 0])


def _ring_seen_by_handler(
    cdbs: list[bytes], *, batch: bool, rounds: int = 2, one_write: bool = True
) -> list[bytes]:
    """The mailbox and command ring as the handler first sees them, per round.

    ``one_write``: the batch must be laid out without :meth:`RingSimulator.submit`.
    """
    sim = RingSimulator(ring_size=0x2000, data_size=0x20000)
    loop = sim.attach(NullDevice(report_length=True))
    seen: list[bytes] = []
    submitted = 0
    submit = sim.submit

    def counting_submit(
        cdb: bytes,
        data_out: bytes | None = None,
        data_in_length: int = 0,
        *,
        capture: bool = True,
    ) -> Handle:
        nonlocal submitted
        submitted += 1
        return submit(cdb, data_out, data_in_length, capture=capture)

    sim.submit = counting_submit  # type: ignore[method-assign]

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
    if batch:
        assert (submitted == 0) == one_write
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
    batched = _ring_seen_by_handler(cdbs, batch=True, one_write=False)
    assert batched == _ring_seen_by_handler(cdbs, batch=False)
