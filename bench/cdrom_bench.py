"""Sequential READ (10) of an ISO image through the ring simulator, against a
bare ``os.preadv`` loop over the same file, for several transfer sizes in one run.

    python3 bench/cdrom_bench.py [--size-mb 64] [--transfer-kb 64,256,1024]
                                 [--qd 16] [--passes 3] [--rounds 4]

The ratio (ring / bare) is the figure of merit; the aim is at least 0.8.
The per-command cost of the drive is fixed, so the ratio rises with the
transfer size: Linux ``sr`` reads 128 KiB to 1 MiB at a time when a disc
is mounted, small reads come from tools. The image is built once under a
temporary folder (pycdlib, one large file) and read from the page cache
by both sides; every measurement reads it ``--rounds`` times over and the
best of ``--passes`` measurements is shown.
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
MIB = 1024 * 1024


def build_iso(folder: Path, size_mb: int) -> Path:
    src = folder / "src"
    src.mkdir()
    with (src / "payload.bin").open("wb") as f:
        chunk = os.urandom(MIB)
        for _ in range(size_mb):
            f.write(chunk)
    iso = folder / "bench.iso"
    make_iso(src, iso, label="BENCH")
    return iso


def bare(path: Path, transfer: int, qd: int, rounds: int) -> float:
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
    offsets = range(0, size - transfer + 1, transfer)
    start = time.perf_counter()
    i = 0
    for _ in range(rounds):
        for off in offsets:
            os.preadv(fd, views[i % qd], off)
            i += 1
    elapsed = time.perf_counter() - start
    os.close(fd)
    return i * transfer / elapsed


def ring(path: Path, transfer: int, qd: int, rounds: int) -> float:
    """Bytes per second of READ (10) commands through the simulated ring."""
    device = CdromDevice(Identity(serial="BENCH"))
    device.insert(load_image(path))
    device.unit_attentions.clear()
    device.becoming_ready = False
    sim = RingSimulator(ring_size=1024 * 1024, data_size=max(qd * transfer * 2, MIB))
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
    for _ in range(rounds):
        for i in range(0, len(cdbs), qd):
            good += sim.run_batch(cdbs[i : i + qd], transfer)
    elapsed = time.perf_counter() - start
    if good != rounds * len(cdbs):
        raise SystemExit(f"only {good} of {rounds * len(cdbs)} reads succeeded")
    device.close()
    return good * transfer / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=64)
    parser.add_argument(
        "--transfer-kb",
        default="64,256,1024",
        help="comma-separated transfer sizes in KiB (multiples of 2)",
    )
    parser.add_argument("--qd", type=int, default=16)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=16, help="reads of the whole image per pass")
    args = parser.parse_args()
    sizes = [int(kb) for kb in args.transfer_kb.split(",")]
    rows: list[tuple[int, float, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        iso = build_iso(Path(tmp), args.size_mb)
        bare(iso, 64 * 1024, args.qd, 1)  # warm the page cache
        for kb in sizes:
            transfer = kb * 1024
            best_bare = max(bare(iso, transfer, args.qd, args.rounds) for _ in range(args.passes))
            best_ring = max(ring(iso, transfer, args.qd, args.rounds) for _ in range(args.passes))
            rows.append((kb, best_bare, best_ring))
    print(f"image {args.size_mb} MiB, queue depth {args.qd}, best of {args.passes} passes")
    print(f"{'transfer':>9}  {'bare preadv':>12}  {'ring READ(10)':>13}  {'ratio':>5}")
    for kb, best_bare, best_ring in rows:
        print(
            f"{kb:>5} KiB  {best_bare / MIB:>7.0f} MiB/s  {best_ring / MIB:>7.0f} MiB/s  "
            f"{best_ring / best_bare:>5.2f}"
        )
    print("aim: ratio >= 0.8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
