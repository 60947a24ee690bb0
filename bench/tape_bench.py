"""Streaming 256 KiB records through the tape drive against a bare loop, in one run.

- "tape write": WRITE(6) variable records of ``--record`` bytes through
  :class:`~devemu.testing.RingSimulator` and the ring loop into a
  cartridge file (``--qd`` commands in the ring at a time), then WRITE
  FILEMARKS (synchronising: the fdatasync is part of the time);
- "bare write": ``os.pwritev`` of the same records into a fresh file on
  the same filesystem, then ``fdatasync``;
- "tape read" / "bare read": the same bytes back, READ(6) through the
  ring against ``os.preadv``.

The bare loop moves its records through ``--qd`` buffers of one shared
anonymous mapping in turn: the same kind and amount of memory as the
ring's data area, which the commands in flight occupy.

Two more bare figures separate the cost of the cartridge format from the
cost of the command path: "bare write, layout" writes each record behind
an entry header and its padding as the cartridge does (format version 2:
payloads of a page or more start on a page; no checksum), and "bare
read, layout" reads the records of the cartridge file itself at their
offsets. The "vs layout" ratios show what the simulator, ring, drive and
checksum cost.

Each figure is the best of ``--repeat`` rounds, tape and bare taking
turns, so that other load on the machine hurts both alike. The ratio is
tape MB/s over bare MB/s. "ring floor" is READ(6) through the simulator
and ring loop to a device that does nothing (no data copied): the cost
of the transport alone, which bounds what any device can reach.

    python3 bench/tape_bench.py [--size 256M] [--record 256K] [--qd 8] [--repeat 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import mmap
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.scsi.identity import Identity
from devemu.sizes import parse_size, size_argument
from devemu.tape.cartridge import Cartridge
from devemu.tape.drive import TapeDrive
from devemu.tape.records import CURRENT, ENTRY_HEADER_SIZE, HEADER_SIZE
from devemu.testing import NullDevice, RingSimulator

MB = 1_000_000


def rw6(opcode: int, length: int) -> bytes:
    return bytes([opcode, 0]) + length.to_bytes(3, "big") + b"\0"


def _buffers(area: mmap.mmap, length: int, qd: int) -> list[list[memoryview]]:
    view = memoryview(area)
    return [[view[i * length : (i + 1) * length]] for i in range(qd)]


def bare_write(path: Path, record: bytes, count: int, qd: int, *, layout: bool = False) -> float:
    """Seconds to write ``count`` records (with ``layout``, as the cartridge places them)
    and fdatasync."""
    area = mmap.mmap(-1, qd * len(record))
    bufs = _buffers(area, len(record), qd)
    for b in bufs:
        b[0][:] = record
    head = memoryview(bytes(ENTRY_HEADER_SIZE + CURRENT.alignment))
    start = time.perf_counter()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        offset = HEADER_SIZE if layout else 0
        for i in range(count):
            iov = bufs[i % qd]
            if layout:
                iov = [head[: ENTRY_HEADER_SIZE + CURRENT.pad(offset, len(record))], *iov]
            offset += os.pwritev(fd, iov, offset)
        os.fdatasync(fd)
    finally:
        os.close(fd)
    return time.perf_counter() - start


def bare_read(
    path: Path, length: int, count: int, qd: int, offsets: list[int] | None = None
) -> float:
    """Seconds to read ``count`` records back to back (or at ``offsets``)."""
    area = mmap.mmap(-1, qd * length)
    bufs = _buffers(area, length, qd)
    start = time.perf_counter()
    fd = os.open(path, os.O_RDONLY)
    try:
        if offsets is not None:
            for i, at in enumerate(offsets):
                os.preadv(fd, bufs[i % qd], at)
            return time.perf_counter() - start
        offset = 0
        for i in range(count):
            offset += os.preadv(fd, bufs[i % qd], offset)
    finally:
        os.close(fd)
    return time.perf_counter() - start


class TapeRig:
    """A drive with a fresh cartridge, served through the ring simulator."""

    def __init__(self, folder: Path, record: int, qd: int) -> None:
        self.path = folder / "BENCH1L8.tape"
        if self.path.exists():
            self.path.unlink()
        Cartridge.create(self.path, "BENCH1L8").close()
        self.drive = TapeDrive(Identity("DEVEMU", "LTO-8 TAPE", "0100", "BENCH01"))
        self.drive.load(self.path)
        self.sim = RingSimulator(data_size=max(4 << 20, 2 * qd * record))
        self.sim.attach(self.drive)
        for _ in range(3):  # unit attentions
            self.sim.execute(bytes(6))
        self.record = record
        self.qd = qd

    def write(self, data: bytes, count: int) -> float:
        cdb = rw6(0x0A, self.record)
        start = time.perf_counter()
        left = count
        while left:
            n = min(self.qd, left)
            handles = [self.sim.submit(cdb, data, capture=False) for _ in range(n)]
            self.sim.process()
            for h in handles:
                assert h.result is not None and h.result.status == 0, h.result
            self.sim.reap()
            left -= n
        done = self.sim.execute(bytes([0x10, 0, 0, 0, 1, 0]))
        assert done.status == 0
        return time.perf_counter() - start

    def read(self, count: int) -> float:
        assert self.sim.execute(bytes([0x01, 0, 0, 0, 0, 0])).status == 0
        cdb = rw6(0x08, self.record)
        start = time.perf_counter()
        left = count
        while left:
            n = min(self.qd, left)
            good = self.sim.run_batch([cdb] * n, self.record)
            assert good == n, good
            left -= n
        return time.perf_counter() - start

    def record_offsets(self, count: int) -> list[int]:
        """File offsets of the first ``count`` records' payloads."""
        assert self.drive.cartridge is not None
        offsets = self.drive.cartridge.partitions[0].offsets
        return [offsets[i] for i in range(count)]

    def close(self) -> None:
        self.drive.unload()


def ring_floor(record: int, count: int, qd: int) -> float:
    """READ(6) data-in through the ring to a device that does nothing: the ceiling."""
    sim = RingSimulator(data_size=max(4 << 20, 2 * qd * record))
    sim.attach(NullDevice(report_length=True))
    cdb = rw6(0x08, record)
    sim.run_batch([cdb] * qd, record)  # touch the data area before the clock starts
    start = time.perf_counter()
    left = count
    while left:
        n = min(qd, left)
        sim.run_batch([cdb] * n, record)
        left -= n
    return time.perf_counter() - start


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=size_argument, default=parse_size("256M"))
    parser.add_argument("--record", type=size_argument, default=parse_size("256KiB"))
    parser.add_argument("--qd", type=int, default=8)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path(tempfile.gettempdir()))
    args = parser.parse_args()
    count = args.size // args.record
    total = count * args.record
    record = os.urandom(args.record)
    names = (
        "tape write",
        "bare write",
        "bare write, layout",
        "tape read",
        "bare read",
        "bare read, layout",
        "ring floor",
    )
    best = dict.fromkeys(names, 0.0)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        bare = folder / "bare.bin"
        for _ in range(args.repeat):
            rig = TapeRig(folder, args.record, args.qd)
            try:
                seconds = {"tape write": rig.write(record, count)}
                seconds["bare write"] = bare_write(bare, record, count, args.qd)
                seconds["bare write, layout"] = bare_write(
                    bare, record, count, args.qd, layout=True
                )
                bare_write(bare, record, count, args.qd)  # the aligned file again
                seconds["tape read"] = rig.read(count)
                seconds["bare read"] = bare_read(bare, args.record, count, args.qd)
                seconds["bare read, layout"] = bare_read(
                    rig.path, args.record, count, args.qd, rig.record_offsets(count)
                )
                seconds["ring floor"] = ring_floor(args.record, count, args.qd)
            finally:
                rig.close()
            for name, value in seconds.items():
                best[name] = max(best[name], total / value / MB)
    print(f"{count} records of {args.record} bytes ({total / MB:.0f} MB), qd {args.qd}")
    for name, rate in best.items():
        print(f"{name:<19} {rate:9.1f} MB/s")
    for kind in ("write", "read"):
        ratio = best[f"tape {kind}"] / best[f"bare {kind}"]
        layout = best[f"tape {kind}"] / best[f"bare {kind}, layout"]
        print(f"{kind} ratio {ratio:12.2f}   (vs layout {layout:.2f})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
