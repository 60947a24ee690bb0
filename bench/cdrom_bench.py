"""Sequential READ (10) of an ISO image through the ring simulator, against a
bare ``os.preadv`` loop over the same file, in one run.

    python3 bench/cdrom_bench.py [--size-mb 64] [--transfer-kb 64] [--qd 16] [--passes 3]

The ratio (ring / bare) is the figure of merit; the aim is at least 0.8.
The image is built once under a temporary folder (pycdlib, one large
file) and read from the page cache by both sides.
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

from devemu.cdrom.device import CdromDevice
from devemu.cdrom.image import load_image
from devemu.cdrom.iso_writer import make_iso
from devemu.scsi.identity import Identity
from devemu.testing import RingSimulator

SECTOR = 2048


def build_iso(folder: Path, size_mb: int) -> Path:
    src = folder / "src"
    src.mkdir()
    with (src / "payload.bin").open("wb") as f:
        chunk = os.urandom(1 << 20)
        for _ in range(size_mb):
            f.write(chunk)
    iso = folder / "bench.iso"
    make_iso(src, iso, label="BENCH")
    return iso


def bare(path: Path, transfer: int, qd: int) -> float:
    """Bytes per second of a preadv loop into ``qd`` buffers used in turn.

    The buffers are ``qd`` slices of one anonymous shared mapping: as much
    memory, of the same kind, as the ring's data area holds for ``qd``
    commands in flight, so both sides touch the same amount of it.
    """
    fd = os.open(path, os.O_RDONLY)
    area = memoryview(mmap.mmap(-1, qd * transfer))  # the kind of memory the ring's data area is
    views = [[area[i * transfer : (i + 1) * transfer]] for i in range(qd)]
    for view in views:
        view[0][:] = bytes(transfer)  # touched before the clock starts, as the ring's are
    size = path.stat().st_size
    start = time.perf_counter()
    off = 0
    i = 0
    while off + transfer <= size:
        os.preadv(fd, views[i % qd], off)
        off += transfer
        i += 1
    elapsed = time.perf_counter() - start
    os.close(fd)
    return off / elapsed


def ring(path: Path, transfer: int, qd: int) -> float:
    """Bytes per second of READ (10) commands through the simulated ring."""
    device = CdromDevice(Identity(serial="BENCH"))
    device.insert(load_image(path))
    device.unit_attentions.clear()
    device.becoming_ready = False
    sim = RingSimulator(ring_size=1024 * 1024, data_size=max(qd * transfer * 2, 1 << 20))
    sim.attach(device)
    blocks = transfer // SECTOR
    total = path.stat().st_size // SECTOR
    cdbs = [
        bytes([0x28, 0]) + lba.to_bytes(4, "big") + b"\0" + blocks.to_bytes(2, "big") + b"\0"
        for lba in range(0, total - blocks + 1, blocks)
    ]
    # The bare loop's buffers exist before its clock starts; so do the ring's
    # (one untimed batch touches the data area pages the commands use).
    sim.run_batch(cdbs[:qd], transfer)
    start = time.perf_counter()
    good = 0
    for i in range(0, len(cdbs), qd):
        good += sim.run_batch(cdbs[i : i + qd], transfer)
    elapsed = time.perf_counter() - start
    if good != len(cdbs):
        raise SystemExit(f"only {good} of {len(cdbs)} reads succeeded")
    device.close()
    return good * transfer / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument("--transfer-kb", type=int, default=64)
    parser.add_argument("--qd", type=int, default=16)
    parser.add_argument("--passes", type=int, default=3)
    args = parser.parse_args()
    transfer = args.transfer_kb * 1024
    with tempfile.TemporaryDirectory() as tmp:
        iso = build_iso(Path(tmp), args.size_mb)
        bare(iso, transfer, args.qd)  # warm the page cache
        best_bare = max(bare(iso, transfer, args.qd) for _ in range(args.passes))
        best_ring = max(ring(iso, transfer, args.qd) for _ in range(args.passes))
    mb = 1024 * 1024
    print(f"image {args.size_mb} MiB, {args.transfer_kb} KiB reads, queue depth {args.qd}")
    print(f"bare preadv loop : {best_bare / mb:9.1f} MiB/s")
    print(f"ring READ(10)    : {best_ring / mb:9.1f} MiB/s")
    print(f"ratio            : {best_ring / best_bare:9.2f}  (aim >= 0.8)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
