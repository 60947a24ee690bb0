"""Where a large READ's time goes in the ring loop: walk, preadv, answer, doorbell.

Each phase of :class:`~devemu.tcmu.loop.RingLoop` is timed by wrapping
the function that does it, and the totals are divided by the commands
served:

- ``walk``: reading the new entries and building the commands
  (``RingLoop._walk``);
- ``execute``: the disk's ``execute``, for a READ one ``preadv`` from the
  image into the data area;
- ``answer``: writing the status into the entry (``RingLoop._store``);
- ``doorbell``: the loop's own doorbell ``write()`` (on the kernel ring,
  where the kernel reaps completions and copies data-in out of the data
  area) or its hand-over to the ringer thread after a large READ;
- ``ringer write``: the ringer thread's ``write()``, in parallel with the
  loop (the kernel's copy of the early-notified READs);
- ``acknowledge``: the 4-byte ``read()`` that consumes the kernel's event;
- ``poll``: the whole of ``RingLoop.poll`` (walk + execute + answer +
  doorbell + bookkeeping).

Without ``--vm`` the ring is the simulator (whose "kernel" is Python and
does not copy the data-in out). With ``--vm`` one guest boot serves a
disk with this instrumented daemon and runs fio (1 MiB sequential read,
libaio, direct, QD ``--qd``) on it for ``--seconds``; the guest's image is
on a tmpfs, as in ``bench/vm_fio.py``.

Measured on the kernel ring (one guest boot on a busy host, 1 MiB
sequential read QD4, the wrappers' own cost included): per command the
loop spent 4.2 ms in ``preadv`` (80% of its time), 0.18 ms walking,
0.16 ms answering, 0.44 ms publishing and ringing (0.19 ms of it handing
the early doorbell over), 0.22 ms acknowledging; the ringer thread's
``write()`` took 2.1 ms per command in parallel (one write for 1.7
commands: the kernel's copy out of the data area). A 1 MiB READ is two
copies of the data, the daemon's ``preadv`` into the data area and the
kernel's copy out of it, where the kernel's fileio makes one: that bounds
devemu/fileio at 1 MiB, with the ring itself under 15% of the time.

    python3 bench/ring_breakdown.py [--seconds 5] [--qd 4] [--length 1048576] [--vm]
"""

from __future__ import annotations

import argparse
import atexit
import functools
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from devemu.cli import main as cli_main
from devemu.disk.device import Disk
from devemu.disk.image import DiskImage, create_image
from devemu.scsi.identity import Identity
from devemu.tcmu import channel as channel_module
from devemu.tcmu import uio as uio_module
from devemu.tcmu.loop import RingLoop
from devemu.testing import RingSimulator
from devemu.vm import run
from devemu.vm.serving import GUEST_DAEMON_TABLE, guest_functions

MIB = 1 << 20
BLOCK = 512

F = TypeVar("F", bound=Callable[..., Any])

#: Phase -> [seconds, calls].
TIMES: dict[str, list[float]] = {}
COMMANDS = [0]


def timed(name: str, fn: F) -> F:
    """``fn`` with its time added to ``TIMES[name]``."""
    slot = TIMES.setdefault(name, [0.0, 0])
    clock = time.perf_counter

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        start = clock()
        try:
            return fn(*args, **kwargs)
        finally:
            slot[0] += clock() - start
            slot[1] += 1

    return wrapper  # type: ignore[return-value]


class _TimedOs:
    """The ``os`` module as the channel sees it, with ``read`` and ``write`` timed."""

    def __init__(self) -> None:
        self.read = timed("acknowledge", os.read)
        self.write = timed("ringer write", os.write)

    def __getattr__(self, name: str) -> Any:
        return getattr(os, name)


def instrument() -> None:
    """Wrap every phase (see the module's docstring)."""
    original_poll = RingLoop.poll

    def poll(self: RingLoop) -> int:
        n = original_poll(self)
        COMMANDS[0] += n
        return n

    RingLoop.poll = timed("poll", poll)  # type: ignore[method-assign]
    RingLoop._walk = timed("walk", RingLoop._walk)  # type: ignore[method-assign]
    RingLoop._store = timed("answer", RingLoop._store)  # type: ignore[method-assign]
    RingLoop._publish = timed("publish + doorbell", RingLoop._publish)  # type: ignore[method-assign]
    Disk.execute = timed("execute", Disk.execute)  # type: ignore[method-assign]
    uio_module.UioMapping.notify = timed(  # type: ignore[method-assign]
        "doorbell write", uio_module.UioMapping.notify
    )
    channel_module.UioChannel.notify_soon = timed(  # type: ignore[method-assign]
        "doorbell hand-over", channel_module.UioChannel.notify_soon
    )
    setattr(channel_module, "os", _TimedOs())  # noqa: B010 (the module's own name for os)


def breakdown() -> dict[str, Any]:
    """Microseconds per command of each phase, and the calls of each."""
    n = max(COMMANDS[0], 1)
    return {
        "commands": COMMANDS[0],
        "us_per_command": {k: round(v[0] / n * 1e6, 1) for k, v in TIMES.items() if v[1]},
        "calls": {k: int(v[1]) for k, v in TIMES.items() if v[1]},
    }


def text(report: dict[str, Any], where: str) -> str:
    lines = [f"{where}: {report['commands']} commands"]
    for name, us in report["us_per_command"].items():
        lines.append(f"  {name:<20}{us:>10.1f} us/command  ({report['calls'][name]} calls)")
    return "\n".join(lines)


def simulated(seconds: float, qd: int, length: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="devemu-breakdown-", dir="/dev/shm") as folder:
        path = Path(folder) / "disk.img"
        size = 64 * MIB
        create_image(path, size, BLOCK)
        with open(path, "r+b") as f:
            for _ in range(size // MIB):
                f.write(b"\xa5" * MIB)
        image = DiskImage(path, BLOCK)
        disk = Disk(image, Identity(serial="BENCH"))
        disk.unit_attentions.clear()
        sim = RingSimulator(ring_size=1 << 20, data_size=2 * qd * max(length, MIB))
        sim.attach(disk)
        blocks = length // BLOCK
        cdbs = [
            bytes([0x28, 0])
            + (i * blocks).to_bytes(4, "big")
            + b"\0"
            + blocks.to_bytes(2, "big")
            + b"\0"
            for i in range(size // length)
        ]
        for slot in TIMES.values():
            slot[:] = [0.0, 0]
        COMMANDS[0] = 0
        deadline = time.perf_counter() + seconds
        at = 0
        while time.perf_counter() < deadline:
            sim.run_batch(cdbs[at : at + qd], length)
            at = (at + qd) % (len(cdbs) - qd)
        image.close()
    return breakdown()


GUEST = r"""
set -u
OUT="$DEVEMU_VM_SHARE"
DIR=/tmp/devemu-breakdown
mkdir -p "$DIR"
mount -t tmpfs -o size=@SIZE@m tmpfs "$DIR"
dd if=/dev/zero of="$DIR/disk.img" bs=1M count=@IMAGE_MB@ status=none
cat > "$DIR/lab.toml" <<EOF
@DAEMON_TABLE@
[[disk]]
name = "breakdown"
image = "$DIR/disk.img"
serial = "BREAKDOWN"
EOF
"$DEVEMU_VM_PYTHON" @SCRIPT@ --serve "$DIR/lab.toml" --report "$OUT/breakdown.json" \
    > "$OUT/serve.log" 2>&1 &
pid=$!
for _ in $(seq 1200); do [ -e /run/devemu-breakdown.ready ] && break; sleep 0.05; done
[ -e /run/devemu-breakdown.ready ] || { cat "$OUT/serve.log"; exit 1; }
sd=$(find_disk DEVEMU) || { echo "no disk"; exit 1; }
echo none > /sys/block/${sd##*/}/queue/scheduler
fio --name=breakdown --filename="$sd" --ioengine=libaio --direct=1 --rw=read --bs=@LENGTH@ \
    --iodepth=@QD@ --runtime=@SECONDS@ --time_based --output-format=json \
    --output="$OUT/fio.json" > /dev/null
kill -TERM $pid
wait $pid
"""


def in_guest(seconds: int, qd: int, length: int) -> tuple[dict[str, Any], float]:
    image_mb = 256
    script = guest_functions() + (
        GUEST.replace("@DAEMON_TABLE@", GUEST_DAEMON_TABLE)
        .replace("@SIZE@", str(image_mb + 16))
        .replace("@IMAGE_MB@", str(image_mb))
        .replace("@SCRIPT@", str(Path(__file__).resolve()))
        .replace("@LENGTH@", str(length))
        .replace("@QD@", str(qd))
        .replace("@SECONDS@", str(seconds))
    )
    with tempfile.TemporaryDirectory(prefix="devemu-breakdown-") as folder:
        share = Path(folder)
        result = run(script, share=share, timeout=300 + seconds, memory_mb=1024 + image_mb)
        if result.exit_code != 0:
            raise SystemExit(f"ring_breakdown: the guest failed:\n{result.output}")
        report = json.loads((share / "breakdown.json").read_text())
        fio = json.loads((share / "fio.json").read_text())["jobs"][0]["read"]
    return report, float(fio["clat_ns"]["mean"]) / 1e3


def serve_instrumented(config: str, report: str) -> int:
    """The daemon, instrumented; the breakdown written to ``report`` at exit."""
    instrument()
    atexit.register(lambda: Path(report).write_text(json.dumps(breakdown())))
    sys.argv = ["devemu"]
    return int(cli_main(["serve", config, "--ready-file", "/run/devemu-breakdown.ready"]) or 0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--qd", type=int, default=4)
    parser.add_argument("--length", type=int, default=MIB)
    parser.add_argument("--vm", action="store_true", help="measure on the kernel ring in a guest")
    parser.add_argument("--serve", help=argparse.SUPPRESS)
    parser.add_argument("--report", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        return serve_instrumented(args.serve, args.report)
    if args.vm:
        report, clat = in_guest(args.seconds, args.qd, args.length)
        print(text(report, f"kernel ring, {args.length} bytes QD{args.qd}, fio clat {clat:.0f} us"))
        return 0
    instrument()
    report = simulated(args.seconds, args.qd, args.length)
    print(text(report, f"ring simulator, {args.length} bytes QD{args.qd}"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
