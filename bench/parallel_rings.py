"""Several disks at once through the ring simulator: one thread, a thread each, a process each.

The daemon serves each device group's rings on a thread of its own
(:mod:`devemu.ring_worker`); the alternative is a process per group.
This measures the three ways on ``--rings`` disks, each on its own
image in ``--dir`` (a tmpfs by default, like the guest's benchmark):

- ``one``: a single thread walks every ring in turn (the daemon before
  ring workers);
- ``threads``: one thread per ring, the GIL released in ``preadv`` and
  nowhere else;
- ``processes``: one forked process per ring.

Workloads: 1 MiB sequential READ (10) at QD4 and 4 KiB random READ (10)
at QD16 on every ring. The simulator's kernel side is Python too and
holds the GIL (the real kernel's queueing, copy and completion do not),
so ``threads`` is measured here at its worst. Totals are commands per
second over all rings; the ratio is against ``one``.

    python3 bench/parallel_rings.py [--rings 4] [--seconds 2] [--size 64M] [--dir /dev/shm]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.scsi.identity import Identity
from devemu.sizes import size_argument
from devemu.testing import RingSimulator

MIB = 1 << 20
BLOCK = 512


def read10(lba: int, blocks: int) -> bytes:
    return bytes([0x28, 0]) + lba.to_bytes(4, "big") + b"\0" + blocks.to_bytes(2, "big") + b"\0"


@dataclass(frozen=True)
class Workload:
    name: str
    length: int
    qd: int
    sequential: bool


WORKLOADS = (
    Workload("1 MiB seq read QD4", MIB, 4, True),
    Workload("4 KiB rand read QD16", 4096, 16, False),
)


class Ring:
    """One disk on its own simulated ring, with the batches of one workload."""

    def __init__(self, path: Path, size: int, work: Workload) -> None:
        self.image = DiskImage(path, BLOCK)
        disk = Disk(self.image, Identity(serial="BENCH"))
        disk.unit_attentions.clear()
        self.sim = RingSimulator(ring_size=1 << 20, data_size=2 * work.qd * max(work.length, MIB))
        self.sim.attach(disk)
        blocks = work.length // BLOCK
        count = size // work.length
        if work.sequential:
            lbas = [i * blocks for i in range(count)]
        else:
            rng = random.Random(7)
            lbas = [rng.randrange(count) * blocks for _ in range(4096)]
        cdbs = [read10(lba, blocks) for lba in lbas]
        self.batches = [cdbs[i : i + work.qd] for i in range(0, len(cdbs) - work.qd + 1, work.qd)]
        self.length = work.length
        self.at = 0

    def step(self) -> int:
        batch = self.batches[self.at]
        self.at = (self.at + 1) % len(self.batches)
        good = self.sim.run_batch(batch, self.length)
        assert good == len(batch), "a READ failed"
        return good


def _for(seconds: float, step: Callable[[], int]) -> int:
    done = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        done += step()
    return done


def one(rings: list[Ring], seconds: float) -> float:
    def step() -> int:
        return sum(r.step() for r in rings)

    start = time.perf_counter()
    done = _for(seconds, step)
    return done / (time.perf_counter() - start)


def threads(rings: list[Ring], seconds: float) -> float:
    counts = [0] * len(rings)
    barrier = threading.Barrier(len(rings) + 1)

    def serve(k: int) -> None:
        barrier.wait()
        counts[k] = _for(seconds, rings[k].step)

    workers = [threading.Thread(target=serve, args=(k,)) for k in range(len(rings))]
    for w in workers:
        w.start()
    barrier.wait()
    start = time.perf_counter()
    for w in workers:
        w.join()
    return sum(counts) / (time.perf_counter() - start)


def _child(ring: Ring, seconds: float, go: Connection, out: Connection) -> None:
    go.recv()
    out.send(_for(seconds, ring.step))


def processes(rings: list[Ring], seconds: float) -> float:
    ctx = multiprocessing.get_context("fork")
    links = []
    children = []
    for ring in rings:
        go_r, go_w = ctx.Pipe(duplex=False)
        out_r, out_w = ctx.Pipe(duplex=False)
        child = ctx.Process(target=_child, args=(ring, seconds, go_r, out_w))
        child.start()
        children.append(child)
        links.append((go_w, out_r))
    start = time.perf_counter()
    for go_w, _ in links:
        go_w.send(True)
    total = sum(out_r.recv() for _, out_r in links)
    elapsed = time.perf_counter() - start
    for child in children:
        child.join()
    return float(total) / elapsed


MODES: dict[str, Callable[[list[Ring], float], float]] = {
    "one": one,
    "threads": threads,
    "processes": processes,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rings", type=int, default=4)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--size", type=size_argument, default=64 * MIB)
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="devemu-parallel-", dir=args.dir) as folder:
        paths = []
        for k in range(args.rings):
            path = Path(folder) / f"disk{k}.img"
            create_image(path, args.size, BLOCK)
            with open(path, "r+b") as f:
                for _ in range(args.size // MIB):
                    f.write(b"\xa5" * MIB)
            paths.append(path)
        print(
            f"{args.rings} rings, {args.size // MIB} MiB images in {folder}, {os.cpu_count()} CPUs"
        )
        print(f"{'workload':<22}" + "".join(f"{m + ' cmd/s':>18}" for m in MODES) + "  ratios")
        for work in WORKLOADS:
            rates = {}
            for mode, measure in MODES.items():
                rings = [Ring(p, args.size, work) for p in paths]
                rates[mode] = measure(rings, args.seconds)
                for r in rings:
                    r.image.close()
            ratios = ", ".join(f"{m} {rates[m] / rates['one']:.2f}x" for m in MODES if m != "one")
            print(
                f"{work.name:<22}" + "".join(f"{rates[m]:>18,.0f}" for m in MODES) + f"  {ratios}"
            )


if __name__ == "__main__":
    main()
