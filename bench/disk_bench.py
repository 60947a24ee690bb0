"""The disk through the ring simulator against a bare preadv/pwritev loop on the same file.

Three workloads, each run twice on one temporary image file (filled
with data first, so reads touch real pages):

- 1 MiB sequential READ (10), MB/s;
- 1 MiB sequential WRITE (10), MB/s (the simulator copies the data-out
  into the ring as the kernel would; the bare loop writes from one
  buffer);
- 4 KiB random READ (10), commands/s.

"disk" is a :class:`~devemu.disk.device.Disk` served by the ring loop
through :class:`~devemu.testing.RingSimulator` at queue depth ``--qd``;
"bare" is the same I/O done by a plain ``os.preadv``/``os.pwritev`` loop
on the same file, into ``--qd`` buffers of the transfer length in turn
(the working set of the ring's data area). "ring floor" is the simulator
and loop with a device that does nothing: no disk can beat it.

Each figure is the best of ``--repeat`` runs, disk and bare loop taking
turns, so that other load on the machine hurts both alike.

``--nbd`` serves the disk from the same file through a qemu-storage-daemon
and NBD (:mod:`devemu.disk.nbd`) instead of reading it directly, twice,
on two connections to the one server, the three taking turns: "NBD qd 1"
with ``queue_depth = 1`` (each command waited for in its handler, one
request at a time reaching the server: the disk before commands were
answered later) and "NBD queued" with ``--depth`` (the default queue
depth unless given: up to that many commands of a walk in flight at once,
:mod:`devemu.disk.nbd_queue`).
``--latency-us N`` makes the server a ``null-co`` node that answers every
request N microseconds after it arrives (and keeps no data): a stand-in
for a server across a network (Ceph RBD, nbdkit's S3 plugin), where the
round trip, not the CPU of this machine, bounds one request at a time.

    python3 bench/disk_bench.py [--size 256M] [--seconds 1] [--repeat 3] [--qd 16] [--dir /tmp]
        [--nbd [--latency-us N] [--depth N]]
"""

from __future__ import annotations

import argparse
import json
import mmap
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.disk.device import BlockImage, Disk
from devemu.disk.image import DiskImage, create_image
from devemu.disk.nbd import DEFAULT_QUEUE_DEPTH, NbdImage
from devemu.disk.storage_daemon import StorageDaemon
from devemu.scsi.identity import Identity
from devemu.sizes import size_argument
from devemu.testing import NullDevice, RingSimulator

MIB = 1 << 20
BLOCK = 512


def read10(lba: int, blocks: int) -> bytes:
    return bytes([0x28, 0]) + lba.to_bytes(4, "big") + b"\0" + blocks.to_bytes(2, "big") + b"\0"


def write10(lba: int, blocks: int) -> bytes:
    return bytes([0x2A, 0]) + lba.to_bytes(4, "big") + b"\0" + blocks.to_bytes(2, "big") + b"\0"


def timed(seconds: float, step: Callable[[], int]) -> tuple[int, float]:
    """Run ``step`` (returns the units it did) until ``seconds`` pass."""
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        done += step()
        now = time.perf_counter()
        if now >= deadline:
            return done, now - start


class Bench:
    def __init__(
        self,
        path: Path,
        size: int,
        seconds: float,
        qd: int,
        *,
        nbd: str = "",
        depth: int = DEFAULT_QUEUE_DEPTH,
    ) -> None:
        self.path = path
        self.size = size
        self.seconds = seconds
        self.qd = qd
        self.fd = os.open(path, os.O_RDWR)
        image: BlockImage = (
            NbdImage(nbd, BLOCK, queue_depth=depth) if nbd else DiskImage(path, BLOCK)
        )
        self.disk = Disk(image, Identity(serial="BENCH"))
        self.disk.unit_attentions.clear()
        self.sim = RingSimulator(ring_size=1 << 20, data_size=2 * qd * MIB)
        self.sim.attach(self.disk)

    # --- through the simulator ------------------------------------------------------

    def disk_seq_read(self) -> float:
        blocks = MIB // BLOCK
        cdbs = [read10(i * blocks, blocks) for i in range(self.size // MIB)]
        pos = 0

        def step() -> int:
            nonlocal pos
            batch = cdbs[pos : pos + self.qd] or cdbs[: self.qd]
            pos = (pos + len(batch)) % len(cdbs)
            good = self.sim.run_batch(batch, MIB)
            assert good == len(batch), "a READ failed"
            return good

        done, elapsed = timed(self.seconds, step)
        return done * MIB / elapsed / 1e6

    def disk_seq_write(self) -> float:
        blocks = MIB // BLOCK
        cdbs = [write10(i * blocks, blocks) for i in range(self.size // MIB)]
        payload = os.urandom(MIB)
        pos = 0
        sim = self.sim

        def step() -> int:
            nonlocal pos
            batch = cdbs[pos : pos + self.qd] or cdbs[: self.qd]
            pos = (pos + len(batch)) % len(cdbs)
            handles = [sim.submit(cdb, payload, capture=False) for cdb in batch]
            sim.process()
            sim.reap()
            assert all(h.result is not None and h.result.status == 0 for h in handles)
            return len(batch)

        done, elapsed = timed(self.seconds, step)
        return done * MIB / elapsed / 1e6

    def random_cdbs(self, count: int = 65536) -> list[bytes]:
        rng = random.Random(4096)
        pages = self.size // 4096
        return [read10(rng.randrange(pages) * 8, 8) for _ in range(count)]

    def disk_random_read(self) -> float:
        cdbs = self.random_cdbs()
        pos = 0

        def step() -> int:
            nonlocal pos
            batch = cdbs[pos : pos + self.qd]
            pos = (pos + self.qd) % (len(cdbs) - self.qd)
            return self.sim.run_batch(batch, 4096)

        done, elapsed = timed(self.seconds, step)
        return done / elapsed

    def ring_floor_random_read(self) -> float:
        sim = RingSimulator(ring_size=1 << 20, data_size=2 * self.qd * MIB)
        sim.attach(NullDevice(report_length=True))
        batch = self.random_cdbs(self.qd)
        done, elapsed = timed(self.seconds, lambda: sim.run_batch(batch, 4096))
        return done / elapsed

    # --- bare loops ---------------------------------------------------------------------

    def buffers(self, length: int) -> list[list[memoryview]]:
        """``qd`` buffers of ``length`` bytes, one iov list each.

        Slices of one anonymous shared mapping, touched before use: the
        kind of memory the ring's data area is.
        """
        area = memoryview(mmap.mmap(-1, self.qd * length))
        area[:] = bytes(len(area))
        return [[area[i * length : (i + 1) * length]] for i in range(self.qd)]

    def _bare_seq(self, io: Callable[[int, list[memoryview], int], int], fill: bool) -> float:
        """MB/s of ``io`` (``os.preadv`` or ``os.pwritev``) over the file, 1 MiB at a time."""
        bufs = self.buffers(MIB)
        if fill:
            payload = os.urandom(MIB)
            for buf in bufs:
                buf[0][:] = payload
        offsets = list(range(0, self.size - MIB + 1, MIB))
        pos = 0
        fd = self.fd

        def step() -> int:
            nonlocal pos
            for buf in bufs:
                io(fd, buf, offsets[pos])
                pos = (pos + 1) % len(offsets)
            return self.qd

        done, elapsed = timed(self.seconds, step)
        return done * MIB / elapsed / 1e6

    def bare_seq_read(self) -> float:
        return self._bare_seq(os.preadv, fill=False)

    def bare_seq_write(self) -> float:
        return self._bare_seq(os.pwritev, fill=True)

    def bare_random_read(self) -> float:
        offsets = [int.from_bytes(c[2:6], "big") * BLOCK for c in self.random_cdbs()]
        bufs = self.buffers(4096)
        pos = 0
        fd = self.fd

        def step() -> int:
            nonlocal pos
            for buf, off in zip(bufs, offsets[pos : pos + self.qd], strict=True):
                os.preadv(fd, buf, off)
            pos = (pos + self.qd) % (len(offsets) - self.qd)
            return self.qd

        done, elapsed = timed(self.seconds, step)
        return done / elapsed

    def close(self) -> None:
        self.disk.close()
        os.close(self.fd)


def fill(path: Path, size: int) -> None:
    chunk = os.urandom(MIB)
    fd = os.open(path, os.O_WRONLY)
    try:
        for off in range(0, size, MIB):
            os.pwrite(fd, chunk, off)
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=size_argument, default=256 * MIB, help="image size (256M)")
    parser.add_argument("--seconds", type=float, default=1.0, help="seconds per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (best kept)")
    parser.add_argument("--qd", type=int, default=16, help="commands per ring batch")
    parser.add_argument("--dir", default=None, help="folder for the temporary image")
    parser.add_argument("--nbd", action="store_true", help="the disk through NBD (qsd, raw)")
    parser.add_argument(
        "--depth",
        type=int,
        default=DEFAULT_QUEUE_DEPTH,
        help=f"with --nbd: queue_depth of the queued disk ({DEFAULT_QUEUE_DEPTH})",
    )
    parser.add_argument(
        "--latency-us", type=int, default=0, help="with --nbd: a null-co server of this latency"
    )
    args = parser.parse_args()
    size = max(MIB * args.qd, args.size - args.size % MIB)
    with tempfile.TemporaryDirectory(prefix="disk-bench-", dir=args.dir) as tmp:
        path = Path(tmp) / "bench.img"
        create_image(path, size, BLOCK)
        fill(path, size)
        if args.nbd:
            nbd_main(path, size, args)
            return
        bench = Bench(path, size, args.seconds, args.qd)
        try:
            pairs = [
                ("1 MiB seq read", "MB/s", bench.disk_seq_read, bench.bare_seq_read),
                ("1 MiB seq write", "MB/s", bench.disk_seq_write, bench.bare_seq_write),
                ("4 KiB rand read", "cmd/s", bench.disk_random_read, bench.bare_random_read),
            ]
            rows = []
            for name, unit, disk_run, bare_run in pairs:
                disk_best = bare_best = 0.0
                for _ in range(max(1, args.repeat)):
                    disk_best = max(disk_best, disk_run())
                    bare_best = max(bare_best, bare_run())
                rows.append((name, unit, disk_best, bare_best))
            floor = max(bench.ring_floor_random_read() for _ in range(max(1, args.repeat)))
        finally:
            bench.close()
    print(
        f"disk bench{' through NBD' if args.nbd else ''}: {size // MIB} MiB image, qd {args.qd}, "
        f"best of {args.repeat} x {args.seconds:g} s"
    )
    print(f"{'workload':<18}{'unit':<7}{'disk (ring)':>14}{'bare loop':>14}{'ratio':>8}")
    for name, unit, disk, bare in rows:
        print(f"{name:<18}{unit:<7}{disk:>14,.0f}{bare:>14,.0f}{disk / bare:>8.2f}")
    bare_random = rows[2][3]
    print(
        f"ring floor (null device, 4 KiB): {floor:,.0f} cmd/s = {floor / bare_random:.2f}x "
        f"the bare loop; the disk reaches {rows[2][2] / floor:.2f} of the floor"
    )


class DelayedServer(StorageDaemon):
    """A qemu-storage-daemon whose export answers every request after ``latency_us``."""

    def __init__(self, path: Path, latency_us: int, size: int) -> None:
        super().__init__(path, "raw", path.parent / "qsd-null")
        self.latency_us = latency_us
        self.size = size

    def command(self) -> list[str]:
        node = {
            "driver": "null-co",
            "node-name": "fmt",
            "size": self.size,
            "latency-ns": self.latency_us * 1000,
        }
        line = super().command()
        at = line.index("--nbd-server")
        return [line[0], "--blockdev", json.dumps(node), *line[at:]]


def nbd_main(path: Path, size: int, args: argparse.Namespace) -> None:
    """The disk through NBD one command at a time and with commands queued, and the bare
    loop, taking turns on one server."""
    server = (
        DelayedServer(path, args.latency_us, size)
        if args.latency_us
        else StorageDaemon(path, "raw", path.parent / "qsd")
    )
    server.start()
    try:
        before = Bench(path, size, args.seconds, args.qd, nbd=server.uri, depth=1)
        after = Bench(path, size, args.seconds, args.qd, nbd=server.uri, depth=args.depth)
        try:
            kinds = [
                ("1 MiB seq read", "MB/s", "disk_seq_read", "bare_seq_read"),
                ("1 MiB seq write", "MB/s", "disk_seq_write", "bare_seq_write"),
                ("4 KiB rand read", "cmd/s", "disk_random_read", "bare_random_read"),
            ]
            rows: list[tuple[str, str, float, float, float]] = []
            for name, unit, disk_run, bare_run in kinds:
                best = [0.0, 0.0, 0.0]
                for _ in range(max(1, args.repeat)):
                    best[0] = max(best[0], getattr(before, disk_run)())
                    best[1] = max(best[1], getattr(after, disk_run)())
                    best[2] = max(best[2], getattr(after, bare_run)())
                rows.append((name, unit, best[0], best[1], best[2]))
        finally:
            before.close()
            after.close()
    finally:
        server.stop()
    where = f", a null-co server of {args.latency_us} us latency" if args.latency_us else ""
    print(
        f"disk bench through NBD: {size // MIB} MiB image{where}, qd {args.qd}, "
        f"queue_depth {args.depth}, "
        f"best of {args.repeat} x {args.seconds:g} s"
    )
    print(
        f"{'workload':<18}{'unit':<7}{'NBD qd 1':>12}{'NBD queued':>12}{'bare loop':>12}"
        f"{'queued/qd1':>12}{'queued/bare':>13}"
    )
    for name, unit, one, queued, bare in rows:
        print(
            f"{name:<18}{unit:<7}{one:>12,.0f}{queued:>12,.0f}{bare:>12,.0f}"
            f"{queued / one:>12.2f}{queued / bare:>13.2f}"
        )


if __name__ == "__main__":
    main()
