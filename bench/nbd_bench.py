"""The NBD path on the host: what a copy costs, and what several requests in flight would give.

A qemu-storage-daemon exports a raw image (filled with data first) on a
Unix socket; the figures are taken through libnbd, in this process:

- ``aio_pread into the buffer``: what the disk does for a READ
  (:meth:`devemu.disk.nbd.NbdImage.read_at`): one ``aio_pread`` into an
  ``nbd.Buffer`` sharing the caller's memoryview, waited for at once; no
  copy in Python;
- ``pread + copy``: libnbd's synchronous ``pread``, which returns a new
  ``bytes``, then copied into the same buffer (what a client without
  shared buffers would do);
- ``pwrite from the buffer``: the disk's WRITE (``pwrite`` of the
  memoryview) against ``pwrite`` of a ``bytes`` copy of it;
- ``QD N in flight``: N ``aio_pread`` requests kept in flight on the one
  connection, each waited for with ``aio_command_completed``: the ceiling
  of a loop that answers NBD commands later (``QD 1`` is what a disk with
  ``queue_depth = 1`` gives, whatever the initiator's queue depth);
- ``QD N, completion callbacks``: the same with a completion callback per
  request, as :mod:`devemu.disk.nbd_queue` sends them (the callback counts
  the reply; the price of a Python call and a ``ctypes.c_int`` per reply);
- ``nbd.Buffer`` per command: ``from_buffer`` (what the disk does: shares
  the ring's memoryview), against ``from_bytearray`` (a copy in) and
  ``to_bytearray`` (a copy out), in microseconds per call.

Each figure is the best of ``--repeat`` runs of ``--seconds``.

    python3 bench/nbd_bench.py [--size 256M] [--seconds 1] [--repeat 3] [--dir /tmp]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.disk.nbd import NbdImage, load_libnbd
from devemu.disk.storage_daemon import StorageDaemon
from devemu.sizes import size_argument

MIB = 1 << 20
#: A named workload: returns the requests it did.
Step = tuple[str, Callable[[], int]]


def timed(seconds: float, step: Callable[[], int]) -> float:
    """Units per second of ``step`` (which returns the units it did) over ``seconds``."""
    done = 0
    start = time.perf_counter()
    while (elapsed := time.perf_counter() - start) < seconds:
        done += step()
    return done / elapsed


def best(repeat: int, seconds: float, step: Callable[[], int]) -> float:
    return max(timed(seconds, step) for _ in range(repeat))


def offsets(size: int, length: int) -> Callable[[], int]:
    rng = random.Random(1)
    slots = size // length
    return lambda: rng.randrange(slots) * length


def steps(image: NbdImage, h: Any, length: int, where: Callable[[], int]) -> list[Step]:
    """The single-request workloads of one transfer length."""
    view = memoryview(bytearray(length))

    def shared() -> int:
        image.read_at([view], where())
        return 1

    def copied() -> int:
        view[:] = h.pread(length, where())
        return 1

    def write_view() -> int:
        h.pwrite(view, where())
        return 1

    def write_copy() -> int:
        h.pwrite(bytes(view), where())
        return 1

    return [
        ("aio_pread into the buffer", shared),
        ("pread + copy", copied),
        ("pwrite from the buffer", write_view),
        ("pwrite of a bytes copy", write_copy),
    ]


def in_flight(h: Any, bufs: list[Any], where: Callable[[], int]) -> Callable[[], int]:
    """``len(bufs)`` aio_pread requests sent at once, then every one waited for."""

    def step() -> int:
        cookies = [h.aio_pread(b, where()) for b in bufs]
        for cookie in cookies:
            while not h.aio_command_completed(cookie):
                h.poll(-1)
        return len(bufs)

    return step


def with_callbacks(h: Any, bufs: list[Any], where: Callable[[], int]) -> Callable[[], int]:
    """``len(bufs)`` aio_pread requests with a completion callback each, polled as the
    ring worker polls the connection."""
    import select  # noqa: PLC0415

    left = [0]

    def reply(error: Any) -> int:
        left[0] -= 1
        return 1

    def step() -> int:
        left[0] = len(bufs)
        for b in bufs:
            h.aio_pread(b, where(), completion=reply)
        poller = select.poll()
        poller.register(h.aio_get_fd(), select.POLLIN)
        while left[0]:
            poller.poll(-1)
            h.aio_notify_read()
        return len(bufs)

    return step


def buffer_costs(nbd: Any, length: int) -> list[tuple[str, str]]:
    """Microseconds per nbd.Buffer made by sharing a view, by copying in, and per copy out."""
    view = memoryview(bytearray(length))
    shared = nbd.Buffer.from_buffer(view)
    label = "4 KiB" if length == 4096 else "1 MiB"
    rows = []
    for name, call in (
        ("from_buffer (shared)", lambda: nbd.Buffer.from_buffer(view)),
        ("from_bytearray (copy)", lambda: nbd.Buffer.from_bytearray(view)),
        ("to_bytearray (copy)", shared.to_bytearray),
    ):
        n = 2000 if length == 4096 else 200
        start = time.perf_counter()
        for _ in range(n):
            call()
        rows.append(
            (f"{label} nbd.Buffer {name}", f"{(time.perf_counter() - start) / n * 1e6:.2f} us")
        )
    return rows


def measure(image: NbdImage, size: int, seconds: float, repeat: int) -> list[tuple[str, str]]:
    nbd = image.nbd
    h: Any = image._h
    rows: list[tuple[str, str]] = []
    for length, unit in ((4096, "IOPS"), (MIB, "MB/s")):
        scale = 1 if unit == "IOPS" else length / 1e6
        where = offsets(size, length)
        label = "4 KiB" if length == 4096 else "1 MiB"
        for name, step in steps(image, h, length, where):
            rate = best(repeat, seconds, step) * scale
            rows.append((f"{label} {name}", f"{rate:,.0f} {unit}"))
        for depth in (1, 4, 16):
            bufs = [nbd.Buffer.from_buffer(memoryview(bytearray(length))) for _ in range(depth)]
            rate = best(repeat, seconds, in_flight(h, bufs, where)) * scale
            rows.append((f"{label} randread QD {depth} in flight", f"{rate:,.0f} {unit}"))
            rate = best(repeat, seconds, with_callbacks(h, bufs, where)) * scale
            rows.append(
                (f"{label} randread QD {depth}, completion callbacks", f"{rate:,.0f} {unit}")
            )
        rows += buffer_costs(nbd, length)
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=size_argument, default=256 * MIB)
    parser.add_argument("--seconds", type=float, default=1.0)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--dir", default=tempfile.gettempdir())
    args = parser.parse_args()
    load_libnbd()
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="devemu-nbd-bench-") as folder:
        path = Path(folder) / "bench.img"
        subprocess.run(
            ["dd", "if=/dev/urandom", f"of={path}", "bs=1M", f"count={args.size // MIB}"],
            check=True,
            capture_output=True,
        )
        server = StorageDaemon(path, "raw", Path(folder) / "run")
        server.start()
        try:
            with NbdImage(server.uri, 512) as image:
                rows = measure(image, args.size, args.seconds, args.repeat)
        finally:
            server.stop()
    width = max(len(name) for name, _ in rows)
    print(f"qemu-storage-daemon, raw image of {args.size // MIB} MiB in {args.dir}, one connection")
    for name, figure in rows:
        print(f"{name:<{width}}  {figure:>14}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
