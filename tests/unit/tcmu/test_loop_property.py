"""Random bytes between cmd_tail and cmd_head: the loop survives and stays inside."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from devemu.tcmu import abi
from devemu.tcmu.loop import RingLoop
from devemu.testing import EchoCdbDevice

CMDR_OFF = 0x80
CMDR_SIZE = 0x800
DATA_OFF = 0x1000
MAP_SIZE = 0x2000


class Bell:
    def wait(self, timeout: float | None = None) -> bool:
        return False

    def notify(self) -> None:
        pass


def entry_like(draw: st.DrawFn) -> bytes:
    """Mostly plausible headers (so parsing goes deep), then random bodies."""
    op = draw(st.sampled_from([0, 1, 1, 1, 2, 3, 7]))
    length = draw(st.sampled_from([0, 8, 16, 32, 64, 112, 128, 136, 4096, 2**29])) & ~7
    head = abi.FAST.hdr.pack(length | op, draw(st.integers(0, 0xFFFF)), 0, 0)
    body = abi.FAST.req.pack(
        length | op,
        draw(st.integers(0, 0xFFFF)),
        0,
        0,
        draw(st.sampled_from([0, 1, 2, 3, 0xFFFFFFFF])),
        draw(st.sampled_from([0, 1])),
        0,
        draw(st.sampled_from([0, CMDR_OFF + 112, MAP_SIZE - 1, MAP_SIZE, 2**64 - 1])),
    )
    iov = abi.FAST.iov.pack(
        draw(st.sampled_from([0, CMDR_OFF, DATA_OFF, MAP_SIZE - 16, 2**63])),
        draw(st.sampled_from([0, 16, 4096, 2**64 - 1])),
    )
    tail = draw(st.binary(max_size=96))
    return (body + iov + tail) if draw(st.booleans()) else head + tail


@st.composite
def rings(draw: st.DrawFn) -> tuple[bytearray, int, int]:
    m = bytearray(MAP_SIZE)
    tail = draw(st.integers(0, CMDR_SIZE // 8 - 1)) * 8
    blob = b"".join(entry_like(draw) for _ in range(draw(st.integers(1, 6))))
    blob += draw(st.binary(max_size=64))
    used = min(len(blob) // 8 * 8, CMDR_SIZE - 8)
    for i in range(used):  # the ring wraps
        m[CMDR_OFF + (tail + i) % CMDR_SIZE] = blob[i]
    head = (tail + used) % CMDR_SIZE
    abi.FAST.mailbox.pack_into(
        m, 0, 2, draw(st.sampled_from([0xF, 0xE, 0x0])), CMDR_OFF, CMDR_SIZE, head, tail
    )
    return m, tail, head


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rings())
def test_random_entries_never_escape_the_loop(ring: tuple[bytearray, int, int]) -> None:
    m, _tail, head = ring
    before = bytes(m)
    loop = RingLoop(m, EchoCdbDevice(), doorbell=Bell())
    loop.poll()  # must not raise
    # the mailbox changes only in cmd_tail; the bytes outside ring and data area never
    assert m[:64] == before[:64] and m[68:CMDR_OFF] == before[68:CMDR_OFF]
    assert m[CMDR_OFF + CMDR_SIZE : DATA_OFF] == before[CMDR_OFF + CMDR_SIZE : DATA_OFF]
    # every byte up to cmd_head was consumed, and a second poll finds nothing
    assert abi.FAST.u32.unpack_from(m, abi.CMD_TAIL_OFFSET)[0] == head
    assert loop.poll() == 0
