"""NBD commands in flight at once, against a real qemu-storage-daemon each test starts.

The disk is served by the ring loop on the ring simulator (whose
``process`` polls the connection as a ring worker does) or by a real
:class:`~devemu.ring_worker.RingWorker`. What the server sees is made
visible by slowing it down: a ``null-co`` node with a latency answers
every request after it (so requests in flight together take one latency,
one at a time take one each), and a throttle filter on writes delays a
write behind an earlier one while reads and flushes pass (so the replies
come back in another order than the requests went out).
"""

from __future__ import annotations

import os
import signal
import threading
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbd
import pytest

from devemu.config import Config
from devemu.daemon import Daemon
from devemu.device_ring import replay_policy
from devemu.disk import nbd as nbd_image
from devemu.disk.config import from_config
from devemu.disk.device import Disk
from devemu.disk.nbd import NbdImage
from devemu.disk.nbd_queue import CommandQueue
from devemu.errors import ConfigError
from devemu.ring_worker import RingWorker
from devemu.scsi.command import Status
from devemu.scsi.sense import (
    LOGICAL_UNIT_COMMUNICATION_FAILURE,
    MISCOMPARE_DURING_VERIFY_OPERATION,
    parse_sense,
)
from devemu.served import ServedDevice
from devemu.tcmu.loop import RingLoop
from devemu.testing import RingSimulator
from devemu.testing.simulator import Handle
from tests.unit.disk.disk_fixtures import IDENTITY, rw10, rw16
from tests.unit.disk.nbd_server import Server
from tests.unit.test_daemon import SimBackend, SimChannel

BS = 512
SIZE = 8 << 20
#: The null-co server's answer time.
LATENCY = 0.3
#: The throttled server's write rate: a 128 KiB write behind another waits 0.5 s.
WRITE_BPS = 256 << 10
WRITE_BLOCKS = (128 << 10) // BS


def pattern(n: int, seed: int) -> bytes:
    return bytes((i * seed + i // 251) & 0xFF for i in range(n))


def slow_server(tmp_path: Path) -> Server:
    """Every request answered LATENCY seconds after it arrives (no data kept)."""
    node = {"driver": "null-co", "size": SIZE, "latency-ns": int(LATENCY * 1e9)}
    return Server(tmp_path / "none", tmp_path / "slow.sock", nodes=(node,)).start()


def throttled_server(tmp_path: Path) -> Server:
    """A raw image whose writes pass a WRITE_BPS throttle; reads and flushes do not wait."""
    image = tmp_path / "disk.raw"
    image.write_bytes(bytes(SIZE))
    return Server(
        image,
        tmp_path / "throttled.sock",
        fmt="raw",
        objects=({"qom-type": "throttle-group", "id": "tg", "limits": {"bps-write": WRITE_BPS}},),
        layers=({"driver": "throttle", "throttle-group": "tg", "child": "file"},),
    ).start()


class Events:
    """Wraps the disk's libnbd handle: notes each request sent and each reply, in order."""

    def __init__(self, h: Any) -> None:
        self._h = h
        self.log: list[str] = []
        self.flags: list[int] = []

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._h, name)
        if name not in ("aio_pread", "aio_pwrite", "aio_flush"):
            return attr

        def call(*args: Any, **kw: Any) -> Any:
            kind = name[4:]
            completion = kw.get("completion")
            if completion is not None:

                def replied(error: Any) -> int:
                    self.log.append(f"{kind} replied")
                    return int(completion(error))

                kw["completion"] = replied
            self.log.append(f"{kind} sent")
            if name == "aio_pwrite":
                self.flags.append(kw.get("flags", 0))
            return attr(*args, **kw)

        return call


#: The commands in flight these tests give a disk: the default (several).
QUEUED = nbd_image.DEFAULT_QUEUE_DEPTH


class Ring:
    """A disk on an NBD export served by the ring loop on the simulator."""

    def __init__(self, uri: str, **kw: Any) -> None:
        kw.setdefault("queue_depth", QUEUED)
        write_cache = kw.pop("write_cache", True)
        self.disk = Disk(NbdImage(uri, BS, **kw), IDENTITY, write_cache=write_cache)
        self.disk.unit_attentions.clear()
        self.sim = RingSimulator(data_size=8 << 20)
        self.loop = self.sim.attach(self.disk)
        self.order: list[Handle] = []

    @property
    def image(self) -> NbdImage:
        image = self.disk.image
        assert isinstance(image, NbdImage)
        return image

    @property
    def queue(self) -> CommandQueue:
        assert self.disk.queue is not None
        return self.disk.queue

    def events(self) -> Events:
        rec = Events(self.image._h)
        self.image._h = rec
        return rec

    def submit(self, cdb: bytes, data_out: bytes | None = None, data_in: int = 0) -> Handle:
        return self.sim.submit(cdb, data_out, data_in)

    def run(self) -> list[Handle]:
        """Run until every command is answered; the handles in completion order."""
        self.sim.process()
        done = self.sim.reap()
        self.order += done
        return done

    def close(self) -> None:
        h = self.image._h
        if isinstance(h, Events):
            self.image._h = h._h
        self.disk.close()


@pytest.fixture
def slow(tmp_path: Path) -> Iterator[Server]:
    srv = slow_server(tmp_path)
    yield srv
    srv.stop()


@pytest.fixture
def throttled(tmp_path: Path) -> Iterator[Server]:
    srv = throttled_server(tmp_path)
    yield srv
    srv.stop()


def code_of(h: Handle) -> Any:
    assert h.result is not None
    return parse_sense(bytes(h.result.sense))[0]


def status_of(h: Handle) -> Status:
    assert h.result is not None
    return Status(h.result.status)


# --- requests in flight at once ---------------------------------------------------------


def test_commands_of_one_walk_are_in_flight_together(slow: Server) -> None:
    """Eight READs queued at once take about one server latency, not eight: the
    server had them all at the same time."""
    ring = Ring(slow.uri)
    try:
        handles = [ring.submit(rw10(0x28, 8 * k, 8), data_in=4096) for k in range(8)]
        started = time.monotonic()
        ring.run()
        elapsed = time.monotonic() - started
        assert all(status_of(h) == Status.GOOD for h in handles)
        assert ring.queue.flight.peak == 8
        assert LATENCY <= elapsed < 3 * LATENCY
    finally:
        ring.close()


def test_queue_depth_bounds_the_commands_in_flight(slow: Server) -> None:
    ring = Ring(slow.uri, queue_depth=2)
    try:
        handles = [ring.submit(rw10(0x28, 8 * k, 8), data_in=4096) for k in range(6)]
        started = time.monotonic()
        ring.run()
        elapsed = time.monotonic() - started
        assert all(status_of(h) == Status.GOOD for h in handles)
        assert ring.queue.flight.peak == 2
        assert elapsed >= 3 * LATENCY  # three rounds of two
    finally:
        ring.close()


def test_queue_depth_one_keeps_the_synchronous_path(slow: Server) -> None:
    ring = Ring(slow.uri, queue_depth=1)
    try:
        assert ring.disk.queue is None and ring.loop.io is None
        handles = [ring.submit(rw10(0x28, 8 * k, 8), data_in=4096) for k in range(3)]
        started = time.monotonic()
        ring.run()
        assert all(status_of(h) == Status.GOOD for h in handles)
        assert time.monotonic() - started >= 3 * LATENCY
    finally:
        ring.close()


def read_behind_writes(server: Server) -> tuple[bytes, int]:
    """Blocks for a READ apart from the two WRITEs' (overlapping commands in flight have
    no order, SAM-5 8.6), written before the ring starts: their data and first LBA."""
    data, lba = pattern(4096, 7), 2 * WRITE_BLOCKS
    h = server.connect()
    try:
        h.pwrite(data, lba * BS)
    finally:
        h.shutdown()
    return data, lba


def assert_written(server: Server, first: bytes, second: bytes) -> None:
    """The two WRITEs' data, read back from the export."""
    h = server.connect()
    try:
        assert h.pread(len(first), 0) == first
        assert h.pread(len(second), WRITE_BLOCKS * BS) == second
    finally:
        h.shutdown()


def test_replies_in_another_order_are_answered_in_ring_order(throttled: Server) -> None:
    """The server replies to a READ before a WRITE sent before it (held by its
    throttle); the READ's answer waits in its own slot for the WRITE's (see
    devemu.tcmu.loop: no answer overwrites a request the kernel still holds);
    every command lands its data where it belongs."""
    third, at = read_behind_writes(throttled)
    ring = Ring(throttled.uri)
    try:
        rec = ring.events()
        first = pattern(WRITE_BLOCKS * BS, 3)
        second = pattern(WRITE_BLOCKS * BS, 5)
        w1 = ring.submit(rw10(0x2A, 0, WRITE_BLOCKS), first)
        w2 = ring.submit(rw10(0x2A, WRITE_BLOCKS, WRITE_BLOCKS), second)
        r = ring.submit(rw10(0x28, at, 8), data_in=4096)
        ring.run()
        assert [status_of(h) for h in (w1, w2, r)] == [Status.GOOD] * 3
        replies = [e for e in rec.log if e.endswith("replied")]
        assert sorted(replies[:2]) == ["pread replied", "pwrite replied"]
        assert replies[2] == "pwrite replied"  # the throttled second WRITE's, last
        assert ring.order == [w1, w2, r]
        assert r.result is not None and r.result.data == third
        assert_written(throttled, first, second)
    finally:
        ring.close()


# --- ordering ---------------------------------------------------------------------------------


def test_synchronize_cache_waits_for_the_writes_in_flight(throttled: Server) -> None:
    """NBD_CMD_FLUSH covers completed writes only: it goes out after the replies of
    both WRITEs queued before SYNCHRONIZE CACHE, and the command is answered after them
    (a plain flush would overtake the throttled write)."""
    ring = Ring(throttled.uri)
    try:
        rec = ring.events()
        w1 = ring.submit(rw10(0x2A, 0, WRITE_BLOCKS), pattern(WRITE_BLOCKS * BS, 3))
        w2 = ring.submit(rw10(0x2A, WRITE_BLOCKS, WRITE_BLOCKS, flags=0x08), bytes(64 << 10) * 2)
        sync = ring.submit(bytes([0x35] + [0] * 9))
        r = ring.submit(rw10(0x28, 0, 8), data_in=4096)
        ring.run()
        assert [status_of(h) for h in (w1, w2, sync, r)] == [Status.GOOD] * 4
        flush_sent = rec.log.index("flush sent")
        assert rec.log[:flush_sent].count("pwrite replied") == 2
        assert ring.order.index(sync) > ring.order.index(w2)
        assert rec.log.index("pread replied") < rec.log.index("flush sent")  # no wait
        assert rec.flags == [0, nbd.CMD_FLAG_FUA]
    finally:
        ring.close()


def test_compare_and_write_waits_for_io_in_flight(throttled: Server) -> None:
    """COMPARE AND WRITE compares with what a WRITE queued before it wrote, although the
    server still held that WRITE when the COMPARE AND WRITE arrived."""
    ring = Ring(throttled.uri)
    try:
        lba = 4 * WRITE_BLOCKS
        new = pattern(WRITE_BLOCKS * BS, 9)
        ring.submit(rw10(0x2A, 0, WRITE_BLOCKS), pattern(WRITE_BLOCKS * BS, 3))
        w2 = ring.submit(rw10(0x2A, lba, WRITE_BLOCKS), new)
        caw = bytes([0x89, 0]) + lba.to_bytes(8, "big") + b"\0\0\0" + bytes([1, 0, 0])
        after = b"\x5a" * BS
        c = ring.submit(caw, new[:BS] + after)
        miss = ring.submit(caw, new[:BS] + after)  # now the block holds ``after``
        ring.run()
        assert status_of(w2) == Status.GOOD
        assert status_of(c) == Status.GOOD
        assert code_of(miss) == MISCOMPARE_DURING_VERIFY_OPERATION
    finally:
        ring.close()


# --- the server goes away ---------------------------------------------------------------


def test_server_killed_with_commands_in_flight(
    slow: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command in flight ends in LOGICAL UNIT COMMUNICATION FAILURE, the sense the
    synchronous path gives; once the server is back the disk serves again."""
    monkeypatch.setattr(nbd_image, "RECONNECT_INTERVAL", 0.0)
    ring = Ring(slow.uri)
    try:
        handles = [ring.submit(rw10(0x28, 8 * k, 8), data_in=4096) for k in range(4)]
        handles.append(ring.submit(rw10(0x2A, 64, 8), bytes(4096)))
        handles.append(ring.submit(bytes([0x35] + [0] * 9)))
        killer = threading.Timer(LATENCY / 3, slow.kill)
        killer.start()
        ring.run()
        killer.join()
        assert [code_of(h) for h in handles] == [LOGICAL_UNIT_COMMUNICATION_FAILURE] * 6
        assert not ring.image.connected
        assert ring.loop.in_flight == 0
        slow.start()
        back = ring.submit(rw10(0x28, 0, 8), data_in=4096)
        ring.run()
        assert status_of(back) == Status.GOOD
    finally:
        ring.close()


def test_silent_server_fails_the_commands_in_flight(
    slow: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A server that stops answering (SIGSTOP) is given REQUEST_TIMEOUT for the oldest
    request in flight, then every command in flight fails."""
    monkeypatch.setattr(nbd_image, "REQUEST_TIMEOUT", LATENCY * 2)
    ring = Ring(slow.uri)
    assert slow.process is not None
    pid = slow.process.pid
    try:
        handles = [ring.submit(rw10(0x28, 8 * k, 8), data_in=4096) for k in range(3)]
        os.kill(pid, signal.SIGSTOP)
        started = time.monotonic()
        ring.run()
        assert [code_of(h) for h in handles] == [LOGICAL_UNIT_COMMUNICATION_FAILURE] * 3
        assert time.monotonic() - started < 4 * LATENCY
    finally:
        os.kill(pid, signal.SIGCONT)
        ring.close()


# --- the handler killed -----------------------------------------------------------------


def test_restart_after_a_kill_replays_what_was_not_answered(throttled: Server) -> None:
    """devemu killed with -9 after the server replied to a READ before an older WRITE
    (held by its throttle): a new disk and loop on the same ring (the restarted
    daemon) replay the commands not answered, answer every one exactly once (a second
    answer would break the ring: "cmd_id not found, ring is broken") and the WRITE's
    data reaches the export."""
    third, at = read_behind_writes(throttled)
    ring = Ring(throttled.uri)
    first = pattern(WRITE_BLOCKS * BS, 3)
    second = pattern(WRITE_BLOCKS * BS, 5)
    w1 = ring.submit(rw10(0x2A, 0, WRITE_BLOCKS), first)
    w2 = ring.submit(rw10(0x2A, WRITE_BLOCKS, WRITE_BLOCKS), second)
    r = ring.submit(rw10(0x28, at, 8), data_in=4096)
    ring.loop.poll()
    deadline = time.monotonic() + 5
    while ring.loop.stats.commands < 2:  # the first WRITE and the READ
        assert time.monotonic() < deadline
        ring.sim._pump(ring.queue)
    assert w1.done and not w2.done
    # kill -9: the connection goes with the process, nothing more is answered
    h, ring.image._h = ring.image._h, None
    nbd_image._close_handle(h)
    disk = Disk(NbdImage(throttled.uri, BS, queue_depth=QUEUED), IDENTITY)
    disk.unit_attentions.clear()
    try:
        served = ServedDevice("nbd0", "disk", disk)
        loop = RingLoop(
            ring.sim.mapping, disk, doorbell=ring.sim.doorbell, on_replay=replay_policy(served)
        )
        loop.poll()
        ring.sim.process()
        assert loop.stats.replayed == 1 and loop.stats.answered_before == 1  # w2; r
        assert [status_of(x) for x in (w1, w2, r)] == [Status.GOOD] * 3
        assert r.result is not None and r.result.data == third
        assert ring.sim.outstanding == 0 and ring.sim.broken is None
        assert_written(throttled, first, second)
    finally:
        disk.close()


# --- the daemon's ring worker -----------------------------------------------------------


def test_ring_worker_polls_the_connection(slow: Server) -> None:
    """Through a ring worker (the daemon's path): the connection's socket is polled
    beside the ring, and eight READs take one latency."""
    disk = Disk(NbdImage(slow.uri, BS, queue_depth=QUEUED), IDENTITY)
    disk.unit_attentions.clear()
    sim = RingSimulator(data_size=8 << 20)
    channel = SimChannel(sim)
    ring = RingLoop(sim.mapping, disk, doorbell=channel, name="nbd")
    worker = RingWorker("nbd")
    try:
        worker.add(channel, ring, lambda: None)
        handles = [sim.submit(rw10(0x28, 8 * k, 8), None, 4096) for k in range(8)]
        started = time.monotonic()
        channel.kick()
        deadline = started + 10
        while not all(h.done for h in handles) and time.monotonic() < deadline:
            time.sleep(0.01)
        elapsed = time.monotonic() - started
        assert all(h.result is not None and h.result.status == 0 for h in handles)
        assert elapsed < 3 * LATENCY
        assert worker.call(lambda: ring.in_flight) == 0
    finally:
        worker.remove(channel)
        worker.stop()
        disk.close()
        channel.close()


# --- configuration ------------------------------------------------------------------------


def test_config_queue_depth(slow: Server, tmp_path: Path) -> None:
    def served(**table: Any) -> Any:
        return from_config(
            {"name": "q", **table},
            path=tmp_path / "devemu.toml",
            key="disk[0]",
            base_dir=tmp_path,
            state_dir=tmp_path / "state",
        )[0]

    item = served(image=slow.uri, queue_depth=4)
    try:
        assert item.device.image.queue_depth == 4
    finally:
        item.device.close()
    item = served(image=slow.uri)
    try:  # several in flight by default
        assert item.device.image.queue_depth == QUEUED == 32
    finally:
        item.device.close()
    with pytest.raises(ConfigError, match="queue_depth: must be an integer from 1 to 1024"):
        served(image=slow.uri, queue_depth=0)
    (tmp_path / "plain.img").write_bytes(bytes(1 << 20))
    with pytest.raises(ConfigError, match="queue_depth: only a disk served over NBD"):
        served(image="plain.img", queue_depth=4)


def test_daemon_shutdown_waits_for_the_commands_in_flight(slow: Server, tmp_path: Path) -> None:
    """``devemu serve`` stopping with NBD commands in flight answers them first (the
    daemon's drain), then closes the disk."""
    disk = Disk(NbdImage(slow.uri, BS, queue_depth=QUEUED), IDENTITY)
    disk.unit_attentions.clear()
    config = Config(
        path=tmp_path / "lab.toml", control_socket=tmp_path / "c.sock", state_dir=tmp_path
    )
    config.devices = [ServedDevice("nbd0", "disk", disk, close=disk.close)]
    backend = SimBackend()
    daemon = Daemon(config, backend)
    daemon.export = False
    try:
        daemon.start()
        sim = backend.sims["nbd0"]
        handles = [sim.submit(rw10(0x28, 8 * k, 8), None, 4096) for k in range(4)]
        backend.channels["nbd0"].kick()
        deadline = time.monotonic() + 5
        ring = daemon.served["nbd0"].ring
        assert ring is not None
        # every command handed to the disk (the walk over): what the daemon's drain counts
        while ring.in_flight < len(handles):
            assert time.monotonic() < deadline
            time.sleep(0.01)
        daemon.request_stop("test")
        daemon.shutdown()
        assert all(h.result is not None and h.result.status == 0 for h in handles)
        assert isinstance(disk.image, NbdImage) and not disk.image.connected
    finally:
        daemon.close()


def test_no_copy_of_the_data_in_python(throttled: Server) -> None:
    """Commands answered later move their data between the socket and the ring's data
    area with no copy in Python: a 4 MiB WRITE then READ allocate far less than 4 MiB."""
    ring = Ring(throttled.uri)
    try:
        size = 4 << 20
        data = pattern(size, 11)
        write = ring.sim.submit(rw16(0x8A, 0, size // BS), data, capture=False)
        tracemalloc.start()
        try:
            ring.run()
            read = ring.sim.submit(rw16(0x88, 0, size // BS), None, size, capture=False)
            ring.run()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert status_of(write) == Status.GOOD and status_of(read) == Status.GOOD
        assert peak < 256 << 10
        h = throttled.connect()
        try:
            assert h.pread(4096, size - 4096) == data[-4096:]
        finally:
            h.shutdown()
    finally:
        ring.close()
