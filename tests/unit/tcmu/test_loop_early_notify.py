"""The doorbell rings early after a large READ, so the kernel's copy overlaps the next command."""

from __future__ import annotations

from collections.abc import Callable

from devemu.scsi.command import Command, Result, Status
from devemu.tcmu.loop import EARLY_NOTIFY_BYTES, RingLoop
from devemu.testing import RingSimulator

READ10 = bytes([0x28, 0, 0, 0, 0, 0, 0, 0, 1, 0])


class FillingDevice:
    """Fills every data-in buffer with the command's number; notes the tail it saw."""

    def __init__(self, sim: RingSimulator) -> None:
        self.sim = sim
        self.tails: list[int] = []

    def execute(self, cmd: Command) -> Result:
        self.tails.append(self.sim.cmd_tail)
        mark = len(self.tails)
        for buf in cmd.iov:
            buf[:] = bytes([mark]) * len(buf)
        return Result(Status.GOOD, b"", cmd.data_length)


class SoonDoorbell:
    """The simulator's doorbell plus ``notify_soon``, counted apart."""

    def __init__(self, sim: RingSimulator) -> None:
        self.inner = sim.doorbell
        self.soon = 0
        self.plain = 0

    def wait(self, timeout: float | None = None) -> bool:
        return self.inner.wait(timeout)

    def notify(self) -> None:
        self.plain += 1
        self.inner.notify()

    def notify_soon(self) -> None:
        self.soon += 1
        self.inner.notify()

    def bind(self, poll: Callable[[], int]) -> None:
        self.inner.bind(poll)


def serve(sim: RingSimulator) -> tuple[FillingDevice, SoonDoorbell]:
    device = FillingDevice(sim)
    doorbell = SoonDoorbell(sim)
    RingLoop(sim.mapping, device, doorbell=doorbell)
    return device, doorbell


def test_each_large_read_is_published_before_the_next_command_runs() -> None:
    sim = RingSimulator(data_size=8 * EARLY_NOTIFY_BYTES)
    device, doorbell = serve(sim)
    handles = [sim.submit(READ10, data_in_length=2 * EARLY_NOTIFY_BYTES) for _ in range(3)]
    sim.process()
    assert doorbell.soon == 3
    assert doorbell.plain == 0  # the last early ring already covered the walk
    # Each command ran after the tail had moved past the one before it.
    assert device.tails[0] != device.tails[1] != device.tails[2]
    assert sim.cmd_tail == sim.cmd_head
    for mark, h in enumerate(handles, start=1):
        assert h.result is not None and h.result.status == Status.GOOD
        assert h.result.data == bytes([mark]) * (2 * EARLY_NOTIFY_BYTES)


def test_small_reads_ring_once_per_walk_and_never_early() -> None:
    sim = RingSimulator()
    device, doorbell = serve(sim)
    handles = [sim.submit(READ10, data_in_length=4096) for _ in range(16)]
    sim.process()
    assert (doorbell.soon, doorbell.plain) == (0, 1)
    assert len(set(device.tails)) == 1
    assert all(
        h.result is not None and h.result.data == bytes([i + 1]) * 4096
        for i, h in enumerate(handles)
    )


def test_mixed_batch_keeps_every_answer_in_place() -> None:
    sim = RingSimulator(data_size=16 * EARLY_NOTIFY_BYTES)
    _device, doorbell = serve(sim)
    sizes = [4096, EARLY_NOTIFY_BYTES, 512, 3 * EARLY_NOTIFY_BYTES, 4096, 8192]
    handles = [sim.submit(READ10, data_in_length=n) for n in sizes]
    sim.process()
    assert doorbell.soon == 2
    assert doorbell.plain == 1  # the two small commands after the last large one
    for mark, (h, n) in enumerate(zip(handles, sizes, strict=True), start=1):
        assert h.result is not None and h.result.status == Status.GOOD
        assert h.result.data == bytes([mark]) * n
    assert sim.outstanding == 0


def test_a_doorbell_without_notify_soon_rings_with_notify() -> None:
    sim = RingSimulator(data_size=8 * EARLY_NOTIFY_BYTES)
    device = FillingDevice(sim)
    sim.attach(device)
    handles = [sim.submit(READ10, data_in_length=EARLY_NOTIFY_BYTES) for _ in range(3)]
    sim.process()
    assert sim.doorbell.notifications == 3
    assert all(h.result is not None and h.result.status == Status.GOOD for h in handles)
